/* The dispatcher's side of rate limiting: bucket keys, limits and headers. */
#include "ratelimit.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_state.h"
#include "clock.h"
#include "errors.h"
#include "log.h"
#include "response.h"
#include "store.h"
#include "xalloc.h"

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

/* Sets header name to v, replacing an earlier value (a login answered by the username
 * bucket already carries the address bucket's headers). */
static void header_int(struct chat_response *res, const char *name, long long v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", v);
    for (unsigned i = 0; i < res->nheaders; i++) {
        if (strcmp(res->headers[i].name, name) == 0) {
            free(res->headers[i].value);
            res->headers[i].value = chat_xstrdup(buf);
            return;
        }
    }
    chat_response_header(res, name, buf);
}

static void header_levels(struct chat_response *res, const struct chat_rate_bucket *bucket,
                          double remaining)
{
    double per_s = (double)bucket->refill / bucket->period_s;
    header_int(res, "X-RateLimit-Limit", bucket->burst);
    header_int(res, "X-RateLimit-Remaining", (long long)floor(remaining));
    header_int(res, "X-RateLimit-Reset", (long long)ceil((bucket->burst - remaining) / per_s));
}

/* Takes cost tokens from bucket key, from this process's lease on it when it has one
 * (rate_lease.h), else from MariaDB, asking for `lease` more to spend on the next
 * requests; writes the headers, and the 429 when it is short. */
static int take(struct chat_app *app, const struct chat_request *req, struct chat_response *res,
                const char *key, struct chat_rate_bucket bucket, int cost, int lease)
{
    long long now = chat_now_ms();
    double remaining;
    if (lease > 0 && chat_rate_lease_spend(&app->leases, key, cost, now, &remaining)) {
        header_levels(res, &bucket, remaining);
        return CHAT_OK;
    }
    struct chat_rate_result r;
    int rc = chat_rate_take(&app->db, key, &bucket, cost, cost + lease, &r);
    if (rc != CHAT_OK) {
        log_error("rate limit check for %s failed (%d); letting the request through", key, rc);
        return CHAT_OK;
    }
    int extra = r.allowed && r.taken > cost ? r.taken - cost : 0;
    if (lease > 0)
        chat_rate_lease_put(&app->leases, key, extra, r.remaining, now);
    header_levels(res, &bucket, r.remaining + extra);
    if (r.allowed)
        return CHAT_OK;
    long long retry = (long long)ceil(r.retry_after_s);
    header_int(res, "Retry-After", retry < 1 ? 1 : retry);
    return chat_fail(req, res, CHAT_E_RATE_LIMITED, NULL);
}

int chat_rate_limit(struct chat_app *app, const struct chat_request *req,
                    struct chat_response *res, const struct chat_route *route)
{
    const struct chat_config *cfg = app->cfg;
    if (!cfg->rate_limit_enabled)
        return CHAT_OK;
    enum chat_rate_class c = chat_route_rate_class(route);
    char key[80];
    /* The client address: the transport's peer, or behind trusted_proxies the right-most
     * untrusted X-Forwarded-For entry (chat_client_address, docs/ARCHITECTURE.md). */
    if (c == CHAT_RATE_AUTH || !req->user_id)
        snprintf(key, sizeof(key), "%s:ip:%s", class_names[c], req->client_addr);
    else
        snprintf(key, sizeof(key), "%s:u:%lld", class_names[c], req->user_id);
    int per_minute = 0, burst = 0;
    class_limits(cfg, c, &per_minute, &burst);
    return take(app, req, res, key, (struct chat_rate_bucket){per_minute, 60, burst}, 1,
                chat_rate_lease_size(burst, cfg->rate_lease_max));
}

int chat_rate_limit_login(struct chat_app *app, const struct chat_request *req,
                          struct chat_response *res, const char *username)
{
    const struct chat_config *cfg = app->cfg;
    if (!cfg->rate_limit_enabled || !chat_username_valid(username))
        return CHAT_OK;
    /* Usernames are unique case-insensitively, so one account is one bucket. */
    char key[80];
    int n = snprintf(key, sizeof(key), "login:user:");
    for (const char *p = username; *p && n + 1 < (int)sizeof(key); p++)
        key[n++] = (char)tolower((unsigned char)*p);
    key[n] = '\0';
    return take(app, req, res, key,
                (struct chat_rate_bucket){cfg->rate_login_per_user_per_minute, 60,
                                          cfg->rate_login_per_user_burst},
                1, 0);
}

int chat_rate_limit_action(struct chat_app *app, const struct chat_request *req,
                           struct chat_response *res, enum chat_rate_action action, int cost)
{
    const struct chat_config *cfg = app->cfg;
    if (!cfg->rate_limit_enabled || cost <= 0)
        return CHAT_OK;
    /* An hour's allowance at once, refilled evenly over the hour. */
    int per_hour = action == CHAT_RATE_NEW_CONVERSATION ? cfg->rate_conversations_per_hour
                                                        : cfg->rate_invitations_per_hour;
    char key[80];
    snprintf(key, sizeof(key), "%s:u:%lld",
             action == CHAT_RATE_NEW_CONVERSATION ? "conversations" : "invitations", req->user_id);
    return take(app, req, res, key, (struct chat_rate_bucket){per_hour, 3600, per_hour}, cost, 0);
}
