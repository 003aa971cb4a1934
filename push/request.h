/* Reading the HTTP request of an lws connection (an upgrade or a fallback request): the
 * session token, the Origin check and query arguments. */
#ifndef CHAT_PUSH_REQUEST_H
#define CHAT_PUSH_REQUEST_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "i18n.h"

/* Longest token accepted from a cookie, header or frame (real ones are 43 characters). */
#define PUSH_TOKEN_MAX 256

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

/* The locale its Accept-Language asks for (chat_i18n_negotiate), en without one. */
enum chat_locale push_request_locale(struct lws *wsi);
/* ?last_event_id=N as N, or -1 when absent or malformed. */
long long push_request_resume_from(struct lws *wsi);

#endif
