/* Request dispatch shared by both transports: request id, routing, authentication,
 * CSRF, error bodies and the access log. */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "errors.h"
#include "log.h"
#include "ratelimit.h"
#include "router.h"
#include "store.h"
#include "wake.h"
#include "xalloc.h"

void chat_app_init(struct chat_app *app, const struct chat_config *cfg)
{
    memset(app, 0, sizeof(*app));
    app->cfg = cfg;
    app->wake_fd = chat_wake_open();
}

void chat_app_free(struct chat_app *app)
{
    if (app->db_open)
        chat_db_close(&app->db);
    app->db_open = false;
    if (app->wake_fd >= 0)
        close(app->wake_fd);
    app->wake_fd = -1;
}

void chat_response_init(struct chat_response *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 200;
}

void chat_response_free(struct chat_response *res)
{
    strbuf_free(&res->body);
    for (unsigned i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->file_path);
    memset(res, 0, sizeof(*res));
}

void chat_response_header(struct chat_response *res, const char *name, const char *value)
{
    if (res->nheaders >= CHAT_MAX_RESPONSE_HEADERS) {
        log_error("too many response headers; dropping %s", name);
        return;
    }
    res->headers[res->nheaders].name = chat_xstrdup(name);
    res->headers[res->nheaders].value = chat_xstrdup(value);
    res->nheaders++;
}

void chat_respond_json(struct chat_response *res, int status, json_object *obj)
{
    size_t len;
    const char *s = chat_json_to_string(obj, &len);
    res->status = status;
    res->content_type = "application/json";
    res->body.len = 0;
    strbuf_append(&res->body, s, len);
    json_object_put(obj);
}

void chat_respond_results(struct chat_response *res, json_object *array)
{
    json_object *body = json_object_new_object();
    json_object_object_add(body, "results", array);
    chat_respond_json(res, 200, body);
}

