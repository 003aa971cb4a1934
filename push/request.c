/* Reading the HTTP request of an lws connection, for the WebSocket upgrade and the
 * fallbacks alike: the session token (cookie or bearer), the Origin check, and integer
 * query arguments. */
#include "request.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* The entry of cfg->allowed_origins equal to origin (len bytes), or NULL. */
static const char *origin_allowed(const struct chat_config *cfg, const char *origin, size_t len)
{
    const char *p = cfg->allowed_origins;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == len && n > 0 && memcmp(p, origin, n) == 0)
            return p;
        p += n;
    }
    return NULL;
}

bool push_request_origin_ok(struct lws *wsi, const struct chat_config *cfg)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return true; /* no Origin: a non-browser client (a browser sends one cross-site) */
    return push_request_allowed_origin(wsi, cfg, NULL) != NULL;
}

const char *push_request_allowed_origin(struct lws *wsi, const struct chat_config *cfg,
                                        size_t *len)
{
    char buf[512];
    int olen = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (olen <= 0 || olen >= (int)sizeof(buf) ||
        lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN) < 0)
        return NULL;
    size_t n = strlen(buf);
    const char *entry = origin_allowed(cfg, buf, n);
    if (entry && len)
        *len = n;
    return entry;
}

/* The token from the chat_session cookie or an "Authorization: Bearer" header, or NULL.
 * The caller frees it. */
char *push_request_token(struct lws *wsi, bool *from_cookie)
{
    char buf[PUSH_TOKEN_MAX + 16];
    size_t max = sizeof(buf);
    *from_cookie = false;
    if (lws_http_cookie_get(wsi, "chat_session", buf, &max) == 0 && max > 0) {
        *from_cookie = true;
        return chat_xstrndup(buf, max);
    }
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof(buf) &&
        lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
        strncasecmp(buf, "Bearer ", 7) == 0) {
        const char *t = buf + 7;
        while (*t == ' ')
            t++;
        if (*t)
            return chat_xstrdup(t);
    }
    return NULL;
}

long long push_request_int_arg(struct lws *wsi, const char *name)
{
    /* Room for the longest argument: lws_get_urlarg_by_name stops at the first argument
     * that does not fit, which would hide the ones after it. */
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total <= 0)
        return -1;
    char *buf = chat_xmalloc((size_t)total + 1);
    const char *v = lws_get_urlarg_by_name(wsi, name, buf, total + 1);
    long long n = -1;
    if (v && !isdigit((unsigned char)*v)) {
        n = -2;
    } else if (v) {
        char *end;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || *end)
            n = -2;
    }
    free(buf);
    return n;
}

long long push_request_resume_from(struct lws *wsi)
{
    long long n = push_request_int_arg(wsi, "last_event_id=");
    return n < 0 ? -1 : n;
}


enum chat_locale push_request_locale(struct lws *wsi)
{
    char buf[CHAT_ACCEPT_LANGUAGE_MAX + 1];
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_ACCEPT_LANGUAGE);
    if (n <= 0 || n > CHAT_ACCEPT_LANGUAGE_MAX ||
        lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_ACCEPT_LANGUAGE) <= 0)
        return CHAT_LOCALE_EN;
    return chat_i18n_negotiate(NULL, buf);
}
