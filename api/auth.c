/* Authentication and CSRF for the dispatcher: the caller is identified by
 * `Authorization: Bearer` (a session's or a bot's token) or the chat_session cookie (the
 * store keeps only the token's SHA-256), and a cookie-authenticated unsafe request must echo the session's CSRF token
 * in X-CSRFToken. */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app_state.h"
#include "clock.h"
#include "crypto.h"
#include "errors.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"

/* The session of token: from this process's session cache when it read it in the last
 * session_cache_ms, else from MariaDB (then remembered). */
static int lookup_session(struct chat_app *app, const char *token, long long *uid,
                          long long *sid, char csrf[CHAT_TOKEN_CHARS + 1],
                          char locale[CHAT_LOCALE_CHARS])
{
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, strlen(token), hash);
    long long now = chat_now_ms();
    const struct chat_session_entry *e =
            chat_session_cache_get(&app->sessions, hash, now, app->cfg->session_cache_ms);
    if (e) {
        *uid = e->user_id;
        *sid = e->session_id;
        snprintf(csrf, CHAT_TOKEN_CHARS + 1, "%s", e->csrf);
        snprintf(locale, CHAT_LOCALE_CHARS, "%s", e->locale);
        return CHAT_OK;
    }
    int rc = chat_session_lookup(&app->db, token, uid, sid, csrf, locale);
    if (rc == CHAT_OK && app->cfg->session_cache_ms > 0)
        chat_session_cache_put(&app->sessions, hash,
                               &(struct chat_session_entry){.user_id = *uid, .session_id = *sid},
                               csrf, locale, now);
    return rc;
}

/* Identifies the caller from a bearer token or the session cookie. A missing or invalid
 * credential leaves the request anonymous; routes that need a user then answer 401. */
int chat_authenticate(struct chat_app *app, struct chat_request *req)
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
    long long uid = 0, sid = 0;
    /* A bot token is only ever a bearer token: as a cookie it is looked up as a session
     * and matches none, so a bot has no cookie session and no CSRF token. Its length
     * tells it from a session token that happens to start with the prefix. */
    bool bot = !req->cookie_auth && chat_bot_token_shaped(token);
    int rc = bot ? chat_bot_token_lookup(&app->db, token, &uid)
                 : lookup_session(app, token, &uid, &sid, csrf, req->user_locale);
    if (rc == CHAT_E_NOT_AUTHENTICATED) {
        req->cookie_auth = false;
        return CHAT_OK;
    }
    if (rc != CHAT_OK)
        return rc;
    req->user_id = uid;
    req->session_id = sid;
    snprintf(req->csrf_token, sizeof(req->csrf_token), "%s", csrf);
    snprintf(req->session_token, sizeof(req->session_token), "%s", token);
    return CHAT_OK;
}

static bool is_safe_method(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

bool chat_csrf_valid(const struct chat_request *req)
{
    /* Double-submit CSRF check: only a page from our origin can read chat_csrf. */
    return !(req->cookie_auth && !is_safe_method(req->method) &&
             (!req->csrf_header || !chat_secret_equal(req->csrf_header, req->csrf_token)));
}

void chat_session_cookies_clear(const struct chat_app *app, struct chat_response *res)
{
    const char *secure = app->cfg->cookie_secure ? "; Secure" : "";
    char buf[128];
    snprintf(buf, sizeof(buf), "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax%s",
             CHAT_SESSION_COOKIE, secure);
    chat_response_header(res, "Set-Cookie", buf);
    snprintf(buf, sizeof(buf), "%s=; Path=/; Max-Age=0; SameSite=Lax%s", CHAT_CSRF_COOKIE, secure);
    chat_response_header(res, "Set-Cookie", buf);
}
