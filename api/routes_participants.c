/* /api/chat/conversations/<pk>/participants/: list, add, remove, and a participant's
 * group role (PATCH <user_id>/). */
#include <string.h>

#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "ratelimit.h"
#include "request.h"
#include "response.h"
#include "store.h"

CHAT_HANDLER(chat_handle_participant_list)
{
    json_object *arr;
    int rc = chat_participants_list_json(&app->db, args->ids[0], req->user_id, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}

static const struct chat_field add_fields[] = {
    {"user_id", CHAT_FIELD_INT, true, false, 0},
};

CHAT_HANDLER(chat_handle_participant_add)
{
    json_object *body, *participant = NULL;
    int rc = chat_read_json_body(req, res, add_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    long long user_id = chat_json_get_int(body, "user_id", 0);
    bool added = false;
    /* An invitation (ratelimit.h) unless they take part already. */
    if (user_id > 0 && chat_conv_check_participant(&app->db, args->ids[0], user_id) == CHAT_E_NOT_FOUND &&
        (rc = chat_rate_limit_action(app, req, res, CHAT_RATE_INVITATION, 1)) != CHAT_OK)
        goto out;
    rc = user_id > 0 ? chat_participant_add(&app->db, args->ids[0], req->user_id, user_id, &added,
                                            &participant)
                     : CHAT_E_VALIDATION;
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc,
                       rc == CHAT_E_NOT_FOUND    ? CHAT_DETAIL_CONVERSATION_NOT_FOUND
                       : rc == CHAT_E_VALIDATION ? "error.user_id_unknown"
                       : rc == CHAT_E_CONFLICT   ? "error.participant.group_only"
                                                 : NULL);
        goto out;
    }
    chat_respond_created(app, res, added, participant);
out:
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_participant_remove)
{
    int rc = chat_participant_remove(&app->db, args->ids[0], req->user_id, args->ids[1]);
    if (rc != CHAT_OK) {
        const char *detail = NULL;
        if (rc == CHAT_E_NOT_FOUND)
            detail = "error.not_found";
        else if (rc == CHAT_E_CONFLICT)
            detail = "error.participant.direct_remove";
        else if (rc == CHAT_E_NOT_ADMIN)
            detail = "error.participant.remove_not_admin";
        return chat_fail(req, res, rc, detail);
    }
    chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}

static const struct chat_field role_fields[] = {
    {"role", CHAT_FIELD_STRING, true, false, 16},
};

CHAT_HANDLER(chat_handle_participant_role)
{
    json_object *body, *participant = NULL;
    bool changed = false;
    int rc = chat_read_json_body(req, res, role_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *role = chat_json_get_string(body, "role", "");
    bool admin = strcmp(role, "admin") == 0;
    rc = admin || strcmp(role, "member") == 0
             ? chat_participant_set_role(&app->db, args->ids[0], req->user_id, args->ids[1], admin,
                                         &changed, &participant)
             : CHAT_E_VALIDATION;
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc,
                       rc == CHAT_E_VALIDATION ? "error.participant.role_invalid"
                       : rc == CHAT_E_CONFLICT ? "error.participant.direct_roles"
                                               : NULL);
        goto out;
    }
    if (changed)
        chat_app_wake_push(app);
    chat_respond_json(res, 200, participant);
out:
    json_object_put(body);
    return rc;
}
