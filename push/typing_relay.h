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

#endif
