/* Layer 2 (decorators) of the data layer: the attachments of message objects, the hooks
 * chat_messages_decorate and message deletion call (declared in store_internal.h). Owned
 * by the attachments module (engineer "files"); the message code only calls these. Calls
 * store_rows.c only. */
#include <stdlib.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

int chat_attachments_fill(struct chat_db *db, json_object *messages)
{
    size_t n = json_object_array_length(messages);
    if (n == 0)
        return CHAT_OK;
    char *ids = chat_message_ids_json(messages);
    struct chat_db_result r;
    /* Tombstones show no attachments (their rows are removed on delete anyway). */
    int rc = chat_db_query(db,
                           "SELECT a.message_id, " CHAT_ATTACHMENT_COLUMNS " FROM JSON_TABLE(?, "
                           "'$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) j "
                           "JOIN attachments a ON a.message_id = j.id "
                           "JOIN messages m ON m.id = a.message_id AND m.deleted_at IS NULL "
                           "ORDER BY a.message_id, a.id",
                           CHAT_DB_PARAMS(DB_STR(ids)), &r);
    free(ids);
    if (rc != CHAT_OK)
        return rc;
    /* At most CHAT_PAGE_MAX messages times CHAT_ATTACHMENTS_MAX rows: a linear search
     * per row is cheap enough. */
    for (unsigned row = 0; row < r.nrows; row++) {
        long long mid = chat_db_cell_int(&r, row, 0);
        for (size_t i = 0; i < n; i++) {
            json_object *m = json_object_array_get_idx(messages, i);
            if (json_object_get_int64(json_object_object_get(m, "id")) != mid)
                continue;
            json_object *list = json_object_object_get(m, "attachments");
            if (!list || !json_object_is_type(list, json_type_array)) {
                list = json_object_new_array();
                json_object_object_add(m, "attachments", list);
            }
            json_object_array_add(list, chat_attachment_json_from_row(&r, row, 1));
        }
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_attachments_clear_for_message(struct chat_db *db, long long message_id)
{
    /* The rows go now (so the file is no longer served); `chatctl gc` removes the file
     * once no row names its hash. */
    return chat_db_exec(db, "DELETE FROM attachments WHERE message_id = ?",
                        CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
}
