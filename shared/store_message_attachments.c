/* Layer 2 (decorators) of the data layer: the attachments of message objects, the hooks
 * chat_messages_decorate and message deletion call (declared in store_internal.h). Owned
 * by the attachments module (engineer "files"); the message code only calls these. Calls
 * store_rows.c only. */
#include "errors.h"
#include "store.h"
#include "store_internal.h"

void chat_attachments_apply(json_object *messages, const struct chat_db_result *r,
                            unsigned from, unsigned to)
{
    /* At most CHAT_PAGE_MAX messages times CHAT_ATTACHMENTS_MAX rows: a linear search
     * per row is cheap enough. */
    size_t n = json_object_array_length(messages);
    for (unsigned row = from; row < to; row++) {
        long long mid = chat_db_cell_int(r, row, CHAT_DECO_MESSAGE_ID);
        for (size_t i = 0; i < n; i++) {
            json_object *m = json_object_array_get_idx(messages, i);
            if (json_object_get_int64(json_object_object_get(m, "id")) != mid)
                continue;
            json_object *list = json_object_object_get(m, "attachments");
            if (!list || !json_object_is_type(list, json_type_array)) {
                list = json_object_new_array();
                json_object_object_add(m, "attachments", list);
            }
            json_object_array_add(list, chat_attachment_json_from_row(r, row, CHAT_DECO_ATTACHMENT));
        }
    }
}

int chat_attachments_clear_for_message(struct chat_db *db, long long message_id)
{
    /* The rows go now (so the file is no longer served); `chatctl gc` removes the file
     * once no row names its hash. */
    return chat_db_exec(db, "DELETE FROM attachments WHERE message_id = ?",
                        CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
}
