/* The push daemon's lws side as main.c sees it: struct push_server (the state of the lws
 * service thread), the per-session data, and the protocol callback. Everything here runs
 * on the lws service thread except push_server_notify. */
#ifndef CHAT_PUSH_SERVER_H
#define CHAT_PUSH_SERVER_H

#include <libwebsockets.h>

#include "config.h"
#include "db_worker.h"
#include "fanout.h"
#include "metrics.h"
#include "session_expiry.h"
#include "typing.h"

struct push_server {
    const struct chat_config *cfg;
    struct lws_context *context;
    struct push_worker *worker;
    struct push_fanout fanout;
    struct push_metrics metrics;
    struct push_typing typing;
    struct push_expiry expiry; /* authenticated connections by session deadline */
    char wake_self[256];   /* this daemon's own wake-up address (not sent typing relays) */
    int peer_fd;           /* datagram socket for typing relays to the other daemons */
    unsigned long long next_conn_id;
    unsigned long long connections; /* open connections of every kind */
    unsigned long long connections_by_kind[3];
    unsigned long long requests;    /* HTTP requests, for request ids */
    struct push_conn *http_conns;   /* SSE and long-poll connections (for ticks) */
    /* Connections waiting for an auth frame, oldest first (so deadlines are in order). */
    struct push_auth_wait {
        unsigned long long conn_id;
        long long deadline_ms;
    } *auth_waits;
    size_t auth_head, auth_count, auth_cap;
    long long next_keepalive_ms; /* the next keepalive sweep (ws_protocol.c) */
};

/* Per-session data, allocated by lws for every connection including plain HTTP
 * requests, so it holds only a pointer; the connection state is allocated once the
 * WebSocket handshake (or an SSE / long-poll request) is accepted. */
struct push_session {
    struct push_conn *conn;
};

/* The protocol callback (server.c); the context's user pointer must be the struct push_server. */
int push_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

/* Initialises srv (not the context or worker, which main.c sets). wake_self is this
 * daemon's own wake-up address. */
void push_server_init(struct push_server *srv, const struct chat_config *cfg,
                      const char *wake_self);
/* Frees what is left once the context is destroyed (every connection is gone by then). */
void push_server_free(struct push_server *srv);

/* Worker notification: wakes the lws thread (lws_cancel_service). Thread-safe. */
void push_server_notify(void *srv);

#endif
