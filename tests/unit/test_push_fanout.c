/* Unit tests for push/fanout.c and push/frame.c, linked from libchatpush.a. No lws
 * context is needed: the fan-out reports "wants to write" through a callback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../push/fanout.h"
#include "../../push/frame.h"

static int want_write_calls;

static void count_write(struct push_conn *conn)
{
    (void)conn;
    want_write_calls++;
}

static struct push_conn *new_conn(struct push_fanout *f, unsigned long long id, long long user,
                                  const long long *convs, size_t n)
{
    struct push_conn *c = calloc(1, sizeof(*c));
    c->id = id;
    c->resume_from = -1;
    push_fanout_register(f, c);
    if (user)
        push_fanout_attach(f, c, user, convs, n);
    return c;
}

static void drop_conn(struct push_fanout *f, struct push_conn *c)
{
    push_fanout_unregister(f, c);
    free(c);
}

static struct push_event event(long long id, long long conv, enum push_event_kind kind,
                               long long user)
{
    struct push_event e = {.id = id, .conversation_id = conv, .kind = kind};
    e.frame = push_frame_event(id, conv, "test.event", "{}", 2);
    if (user) {
        e.users = malloc(sizeof(long long));
        e.users[0] = user;
        e.nusers = 1;
    }
    return e;
}

static void clear_event(struct push_event *e)
{
    free(e->users);
    push_frame_unref(e->frame);
}

static long long next_event_id(struct push_conn *c)
{
    struct push_frame *f = push_queue_pop(&c->out);
    if (!f)
        return 0;
    long long id = f->event_id;
    push_frame_unref(f);
    return id;
}

static void test_event_frame_format(void **state)
{
    (void)state;
    struct push_frame *f = push_frame_event(42, 7, "message.created", "{\"a\":1}", 7);
    assert_string_equal((char *)push_frame_text(f),
                        "{\"type\":\"message.created\",\"event_id\":42,\"conversation_id\":7,"
                        "\"data\":{\"a\":1}}");
    assert_int_equal(f->len, strlen((char *)push_frame_text(f)));
    push_frame_unref(f);
    f = push_frame_event(43, 0, "user.updated", "", 0);
    assert_string_equal((char *)push_frame_text(f),
                        "{\"type\":\"user.updated\",\"event_id\":43,\"conversation_id\":null,"
                        "\"data\":null}");
    push_frame_unref(f);
    assert_null(push_frame_event(44, 1, "bad\"type", "{}", 2));
}

static void test_one_frame_shared_by_subscribers(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1 << 20, count_write);
    long long c10[] = {10}, c10_20[] = {10, 20};
    struct push_conn *a = new_conn(&f, 1, 1, c10, 1);
    struct push_conn *b = new_conn(&f, 2, 2, c10_20, 2);
    struct push_conn *outsider = new_conn(&f, 3, 3, NULL, 0);
    struct push_event e = event(100, 10, PUSH_EVENT_PLAIN, 0);
    push_fanout_event(&f, &e);
    assert_int_equal(e.frame->refs, 3); /* the event's + one per recipient */
    assert_ptr_equal(push_queue_peek(&a->out), e.frame);
    assert_ptr_equal(push_queue_peek(&b->out), e.frame);
    assert_int_equal(outsider->out.count, 0);
    struct push_event e2 = event(101, 20, PUSH_EVENT_PLAIN, 0);
    push_fanout_event(&f, &e2);
    assert_int_equal(a->out.count, 1);
    assert_int_equal(b->out.count, 2);
    clear_event(&e);
    clear_event(&e2);
    drop_conn(&f, a);
    drop_conn(&f, b);
    drop_conn(&f, outsider);
    push_fanout_free(&f);
}

static void test_membership_events(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1 << 20, count_write);
    long long c10[] = {10};
    struct push_conn *a = new_conn(&f, 1, 1, c10, 1);
    struct push_conn *a2 = new_conn(&f, 2, 1, NULL, 0); /* same user, second tab */
    struct push_conn *pending = new_conn(&f, 3, 0, NULL, 0); /* not authenticated yet */

    struct push_event created = event(200, 30, PUSH_EVENT_CONV_CREATED, 1);
    push_fanout_event(&f, &created);
    assert_int_equal(next_event_id(a), 200);
    assert_int_equal(next_event_id(a2), 200);
    assert_int_equal(pending->out.count, 0);

    struct push_event removed = event(201, 10, PUSH_EVENT_PARTICIPANT_REMOVED, 1);
    push_fanout_event(&f, &removed);
    assert_int_equal(next_event_id(a), 201); /* the removed user hears about it */
    struct push_event later = event(202, 10, PUSH_EVENT_PLAIN, 0);
    push_fanout_event(&f, &later);
    assert_int_equal(a->out.count, 0); /* and then nothing more */

    struct push_event added = event(203, 10, PUSH_EVENT_PARTICIPANT_ADDED, 1);
    push_fanout_event(&f, &added);
    assert_int_equal(next_event_id(a), 203);
    assert_int_equal(next_event_id(a2), 203);

    struct push_event direct = event(204, 0, PUSH_EVENT_USERS, 1);
    push_fanout_event(&f, &direct);
    assert_int_equal(next_event_id(a), 204);
    assert_int_equal(next_event_id(a2), 204);

    clear_event(&created);
    clear_event(&removed);
    clear_event(&later);
    clear_event(&added);
    clear_event(&direct);
    drop_conn(&f, a);
    drop_conn(&f, a2);
    drop_conn(&f, pending);
    push_fanout_free(&f);
}

