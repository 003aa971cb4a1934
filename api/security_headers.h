/* The security headers every server-rendered HTML page carries. */
#ifndef CHAT_SECURITY_HEADERS_H
#define CHAT_SECURITY_HEADERS_H

#include "config.h"
#include "http.h"

/* Sets the HTML content type and adds Cache-Control: no-store, the page's
 * Content-Security-Policy (built from push_public_url and, for ':PORT/PATH', req's Host
 * and scheme), X-Content-Type-Options: nosniff, Referrer-Policy: same-origin,
 * Content-Language (the request's locale) and Vary: Accept-Language, Cookie to res. */
void chat_page_headers(const struct chat_config *cfg, const struct chat_request *req,
                       struct chat_response *res);

#endif
