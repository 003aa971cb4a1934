/* The URL router: one table of (method, pattern, handler, flags). Patterns are literal
 * segments plus `{id}` (a positive decimal integer, at most 18 digits), `{str}` (one
 * non-empty path segment, still percent-encoded: the handler decodes and validates it)
 * and a trailing `{*}` (the rest of the path). */
#ifndef CHAT_ROUTER_H
#define CHAT_ROUTER_H

#include <stdbool.h>

#include "http.h"

#define CHAT_ROUTE_MAX_IDS 4

struct chat_route_args {
    long long ids[CHAT_ROUTE_MAX_IDS]; /* the {id} segments, in order */
    unsigned nids;
    const char *rest; /* what {*} matched, pointing into the request path */
    const char *str;  /* what {str} matched (str_len bytes, not NUL-terminated), or NULL */
    size_t str_len;
};

typedef int (*chat_handler_fn)(struct chat_app *app, struct chat_request *req,
                               struct chat_response *res, const struct chat_route_args *args);

enum chat_route_flags {
    CHAT_ROUTE_PUBLIC = 0,       /* no authentication needed (still identified if present) */
    CHAT_ROUTE_AUTH = 1 << 0,    /* 401 without a valid session */
    CHAT_ROUTE_NO_DB = 1 << 2,   /* served without MariaDB (static files) */
    /* The rate-limit class is part of the flags (so route lines need no new field):
     * GET routes are "read", other methods "write", unless one of these says otherwise. */
    CHAT_ROUTE_RATE_AUTH = 1 << 4, /* login/register: one bucket per client address */
    CHAT_ROUTE_BODY_FILE = 1 << 5, /* uploads: body spooled to a file up to
                                    * attachment_max_bytes; rate class "upload" */
    /* A conversation route whose handler gives outsiders the uniform 404 itself, inside
     * its transaction and before any other answer (chat_read_member_json_body), so the
     * dispatcher's membership round trip is not spent on it. */
    CHAT_ROUTE_MEMBER_IN_HANDLER = 1 << 6,
};

struct chat_route {
    const char *method;
    const char *pattern;
    chat_handler_fn handler;
    unsigned flags;
};

enum chat_rate_class { CHAT_RATE_AUTH, CHAT_RATE_READ, CHAT_RATE_WRITE, CHAT_RATE_UPLOAD };

/* The rate-limit class of a route (see the flags above). */
enum chat_rate_class chat_route_rate_class(const struct chat_route *route);

extern const struct chat_route chat_routes[];
extern const unsigned chat_routes_count;

/* Finds the route for method and path. Returns the route, or NULL with *method_mismatch
 * true when the path exists under another method (405) and false when nothing matches
 * (404). `allow` (may be NULL) receives the allowed methods for a 405, comma-separated. */
const struct chat_route *chat_route_find(const char *method, const char *path,
                                         struct chat_route_args *args, bool *method_mismatch,
                                         char *allow, size_t allow_len);

/* Matches one pattern against path, filling args. Exposed for the unit tests. */
bool chat_route_match(const char *pattern, const char *path, struct chat_route_args *args);

#endif
