/* /api/chat/conversations/<pk>/messages/: history and sending; <id>/: get, edit, delete;
 * <id>/status/: receipts per participant. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

CHAT_HANDLER(chat_handle_message_list)
{
    long long before, after, around, limit;
    int rc;
    if ((rc = chat_query_positive_int(req, res, "before", LLONG_MAX, &before)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "after", LLONG_MAX, &after)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "around", LLONG_MAX, &around)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "limit", CHAT_PAGE_MAX, &limit)) != CHAT_OK)
        return rc;
    if ((before != 0) + (after != 0) + (around != 0) > 1)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST,
                         "error.message.one_cursor");
    json_object *page;
    int n = limit ? (int)limit : CHAT_PAGE_DEFAULT;
    if (around)
        rc = chat_message_around_json(&app->db, args->ids[0], req->user_id, around, n, &page);
    else
        rc = chat_message_page_json(&app->db, args->ids[0], req->user_id, before, after, n, &page);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.not_found" : NULL);
    chat_respond_json(res, 200, page);
    return CHAT_OK;
}

static const struct chat_field send_fields[] = {
    {"text", CHAT_FIELD_STRING, true, false, 0},
    {"client_msg_id", CHAT_FIELD_STRING, false, true, 0},
    {"reply_to", CHAT_FIELD_INT, false, true, 0},
    {"attachment_ids", CHAT_FIELD_INT_ARRAY, false, true, CHAT_ATTACHMENTS_MAX},
};

CHAT_HANDLER(chat_handle_message_create)
{
    json_object *body, *msg = NULL;
    /* CHAT_ROUTE_MEMBER_IN_HANDLER: chat_message_submit answers outsiders 404 first. */
    int rc = chat_read_member_json_body(app, req, res, args->ids[0], send_fields,
                                        sizeof(send_fields) / sizeof(send_fields[0]), &body);
    if (rc != CHAT_OK)
        return rc;
    /* At most CHAT_ATTACHMENTS_MAX, checked with the fields. */
    long long attachment_ids[CHAT_ATTACHMENTS_MAX];
    json_object *ids = json_object_object_get(body, "attachment_ids");
    size_t nids = ids ? json_object_array_length(ids) : 0;
    for (size_t i = 0; i < nids; i++)
        attachment_ids[i] = json_object_get_int64(json_object_array_get_idx(ids, i));
    struct chat_message_input in = {
        .conversation_id = args->ids[0],
        .sender_id = req->user_id,
        .text = chat_json_get_string(body, "text", ""),
        .client_msg_id = chat_json_get_string(body, "client_msg_id", NULL),
        .reply_to = chat_json_get_int(body, "reply_to", 0),
        .attachment_ids = attachment_ids,
        .attachment_count = nids,
    };
    bool has_reply_to = json_object_object_get(body, "reply_to") != NULL;
    char detail[160];
    bool created = false;
    rc = chat_message_submit(&app->db, app->cfg, &in, has_reply_to, &msg, &created, detail,
                             sizeof(detail));
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc, detail[0] ? detail : NULL);
        goto out;
    }
    chat_respond_created(app, res, created, msg);
out:
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_message_get)
{
    json_object *msg;
    int rc = chat_message_get_json(&app->db, args->ids[0], args->ids[1], req->user_id, &msg);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_MESSAGE_NOT_FOUND : NULL);
    chat_respond_json(res, 200, msg);
    return CHAT_OK;
}

/* The error detail for the author-only message changes. */
static const char *change_detail(int rc)
{
    switch (rc) {
    case CHAT_E_NOT_FOUND:
        return CHAT_DETAIL_MESSAGE_NOT_FOUND;
    case CHAT_E_FORBIDDEN:
        return "error.message.not_author";
    case CHAT_E_CONFLICT:
        return "error.message.deleted";
    default:
        return NULL;
    }
}

static const struct chat_field edit_fields[] = {
    {"text", CHAT_FIELD_STRING, true, false, 0},
};

CHAT_HANDLER(chat_handle_message_edit)
{
    json_object *body, *msg = NULL;
    char detail[128];
    bool changed = false;
    int rc = chat_read_json_body(req, res, edit_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *text = chat_json_get_string(body, "text", "");
    /* A non-participant learns nothing, not even whether the text was valid. */
    rc = chat_conv_check_participant(&app->db, args->ids[0], req->user_id);
    if (rc == CHAT_OK && chat_message_text_check(app->cfg, text, detail, sizeof(detail)) != CHAT_OK) {
        rc = chat_fail(req, res, CHAT_E_VALIDATION, detail);
        goto out;
    }
    if (rc == CHAT_OK)
        rc = chat_message_edit(&app->db, args->ids[0], args->ids[1], req->user_id, text, &msg,
                               &changed);
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc, change_detail(rc));
        goto out;
    }
    if (changed)
        chat_app_wake_push(app);
    chat_respond_json(res, 200, msg);
out:
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_message_delete)
{
    bool changed = false;
    int rc = chat_message_delete(&app->db, args->ids[0], args->ids[1], req->user_id, &changed);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, change_detail(rc));
    if (changed)
        chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_message_status)
{
    json_object *arr;
    int rc = chat_message_status_json(&app->db, args->ids[0], args->ids[1], req->user_id, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_MESSAGE_NOT_FOUND : NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}
