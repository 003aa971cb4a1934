/* The typing relay on the lws thread: typing frames to a conversation's local
 * subscribers, to the other daemons (typing_wire.h datagrams), and the expiry stops. */
#ifndef CHAT_PUSH_TYPING_RELAY_H
#define CHAT_PUSH_TYPING_RELAY_H

#include <stdbool.h>

#include "server.h"

/* Sends a typing frame to the local subscribers of conv other than user_id. */
void push_typing_deliver(struct push_server *srv, long long conv, long long user_id,
                         struct push_frame *frame);
/* Relays {"type":"typing","conversation_id","user","is_typing"} here and, through their
 * wake-up sockets, on the other daemons. */
void push_typing_relay(struct push_server *srv, long long conv, long long user_id,
                       const char *user_json, bool typing);
/* Relays a stop for every typing state that expired at now. */
void push_typing_expire_all(struct push_server *srv, long long now);

/* The typing filter: no typing is relayed between two users while either blocks the
 * other. Sets conn's filter to ids (ascending, count n; taken, may be NULL). */
void push_typing_filter_set(struct push_conn *conn, long long *ids, size_t n);
/* A block.changed event (PUSH_EVENT_BLOCK): updates the filters of both users' local
 * connections. */
void push_typing_block_changed(struct push_server *srv, const struct push_event *e);

#endif
