/* Rate limiting in the dispatcher: a token bucket per route class and caller (the user,
 * or the client address for login/register and anonymous requests), kept in MariaDB
 * (store_ratelimit.c) so that every chat-api worker, chat-httpd thread and host shares it. */
#ifndef CHAT_RATELIMIT_H
#define CHAT_RATELIMIT_H

#include "http.h"
#include "router.h"

/* Takes a token for this request and adds the X-RateLimit-* headers. Returns CHAT_OK,
 * or CHAT_E_RATE_LIMITED after writing the 429 (with Retry-After). A database error
 * lets the request through (logged): an outage of the limiter is not an outage of the
 * API, and the handler will meet the same database anyway. */
int chat_rate_limit(struct chat_app *app, const struct chat_request *req,
                    struct chat_response *res, const struct chat_route *route);

/* Login only, after chat_rate_limit(): a token from the bucket of the username tried
 * (rate_login_per_user_*), whatever the address, before any password is hashed. A name
 * no account can have takes none. Returns CHAT_OK, or CHAT_E_RATE_LIMITED after writing
 * the 429 (with Retry-After; the X-RateLimit-* headers are this bucket's). */
int chat_rate_limit_login(struct chat_app *app, const struct chat_request *req,
                          struct chat_response *res, const char *username);

/* What a user may do only so often, whatever their request rate: start conversations
 * (new direct chats and groups) and invite people (participants added to a group, at
 * its creation too). Each is an hourly bucket per user (rate_conversations_per_hour,
 * rate_invitations_per_hour). */
enum chat_rate_action { CHAT_RATE_NEW_CONVERSATION, CHAT_RATE_INVITATION };

/* Takes cost tokens (a cost above the hourly allowance takes all of it) from the caller's
 * bucket for action, after chat_rate_limit(). Returns CHAT_OK, or CHAT_E_RATE_LIMITED
 * after writing the 429 (with Retry-After); either way the X-RateLimit-* headers become
 * this bucket's. A database error lets the request through (logged), as for
 * chat_rate_limit(). */
int chat_rate_limit_action(struct chat_app *app, const struct chat_request *req,
                           struct chat_response *res, enum chat_rate_action action, int cost);

#endif
