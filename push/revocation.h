/* Ending the connections of a session that is gone, on the lws thread: a session.revoked
 * event from the log (logout, password change, account deactivation, on every daemon),
 * a session that reached its expires_at (the expiry heap, checked on the loop's clock
 * tick), or a job that found its session gone. A WebSocket gets not_authenticated and
 * close 4401, an SSE stream the same frame and its end, a long-poll a 401. */
#ifndef CHAT_PUSH_REVOCATION_H
#define CHAT_PUSH_REVOCATION_H

#include "event.h"
#include "server.h"

/* Ends conn because its session is gone; detail is a static string. */
void push_end_session(struct push_server *srv, struct push_conn *conn, const char *detail);
/* A PUSH_EVENT_REVOKE event: ends the matching connections of its user here. */
void push_revoke(struct push_server *srv, const struct push_event *e);
/* Authentication succeeded: conn now belongs to session_id, which expires in
 * expires_in_ms; it is watched until it closes. */
void push_session_watch(struct push_server *srv, struct push_conn *conn, long long session_id,
                        long long expires_in_ms);
/* Ends the connections whose session expired by now_ms (CLOCK_MONOTONIC). */
void push_expire_sessions(struct push_server *srv, long long now_ms);

#endif
