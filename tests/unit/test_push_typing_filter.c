/* The typing filter (push/typing_relay.c): no typing frame between two users while either
 * blocks the other, from the set read at authentication and from block.changed events
 * on the loop (both users' connections), and an unblock lifting it again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../push/event.h"
#include "../../push/fanout.h"
#include "../../push/server.h"
#include "../../push/typing_relay.h"
#include "xalloc.h"

#define CONV 7

static void no_write(struct push_conn *conn)
{
    (void)conn;
}

struct scene {
    struct push_server srv;
    struct push_conn conns[3]; /* users 1, 2 and 3, all in CONV */
};

static void scene_start(struct scene *s)
{
    memset(s, 0, sizeof(*s));
    push_fanout_init(&s->srv.fanout, 1 << 20, no_write);
    long long conv = CONV;
    for (int i = 0; i < 3; i++) {
        s->conns[i].id = (unsigned long long)i + 1;
        push_fanout_register(&s->srv.fanout, &s->conns[i]);
        push_fanout_attach(&s->srv.fanout, &s->conns[i], i + 1, &conv, 1);
    }
}

static void scene_end(struct scene *s)
{
    for (int i = 0; i < 3; i++)
        push_fanout_unregister(&s->srv.fanout, &s->conns[i]);
    push_fanout_free(&s->srv.fanout);
}

/* user types in CONV; returns how many frames each connection got (bit i: conns[i]). */
static unsigned typing_from(struct scene *s, long long user)
{
    static const char text[] = "{\"type\":\"typing\"}";
    struct push_frame *f = push_frame_new(text, sizeof(text) - 1, 0);
    push_typing_deliver(&s->srv, CONV, user, f);
    push_frame_unref(f);
    unsigned got = 0;
    for (int i = 0; i < 3; i++) {
        struct push_frame *q;
        while ((q = push_queue_pop(&s->conns[i].out)) != NULL) {
            got |= 1u << i;
            push_frame_unref(q);
        }
    }
    return got;
}

static void block_event(struct scene *s, long long blocker, long long blocked, bool on)
{
    struct push_event e = {.kind = PUSH_EVENT_BLOCK, .block_user = blocked, .blocked = on};
    long long users[1] = {blocker};
    e.users = users;
    e.nusers = 1;
    push_typing_block_changed(&s->srv, &e);
}

static void test_filter_from_authentication(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    long long *ids = chat_xmalloc(2 * sizeof(long long));
    ids[0] = 1; /* user 2 blocked user 1, or the other way round */
    ids[1] = 5;
    push_typing_filter_set(&s.conns[1], ids, 2);
    assert_int_equal(typing_from(&s, 1), 1u << 2); /* user 3 only */
    assert_int_equal(typing_from(&s, 3), 1u << 0 | 1u << 1);
    scene_end(&s);
}

static void test_block_and_unblock_events(void **state)
{
    (void)state;
    struct scene s;
    scene_start(&s);
    assert_int_equal(typing_from(&s, 1), 1u << 1 | 1u << 2);
    block_event(&s, 1, 2, true);
    /* Both ways: 1's typing skips 2, 2's skips 1. */
    assert_int_equal(typing_from(&s, 1), 1u << 2);
    assert_int_equal(typing_from(&s, 2), 1u << 2);
    block_event(&s, 3, 2, true);
    block_event(&s, 1, 2, true); /* again: no change */
    assert_int_equal(typing_from(&s, 2), 0);
    assert_int_equal(s.conns[1].nmuted, 2);
    block_event(&s, 1, 2, false);
    assert_int_equal(typing_from(&s, 1), 1u << 1 | 1u << 2);
    assert_int_equal(typing_from(&s, 2), 1u << 0);
    /* 3 unblocks 2 while 2 still blocks 3: the worker reads that and sends blocked = true,
     * which keeps the filter. */
    block_event(&s, 3, 2, true);
    assert_int_equal(typing_from(&s, 3), 1u << 0);
    scene_end(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_from_authentication),
        cmocka_unit_test(test_block_and_unblock_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
