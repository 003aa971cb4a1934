/* The security headers of the HTML pages: the Content-Security-Policy (no inline
 * scripts or styles; connect-src adds the push daemon's origin), nosniff, the referrer
 * policy and no-store. */
#include "security_headers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "response.h"

/* The Content-Security-Policy of the page, into out. Scripts, styles and images only from
 * our origin, no inline scripts or styles. connect-src adds exactly the push daemon's
 * origin: push_public_url ":8001/ws/" is this host on another port, which 'self' does not
 * cover, so it becomes "*:8001" for ws, wss, http and https (the SSE and long-poll
 * fallbacks are plain HTTP on the same daemon); an absolute URL adds its own origin. */
static void page_csp(const struct chat_config *cfg, char *out, size_t outlen)
{
    const char *url = cfg->push_public_url;
    char push[512] = "";
    if (url[0] == ':') {
        int port = atoi(url + 1);
        if (port > 0 && port < 65536)
            snprintf(push, sizeof(push), " ws://*:%d wss://*:%d http://*:%d https://*:%d", port,
                     port, port, port);
    } else if (strstr(url, "://")) {
        const char *host = strstr(url, "://") + 3;
        size_t hlen = strcspn(host, "/?#");
        bool secure = strncmp(url, "wss:", 4) == 0 || strncmp(url, "https:", 6) == 0;
        snprintf(push, sizeof(push), " %s://%.*s %s://%.*s", secure ? "wss" : "ws", (int)hlen,
                 host, secure ? "https" : "http", (int)hlen, host);
    }
    snprintf(out, outlen,
             "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'%s; "
             "img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; "
             "form-action 'self'; object-src 'none'",
             push);
}

void chat_page_headers(const struct chat_config *cfg, struct chat_response *res)
{
    char csp[768];
    page_csp(cfg, csp, sizeof(csp));
    res->content_type = "text/html; charset=utf-8";
    chat_response_header(res, "Cache-Control", "no-store");
    chat_response_header(res, "Content-Security-Policy", csp);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    chat_response_header(res, "Referrer-Policy", "same-origin");
}
