/* GET /api/users/<id>/presence/: whether a user is online, for the user themself and for
 * the users who share a conversation with them (everyone else gets 404). The state is
 * kept by the chat-push daemons (shared/store_presence.c). */
#include "errors.h"
#include "handlers.h"
#include "response.h"
#include "store.h"

CHAT_HANDLER(chat_handle_user_presence)
{
    json_object *out;
    int rc = chat_presence_get_json(&app->db, req->user_id, args->ids[0], &out);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.user_not_found" : NULL);
    chat_respond_json(res, 200, out);
    return CHAT_OK;
}
