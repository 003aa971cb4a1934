/* Layer 5 (writes) of the data layer: blocking and unblocking a user, and the list of a
 * user's blocks. Each change writes, in its own transaction, a block.changed event for
 * the blocker's devices (the push daemons also update their typing filter from it) and,
 * when the two share a conversation, a presence event for the blocked user alone: offline
 * when blocked, the real state when unblocked, so their page stops (or resumes) showing
 * the blocker's presence at once. Calls users, rows, blocks (layer 1) and the event log. */
#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* Block objects (a user object and blocked_at) of blocker_id, newest first:
 * every one when blocked_id is 0, else only that one (possibly none). */
static int query_blocks(struct chat_db *db, long long blocker_id, long long blocked_id,
                        json_object **out_array)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT " CHAT_USER_COLUMNS("u") ", b.created_at "
                           "FROM user_blocks b JOIN users u ON u.id = b.blocked_id "
                           "WHERE b.blocker_id = ? AND (? = 0 OR b.blocked_id = ?) "
                           "ORDER BY b.created_at DESC, u.id DESC LIMIT ?",
                           CHAT_DB_PARAMS(DB_INT(blocker_id), DB_INT(blocked_id),
                                          DB_INT(blocked_id), DB_INT(CHAT_BLOCKS_MAX)),
                           &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = json_object_new_array_ext((int)r.nrows);
    for (unsigned i = 0; i < r.nrows; i++) {
        char at[32];
        json_object *b = chat_user_json_from_row(&r, i, 0);
        chat_json_add_nullable_string(b, "blocked_at", chat_time_rfc3339(chat_db_cell(&r, i, CHAT_USER_COLUMNS_COUNT), at));
        json_object_array_add(arr, b);
    }
    chat_db_result_free(&r);
    *out_array = arr;
    return CHAT_OK;
}

int chat_blocks_list_json(struct chat_db *db, long long blocker_id, json_object **out_array)
{
    return query_blocks(db, blocker_id, 0, out_array);
}

/* Inside the change's transaction: presence of blocker_id for blocked_id alone
 * ({user_id, user, online, last_seen, to_user_id}, conversation NULL; the daemons send it
 * to to_user_id only), when the two share a conversation: while blocked, offline and
 * never seen; after an unblock, what user_presence holds. */
static int presence_for_blocked(struct chat_db *db, long long blocker_id, long long blocked_id,
                                bool blocked)
{
    int rc = chat_db_query_int(db,
                               "SELECT 1 FROM participants p1 JOIN participants p2 "
                               "ON p2.conversation_id = p1.conversation_id AND p2.user_id = ? "
                               "WHERE p1.user_id = ? LIMIT 1",
                               CHAT_DB_PARAMS(DB_INT(blocked_id), DB_INT(blocker_id)), NULL);
    if (rc == CHAT_E_NOT_FOUND)
        return CHAT_OK; /* nothing shared: they never saw it */
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r = {0};
    json_object *user = NULL, *payload = NULL;
    rc = chat_db_query(db, "SELECT online, last_seen FROM user_presence WHERE user_id = ?",
                       CHAT_DB_PARAMS(DB_INT(blocker_id)), &r);
    if (rc == CHAT_OK)
        rc = chat_user_get_json(db, blocker_id, &user);
    if (rc != CHAT_OK)
        goto out;
    char t[32];
    bool known = !blocked && r.nrows > 0;
    payload = json_object_new_object();
    json_object_object_add(payload, "user_id", json_object_new_int64(blocker_id));
    json_object_object_add(payload, "user", json_object_get(user));
    json_object_object_add(payload, "online",
                           json_object_new_boolean(known && chat_db_cell_int(&r, 0, 0) != 0));
    chat_json_add_nullable_string(payload, "last_seen",
                                  known ? chat_time_rfc3339(chat_db_cell(&r, 0, 1), t) : NULL);
    json_object_object_add(payload, "to_user_id", json_object_new_int64(blocked_id));
    rc = chat_event_append(db, 0, "presence", payload, NULL);
out:
    json_object_put(payload);
    json_object_put(user);
    chat_db_result_free(&r);
    return rc;
}