static void test_single_conversation_connection_ignores_others(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1 << 20, count_write);
    struct push_conn *c = calloc(1, sizeof(*c));
    c->id = 9;
    c->only_conv = 10;
    push_fanout_register(&f, c);
    long long c10[] = {10};
    push_fanout_attach(&f, c, 1, c10, 1);
    struct push_event created = event(300, 31, PUSH_EVENT_CONV_CREATED, 1);
    push_fanout_event(&f, &created);
    assert_int_equal(c->out.count, 0);
    clear_event(&created);
    drop_conn(&f, c);
    push_fanout_free(&f);
}

/* A /ws/chat/<pk>/ connection whose user is removed from pk gets the event, then closes
 * 4404 once it is written; a /ws/ connection of the same user only stops receiving pk. */
static void test_removal_closes_single_conversation_connection(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1 << 20, count_write);
    long long c10[] = {10, 11};
    struct push_conn *all = new_conn(&f, 1, 5, c10, 2);
    struct push_conn *one = calloc(1, sizeof(*one));
    one->id = 2;
    one->only_conv = 10;
    push_fanout_register(&f, one);
    push_fanout_attach(&f, one, 5, c10, 1);
    struct push_event other = event(400, 11, PUSH_EVENT_PARTICIPANT_REMOVED, 6);
    push_fanout_event(&f, &other);
    assert_int_equal(one->close_code, 0);
    struct push_event removed = event(401, 10, PUSH_EVENT_PARTICIPANT_REMOVED, 5);
    push_fanout_event(&f, &removed);
    assert_int_equal(one->close_code, PUSH_CLOSE_NOT_FOUND);
    assert_int_equal(next_event_id(one), 401); /* the event is still written first */
    assert_int_equal(all->close_code, 0);
    assert_false(push_conn_subscribed(all, 10));
    assert_true(push_conn_subscribed(all, 11));
    clear_event(&other);
    clear_event(&removed);
    drop_conn(&f, all);
    drop_conn(&f, one);
    push_fanout_free(&f);
}

static void test_slow_client_is_cut_off_at_the_bound(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1000, count_write);
    long long c10[] = {10};
    struct push_conn *slow = new_conn(&f, 1, 1, c10, 1);
    struct push_event e = event(400, 10, PUSH_EVENT_PLAIN, 0);
    size_t fits = 1000 / e.frame->len;
    for (size_t i = 0; i < fits; i++)
        push_fanout_event(&f, &e);
    assert_int_equal(slow->close_code, 0);
    assert_int_equal(slow->out.count, fits);
    push_fanout_event(&f, &e);
    assert_int_equal(slow->close_code, PUSH_CLOSE_TOO_SLOW);
    assert_int_equal(slow->out.count, 0); /* the queue is released at once */
    assert_int_equal(slow->out.bytes, 0);
    assert_int_equal(e.frame->refs, 1);
    push_fanout_event(&f, &e); /* nothing more is queued */
    assert_int_equal(slow->out.count, 0);
    assert_int_equal(f.dropped_slow, 1);
    clear_event(&e);
    drop_conn(&f, slow);
    push_fanout_free(&f);
}

