/* /api/users/me/password/ and /api/users/me/sessions/: changing the password (the
 * current one first; every other session ends) and the caller's sessions: the list, and
 * ending one or every other. Each end writes a session.revoked event, so the push daemons
 * close that session's sockets, SSE streams and long-polls as on logout. */
#include <string.h>

#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "reauth.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

static const struct chat_field password_fields[] = {
    {"current_password", CHAT_FIELD_STRING, true, false, CHAT_PASSWORD_MAX},
    {"new_password", CHAT_FIELD_STRING, true, false, CHAT_PASSWORD_MAX},
};

/* 204 after a change that wrote session.revoked: the daemons are woken to read it. */
static int respond_revoked(struct chat_app *app, const struct chat_request *req,
                           struct chat_response *res)
{
    chat_app_sessions_ended(app, req->user_id);
    chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_password_change)
{
    (void)args;
    json_object *body;
    int rc = chat_read_json_body(req, res, password_fields, 2, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *next = chat_json_get_string(body, "new_password", "");
    if (chat_utf8_length(next, strlen(next)) < CHAT_PASSWORD_MIN)
        rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.auth.new_password_short");
    else
        rc = chat_reauthenticate(app, req, res, chat_json_get_string(body, "current_password", ""));
    if (rc == CHAT_OK) {
        rc = chat_user_change_password(&app->db, app->cfg, req->user_id, req->session_id, next);
        rc = rc == CHAT_OK ? respond_revoked(app, req, res) : chat_fail(req, res, rc, NULL);
    }
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_session_list)
{
    (void)args;
    json_object *arr;
    int rc = chat_sessions_list_json(&app->db, req->user_id, req->session_id, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_session_end)
{
    int rc = chat_session_revoke_own(&app->db, req->user_id, args->ids[0]);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.session.not_found" : NULL);
    return respond_revoked(app, req, res);
}

CHAT_HANDLER(chat_handle_session_end_others)
{
    (void)args;
    int rc = chat_sessions_revoke_others(&app->db, req->user_id, req->session_id);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    return respond_revoked(app, req, res);
}
