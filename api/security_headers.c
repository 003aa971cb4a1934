/* The headers of the HTML pages: the Content-Security-Policy (no inline scripts or
 * styles; connect-src adds the push daemon's origin), nosniff, the referrer policy,
 * no-store, and the page's language with what it varies on. */
#include "security_headers.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "response.h"

/* The host part of a Host header ("example.org:8443" -> "example.org", "[::1]:80" ->
 * "[::1]"), into out; false when it holds anything a host name or address literal cannot
 * (the value goes into a header, so nothing outside [A-Za-z0-9.-] and the IPv6
 * brackets may pass). */
static bool host_name(const char *host, char *out, size_t outlen)
{
    if (!host || !*host)
        return false;
    size_t len;
    if (host[0] == '[') {
        len = strcspn(host, "]");
        if (host[len] != ']')
            return false;
        len++;
        for (size_t i = 1; i + 1 < len; i++)
            if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
                return false;
    } else {
        len = strcspn(host, ":");
        for (size_t i = 0; i < len; i++)
            if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-')
                return false;
    }
    if (len == 0 || len >= outlen || (host[len] && host[len] != ':'))
        return false;
    memcpy(out, host, len);
    out[len] = '\0';
    return true;
}

/* The Content-Security-Policy of the page, into out. Scripts, styles and images only from
 * our origin, no inline scripts or styles. connect-src adds exactly the push daemon's
 * origin, for the WebSocket and for its SSE and long-poll fallbacks (plain HTTP on the
 * same daemon): push_public_url ":8001/ws/" is the page's own host on another port,
 * which 'self' does not cover, so it becomes ws://HOST:8001 and http://HOST:8001 (wss
 * and https when the page came over TLS), HOST from the request's Host header as the
 * page's script resolves it; a Host that is not a plain name or address adds nothing
 * (the push connection then fails rather than the policy widening). An absolute URL
 * adds its own origin; "/ws/" is 'self'. */
static void page_csp(const struct chat_config *cfg, const struct chat_request *req, char *out,
                     size_t outlen)
{
    const char *url = cfg->push_public_url;
    char push[640] = "", host[256];
    if (url[0] == ':') {
        int port = atoi(url + 1);
        if (port > 0 && port < 65536 && host_name(req->host, host, sizeof(host)))
            snprintf(push, sizeof(push), " %s://%s:%d %s://%s:%d", req->tls ? "wss" : "ws",
                     host, port, req->tls ? "https" : "http", host, port);
    } else if (strstr(url, "://")) {
        const char *h = strstr(url, "://") + 3;
        size_t hlen = strcspn(h, "/?#");
        bool secure = strncmp(url, "wss:", 4) == 0 || strncmp(url, "https:", 6) == 0;
        snprintf(push, sizeof(push), " %s://%.*s %s://%.*s", secure ? "wss" : "ws", (int)hlen,
                 h, secure ? "https" : "http", (int)hlen, h);
    }
    snprintf(out, outlen,
             "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'%s; "
             "img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; "
             "form-action 'self'; object-src 'none'",
             push);
}

void chat_page_headers(const struct chat_config *cfg, const struct chat_request *req,
                       struct chat_response *res)
{
    char csp[1024];
    page_csp(cfg, req, csp, sizeof(csp));
    res->content_type = "text/html; charset=utf-8";
    chat_response_header(res, "Cache-Control", "no-store");
    chat_response_header(res, "Content-Security-Policy", csp);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    chat_response_header(res, "Referrer-Policy", "same-origin");
    /* The language comes from the user's setting (the session cookie) or Accept-Language:
     * a cache that kept the page (none should: no-store) must key on both. */
    chat_response_header(res, "Content-Language", chat_i18n_locale_tag(chat_request_locale(req)));
    chat_response_header(res, "Vary", "Accept-Language, Cookie");
}
