/* The current password before an account change (see reauth.h). */
#include "reauth.h"

#include "app_state.h"
#include "crypto.h"
#include "errors.h"
#include "json_util.h"
#include "ratelimit.h"
#include "response.h"
#include "store.h"

int chat_reauthenticate(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                        const char *password)
{
    json_object *user = NULL;
    int rc = chat_user_get_json(&app->db, req->user_id, &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    rc = chat_rate_limit_login(app, req, res, chat_json_get_string(user, "username", ""));
    json_object_put(user);
    if (rc != CHAT_OK)
        return rc;
    if (!chat_password_gate_enter()) {
        chat_response_header(res, "Retry-After", "1");
        return chat_fail(req, res, CHAT_E_BUSY, NULL);
    }
    rc = chat_user_verify_password(&app->db, app->cfg, req->user_id, password);
    chat_password_gate_leave();
    if (rc == CHAT_E_AUTH_FAILED)
        rc = CHAT_E_WRONG_PASSWORD;
    return rc == CHAT_OK ? CHAT_OK : chat_fail(req, res, rc, NULL);
}
