/* The chat-push WebSocket protocol: the lws callback, per-session data and the state it
 * shares with main.c. Everything here runs on the lws service thread. */
#ifndef CHAT_PUSH_WS_PROTOCOL_H
#define CHAT_PUSH_WS_PROTOCOL_H

#include <libwebsockets.h>

#include "config.h"
#include "db_worker.h"
#include "fanout.h"

struct push_server {
    const struct chat_config *cfg;
    struct lws_context *context;
    struct push_worker *worker;
    struct push_fanout fanout;
    unsigned long long next_conn_id;
    unsigned long long connections; /* open WebSocket connections */
    /* Connections waiting for an auth frame, oldest first (so deadlines are in order). */
    struct push_auth_wait {
        unsigned long long conn_id;
        long long deadline_ms;
    } *auth_waits;
    size_t auth_head, auth_count, auth_cap;
};

/* Per-session data, allocated by lws for every connection including plain HTTP
 * requests, so it holds only a pointer; the connection state is allocated once the
 * WebSocket handshake is accepted. */
struct push_session {
    struct push_conn *conn;
};

/* The protocol callback; the context's user pointer must be the struct push_server. */
int push_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* Initialises srv (not the context or worker, which main.c sets). */
void push_server_init(struct push_server *srv, const struct chat_config *cfg);
/* Frees what is left once the context is destroyed (every connection is gone by then). */
void push_server_free(struct push_server *srv);

/* Worker notification: wakes the lws thread (lws_cancel_service). Thread-safe. */
void push_server_notify(void *srv);

#endif
