/* The chat-push protocol: the lws callback, per-session data and the state it shares
 * with main.c. Everything here runs on the lws service thread. ws_protocol.c serves
 * WebSockets and dispatches the DB worker's results; http_fallback.c serves the HTTP
 * side (SSE, long-poll, /metrics, /healthz). */
#ifndef CHAT_PUSH_WS_PROTOCOL_H
#define CHAT_PUSH_WS_PROTOCOL_H

#include <libwebsockets.h>

#include "config.h"
#include "db_worker.h"
#include "fanout.h"
#include "metrics.h"
#include "typing.h"

struct push_server {
    const struct chat_config *cfg;
    struct lws_context *context;
    struct push_worker *worker;
    struct push_fanout fanout;
    struct push_metrics metrics;
    struct push_typing typing;
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
};

/* Per-session data, allocated by lws for every connection including plain HTTP
 * requests, so it holds only a pointer; the connection state is allocated once the
 * WebSocket handshake (or an SSE / long-poll request) is accepted. */
struct push_session {
    struct push_conn *conn;
};

/* The protocol callback; the context's user pointer must be the struct push_server. */
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

/* ---- shared by ws_protocol.c and http_fallback.c ---- */

long long push_now_ms(void);
struct push_server *push_server_of(struct lws *wsi);
/* A new connection of `kind` for wsi: registered, counted, owned by the session. */
struct push_conn *push_conn_new(struct push_server *srv, struct lws *wsi,
                                enum push_conn_kind kind, long long only_conv);
/* The connection is going away: unindexes it, updates presence, frees it. */
void push_conn_destroy(struct push_server *srv, struct push_conn *conn);
/* Queues an auth job for conn with token (taken). */
void push_submit_auth(struct push_server *srv, struct push_conn *conn, char *token);
/* A new job of `kind` for conn, with its id, user and (/ws/chat/<pk>/) conversation
 * filled in; the caller completes it and hands it to push_worker_submit. */
struct push_job *push_job_for(enum push_job_kind kind, const struct push_conn *conn);
/* Queues a resume of conn from last_event_id. */
void push_start_resume(struct push_server *srv, struct push_conn *conn, long long from);
/* The session token of the request (cookie first, then Authorization: Bearer), or NULL;
 * *from_cookie says which. Caller frees. */
char *push_request_token(struct lws *wsi, bool *from_cookie);
/* Whether the request's Origin header (if any) is in allowed_origins. */
bool push_request_origin_ok(struct lws *wsi, const struct chat_config *cfg);
/* The request's Origin when it is in allowed_origins: a pointer into
 * cfg->allowed_origins (not NUL-terminated; *len bytes), valid as long as cfg. NULL when
 * there is no Origin or it is not allowed. len may be NULL. */
const char *push_request_allowed_origin(struct lws *wsi, const struct chat_config *cfg,
                                        size_t *len);
/* ?name=N as N (N >= 0), -1 when absent, -2 when malformed. name includes the '='. */
long long push_request_int_arg(struct lws *wsi, const char *name);

/* http_fallback.c: LWS_CALLBACK_HTTP (returns the callback's result), the HTTP side of
 * auth results, poll results, HTTP_WRITEABLE, and the per-tick work. */
int push_http_request(struct push_server *srv, struct lws *wsi, struct push_session *pss,
                      const char *path);
void push_http_auth_done(struct push_server *srv, struct push_conn *conn, int status);
void push_http_poll_done(struct push_server *srv, struct push_conn *conn, struct push_result *r);
int push_http_writeable(struct push_server *srv, struct lws *wsi, struct push_session *pss);
void push_http_tick(struct push_server *srv, long long now);

#endif
