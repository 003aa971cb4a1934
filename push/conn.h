/* One connection (WebSocket, SSE or long-poll) on the lws thread: its lifecycle, the
 * control frames it is sent, and the DB jobs it submits. ws_protocol.c, http_fallback.c
 * and dispatch.c all call down into these. */
#ifndef CHAT_PUSH_CONN_H
#define CHAT_PUSH_CONN_H

#include <json-c/json.h>
#include <stdbool.h>

#include "server.h"

/* A new connection of `kind` for wsi: registered, counted, owned by the session. */
struct push_conn *push_conn_new(struct push_server *srv, struct lws *wsi,
                                enum push_conn_kind kind, long long only_conv);
/* The connection is going away: unindexes it, updates presence, frees it. */
void push_conn_destroy(struct push_server *srv, struct push_conn *conn);
/* The fan-out's want_write: asks lws for a WRITEABLE callback (and, for a connection
 * marked to close, bounds how long it may take). */
void push_conn_want_write(struct push_conn *conn);

/* Queues obj (taken) as a control frame. */
void push_send_json(struct push_server *srv, struct push_conn *conn, json_object *obj);
/* {"type":"error","code","detail"[,"client_msg_id"]} for err (a CHAT_E_* value: its code,
 * and its message when detail is NULL); client_msg_id may be NULL. */
void push_send_error_for(struct push_server *srv, struct push_conn *conn, int err,
                         const char *detail, const char *client_msg_id);
void push_send_error(struct push_server *srv, struct push_conn *conn, int err,
                     const char *detail);
/* {"type":type}. */
void push_send_type(struct push_server *srv, struct push_conn *conn, const char *type);
/* Sends an error frame (as push_send_error), then closes with close_code once it is
 * written. */
void push_fail_conn(struct push_server *srv, struct push_conn *conn, int err,
                    const char *detail, int close_code, const char *reason);

/* A new job of `kind` for conn, with its id, user and (/ws/chat/<pk>/) conversation
 * filled in; the caller completes it and hands it to push_worker_submit. */
struct push_job *push_job_for(enum push_job_kind kind, const struct push_conn *conn);
/* Queues an auth job for conn with token (taken). */
void push_submit_auth(struct push_server *srv, struct push_conn *conn, char *token);
/* Queues a resume of conn from last_event_id. */
void push_start_resume(struct push_server *srv, struct push_conn *conn, long long from);
/* Records that user_id now holds `connections` connections here (a presence job). */
void push_submit_presence(struct push_server *srv, long long user_id, size_t connections,
                          bool changed_presence);

#endif
