/* The CGI-shaped request path shared by FastCGI and plain CGI (see gateway.h): meta-
 * variables and body in, chat_app_handle(), "Status:" and headers out. */
#include "gateway.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "log.h"
#include "response.h"
#include "spool.h"
#include "strbuf.h"
#include "transport.h"
#include "xalloc.h"

static const char *fcgi_param(void *ctx, const char *name)
{
    return FCGX_GetParam(name, ((FCGX_Request *)ctx)->envp);
}

static int fcgi_read(void *ctx, char *buf, int n)
{
    return FCGX_GetStr(buf, n, ((FCGX_Request *)ctx)->in);
}

static void fcgi_write(void *ctx, const char *buf, int n)
{
    FCGX_PutStr(buf, n, ((FCGX_Request *)ctx)->out);
}

struct chat_gateway chat_gateway_fcgi(FCGX_Request *r)
{
    return (struct chat_gateway){.param = fcgi_param, .read = fcgi_read, .write = fcgi_write,
                                 .ctx = r};
}

static const char *cgi_param(void *ctx, const char *name)
{
    (void)ctx;
    return getenv(name);
}

static int cgi_read(void *ctx, char *buf, int n)
{
    (void)ctx;
    return (int)fread(buf, 1, (size_t)n, stdin);
}

static void cgi_write(void *ctx, const char *buf, int n)
{
    (void)ctx;
    fwrite(buf, 1, (size_t)n, stdout);
}

/* The body left unread is at most the web server's own limit (LimitRequestBody). */
static void cgi_drain(void *ctx)
{
    (void)ctx;
    char chunk[65536];
    while (fread(chunk, 1, sizeof(chunk), stdin) > 0)
        ;
}

struct chat_gateway chat_gateway_cgi(void)
{
    return (struct chat_gateway){.param = cgi_param, .read = cgi_read, .write = cgi_write,
                                 .drain = cgi_drain};
}

static long long content_length(const struct chat_gateway *gw)
{
    const char *cl = gw->param(gw->ctx, "CONTENT_LENGTH");
    return cl && *cl ? atoll(cl) : 0;
}

