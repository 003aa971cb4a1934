/* /api/chat/conversations/ and <pk>/: list, create, get, rename (PATCH), leave (DELETE). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "app_state.h"
#include "db_batch.h"
#include "errors.h"
#include "handlers.h"
#include "ratelimit.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "xalloc.h"

CHAT_HANDLER(chat_handle_conversation_list)
{
    (void)args;
    json_object *arr;
    int rc = chat_conv_list_json(&app->db, req->user_id, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}

static const struct chat_field create_fields[] = {
    {"participant_ids", CHAT_FIELD_INT_ARRAY, true, false, CHAT_GROUP_PARTICIPANTS_CEILING},
    {"name", CHAT_FIELD_STRING, false, true, CHAT_CONV_NAME_MAX},
    {"is_group", CHAT_FIELD_BOOL, false, true, 0},
};

/* True when s holds nothing but white space (or nothing). */
static bool is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

/* The abuse limits of a new conversation (ratelimit.h): one conversation, and for a
 * group one invitation per distinct other participant. Opening a direct chat that exists
 * already (or coming back to it) costs nothing. Returns CHAT_OK or the 429 written. */
static int take_creation_tokens(struct chat_app *app, struct chat_request *req,
                                struct chat_response *res, const long long *ids, size_t n,
                                bool is_group)
{
    if (!is_group) {
        long long existing = 0;
        if (n == 1 && chat_conv_direct_find(&app->db, req->user_id, ids[0], &existing) == CHAT_OK)
            return CHAT_OK;
        return chat_rate_limit_action(app, req, res, CHAT_RATE_NEW_CONVERSATION, 1);
    }
    /* ids is sorted and without repeats (the handler): everyone in it but the creator. */
    int invited = (int)n - (bsearch(&req->user_id, ids, n, sizeof(*ids), chat_id_cmp) != NULL);
    int rc = chat_rate_limit_action(app, req, res, CHAT_RATE_NEW_CONVERSATION, 1);
    if (rc == CHAT_OK)
        rc = chat_rate_limit_action(app, req, res, CHAT_RATE_INVITATION, invited);
    return rc;
}

CHAT_HANDLER(chat_handle_conversation_create)
{
    (void)args;
    json_object *body;
    int rc = chat_read_json_body(req, res, create_fields, 3, &body);
    if (rc != CHAT_OK)
        return rc;
    json_object *ids_json = json_object_object_get(body, "participant_ids");
    size_t n = json_object_array_length(ids_json);
    long long *ids = chat_xcalloc(n ? n : 1, sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = json_object_get_int64(json_object_array_get_idx(ids_json, i));
    n = chat_ids_sort_unique(ids, n);
    bool is_group = chat_json_get_bool(body, "is_group", false);
    const char *name = chat_json_get_string(body, "name", NULL);
    long long conv_id = 0;
    bool existed = false;
    json_object *conv = NULL;

    for (size_t i = 0; i < n; i++) {
        if (ids[i] <= 0) {
            rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.conversation.participant_ids_invalid");
            goto out;
        }
    }
    if (!is_group && name && *name) {
        rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.conversation.direct_has_no_name");
        goto out;
    }
    if (is_group && name && is_blank(name)) {
        rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.conversation.name_empty");
        goto out;
    }
    if ((rc = take_creation_tokens(app, req, res, ids, n, is_group)) != CHAT_OK)
        goto out;
    rc = chat_conv_create(&app->db, req->user_id, ids, n, name, is_group,
                          app->cfg->group_max_participants, &conv_id, &existed);
    if (rc == CHAT_E_VALIDATION) {
        char detail[160];
        if (is_group)
            chat_detail_printf(detail, sizeof(detail), "error.conversation.group_needs_users",
                               "max=%d", app->cfg->group_max_participants);
        rc = chat_fail(req, res, rc, is_group ? detail : "error.conversation.direct_needs_user");
        goto out;
    }
    if (rc == CHAT_OK)
        rc = chat_conv_get_json(&app->db, conv_id, req->user_id, &conv);
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc, NULL);
        goto out;
    }
    chat_respond_created(app, res, !existed, conv);
out:
    free(ids);
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_conversation_get)
{
    json_object *conv;
    int rc = chat_conv_get_json(&app->db, args->ids[0], req->user_id, &conv);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : NULL);
    chat_respond_json(res, 200, conv);
    return CHAT_OK;
}

static const struct chat_field rename_fields[] = {
    {"name", CHAT_FIELD_STRING, true, false, CHAT_CONV_NAME_MAX},
};

CHAT_HANDLER(chat_handle_conversation_rename)
{
    json_object *body, *conv = NULL;
    int rc = chat_read_json_body(req, res, rename_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *name = chat_json_get_string(body, "name", "");
    bool blank = is_blank(name);
    rc = blank ? CHAT_E_VALIDATION : chat_conv_rename(&app->db, args->ids[0], req->user_id, name);
    if (rc == CHAT_OK)
        rc = chat_conv_get_json(&app->db, args->ids[0], req->user_id, &conv);
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc,
                       rc == CHAT_E_NOT_FOUND    ? CHAT_DETAIL_CONVERSATION_NOT_FOUND
                       : rc == CHAT_E_VALIDATION ? (blank ? "error.conversation.name_empty"
                                                          : "error.conversation.rename_direct")
                                                 : NULL);
        goto out;
    }
    chat_app_wake_push(app);
    chat_respond_json(res, 200, conv);
out:
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_conversation_leave)
{
    int rc = chat_participant_remove(&app->db, args->ids[0], req->user_id, req->user_id);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : NULL);
    chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}
