/* Request dispatch shared by both transports: the request id, the route, the body
 * limit, authentication and CSRF (auth.c), the rate limit (ratelimit.c), the site-admin
 * gate of /api/admin/, the conversation membership check, the handler, and the access log line. */
#include "app.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "errors.h"
#include "i18n.h"
#include "log.h"
#include "ratelimit.h"
#include "response.h"
#include "router.h"
#include "store.h"

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
    if (strncmp(route->pattern, prefix, sizeof(prefix) - 1) != 0 ||
        (route->flags & CHAT_ROUTE_MEMBER_IN_HANDLER))
        return CHAT_OK;
    int rc = chat_conv_check_participant(&app->db, args->ids[0], req->user_id);
    if (rc == CHAT_OK)
        return CHAT_OK;
    return chat_fail(req, res, rc,
                     rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : NULL);
}

/* Identifies the caller once per request (the admin gate may have done it already). */
static int authenticate_once(struct chat_app *app, struct chat_request *req)
{
    if (req->authenticated)
        return CHAT_OK;
    int rc = chat_authenticate(app, req);
    req->authenticated = rc == CHAT_OK;
    return rc;
}

/* A database connection and the caller's identity (once per request), or the error
 * answer. */
static int connect_and_authenticate(struct chat_app *app, struct chat_request *req,
                                    struct chat_response *res)
{
    if (!ensure_db(app))
        return chat_fail(req, res, CHAT_E_DB, NULL);
    int rc = authenticate_once(app, req);
    return rc == CHAT_OK ? CHAT_OK : chat_fail(req, res, rc, NULL);
}

/* Under /api/admin/ anyone but a site admin (anonymous callers included) gets the 404 of
 * an unknown path, for every path and method there, before routing: the answer must not
 * tell that the API exists (no 401, 403 or 405 with Allow). Only then do the usual
 * admission steps run, so an admin's cookie write still needs its CSRF header. */
static int admin_gate(struct chat_app *app, struct chat_request *req, struct chat_response *res)
{
    static const char prefix[] = "/api/admin/";
    if (strncmp(req->path, prefix, sizeof(prefix) - 1) != 0 || req->admitted)
        return CHAT_OK;
    int rc = connect_and_authenticate(app, req, res);
    if (rc != CHAT_OK)
        return rc;
    rc = req->user_id ? chat_user_is_site_admin(&app->db, req->user_id) : CHAT_E_NOT_FOUND;
    return rc == CHAT_OK ? CHAT_OK : chat_fail(req, res, rc, NULL);
}

/* Everything that may refuse a request before its body is read: the announced size,
 * authentication, CSRF and the rate limit. Runs once per request: for uploads
 * chat_app_admit_upload() runs it before the transport spools the body. */
static int admit(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                 const struct chat_route *route)
{
    if (req->body_too_large) {
        char detail[96];
        chat_detail_printf(detail, sizeof(detail), "error.body_too_large", "max=%d",
                           (route->flags & CHAT_ROUTE_BODY_FILE) ? app->cfg->attachment_max_bytes
                                                       : app->cfg->max_body_bytes);
        return chat_fail(req, res, CHAT_E_TOO_LARGE, detail);
    }
    if ((route->flags & CHAT_ROUTE_NO_DB) || req->admitted)
        return CHAT_OK;
    int rc = connect_and_authenticate(app, req, res);
    if (rc != CHAT_OK)
        return rc;
    if (route->flags & CHAT_ROUTE_AUTH) {
        if (!req->user_id)
            return chat_fail(req, res, CHAT_E_NOT_AUTHENTICATED, NULL);
        if (!chat_csrf_valid(req))
            return chat_fail(req, res, CHAT_E_CSRF, NULL);
    }
    if ((rc = chat_rate_limit(app, req, res, route)) != CHAT_OK)
        return rc;
    req->admitted = true;
    return CHAT_OK;
}

/* Runs the handler, again when MariaDB rolled its transaction back for a conflict (an
 * InnoDB deadlock, or on Galera a write to the same rows through another node) and nothing
 * of the request was written, so the client sees the conflict only after
 * CHAT_DB_CONFLICT_RETRIES more attempts. Uploads are not repeated: their handler moves
 * the spooled body away. */
static int run_handler(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                       const struct chat_route *route, struct chat_route_args *args)
{
    unsigned nheaders = res->nheaders;
    unsigned long long mark = app->db.writes;
    for (int attempt = 0;; attempt++) {
        int rc = route->handler(app, req, res, args);
        if ((route->flags & CHAT_ROUTE_BODY_FILE) ||
            !chat_db_retry_conflict(&app->db, rc, mark, attempt))
            return rc;
        log_info("%s %s: conflict with a concurrent write; running it again (attempt %d)",
                 req->method, req->path, attempt + 2);
        chat_response_rewind(res, nheaders);
    }
}

static int dispatch(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                    bool admit_only)
{
    struct chat_route_args args;
    bool mismatch = false;
    char allow[64] = "";
    const char *method = strcmp(req->method, "HEAD") == 0 ? "GET" : req->method;
    int rc = admin_gate(app, req, res);
    if (rc != CHAT_OK)
        return rc;
    const struct chat_route *route =
        chat_route_find(method, req->path, &args, &mismatch, allow, sizeof(allow));
    if (!route) {
        if (mismatch) {
            chat_response_header(res, "Allow", allow);
            return chat_fail(req, res, CHAT_E_METHOD, NULL);
        }
        return chat_fail(req, res, CHAT_E_NOT_FOUND, NULL);
    }
    rc = admit(app, req, res, route);
    if (rc != CHAT_OK || admit_only)
        return rc;
    if (route->flags & CHAT_ROUTE_NO_DB)
        return route->handler(app, req, res, &args);
    if (!ensure_db(app))
        return chat_fail(req, res, CHAT_E_DB, NULL);
    if ((rc = check_conversation_member(app, req, res, route, &args)) != CHAT_OK)
        return rc;
    return run_handler(app, req, res, route, &args);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The request id (kept when admission already made one) and the client address. */
static void begin(struct chat_app *app, struct chat_request *req)
{
    if (!req->request_id[0]) {
        unsigned char raw[8];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(req->request_id, sizeof(req->request_id), raw, sizeof(raw));
        chat_client_address(req->remote_addr, req->forwarded_for, app->cfg->trusted_proxies,
                            req->client_addr);
    }
    chat_log_set_request_id(req->request_id);
}

static void finish(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                   int rc, double start)
{
    if (rc == CHAT_E_DB && app->db_open) {
        /* Drop a connection that failed mid-request; the next request reconnects. */
        chat_db_close(&app->db);
        app->db_open = false;
    }
    chat_response_header(res, "X-Request-Id", req->request_id);
    if (res->content_type && strcmp(res->content_type, "application/json") == 0)
        chat_response_header(res, "Cache-Control", "no-store");

    log_info("%s %s %d %.1fms user=%lld addr=%s", req->method, req->path, res->status,
             now_ms() - start, req->user_id, req->client_addr);
    chat_log_set_request_id(NULL);
}

bool chat_app_admit_upload(struct chat_app *app, struct chat_request *req,
                           struct chat_response *res)
{
    double start = now_ms();
    begin(app, req);
    int rc = dispatch(app, req, res, true);
    if (rc == CHAT_OK) {
        chat_log_set_request_id(NULL);
        return false;
    }
    finish(app, req, res, rc, start);
    return true;
}

void chat_app_handle(struct chat_app *app, struct chat_request *req, struct chat_response *res)
{
    double start = now_ms();
    begin(app, req);
    finish(app, req, res, dispatch(app, req, res, false), start);
}
