/* The typing relay on the lws thread: typing frames go to the conversation's local
 * subscribers and, as typing_wire.h datagrams, to the other daemons; states that expire
 * are relayed as stops. */
#include "typing_relay.h"

#include <stdlib.h>
#include <string.h>

#include "typing_wire.h"
#include "wake.h"
#include "xalloc.h"

/* The index of user_id in conn's filter, or where it would go. */
static size_t filter_find(const struct push_conn *conn, long long user_id)
{
    size_t lo = 0, hi = conn->nmuted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (conn->typing_muted[mid] < user_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool filtered(const struct push_conn *conn, long long user_id)
{
    size_t i = filter_find(conn, user_id);
    return i < conn->nmuted && conn->typing_muted[i] == user_id;
}

void push_typing_filter_set(struct push_conn *conn, long long *ids, size_t n)
{
    free(conn->typing_muted);
    conn->typing_muted = ids;
    conn->nmuted = ids ? n : 0;
}

/* Adds user_id to conn's filter, or removes it. */
static void filter_update(struct push_conn *conn, long long user_id, bool add)
{
    size_t i = filter_find(conn, user_id);
    bool present = i < conn->nmuted && conn->typing_muted[i] == user_id;
    if (add && !present) {
        conn->typing_muted = chat_xreallocarray(conn->typing_muted, conn->nmuted + 1,
                                                sizeof(*conn->typing_muted));
        memmove(conn->typing_muted + i + 1, conn->typing_muted + i,
                (conn->nmuted - i) * sizeof(*conn->typing_muted));
        conn->typing_muted[i] = user_id;
        conn->nmuted++;
    } else if (!add && present) {
        memmove(conn->typing_muted + i, conn->typing_muted + i + 1,
                (conn->nmuted - i - 1) * sizeof(*conn->typing_muted));
        conn->nmuted--;
    }
}

/* Every local connection of user_id learns whether other is filtered. */
static void filter_user(struct push_server *srv, long long user_id, long long other, bool add)
{
    size_t n;
    struct push_conn *const *conns = push_fanout_user_conns(&srv->fanout, user_id, &n);
    for (size_t i = 0; i < n; i++)
        filter_update(conns[i], other, add);
}

void push_typing_block_changed(struct push_server *srv, const struct push_event *e)
{
    if (e->nusers != 1 || e->block_user <= 0)
        return;
    filter_user(srv, e->users[0], e->block_user, e->blocked);
    filter_user(srv, e->block_user, e->users[0], e->blocked);
}

/* Sends a typing frame to the local subscribers of conv other than user_id and those
 * whose filter holds user_id. */
void push_typing_deliver(struct push_server *srv, long long conv, long long user_id,
                         struct push_frame *frame)
{
    size_t n;
    struct push_conn *const *conns = push_fanout_conv_conns(&srv->fanout, conv, &n);
    for (size_t i = 0; i < n; i++)
        if (conns[i]->user_id != user_id && !filtered(conns[i], user_id) &&
            push_conn_send(&srv->fanout, conns[i], frame, false))
            srv->metrics.typing_relays++;
}

/* Relays {"type":"typing","conversation_id","user","is_typing"} here and, through their
 * wake-up sockets, on the other daemons. */
void push_typing_relay(struct push_server *srv, long long conv, long long user_id,
                       const char *user_json, bool typing)
{
    char text[PUSH_PEER_TYPING_MAX];
    size_t head;
    int n = push_typing_wire_encode(text, sizeof(text), conv, user_id, user_json, typing, &head);
    if (n < 0)
        return; /* cannot happen with the bounded user fields */
    struct push_frame *f = push_frame_new(text + head, (size_t)n - head, 0);
    push_typing_deliver(srv, conv, user_id, f);
    push_frame_unref(f);
    chat_wake_send_all(srv->peer_fd, srv->cfg, text, (size_t)n, srv->wake_self);
}

void push_typing_expire_all(struct push_server *srv, long long now)
{
    struct push_typing_expired gone[64];
    size_t n;
    do {
        n = push_typing_expire(&srv->typing, now, gone, 64);
        for (size_t i = 0; i < n; i++) {
            push_typing_relay(srv, gone[i].key.conversation_id, gone[i].key.user_id,
                              gone[i].user_json, false);
            free(gone[i].user_json);
        }
    } while (n == 64);
}

