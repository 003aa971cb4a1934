/* The HTTP side of chat-push (http_fallback.c): SSE and long-poll, /metrics, /healthz.
 * Called by server.c (the lws callback and the clock tick) and dispatch.c. */
#ifndef CHAT_PUSH_HTTP_FALLBACK_H
#define CHAT_PUSH_HTTP_FALLBACK_H

#include "server.h"

/* LWS_CALLBACK_HTTP (returns the callback's result), the HTTP side of
 * auth results, poll results, HTTP_WRITEABLE, and the per-tick work. */
int push_http_request(struct push_server *srv, struct lws *wsi, struct push_session *pss,
                      const char *path);
void push_http_auth_done(struct push_server *srv, struct push_conn *conn, int status);
/* Answers the request with err (detail: a static string, or NULL for the error's
 * message) at its next HTTP_WRITEABLE, whatever a running poll job finds. */
void push_http_fail(struct push_conn *conn, int err, const char *detail);
void push_http_poll_done(struct push_server *srv, struct push_conn *conn, struct push_result *r);
int push_http_writeable(struct push_server *srv, struct lws *wsi, struct push_session *pss);
void push_http_tick(struct push_server *srv, long long now);

#endif
