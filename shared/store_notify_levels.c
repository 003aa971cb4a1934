/* Layer 5 (writes) of the data layer: a participant's notification level and mute for
 * one conversation (participants.notify_level, muted_until), with the event that tells
 * the participant's other devices, and nobody else. Calls conversation views
 * (store_conversations.c), store_rows.c, membership and the event log. */
#include <string.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* Inside the transaction: CHAT_E_VALIDATION with detail unless muted_until (UTC, DB
 * format) lies after now and at most CHAT_MUTE_MAX_DAYS ahead, by the database's clock,
 * which is the one every reader compares it with. */
static int check_mute(struct chat_db *db, const char *muted_until, const char **detail)
{
    struct chat_db_result r;
    int rc = chat_db_query_row(db,
                               "SELECT CAST(? AS DATETIME(6)) > NOW(6), "
                               "CAST(? AS DATETIME(6)) <= NOW(6) + INTERVAL ? DAY",
                               CHAT_DB_PARAMS(DB_STR(muted_until), DB_STR(muted_until),
                                              DB_INT(CHAT_MUTE_MAX_DAYS)),
                               &r);
    if (rc != CHAT_OK)
        return rc;
    if (chat_db_cell_int(&r, 0, 0) == 0) {
        *detail = "error.notify.muted_until_past";
        rc = CHAT_E_VALIDATION;
    } else if (chat_db_cell_int(&r, 0, 1) == 0) {
        *detail = "error.notify.muted_until_far";
        rc = CHAT_E_VALIDATION;
    }
    chat_db_result_free(&r);
    return rc;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The participant.notifications_changed payload: the fields of the conversation object
 * that changed, taken from it, so the event and the REST answer always agree. */
static json_object *event_payload(json_object *conv, long long conv_id, long long user_id)
{
    static const char *const fields[] = {"notify_level", "notify_level_setting", "muted_until"};
    json_object *p = json_object_new_object();
    json_object_object_add(p, "user_id", json_object_new_int64(user_id));
    json_object_object_add(p, "conversation_id", json_object_new_int64(conv_id));
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        json_object_object_add(p, fields[i],
                               json_object_get(json_object_object_get(conv, fields[i])));
    return p;
}

int chat_notify_level_set(struct chat_db *db, long long conv_id, long long user_id,
                          const char *level, const char *muted_until, bool *changed,
                          json_object **out, const char **detail)
{
    struct chat_db_result r = {0};
    json_object *payload = NULL;
    *changed = false;
    *out = NULL;
    *detail = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_conv_lock_for_participant(db, conv_id, user_id);
    if (rc == CHAT_OK && muted_until)
        rc = check_mute(db, muted_until, detail);
    /* A mute that has ended reads as none, so setting none then changes nothing. */
    if (rc == CHAT_OK)
        rc = chat_db_query_row(db,
                               "SELECT notify_level, IF(muted_until > NOW(6), muted_until, NULL), "
                               "CAST(? AS DATETIME(6)) <=> muted_until FROM participants "
                               "WHERE conversation_id = ? AND user_id = ?",
                               CHAT_DB_PARAMS(DB_STR_OR_NULL(muted_until), DB_INT(conv_id),
                                              DB_INT(user_id)),
                               &r);
    if (rc != CHAT_OK)
        goto out;
    bool same_mute = muted_until ? chat_db_cell_int(&r, 0, 2) != 0 : chat_db_cell_is_null(&r, 0, 1);
    if (!same(level, chat_db_cell(&r, 0, 0)) || !same_mute) {
        rc = chat_db_exec(db,
                          "UPDATE participants SET notify_level = ?, muted_until = ? "
                          "WHERE conversation_id = ? AND user_id = ?",
                          CHAT_DB_PARAMS(DB_STR_OR_NULL(level), DB_STR_OR_NULL(muted_until),
                                         DB_INT(conv_id), DB_INT(user_id)),
                          NULL, NULL);
        *changed = rc == CHAT_OK;
    }
    if (rc == CHAT_OK)
        rc = chat_conv_get_json(db, conv_id, user_id, out);
    /* No conversation on the row: the daemons address it to user_id alone (protocol.md),
     * where a conversation event would reach every participant. */
    if (rc == CHAT_OK && *changed) {
        payload = event_payload(*out, conv_id, user_id);
        rc = chat_event_append(db, 0, "participant.notifications_changed", payload, NULL);
    }
out:
    json_object_put(payload);
    chat_db_result_free(&r);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        *changed = false;
    }
    return rc;
}
