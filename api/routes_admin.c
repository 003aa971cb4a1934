/* /api/admin/: site administration (users.is_admin only; app.c answers everyone else
 * 404 before routing): the user list and search, deactivating and reactivating an
 * account, deleting any message, and the audit log. */
#include <limits.h>

#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "store.h"

CHAT_HANDLER(chat_handle_admin_user_list)
{
    (void)args;
    char q[4 * CHAT_DISPLAY_NAME_MAX + 5];
    long long after, limit;
    int rc;
    if ((rc = chat_query_text(req, res, "q", CHAT_DISPLAY_NAME_MAX, q, sizeof(q))) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "after", LLONG_MAX, &after)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "limit", CHAT_PAGE_MAX, &limit)) != CHAT_OK)
        return rc;
    json_object *page;
    rc = chat_admin_users_page_json(&app->db, q, after, limit ? (int)limit : CHAT_PAGE_DEFAULT,
                                    &page);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_json(res, 200, page);
    return CHAT_OK;
}

/* 200 with the admin's view of user_id, or its error. */
static int respond_user(struct chat_app *app, struct chat_request *req,
                        struct chat_response *res, long long user_id)
{
    json_object *user;
    int rc = chat_admin_user_get_json(&app->db, user_id, &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.user_not_found" : NULL);
    chat_respond_json(res, 200, user);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_admin_user_get)
{
    return respond_user(app, req, res, args->ids[0]);
}

/* Deactivating ends the account's sessions and connections at once: the session.revoked
 * event is committed by chat_user_set_active, and the wake-up makes the push daemons
 * read it now rather than at their next poll. */
static int set_active(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                      long long user_id, bool active)
{
    bool changed = false;
    int rc = chat_user_set_active(&app->db, req->user_id, user_id, active, &changed);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND  ? "error.user_not_found"
                         : rc == CHAT_E_CONFLICT ? "error.admin.deactivate_self"
                                                 : NULL);
    if (!active) {
        chat_app_sessions_ended(app, user_id);
        chat_app_wake_push(app);
    }
    return respond_user(app, req, res, user_id);
}

CHAT_HANDLER(chat_handle_admin_user_deactivate)
{
    return set_active(app, req, res, args->ids[0], false);
}

CHAT_HANDLER(chat_handle_admin_user_reactivate)
{
    return set_active(app, req, res, args->ids[0], true);
}

CHAT_HANDLER(chat_handle_admin_message_delete)
{
    bool changed = false;
    int rc = chat_message_moderate_delete(&app->db, req->user_id, args->ids[0], &changed);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_MESSAGE_NOT_FOUND : NULL);
    if (changed)
        chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_admin_audit)
{
    (void)args;
    long long before, user_id, limit;
    int rc;
    if ((rc = chat_query_positive_int(req, res, "before", LLONG_MAX, &before)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "user_id", LLONG_MAX, &user_id)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "limit", CHAT_PAGE_MAX, &limit)) != CHAT_OK)
        return rc;
    json_object *page;
    rc = chat_audit_page_json(&app->db, user_id, before, limit ? (int)limit : CHAT_PAGE_DEFAULT,
                              &page);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_json(res, 200, page);
    return CHAT_OK;
}
