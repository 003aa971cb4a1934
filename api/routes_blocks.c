/* /api/users/blocks/: the caller's blocks (list, block, unblock). What a block stops is
 * enforced where each action is stored (shared/store_blocks.c and its callers); the
 * push daemons learn of a change from its block.changed event. */
#include <stdio.h>

#include "app_state.h"
#include "errors.h"
#include "i18n.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "store.h"

CHAT_HANDLER(chat_handle_block_list)
{
    (void)args;
    json_object *arr;
    int rc = chat_blocks_list_json(&app->db, req->user_id, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}

static const struct chat_field block_fields[] = {
    {"user_id", CHAT_FIELD_INT, true, false, 0},
};

CHAT_HANDLER(chat_handle_block_add)
{
    (void)args;
    json_object *body, *block = NULL;
    int rc = chat_read_json_body(req, res, block_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    long long user_id = chat_json_get_int(body, "user_id", 0);
    bool added = false;
    rc = user_id > 0 ? chat_block_add(&app->db, req->user_id, user_id, &added, &block)
                     : CHAT_E_VALIDATION;
    if (rc != CHAT_OK) {
        char most[80];
        chat_detail_printf(most, sizeof(most), "error.block.too_many", "max=%d", CHAT_BLOCKS_MAX);
        rc = chat_fail(req, res, rc,
                       rc == CHAT_E_VALIDATION ? (user_id == req->user_id
                                                      ? "error.block.self"
                                                      : "error.user_id_unknown")
                       : rc == CHAT_E_CONFLICT ? most
                                               : NULL);
        goto out;
    }
    chat_respond_created(app, res, added, block);
out:
    json_object_put(body);
    return rc;
}

CHAT_HANDLER(chat_handle_block_remove)
{
    int rc = chat_block_remove(&app->db, req->user_id, args->ids[0]);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.block.not_blocked" : NULL);
    chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}
