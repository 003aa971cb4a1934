/* The event log and timestamp formatting. */
#include <stdio.h>
#include <string.h>

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

const char *chat_time_rfc3339(const char *db_time, char out[32])
{
    if (!db_time)
        return NULL;
    /* "YYYY-MM-DD HH:MM:SS" optionally followed by ".ffffff". */
    size_t n = strlen(db_time);
    if (n < 19 || n > 26) {
        snprintf(out, 32, "%s", db_time);
        return out;
    }
    memcpy(out, db_time, n);
    out[10] = 'T';
    if (n == 19) {
        memcpy(out + 19, ".000000", 7);
        n = 26;
    }
    out[n] = 'Z';
    out[n + 1] = '\0';
    return out;
}
