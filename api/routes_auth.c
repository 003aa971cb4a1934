/* /api/auth/: register, login, logout, me. */
#include <stdio.h>
#include <string.h>

#include "app_state.h"
#include "auth.h"
#include "crypto.h"
#include "errors.h"
#include "handlers.h"
#include "ratelimit.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

static void set_session_cookies(const struct chat_app *app, struct chat_response *res,
                                const char *token, const char *csrf)
{
    char buf[256];
    long max_age = (long)app->cfg->session_ttl_hours * 3600;
    const char *secure = app->cfg->cookie_secure ? "; Secure" : "";
    snprintf(buf, sizeof(buf), "%s=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s",
             CHAT_SESSION_COOKIE, token, max_age, secure);
    chat_response_header(res, "Set-Cookie", buf);
    snprintf(buf, sizeof(buf), "%s=%s; Path=/; Max-Age=%ld; SameSite=Lax%s", CHAT_CSRF_COOKIE,
             csrf, max_age, secure);
    chat_response_header(res, "Set-Cookie", buf);
}

/* Starts a session for user_id and answers {token, user} with the cookies set. */
static int respond_with_session(struct chat_app *app, struct chat_request *req,
                                struct chat_response *res, long long user_id, int status)
{
    char token[CHAT_TOKEN_CHARS + 1], csrf[CHAT_TOKEN_CHARS + 1];
    json_object *user = NULL;
    int rc = chat_session_create(&app->db, app->cfg, user_id, req->user_agent, req->client_addr,
                                 token, csrf);
    if (rc == CHAT_OK)
        rc = chat_user_get_json(&app->db, user_id, &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "token", json_object_new_string(token));
    json_object_object_add(body, "user", user);
    set_session_cookies(app, res, token, csrf);
    chat_respond_json(res, status, body);
    return CHAT_OK;
}

/* Every password-hashing slot is taken (chat-httpd, see chat_password_gate_init). */
static int fail_busy(struct chat_request *req, struct chat_response *res)
{
    chat_response_header(res, "Retry-After", "1");
    return chat_fail(req, res, CHAT_E_BUSY, NULL);
}

static const struct chat_field credential_fields[] = {
    {"username", CHAT_FIELD_STRING, true, false, 64},
    {"password", CHAT_FIELD_STRING, true, false, CHAT_PASSWORD_MAX},
    {"display_name", CHAT_FIELD_STRING, false, true, CHAT_DISPLAY_NAME_MAX},
};

CHAT_HANDLER(chat_handle_register)
{
    (void)args;
    if (!app->cfg->registration_enabled)
        return chat_fail(req, res, CHAT_E_REGISTRATION_CLOSED, NULL);
    json_object *body;
    int rc = chat_read_json_body(req, res, credential_fields, 3, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *username = chat_json_get_string(body, "username", "");
    const char *password = chat_json_get_string(body, "password", "");
    const char *display = chat_json_get_string(body, "display_name", NULL);
    long long uid = 0;
    if (!chat_username_valid(username)) {
        rc = chat_fail(req, res, CHAT_E_VALIDATION,
                       "error.auth.username_invalid");
    } else if (chat_utf8_length(password, strlen(password)) < CHAT_PASSWORD_MIN) {
        rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.auth.password_short");
    } else if (display && !*display) {
        rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.auth.display_name_empty");
    } else if (!chat_password_gate_enter()) {
        rc = fail_busy(req, res);
    } else {
        rc = chat_user_create(&app->db, app->cfg, username, display, password, &uid);
        chat_password_gate_leave();
        if (rc == CHAT_E_DUPLICATE)
            rc = chat_fail(req, res, rc, "error.auth.username_taken");
        else if (rc == CHAT_E_VALIDATION)
            rc = chat_fail(req, res, rc,
                           "error.profile.display_name_empty");
        else if (rc != CHAT_OK)
            rc = chat_fail(req, res, rc, NULL);
        else
            rc = respond_with_session(app, req, res, uid, 201);
    }
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_login)
{
    (void)args;
    json_object *body;
    int rc = chat_read_json_body(req, res, credential_fields, 2, &body);
    if (rc != CHAT_OK)
        return rc;
    long long uid = 0;
    const char *username = chat_json_get_string(body, "username", "");
    rc = chat_rate_limit_login(app, req, res, username);
    if (rc == CHAT_OK) {
        if (!chat_password_gate_enter()) {
            rc = fail_busy(req, res);
        } else {
            rc = chat_user_authenticate(&app->db, app->cfg, username,
                                        chat_json_get_string(body, "password", ""), &uid);
            chat_password_gate_leave();
            rc = rc == CHAT_OK ? respond_with_session(app, req, res, uid, 200)
                               : chat_fail(req, res, rc, NULL);
        }
    }
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_logout)
{
    (void)args;
    int rc = chat_session_delete(&app->db, req->session_token);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_app_sessions_ended(app, req->user_id);
    chat_app_wake_push(app); /* its session.revoked event ends the session's sockets */
    chat_session_cookies_clear(app, res);
    res->status = 204;
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_me)
{
    (void)args;
    json_object *user;
    int rc = chat_user_get_json(&app->db, req->user_id, &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    /* The caller's own user object carries their locale setting (null for none). */
    chat_json_add_nullable_string(user, "locale", *req->user_locale ? req->user_locale : NULL);
    chat_respond_json(res, 200, user);
    return CHAT_OK;
}
