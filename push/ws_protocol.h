/* The WebSocket protocol (docs/protocol.md): the upgrade check, client frames, writing
 * queued frames, the auth-frame deadline, and the WebSocket side of DB worker results.
 * Called by server.c (the lws callback) and dispatch.c. */
#ifndef CHAT_PUSH_WS_PROTOCOL_H
#define CHAT_PUSH_WS_PROTOCOL_H

#include "server.h"

/* Checks the path and the Origin header of an upgrade request. Returns 0 (and the
 * conversation in *conv) or the HTTP status to refuse it with. */
unsigned push_ws_check_upgrade(struct lws *wsi, const struct chat_config *cfg, long long *conv);
/* The connection has no credentials yet: it must send an auth frame within 10 s. */
void push_ws_wait_for_auth_frame(struct push_server *srv, struct push_conn *conn);
/* Fails the connections whose auth-frame deadline passed (the clock tick). */
void push_ws_check_auth_deadlines(struct push_server *srv);
/* The keepalive sweep (the clock tick, at most once a second): pings every WebSocket
 * that sent nothing for push_ping_interval_s, and drops one silent for twice that. */
void push_ws_keepalive(struct push_server *srv, long long now);
/* The client sent something (a frame, or a pong): it is alive. */
void push_ws_alive(struct push_conn *conn);
/* LWS_CALLBACK_RECEIVE: collects a (possibly fragmented) client message and handles it.
 * Returns -1 to close the connection. */
int push_ws_receive(struct push_server *srv, struct lws *wsi, struct push_conn *conn,
                    const void *in, size_t len);
/* LWS_CALLBACK_SERVER_WRITEABLE: one queued frame, or the close. */
int push_ws_writeable(struct push_server *srv, struct lws *wsi, struct push_conn *conn);

/* DB worker results for a WebSocket connection (from dispatch.c). */
void push_ws_auth_done(struct push_server *srv, struct push_conn *conn, int status,
                       struct push_frame *hello);
void push_ws_send_done(struct push_server *srv, struct push_conn *conn, struct push_result *r);
/* A typing frame's session check came back (PUSH_RESULT_TYPING_CHECKED): relays it, or
 * ends the connection when the session is gone. */
void push_ws_typing_done(struct push_server *srv, struct push_conn *conn, struct push_result *r);
void push_ws_receipt_done(struct push_server *srv, struct push_conn *conn,
                          struct push_result *r);

#endif