/* Reads exactly up to n bytes (a read may return less than asked); returns how many. */
static size_t read_full(const struct chat_gateway *gw, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        int r = gw->read(gw->ctx, buf + got, (int)(n - got));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

/* Reads the body into a malloc'ed buffer; sets body_too_large instead of reading more
 * than the limit. The caller frees *body. */
static void read_body(const struct chat_gateway *gw, const struct chat_config *cfg,
                      struct chat_request *req, char **body)
{
    *body = NULL;
    long long announced = content_length(gw);
    if (announced > cfg->max_body_bytes) {
        req->body_too_large = true;
        return;
    }
    if (announced <= 0)
        return;
    char *buf = chat_xmalloc((size_t)announced + 1); /* at most max_body_bytes */
    size_t got = read_full(gw, buf, (size_t)announced);
    buf[got] = '\0';
    req->body = buf;
    req->body_len = got;
    *body = buf;
}

/* Upload routes, once chat_app_admit_upload() let the request in (an announced body over
 * attachment_max_bytes was refused there, unread): streams the body into a spool file
 * (see api/spool.h). */
static void spool_body(const struct chat_gateway *gw, const struct chat_config *cfg,
                       struct chat_request *req, struct chat_spool *sp)
{
    /* No Content-Length: a chunked upload that nginx streams (fastcgi_request_buffering
     * off) ends with the end of the FastCGI stdin stream; the spool's limit still holds. */
    const char *cl = gw->param(gw->ctx, "CONTENT_LENGTH");
    bool announced = cl && *cl;
    long long left = announced ? atoll(cl) : LLONG_MAX;
    chat_spool_open(sp, cfg);
    char chunk[65536];
    while (left > 0 && !sp->failed) {
        int want = left > (long long)sizeof(chunk) ? (int)sizeof(chunk) : (int)left;
        int got = gw->read(gw->ctx, chunk, want);
        if (got <= 0)
            break;
        chat_spool_write(sp, chunk, (size_t)got);
        left -= got;
    }
    req->body_incomplete = announced && left > 0 && !sp->failed;
    chat_spool_to_request(sp, req);
}

/* Formats the headers with the C library (libfcgi's own printf lacks %zu and %lld) and
 * writes them in one call. */
static void write_response(const struct chat_gateway *gw, const struct chat_response *res)
{
    struct strbuf head = {0};
    strbuf_printf(&head, "Status: %d %s\r\n", res->status, chat_status_reason(res->status));
    if (res->content_type)
        strbuf_printf(&head, "Content-Type: %s\r\n", res->content_type);
    for (unsigned i = 0; i < res->nheaders; i++)
        strbuf_printf(&head, "%s: %s\r\n", res->headers[i].name, res->headers[i].value);
    FILE *f = NULL;
    if (res->file_path) {
        f = fopen(res->file_path, "rb");
        if (!f)
            log_error("cannot open %s: %s", res->file_path, strerror(errno));
    }
    long long length = res->file_path ? (f ? res->file_size : 0) : (long long)res->body.len;
    strbuf_printf(&head, "Content-Length: %lld\r\n\r\n", length);
    gw->write(gw->ctx, head.data, (int)head.len);
    strbuf_free(&head);
    if (f) {
        char chunk[16384];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            gw->write(gw->ctx, chunk, (int)n);
        fclose(f);
    } else if (!res->file_path && res->body.len) {
        gw->write(gw->ctx, res->body.data, (int)res->body.len);
    }
}

static const char *param_or(const struct chat_gateway *gw, const char *name, const char *dflt)
{
    const char *v = gw->param(gw->ctx, name);
    return v ? v : dflt;
}

void chat_gateway_serve(struct chat_app *app, const struct chat_gateway *gw)
{
    struct chat_request req = {0};
    struct chat_response res;
    chat_response_init(&res);

    /* REQUEST_URI is the raw URI as the client sent it; split off the query. */
    const char *uri = param_or(gw, "REQUEST_URI", param_or(gw, "DOCUMENT_URI", "/"));
    size_t plen = strcspn(uri, "?");
    char *path = chat_xstrndup(uri, plen);
    char *body = NULL;
    req.method = param_or(gw, "REQUEST_METHOD", "GET");
    req.path = path;
    req.query = param_or(gw, "QUERY_STRING", "");
    req.content_type = gw->param(gw->ctx, "CONTENT_TYPE");
    req.cookie = gw->param(gw->ctx, "HTTP_COOKIE");
    req.authorization = gw->param(gw->ctx, "HTTP_AUTHORIZATION");
    req.csrf_header = gw->param(gw->ctx, "HTTP_X_CSRFTOKEN");
    req.origin = gw->param(gw->ctx, "HTTP_ORIGIN");
    req.user_agent = gw->param(gw->ctx, "HTTP_USER_AGENT");
    req.if_none_match = gw->param(gw->ctx, "HTTP_IF_NONE_MATCH");
    req.accept_language = gw->param(gw->ctx, "HTTP_ACCEPT_LANGUAGE");
    req.remote_addr = gw->param(gw->ctx, "REMOTE_ADDR");
    req.forwarded_for = gw->param(gw->ctx, "HTTP_X_FORWARDED_FOR");
    req.host = gw->param(gw->ctx, "HTTP_HOST");
    const char *https = gw->param(gw->ctx, "HTTPS");
    req.tls = https && (!strcasecmp(https, "on") || !strcmp(https, "1"));
    if (req.content_type && !*req.content_type)
        req.content_type = NULL;
    struct chat_spool spool = {.fd = -1};
    if (chat_spool_wanted(req.method, path)) {
        /* Who is uploading and whether they may, before a byte of the body is read: a
         * refused upload costs no disk and the answer comes at once (nginx streams the
         * upload body, fastcgi_request_buffering off). */
        req.body_too_large = content_length(gw) > app->cfg->attachment_max_bytes;
        if (!chat_app_admit_upload(app, &req, &res)) {
            spool_body(gw, app->cfg, &req, &spool);
            chat_app_handle(app, &req, &res);
        }
    } else {
        read_body(gw, app->cfg, &req, &body);
        chat_app_handle(app, &req, &res);
    }
    if (gw->drain)
        gw->drain(gw->ctx);
    write_response(gw, &res);

    chat_spool_discard(&spool);
    chat_response_free(&res);
    free(body);
    free(path);
}
