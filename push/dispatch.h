/* The dispatch of the DB worker's results on the lws thread. */
#ifndef CHAT_PUSH_DISPATCH_H
#define CHAT_PUSH_DISPATCH_H

#include "server.h"

/* Takes every queued result and hands each to the fan-out or, for a connection still
 * open, to its transport's handler (ws_protocol.c or http_fallback.c). */
void push_dispatch_results(struct push_server *srv);

#endif
