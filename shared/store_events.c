/* Layer 1 (bottom) of the data layer: the event log. Appends the events row every change writes
 * in its own transaction. Calls no other store file. */
#include "errors.h"
#include "json_util.h"
#include "store.h"

int chat_event_append(struct chat_db *db, long long conversation_id, const char *type,
                      json_object *payload, long long *event_id)
{
    size_t len;
    const char *json = chat_json_to_string(payload, &len);
    unsigned long long id = 0;
    int rc = chat_db_exec(db, "INSERT INTO events (conversation_id, type, payload) VALUES (?, ?, ?)",
                          CHAT_DB_PARAMS(conversation_id ? DB_INT(conversation_id) : DB_NULL,
                                         DB_STR(type), DB_BYTES(json, len)),
                          NULL, &id);
    if (rc == CHAT_OK && event_id)
        *event_id = (long long)id;
    return rc;
}