/* Inside the change's transaction: block.changed {user_id, blocked_user_id, blocked,
 * user} for the blocker's devices, then the blocked user's presence event. */
static int write_events(struct chat_db *db, long long blocker_id, long long blocked_id,
                        bool blocked)
{
    json_object *user = NULL;
    int rc = chat_user_get_json(db, blocked_id, &user);
    if (rc != CHAT_OK)
        return rc;
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "user_id", json_object_new_int64(blocker_id));
    json_object_object_add(payload, "blocked_user_id", json_object_new_int64(blocked_id));
    json_object_object_add(payload, "blocked", json_object_new_boolean(blocked));
    json_object_object_add(payload, "user", user);
    rc = chat_event_append(db, 0, "block.changed", payload, NULL);
    json_object_put(payload);
    if (rc == CHAT_OK)
        rc = presence_for_blocked(db, blocker_id, blocked_id, blocked);
    return rc;
}

int chat_block_add(struct chat_db *db, long long blocker_id, long long blocked_id, bool *added,
                   json_object **out)
{
    *added = false;
    *out = NULL;
    if (blocker_id == blocked_id)
        return CHAT_E_VALIDATION;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    /* The blocker's row, locked: their blocks change one at a time, so the count holds. */
    rc = chat_db_query_int(db, "SELECT id FROM users WHERE id = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_INT(blocker_id)), NULL);
    if (rc == CHAT_OK) {
        rc = chat_db_query_int(db, "SELECT 1 FROM users WHERE id = ?",
                               CHAT_DB_PARAMS(DB_INT(blocked_id)), NULL);
        if (rc == CHAT_E_NOT_FOUND)
            rc = CHAT_E_VALIDATION;
    }
    long long count = 0;
    unsigned long long inserted = 0;
    if (rc == CHAT_OK)
        rc = chat_db_query_int(db, "SELECT COUNT(*) FROM user_blocks WHERE blocker_id = ?",
                               CHAT_DB_PARAMS(DB_INT(blocker_id)), &count);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "INSERT IGNORE INTO user_blocks (blocker_id, blocked_id) VALUES (?, ?)",
                          CHAT_DB_PARAMS(DB_INT(blocker_id), DB_INT(blocked_id)), &inserted, NULL);
    if (rc == CHAT_OK && inserted && count >= CHAT_BLOCKS_MAX)
        rc = CHAT_E_CONFLICT;
    if (rc == CHAT_OK && inserted)
        rc = write_events(db, blocker_id, blocked_id, true);
    json_object *arr = NULL;
    if (rc == CHAT_OK)
        rc = query_blocks(db, blocker_id, blocked_id, &arr);
    if (rc == CHAT_OK && json_object_array_length(arr) == 1)
        *out = json_object_get(json_object_array_get_idx(arr, 0));
    else if (rc == CHAT_OK)
        rc = CHAT_E_INTERNAL;
    json_object_put(arr);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
    }
    *added = rc == CHAT_OK && inserted;
    return rc;
}

int chat_block_remove(struct chat_db *db, long long blocker_id, long long blocked_id)
{
    unsigned long long deleted = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_exec(db, "DELETE FROM user_blocks WHERE blocker_id = ? AND blocked_id = ?",
                      CHAT_DB_PARAMS(DB_INT(blocker_id), DB_INT(blocked_id)), &deleted, NULL);
    if (rc == CHAT_OK && !deleted)
        rc = CHAT_E_NOT_FOUND;
    if (rc == CHAT_OK)
        rc = write_events(db, blocker_id, blocked_id, false);
    return chat_db_end(db, rc);
}