static void test_resume_sends_backlog_then_held_without_duplicates(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1 << 20, count_write);
    long long c10[] = {10};
    struct push_conn *c = new_conn(&f, 1, 1, c10, 1);
    struct push_frame *pong = push_frame_new("{\"type\":\"pong\"}", 15, 0);
    c->resuming = true;
    struct push_event live1 = event(502, 10, PUSH_EVENT_PLAIN, 0);
    struct push_event live2 = event(503, 10, PUSH_EVENT_PLAIN, 0);
    push_fanout_event(&f, &live1);
    push_conn_send(&f, c, pong, false); /* control frames are not held */
    push_fanout_event(&f, &live2);
    assert_int_equal(c->out.count, 1);
    assert_int_equal(c->held.count, 2);

    struct push_event backlog[2] = {event(501, 10, PUSH_EVENT_PLAIN, 0),
                                    event(502, 10, PUSH_EVENT_PLAIN, 0)};
    push_conn_resume_done(&f, c, backlog, 2);
    assert_false(c->resuming);
    assert_int_equal(next_event_id(c), 0); /* the pong */
    assert_int_equal(next_event_id(c), 501);
    assert_int_equal(next_event_id(c), 502); /* from the backlog; the held copy is dropped */
    assert_int_equal(next_event_id(c), 503);
    assert_int_equal(c->out.count, 0);
    assert_int_equal(c->held.count, 0);
    assert_int_equal(live1.frame->refs, 1);

    push_frame_unref(pong);
    clear_event(&live1);
    clear_event(&live2);
    clear_event(&backlog[0]);
    clear_event(&backlog[1]);
    drop_conn(&f, c);
    push_fanout_free(&f);
}

static void test_many_connections_and_unregister(void **state)
{
    (void)state;
    struct push_fanout f;
    push_fanout_init(&f, 1 << 20, count_write);
    enum { N = 500 };
    struct push_conn *conns[N];
    for (int i = 0; i < N; i++) {
        long long convs[] = {1, 2 + i % 7};
        conns[i] = new_conn(&f, (unsigned long long)i + 1, 1000 + i % 50, convs, 2);
    }
    assert_ptr_equal(push_fanout_find(&f, 250), conns[249]);
    struct push_event e = event(600, 1, PUSH_EVENT_PLAIN, 0);
    push_fanout_event(&f, &e);
    assert_int_equal(e.frame->refs, N + 1);
    for (int i = 0; i < N; i += 2)
        drop_conn(&f, conns[i]);
    assert_null(push_fanout_find(&f, 1));
    assert_int_equal(e.frame->refs, N / 2 + 1);
    push_fanout_event(&f, &e);
    assert_int_equal(e.frame->refs, N + 1);
    for (int i = 1; i < N; i += 2)
        drop_conn(&f, conns[i]);
    assert_int_equal(e.frame->refs, 1);
    assert_int_equal(f.by_conv.count, 0);
    assert_int_equal(f.by_user.count, 0);
    clear_event(&e);
    push_fanout_free(&f);
}

/* Client messages: one piece is used in place; pieces are reassembled; no buffer is held
 * between messages (an idle connection used to keep a push_max_frame_bytes buffer). */
static void test_rx_collect_holds_no_buffer_between_messages(void **state)
{
    (void)state;
    struct push_conn c = {0};
    size_t len = 0;
    const char whole[] = "{\"type\":\"ping\"}";
    const char *msg = push_rx_collect(&c, whole, sizeof(whole) - 1, true, &len);
    assert_ptr_equal(msg, whole);
    assert_int_equal(len, sizeof(whole) - 1);
    assert_null(c.rx.data);
    push_rx_reset(&c);

    assert_null(push_rx_collect(&c, NULL, 0, false, &len)); /* empty first piece */
    assert_null(push_rx_collect(&c, "{\"type\":", 8, false, &len));
    assert_null(push_rx_collect(&c, NULL, 0, false, &len)); /* an empty piece */
    char big[3000];
    memset(big, 'x', sizeof(big));
    assert_null(push_rx_collect(&c, big, sizeof(big), false, &len));
    msg = push_rx_collect(&c, "\"}", 2, true, &len);
    assert_non_null(msg);
    assert_int_equal(len, 8 + sizeof(big) + 2);
    assert_memory_equal(msg, "{\"type\":", 8);
    assert_memory_equal(msg + 8, big, sizeof(big));
    assert_memory_equal(msg + 8 + sizeof(big), "\"}", 2);
    push_rx_reset(&c);
    assert_null(c.rx.data);
    assert_int_equal(c.rx.len, 0);

    msg = push_rx_collect(&c, NULL, 0, true, &len); /* an empty message */
    assert_non_null(msg);
    assert_int_equal(len, 0);
    assert_null(c.rx.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_frame_format),
        cmocka_unit_test(test_one_frame_shared_by_subscribers),
        cmocka_unit_test(test_membership_events),
        cmocka_unit_test(test_single_conversation_connection_ignores_others),
        cmocka_unit_test(test_removal_closes_single_conversation_connection),
        cmocka_unit_test(test_slow_client_is_cut_off_at_the_bound),
        cmocka_unit_test(test_resume_sends_backlog_then_held_without_duplicates),
        cmocka_unit_test(test_many_connections_and_unregister),
        cmocka_unit_test(test_rx_collect_holds_no_buffer_between_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
