/* Who is calling, and whether a cookie-authenticated request may change anything: the
 * dispatcher's authentication and double-submit CSRF check, and the names of the two
 * cookies that routes_auth.c sets and the page tells its script about. */
#ifndef CHAT_AUTH_H
#define CHAT_AUTH_H

#include <stdbool.h>

#include "http.h"

#define CHAT_SESSION_COOKIE "chat_session"
#define CHAT_CSRF_COOKIE "chat_csrf"

/* Identifies the caller from a bearer token or the session cookie, filling req->user_id,
 * cookie_auth, csrf_token and session_token. A missing or invalid credential leaves the
 * request anonymous (CHAT_OK); routes that need a user then answer 401. Returns a
 * database error as is. */
int chat_authenticate(struct chat_app *app, struct chat_request *req);

/* False when a cookie-authenticated request with an unsafe method lacks an X-CSRFToken
 * equal to the session's CSRF token (compared in constant time). */
bool chat_csrf_valid(const struct chat_request *req);

/* Sets headers on res that remove both session cookies (logout, account deletion). */
void chat_session_cookies_clear(const struct chat_app *app, struct chat_response *res);

#endif
