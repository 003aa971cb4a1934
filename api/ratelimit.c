/* The dispatcher's side of rate limiting: bucket keys, limits and headers. */
#include "ratelimit.h"

#include <math.h>
#include <stdio.h>

#include "errors.h"
#include "log.h"
#include "response.h"
#include "store.h"

static const char *const class_names[] = {
    [CHAT_RATE_AUTH] = "auth", [CHAT_RATE_READ] = "read", [CHAT_RATE_WRITE] = "write",
    [CHAT_RATE_UPLOAD] = "upload"};

static void class_limits(const struct chat_config *cfg, enum chat_rate_class c, int *per_minute,
                         int *burst)
{
    switch (c) {
    case CHAT_RATE_AUTH:
        *per_minute = cfg->rate_auth_per_minute;
        *burst = cfg->rate_auth_burst;
        return;
    case CHAT_RATE_READ:
        *per_minute = cfg->rate_read_per_minute;
        *burst = cfg->rate_read_burst;
        return;
    case CHAT_RATE_WRITE:
        *per_minute = cfg->rate_write_per_minute;
        *burst = cfg->rate_write_burst;
        return;
    case CHAT_RATE_UPLOAD:
        *per_minute = cfg->rate_upload_per_minute;
        *burst = cfg->rate_upload_burst;
        return;
    }
}

static void header_int(struct chat_response *res, const char *name, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    chat_response_header(res, name, buf);
}

int chat_rate_limit(struct chat_app *app, const struct chat_request *req,
                    struct chat_response *res, const struct chat_route *route)
{
    const struct chat_config *cfg = app->cfg;
    if (!cfg->rate_limit_enabled)
        return CHAT_OK;
    enum chat_rate_class c = chat_route_rate_class(route);
    char key[80];
    /* REMOTE_ADDR as the transport saw it: behind nginx that is nginx's $remote_addr,
     * the real client (X-Forwarded-For is never trusted here; see docs/ARCHITECTURE.md). */
    if (c == CHAT_RATE_AUTH || !req->user_id)
        snprintf(key, sizeof(key), "%s:ip:%s", class_names[c],
                 req->remote_addr ? req->remote_addr : "");
    else
        snprintf(key, sizeof(key), "%s:u:%lld", class_names[c], req->user_id);
    int per_minute = 0, burst = 0;
    class_limits(cfg, c, &per_minute, &burst);
    struct chat_rate_result r;
    int rc = chat_rate_take(&app->db, key, per_minute, burst, &r);
    if (rc != CHAT_OK) {
        log_error("rate limit check for %s failed (%d); letting the request through", key, rc);
        return CHAT_OK;
    }
    header_int(res, "X-RateLimit-Limit", burst);
    header_int(res, "X-RateLimit-Remaining", (long long)floor(r.remaining));
    header_int(res, "X-RateLimit-Reset", (long long)ceil(r.reset_s));
    if (r.allowed)
        return CHAT_OK;
    long long retry = (long long)ceil(r.retry_after_s);
    header_int(res, "Retry-After", retry < 1 ? 1 : retry);
    return chat_fail(req, res, CHAT_E_RATE_LIMITED, NULL);
}