int chat_fail(const struct chat_request *req, struct chat_response *res, int err,
              const char *detail)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "detail", json_object_new_string(detail ? detail : chat_err_message(err)));
    json_object_object_add(o, "code", json_object_new_string(chat_err_code(err)));
    json_object_object_add(o, "request_id", json_object_new_string(req->request_id));
    chat_respond_json(res, chat_err_status(err), o);
    return err;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool chat_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = query ? query : "";
    while (*p) {
        const char *end = p + strcspn(p, "&");
        if ((size_t)(end - p) >= nlen && strncmp(p, name, nlen) == 0 &&
            (p[nlen] == '=' || p + nlen == end)) {
            const char *v = p + nlen + (p[nlen] == '=' ? 1 : 0);
            size_t o = 0;
            while (v < end && o + 1 < outlen) {
                if (*v == '%' && end - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    out[o++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 3;
                } else {
                    out[o++] = *v == '+' ? ' ' : *v;
                    v++;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

int chat_percent_decode(const char *s, size_t n, char *out, size_t outlen, size_t *outn)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= outlen)
            return CHAT_E_VALIDATION;
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
            return CHAT_E_BAD_REQUEST;
        out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
        i += 2;
    }
    out[o] = '\0';
    *outn = o;
    return CHAT_OK;
}

bool chat_cookie_value(const char *cookie_header, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = cookie_header;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = p + strcspn(p, ";");
        if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(end - p) - nlen - 1;
            if (vlen >= outlen)
                return false;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}

/* Identifies the caller from a bearer token or the session cookie. A missing or invalid
 * credential leaves the request anonymous; routes that need a user then answer 401. */
static int authenticate(struct chat_app *app, struct chat_request *req)
{
    char token[256];
    bool have = false;
    if (req->authorization && strncasecmp(req->authorization, "Bearer ", 7) == 0) {
        const char *t = req->authorization + 7;
        while (*t == ' ')
            t++;
        if (strlen(t) < sizeof(token)) {
            snprintf(token, sizeof(token), "%s", t);
            have = true;
        }
    } else if (chat_cookie_value(req->cookie, CHAT_SESSION_COOKIE, token, sizeof(token))) {
        have = true;
        req->cookie_auth = true;
    }
    if (!have)
        return CHAT_OK;
    char csrf[CHAT_TOKEN_CHARS + 1] = "";
    long long uid = 0;
    int rc = chat_session_lookup(&app->db, token, &uid, csrf);
    if (rc == CHAT_E_NOT_AUTHENTICATED) {
        req->cookie_auth = false;
        return CHAT_OK;
    }
    if (rc != CHAT_OK)
        return rc;
    req->user_id = uid;
    snprintf(req->csrf_token, sizeof(req->csrf_token), "%s", csrf);
    snprintf(req->session_token, sizeof(req->session_token), "%s", token);
    return CHAT_OK;
}

static bool is_safe_method(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

static bool ensure_db(struct chat_app *app)
{
    if (app->db_open)
        return true;
    if (chat_db_open(&app->db, app->cfg) != CHAT_OK)
        return false;
    app->db_open = true;
    return true;
}

/* Every resource under a conversation belongs to its participants only. Checking here,
 * before any handler parses a body, gives an outsider the same 404 whatever they send
 * (a malformed body must not answer 400 where a member would see it), and no handler can
 * forget the check. Handlers still check inside their transactions; this one is the
 * uniform answer. */
static int check_conversation_member(struct chat_app *app, struct chat_request *req,
                                     struct chat_response *res, const struct chat_route *route,
                                     const struct chat_route_args *args)
{
    static const char prefix[] = "/api/chat/conversations/{id}/";
    if (strncmp(route->pattern, prefix, sizeof(prefix) - 1) != 0)
        return CHAT_OK;
    int rc = chat_conv_check_participant(&app->db, args->ids[0], req->user_id);
    if (rc == CHAT_OK)
        return CHAT_OK;
    return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "Conversation not found." : NULL);
}

static int dispatch(struct chat_app *app, struct chat_request *req, struct chat_response *res)
{
    struct chat_route_args args;
    bool mismatch = false;
    char allow[64] = "";
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    const struct chat_route *route =
        chat_route_find(method, req->path, &args, &mismatch, allow, sizeof(allow));
    if (!route) {
        if (mismatch) {
            chat_response_header(res, "Allow", allow);
            return chat_fail(req, res, CHAT_E_METHOD, NULL);
        }
        return chat_fail(req, res, CHAT_E_NOT_FOUND, NULL);
    }
    if (req->body_too_large) {
        char detail[96];
        snprintf(detail, sizeof(detail), "The request body is larger than %d bytes.",
                 (route->flags & CHAT_ROUTE_BODY_FILE) ? app->cfg->attachment_max_bytes
                                                       : app->cfg->max_body_bytes);
        return chat_fail(req, res, CHAT_E_TOO_LARGE, detail);
    }
    if (route->flags & CHAT_ROUTE_NO_DB)
        return route->handler(app, req, res, &args);
    if (!ensure_db(app))
        return chat_fail(req, res, CHAT_E_DB, NULL);
    int rc = authenticate(app, req);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    if (route->flags & CHAT_ROUTE_AUTH) {
        if (!req->user_id)
            return chat_fail(req, res, CHAT_E_NOT_AUTHENTICATED, NULL);
        /* Double-submit CSRF check: only a page from our origin can read chat_csrf. */
        if (req->cookie_auth && !is_safe_method(req->method) &&
            (!req->csrf_header || !chat_secret_equal(req->csrf_header, req->csrf_token)))
            return chat_fail(req, res, CHAT_E_CSRF, NULL);
    }
    if ((rc = chat_rate_limit(app, req, res, route)) != CHAT_OK)
        return rc;
    if ((rc = check_conversation_member(app, req, res, route, &args)) != CHAT_OK)
        return rc;
    return route->handler(app, req, res, &args);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void chat_app_handle(struct chat_app *app, struct chat_request *req, struct chat_response *res)
{
    double start = now_ms();
    unsigned char raw[8];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(req->request_id, sizeof(req->request_id), raw, sizeof(raw));
    chat_log_set_request_id(req->request_id);

    int rc = dispatch(app, req, res);
    if (rc == CHAT_E_DB && app->db_open) {
        /* Drop a connection that failed mid-request; the next request reconnects. */
        chat_db_close(&app->db);
        app->db_open = false;
    }
    chat_response_header(res, "X-Request-Id", req->request_id);
    if (res->content_type && strcmp(res->content_type, "application/json") == 0)
        chat_response_header(res, "Cache-Control", "no-store");

    log_info("%s %s %d %.1fms user=%lld", req->method, req->path, res->status, now_ms() - start,
             req->user_id);
    chat_log_set_request_id(NULL);
}
