/* /api/chat/conversations/<pk>/participants/: list, add, remove, and a participant's
 * group role (PATCH <user_id>/). */
#include <stdlib.h>
#include <string.h>

#include "app_state.h"
#include "db_batch.h"
#include "errors.h"
#include "handlers.h"
#include "ratelimit.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "xalloc.h"

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
    {"user_id", CHAT_FIELD_INT, false, false, 0},
    {"user_ids", CHAT_FIELD_INT_ARRAY, false, false, CHAT_GROUP_PARTICIPANTS_CEILING},
};

/* The detail of a refused add (NULL: the error's own text). */
static const char *add_error_detail(int rc)
{
    switch (rc) {
    case CHAT_E_NOT_FOUND:
        return CHAT_DETAIL_CONVERSATION_NOT_FOUND;
    case CHAT_E_VALIDATION:
        return "error.participant.users_unknown";
    case CHAT_E_CONFLICT:
        return "error.participant.group_only";
    default:
        return NULL;
    }
}

/* The answer of an add: the error, or 201 (added) / 200 with obj (taken). */
static int answer_add(struct chat_app *app, const struct chat_request *req,
                      struct chat_response *res, int rc, bool added, json_object *obj)
{
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, add_error_detail(rc));
    chat_respond_created(app, res, added, obj);
    return CHAT_OK;
}

/* {"user_ids": [...]}: many at once, all or nothing (chat_participants_add_many). */
static int add_many(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                    long long conv_id, json_object *ids_json)
{
    size_t n = json_object_array_length(ids_json);
    if (n == 0)
        return chat_fail(req, res, CHAT_E_VALIDATION, "error.participant.user_ids_empty");
    long long *ids = chat_xcalloc(n, sizeof(*ids));
    json_object *result = NULL;
    bool added = false;
    int rc = CHAT_OK;
    for (size_t i = 0; i < n && rc == CHAT_OK; i++)
        if ((ids[i] = json_object_get_int64(json_object_array_get_idx(ids_json, i))) <= 0)
            rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.participant.user_ids_invalid");
    if (rc != CHAT_OK)
        goto out;
    /* An invitation (ratelimit.h) for each who does not take part yet. */
    n = chat_ids_sort_unique(ids, n);
    size_t newcomers = n;
    rc = chat_conv_count_newcomers(&app->db, conv_id, ids, n, &newcomers);
    if (rc == CHAT_OK &&
        (rc = chat_rate_limit_action(app, req, res, CHAT_RATE_INVITATION, (int)newcomers)) != CHAT_OK)
        goto out; /* the 429 is written */
    if (rc == CHAT_OK)
        rc = chat_participants_add_many(&app->db, conv_id, req->user_id, ids, n,
                                        app->cfg->group_max_participants, &added, &result);
    rc = answer_add(app, req, res, rc, added, result);
out:
    free(ids);
    return rc;
}

CHAT_HANDLER(chat_handle_participant_add)
{
    json_object *body, *participant = NULL, *many = NULL;
    int rc = chat_read_json_body(req, res, add_fields, 2, &body);
    if (rc != CHAT_OK)
        return rc;
    bool has_one = json_object_object_get_ex(body, "user_id", NULL);
    bool has_many = json_object_object_get_ex(body, "user_ids", &many);
    if (has_one == has_many) {
        rc = has_one ? chat_fail(req, res, CHAT_E_VALIDATION, "error.participant.one_of")
                     : chat_fail(req, res, CHAT_E_MISSING_FIELD, "error.participant.user_id_required");
        goto out;
    }
    if (many) {
        rc = add_many(app, req, res, args->ids[0], many);
        goto out;
    }
    long long user_id = chat_json_get_int(body, "user_id", 0);
    bool added = false;
    /* An invitation (ratelimit.h) unless they take part already. */
    if (user_id > 0 && chat_conv_check_participant(&app->db, args->ids[0], user_id) == CHAT_E_NOT_FOUND &&
        (rc = chat_rate_limit_action(app, req, res, CHAT_RATE_INVITATION, 1)) != CHAT_OK)
        goto out;
    rc = user_id > 0 ? chat_participant_add(&app->db, args->ids[0], req->user_id, user_id,
                                            app->cfg->group_max_participants, &added, &participant)
                     : CHAT_E_VALIDATION;
    rc = answer_add(app, req, res, rc, added, participant);
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
