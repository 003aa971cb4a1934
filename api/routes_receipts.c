/* /api/chat/conversations/<pk>/read/ and .../delivered/: move the caller's receipt
 * markers forward. */
#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "store.h"

static const struct chat_field receipt_fields[] = {
    {"message_id", CHAT_FIELD_INT, true, false, 0},
};

static int mark(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                long long conv_id, enum chat_receipt_kind kind)
{
    json_object *body, *markers = NULL;
    bool moved = false;
    int rc = chat_read_json_body(req, res, receipt_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    long long message_id = chat_json_get_int(body, "message_id", 0);
    json_object_put(body);
    rc = message_id > 0 ? chat_receipt_mark(&app->db, conv_id, req->user_id, kind, message_id,
                                            &markers, &moved)
                        : CHAT_E_VALIDATION;
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND    ? CHAT_DETAIL_CONVERSATION_NOT_FOUND
                         : rc == CHAT_E_VALIDATION ? "error.receipt.message_unknown"
                                                   : NULL);
    if (moved)
        chat_app_wake_push(app);
    chat_respond_json(res, 200, markers);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_receipt_read)
{
    return mark(app, req, res, args->ids[0], CHAT_RECEIPT_READ);
}

CHAT_HANDLER(chat_handle_receipt_delivered)
{
    return mark(app, req, res, args->ids[0], CHAT_RECEIPT_DELIVERED);
}
