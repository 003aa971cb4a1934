/* Layer 1 (bottom) of the data layer: the event log. Appends the events row every change writes
 * in its own transaction, and scrubs a deleted message's content from the rows that carry
 * it. Calls no other store file. */
#include <string.h>

#include "db_batch.h"
#include "errors.h"
#include "json_util.h"
#include "json_write.h"
#include "store.h"
#include "strbuf.h"

/* The message whose content payload carries, or 0: the message itself for message.*, the
 * conversation's last_message for a conversation object (conversation.created/updated)
 * or a payload holding one under "conversation" (participant.added). Stored in
 * events.message_id, so chat_events_scrub_message finds every copy of a message's text
 * through an index; the scrub's UPDATE follows the same three shapes. */
static long long quoted_message_id(const char *type, json_object *payload)
{
    json_object *id = NULL, *conv = NULL, *last = NULL;
    if (strncmp(type, "message.", 8) == 0)
        json_object_object_get_ex(payload, "id", &id);
    else {
        if (!json_object_object_get_ex(payload, "conversation", &conv) ||
            !json_object_is_type(conv, json_type_object))
            conv = payload;
        if (json_object_object_get_ex(conv, "last_message", &last) &&
            json_object_is_type(last, json_type_object))
            json_object_object_get_ex(last, "id", &id);
    }
    return json_object_is_type(id, json_type_int) ? (long long)json_object_get_int64(id) : 0;
}

int chat_event_append(struct chat_db *db, long long conversation_id, const char *type,
                      json_object *payload, long long *event_id)
{
    struct strbuf json = {0};
    chat_json_write(&json, payload);
    long long message_id = quoted_message_id(type, payload);
    unsigned long long id = 0;
    int rc = chat_db_exec(db,
                          "INSERT INTO events (conversation_id, message_id, type, payload) "
                          "VALUES (?, ?, ?, ?)",
                          CHAT_DB_PARAMS(conversation_id ? DB_INT(conversation_id) : DB_NULL,
                                         message_id ? DB_INT(message_id) : DB_NULL,
                                         DB_STR(type), DB_BYTES(json.data, json.len)),
                          NULL, &id);
    strbuf_free(&json);
    if (rc == CHAT_OK && event_id)
        *event_id = (long long)id;
    return rc;
}

int chat_events_scrub_message(struct chat_db *db, long long message_id, json_object *tombstone,
                              long long keep_event_id)
{
    size_t len;
    const char *json = chat_json_to_string(tombstone, &len);
    /* Rewritten in place, never deleted: an id that vanished would look like a gap that
     * never fills, and MIN(id) would move for resume's retention check. */
    return chat_db_exec(
        db,
        "UPDATE events SET payload = CASE "
        "WHEN type LIKE 'message.%' THEN ? "
        "WHEN JSON_EXISTS(payload, '$.conversation.last_message') "
        "THEN JSON_SET(payload, '$.conversation.last_message', JSON_EXTRACT(?, '$')) "
        "ELSE JSON_SET(payload, '$.last_message', JSON_EXTRACT(?, '$')) END "
        "WHERE message_id = ? AND id <> ?",
        CHAT_DB_PARAMS(DB_BYTES(json, len), DB_BYTES(json, len), DB_BYTES(json, len),
                       DB_INT(message_id), DB_INT(keep_event_id)),
        NULL, NULL);
}

/* INSERT ... VALUES with 1, 2, 4, ... 64 rows: a multi-row VALUES list is a "simple
 * insert" to InnoDB, which takes exactly as many AUTO_INCREMENT ids as it has rows.
 * INSERT ... SELECT would take them in growing chunks and lose the rest, and each lost
 * id is a gap every push daemon re-reads until its gap timeout. */
#define EVENT_INSERT "INSERT INTO events (conversation_id, message_id, type, payload) VALUES "
#define EVENT_ROW "(?, NULL, ?, ?)"
static const char *const insert_rows[] = {
    EVENT_INSERT EVENT_ROW,
    EVENT_INSERT CHAT_DB_REP2(EVENT_ROW, ", "),
    EVENT_INSERT CHAT_DB_REP4(EVENT_ROW, ", "),
    EVENT_INSERT CHAT_DB_REP8(EVENT_ROW, ", "),
    EVENT_INSERT CHAT_DB_REP16(EVENT_ROW, ", "),
    EVENT_INSERT CHAT_DB_REP32(EVENT_ROW, ", "),
    EVENT_INSERT CHAT_DB_REP64(EVENT_ROW, ", "),
};

int chat_events_append_many(struct chat_db *db, long long conversation_id, const char *type,
                            json_object *const *payloads, size_t n)
{
    struct chat_db_param params[3 * CHAT_DB_BATCH];
    int rc = CHAT_OK;
    /* CHAT_DB_BATCH rows at a time, then the largest power of two that fits: one
     * statement per 64 events plus at most 6. */
    for (size_t done = 0; done < n && rc == CHAT_OK;) {
        unsigned size = 6;
        while ((size_t)1 << size > n - done)
            size--;
        size_t rows = (size_t)1 << size;
        for (size_t i = 0; i < rows; i++) {
            size_t len;
            const char *json = chat_json_to_string(payloads[done + i], &len);
            params[3 * i] = conversation_id ? DB_INT(conversation_id) : DB_NULL;
            params[3 * i + 1] = DB_STR(type);
            params[3 * i + 2] = DB_BYTES(json, len);
        }
        rc = chat_db_exec(db, insert_rows[size], params, (unsigned)(3 * rows), NULL, NULL);
        done += rows;
    }
    return rc;
}
