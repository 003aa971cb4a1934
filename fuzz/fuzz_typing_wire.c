/* libFuzzer target: the typing relay datagram between push daemons (push/typing_wire.c),
 * which arrives on the wake-up socket from anyone who can send to it, along the whole
 * drain path: the DB worker's drain() (push/db_worker.c, static: recv, decode, then a
 * frame of the decoded bytes) and the loop's push_typing_deliver (push/typing_relay.c)
 * to the conversation's subscribers other than the typing user. The input is decoded as
 * a datagram; one that decodes is re-encoded from its ids (with its frame as the user
 * object) and must decode to the same ids again, and is delivered to two connections of
 * its conversation: the other user's gets exactly the frame, the sender's nothing. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../push/fanout.h"
#include "../push/frame.h"
#include "../push/server.h"
#include "../push/typing_relay.h"
#include "../push/typing_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_write(struct push_conn *conn)
{
    (void)conn;
}

/* What drain() and the loop do with a decoded datagram (see the comment above). */
static void deliver(const struct push_typing_wire *w)
{
    static struct push_server srv;
    memset(&srv, 0, sizeof(srv));
    push_fanout_init(&srv.fanout, 1 << 20, no_write);
    struct push_conn sender, other;
    memset(&sender, 0, sizeof(sender));
    memset(&other, 0, sizeof(other));
    sender.id = 1;
    other.id = 2;
    long long conv = w->conversation_id;
    push_fanout_register(&srv.fanout, &sender);
    push_fanout_register(&srv.fanout, &other);
    push_fanout_attach(&srv.fanout, &sender, w->user_id, &conv, 1);
    push_fanout_attach(&srv.fanout, &other, w->user_id == 1 ? 2 : w->user_id - 1, &conv, 1);

    struct push_frame *f = push_frame_new(w->frame, w->frame_len, 0);
    push_typing_deliver(&srv, conv, w->user_id, f);
    push_frame_unref(f);
    assert(sender.out.count == 0 && other.out.count == 1);
    struct push_frame *got = push_queue_pop(&other.out);
    assert(got->len == w->frame_len && memcmp(push_frame_text(got), w->frame, w->frame_len) == 0);
    push_frame_unref(got);
    push_fanout_unregister(&srv.fanout, &sender);
    push_fanout_unregister(&srv.fanout, &other);
    push_fanout_free(&srv.fanout);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PUSH_PEER_TYPING_MAX)
        return 0; /* the receive buffer never holds more */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct push_typing_wire w;
    if (push_typing_wire_decode(buf, size, &w)) {
        assert(w.conversation_id > 0 && w.user_id > 0);
        assert(w.frame > buf && w.frame + w.frame_len <= buf + size);
        assert(w.frame[0] == '{' && w.frame[w.frame_len] == '\0');
        char out[PUSH_PEER_TYPING_MAX + 1];
        size_t off;
        int n = push_typing_wire_encode(out, sizeof(out) - 1, w.conversation_id, w.user_id,
                                        w.frame, true, &off);
        if (n >= 0) {
            assert((size_t)n < sizeof(out) - 1 && out[n] == '\0' && off < (size_t)n);
            struct push_typing_wire back;
            assert(push_typing_wire_decode(out, (size_t)n, &back));
            assert(back.conversation_id == w.conversation_id && back.user_id == w.user_id);
            assert(back.frame == out + off && back.frame_len == (size_t)n - off);
        }
        deliver(&w);
    }
    free(buf);
    return 0;
}
