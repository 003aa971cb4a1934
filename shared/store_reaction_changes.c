/* Layer 5 (writes) of the data layer: adding and removing a reaction (idempotent, unique
 * per message, user and emoji). Each change locks the conversation row first and writes
 * its reaction.added or reaction.removed event in the same transaction. Calls message
 * views (store_messages.c), users, decorators, membership and the event log. */
#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* Inside a transaction: locks the conversation for user_id and checks that message_id
 * is a message of it. *deleted tells whether it is a tombstone. */
static int lock_message(struct chat_db *db, long long conv_id, long long message_id,
                        long long user_id, bool *deleted)
{
    int rc = chat_conv_lock_for_participant(db, conv_id, user_id);
    if (rc != CHAT_OK)
        return rc;
    long long is_deleted = 0;
    rc = chat_db_query_int(db,
                           "SELECT deleted_at IS NOT NULL FROM messages "
                           "WHERE id = ? AND conversation_id = ?",
                           CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id)), &is_deleted);
    *deleted = is_deleted != 0;
    return rc;
}

/* Writes reaction.added or reaction.removed for user_id's emoji on message_id. *message
 * (may be NULL) receives the message as user_id sees it. */
static int append_reaction_event(struct chat_db *db, long long conv_id, long long message_id,
                                 long long user_id, const char *emoji, const char *type,
                                 json_object **message)
{
    json_object *msg = NULL, *user = NULL, *payload = NULL;
    int rc = chat_message_load_json(db, conv_id, message_id, 0, &msg);
    if (rc == CHAT_OK)
        rc = chat_user_get_json(db, user_id, &user);
    if (rc != CHAT_OK)
        goto out;
    payload = json_object_new_object();
    json_object_object_add(payload, "message_id", json_object_new_int64(message_id));
    json_object_object_add(payload, "conversation_id", json_object_new_int64(conv_id));
    json_object_object_add(payload, "emoji", json_object_new_string(emoji));
    json_object_object_add(payload, "user", json_object_get(user));
    json_object_object_add(payload, "reactions",
                           json_object_get(json_object_object_get(msg, "reactions")));
    rc = chat_event_append(db, conv_id, type, payload, NULL);
    json_object_put(payload); /* before add_me: the payload shares the reactions */
    if (rc == CHAT_OK && message) {
        chat_message_add_me(msg, user_id);
        *message = json_object_get(msg);
    }
out:
    json_object_put(user);
    json_object_put(msg);
    return rc;
}

/* Refuses an emoji over the per-user or per-message limits with CHAT_E_CONFLICT. */
static int check_limits(struct chat_db *db, long long message_id, long long user_id,
                        const char *emoji)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT COUNT(DISTINCT emoji), COALESCE(SUM(emoji = ?), 0), "
                           "COALESCE(SUM(user_id = ?), 0) FROM reactions WHERE message_id = ?",
                           CHAT_DB_PARAMS(DB_STR(emoji), DB_INT(user_id), DB_INT(message_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    bool new_kind = chat_db_cell_int(&r, 0, 1) == 0;
    if ((new_kind && chat_db_cell_int(&r, 0, 0) >= CHAT_REACTION_KINDS_MAX) ||
        chat_db_cell_int(&r, 0, 2) >= CHAT_REACTIONS_PER_USER_MAX)
        rc = CHAT_E_CONFLICT;
    chat_db_result_free(&r);
    return rc;
}

int chat_reaction_add(struct chat_db *db, long long conv_id, long long message_id,
                      long long user_id, const char *emoji, bool *added, json_object **out)
{
    *added = false;
    *out = NULL;
    bool deleted = false;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_message(db, conv_id, message_id, user_id, &deleted);
    if (rc == CHAT_OK && deleted)
        rc = CHAT_E_CONFLICT;
    if (rc == CHAT_OK) /* a reaction reaches the other member like a message */
        rc = chat_block_check_direct(db, conv_id, user_id);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query_int(db,
                           "SELECT 1 FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
                           CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(user_id), DB_STR(emoji)), NULL);
    if (rc == CHAT_OK) { /* already there: nothing changes */
        rc = chat_message_load_json(db, conv_id, message_id, user_id, out);
        goto out;
    }
    if (rc != CHAT_E_NOT_FOUND)
        goto out;
    rc = check_limits(db, message_id, user_id, emoji);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "INSERT INTO reactions (message_id, user_id, emoji) VALUES (?, ?, ?)",
                          CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(user_id), DB_STR(emoji)),
                          NULL, NULL);
    if (rc == CHAT_OK)
        rc = append_reaction_event(db, conv_id, message_id, user_id, emoji, "reaction.added", out);
    *added = rc == CHAT_OK;
out:
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        *added = false;
    }
    return rc;
}

int chat_reaction_remove(struct chat_db *db, long long conv_id, long long message_id,
                         long long user_id, const char *emoji, bool *removed)
{
    *removed = false;
    bool deleted = false;
    unsigned long long affected = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_message(db, conv_id, message_id, user_id, &deleted);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM reactions WHERE message_id = ? AND user_id = ? AND emoji = ?",
                          CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(user_id), DB_STR(emoji)),
                          &affected, NULL);
    if (rc == CHAT_OK && affected > 0)
        rc = append_reaction_event(db, conv_id, message_id, user_id, emoji, "reaction.removed",
                                   NULL);
    *removed = rc == CHAT_OK && affected > 0;
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *removed = false;
    return rc;
}
