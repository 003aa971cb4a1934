/* The typing relay on the lws thread: typing frames go to the conversation's local
 * subscribers and, as typing_wire.h datagrams, to the other daemons; states that expire
 * are relayed as stops. */
#include "typing_relay.h"

#include <stdlib.h>

#include "typing_wire.h"
#include "wake.h"

/* Sends a typing frame to the local subscribers of conv other than user_id. */
void push_typing_deliver(struct push_server *srv, long long conv, long long user_id,
                         struct push_frame *frame)
{
    size_t n;
    struct push_conn *const *conns = push_fanout_conv_conns(&srv->fanout, conv, &n);
    for (size_t i = 0; i < n; i++)
        if (conns[i]->user_id != user_id && push_conn_send(&srv->fanout, conns[i], frame, false))
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

