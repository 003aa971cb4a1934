/* Layer 5 (writes) of the data layer: conversation writes. Creating a conversation
 * (direct or group), renaming a group and its membership (listing, adding, removing,
 * leaving, rejoining a direct chat). Every change to an existing conversation locks its
 * row first and writes its event in the same transaction. Calls conversation views
 * (store_conversations.c, for event payloads), users, rows, membership and the event
 * log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* Inside a transaction: locks the conversation for actor_id (CHAT_E_NOT_FOUND when they
 * do not take part) and reads its kind and creator (0 when unknown). */
static int lock_conversation(struct chat_db *db, long long conv_id, long long actor_id,
                             bool *is_group, long long *creator_id)
{
    int rc = chat_conv_lock_for_participant(db, conv_id, actor_id);
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r;
    rc = chat_db_query(db, "SELECT is_group, COALESCE(created_by, 0) FROM conversations WHERE id = ?",
                       CHAT_DB_PARAMS(DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0)
        rc = CHAT_E_NOT_FOUND;
    else {
        *is_group = chat_db_cell_int(&r, 0, 0) != 0;
        *creator_id = chat_db_cell_int(&r, 0, 1);
    }
    chat_db_result_free(&r);
    return rc;
}

/* CHAT_E_VALIDATION when there is no such user (an id from the request body); a deleted
 * account is no user to talk to. */
static int user_exists(struct chat_db *db, long long user_id)
{
    int rc = chat_db_query_int(db, "SELECT 1 FROM users WHERE id = ? AND deleted_at IS NULL",
                               CHAT_DB_PARAMS(DB_INT(user_id)), NULL);
    return rc == CHAT_E_NOT_FOUND ? CHAT_E_VALIDATION : rc;
}

int chat_conv_rename(struct chat_db *db, long long conv_id, long long user_id, const char *name)
{
    bool is_group = false;
    long long creator_id = 0;
    json_object *conv = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_conversation(db, conv_id, user_id, &is_group, &creator_id);
    if (rc == CHAT_OK && !is_group)
        rc = CHAT_E_VALIDATION;
    if (rc != CHAT_OK)
        goto out;
    struct chat_db_result r;
    rc = chat_db_query(db, "SELECT name FROM conversations WHERE id = ?",
                       CHAT_DB_PARAMS(DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        goto out;
    /* Byte comparison: the column's collation would call "a" and "A" the same name. */
    bool same = r.nrows == 1 && chat_db_cell(&r, 0, 0) && strcmp(chat_db_cell(&r, 0, 0), name) == 0;
    chat_db_result_free(&r);
    if (same)
        goto out;
    rc = chat_db_exec(db, "UPDATE conversations SET name = ? WHERE id = ?",
                      CHAT_DB_PARAMS(DB_STR(name), DB_INT(conv_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_conv_event_json(db, conv_id, user_id, &conv);
    if (rc == CHAT_OK)
        rc = chat_event_append(db, conv_id, "conversation.updated", conv, NULL);
out:
    json_object_put(conv);
    return chat_db_end(db, rc);
}

/* Participant objects {id, username, display_name, joined_at} of conv_id in joining
 * order: all of them when user_id is 0, else only that user's (possibly none). */
static int query_participants(struct chat_db *db, long long conv_id, long long user_id,
                              json_object **out_array)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT " CHAT_USER_COLUMNS("u") ", p.joined_at "
                           "FROM participants p JOIN users u ON u.id = p.user_id "
                           "WHERE p.conversation_id = ? AND (? = 0 OR p.user_id = ?) "
                           "ORDER BY p.joined_at, u.id",
                           CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(user_id), DB_INT(user_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = json_object_new_array_ext((int)r.nrows);
    for (unsigned i = 0; i < r.nrows; i++) {
        char joined[32];
        json_object *p = chat_user_json_from_row(&r, i, 0);
        chat_json_add_nullable_string(p, "joined_at", chat_time_rfc3339(chat_db_cell(&r, i, CHAT_USER_COLUMNS_COUNT), joined));
        json_object_array_add(arr, p);
    }
    chat_db_result_free(&r);
    *out_array = arr;
    return CHAT_OK;
}

/* One participant object, or CHAT_E_NOT_FOUND when user_id does not take part. */
static int get_participant(struct chat_db *db, long long conv_id, long long user_id,
                           json_object **out)
{
    json_object *arr = NULL;
    int rc = query_participants(db, conv_id, user_id, &arr);
    if (rc != CHAT_OK)
        return rc;
    if (json_object_array_length(arr) == 1)
        *out = json_object_get(json_object_array_get_idx(arr, 0));
    else
        rc = CHAT_E_NOT_FOUND;
    json_object_put(arr);
    return rc;
}

int chat_participants_list_json(struct chat_db *db, long long conv_id, long long viewer_id,
                                json_object **out_array)
{
    int rc = chat_conv_check_participant(db, conv_id, viewer_id);
    if (rc != CHAT_OK)
        return rc;
    return query_participants(db, conv_id, 0, out_array);
}

/* {conversation_id, user_id, user}: the payload of participant.added and .removed. Takes
 * a new reference to user. */
static json_object *participant_payload(long long conv_id, long long user_id, json_object *user)
{
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "conversation_id", json_object_new_int64(conv_id));
    json_object_object_add(payload, "user_id", json_object_new_int64(user_id));
    json_object_object_add(payload, "user", json_object_get(user));
    return payload;
}

/* Inside a transaction holding the conversation lock: adds user_id (who must exist and
 * not take part yet) and writes participant.added. */
static int insert_participant(struct chat_db *db, long long conv_id, long long user_id)
{
    json_object *user = NULL, *conv = NULL, *payload = NULL;
    int rc = chat_db_exec(db, "INSERT INTO participants (conversation_id, user_id) VALUES (?, ?)",
                          CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_user_get_json(db, user_id, &user);
    if (rc == CHAT_OK)
        rc = chat_conv_event_json(db, conv_id, user_id, &conv);
    if (rc != CHAT_OK)
        goto out;
    payload = participant_payload(conv_id, user_id, user);
    json_object_object_add(payload, "conversation", json_object_get(conv));
    rc = chat_event_append(db, conv_id, "participant.added", payload, NULL);
out:
    json_object_put(payload);
    json_object_put(conv);
    json_object_put(user);
    return rc;
}

int chat_participant_add(struct chat_db *db, long long conv_id, long long actor_id,
                         long long user_id, bool *added, json_object **out)
{
    *added = false;
    *out = NULL;
    bool is_group = false;
    long long creator_id = 0, count = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_conversation(db, conv_id, actor_id, &is_group, &creator_id);
    if (rc == CHAT_OK && !is_group)
        rc = CHAT_E_CONFLICT;
    if (rc == CHAT_OK)
        rc = user_exists(db, user_id);
    if (rc != CHAT_OK)
        goto out;
    rc = get_participant(db, conv_id, user_id, out);
    if (rc != CHAT_E_NOT_FOUND)
        goto out; /* already a member (nothing changes), or an error */
    rc = chat_db_query_int(db, "SELECT COUNT(*) FROM participants WHERE conversation_id = ?",
                           CHAT_DB_PARAMS(DB_INT(conv_id)), &count);
    if (rc == CHAT_OK && count >= CHAT_GROUP_MAX_PARTICIPANTS)
        rc = CHAT_E_CONFLICT;
    if (rc == CHAT_OK)
        rc = insert_participant(db, conv_id, user_id);
    if (rc == CHAT_OK)
        rc = get_participant(db, conv_id, user_id, out);
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

int chat_participant_remove(struct chat_db *db, long long conv_id, long long actor_id,
                            long long user_id)
{
    bool is_group = false;
    long long creator_id = 0;
    json_object *user = NULL, *payload = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_conversation(db, conv_id, actor_id, &is_group, &creator_id);
    if (rc == CHAT_OK && user_id != actor_id) {
        if (!is_group)
            rc = CHAT_E_CONFLICT;
        else if (creator_id != actor_id)
            rc = CHAT_E_FORBIDDEN;
        else
            rc = chat_conv_check_participant(db, conv_id, user_id);
    }
    if (rc == CHAT_OK)
        rc = chat_user_get_json(db, user_id, &user);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?",
                          CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(user_id)), NULL, NULL);
    if (rc != CHAT_OK)
        goto out;
    payload = participant_payload(conv_id, user_id, user);
    rc = chat_event_append(db, conv_id, "participant.removed", payload, NULL);
out:
    json_object_put(payload);
    json_object_put(user);
    return chat_db_end(db, rc);
}

/* Re-adds whichever of a direct conversation's two members left it (they see the whole
 * history again), with participant.added events, in its own transaction. */
static int rejoin_direct(struct chat_db *db, long long conv_id, const long long members[2])
{
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_int(db, "SELECT id FROM conversations WHERE id = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_INT(conv_id)), NULL);
    for (int i = 0; i < 2 && rc == CHAT_OK; i++) {
        rc = chat_conv_check_participant(db, conv_id, members[i]);
        if (rc == CHAT_E_NOT_FOUND)
            rc = insert_participant(db, conv_id, members[i]);
    }
    return chat_db_end(db, rc);
}

static int find_direct(struct chat_db *db, const char *key, long long *conv_id)
{
    return chat_db_query_int(db, "SELECT id FROM conversations WHERE direct_key = ?",
                             CHAT_DB_PARAMS(DB_STR(key)), conv_id);
}

static int insert_conversation(struct chat_db *db, long long creator_id, const long long *members,
                               size_t count, const char *name, bool is_group, const char *direct_key,
                               long long *conv_id)
{
    unsigned long long id = 0;
    int rc = chat_db_exec(db,
                          "INSERT INTO conversations (is_group, name, direct_key, created_by) "
                          "VALUES (?, ?, ?, ?)",
                          CHAT_DB_PARAMS(DB_INT(is_group ? 1 : 0), DB_STR_OR_NULL(name),
                                         DB_STR_OR_NULL(direct_key), DB_INT(creator_id)),
                          NULL, &id);
    if (rc != CHAT_OK)
        return rc;
    for (size_t i = 0; i < count; i++) {
        rc = chat_db_exec(db, "INSERT INTO participants (conversation_id, user_id) VALUES (?, ?)",
                          CHAT_DB_PARAMS(DB_INT(id), DB_INT(members[i])), NULL, NULL);
        if (rc != CHAT_OK)
            return rc;
    }
    json_object *conv = NULL;
    rc = chat_conv_get_json(db, (long long)id, creator_id, &conv);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_event_append(db, (long long)id, "conversation.created", conv, NULL);
    json_object_put(conv);
    *conv_id = (long long)id;
    return rc;
}

int chat_conv_create(struct chat_db *db, long long creator_id, const long long *participant_ids,
                     size_t count, const char *name, bool is_group, long long *conv_id,
                     bool *existed)
{
    *existed = false;
    if (count > CHAT_GROUP_MAX_PARTICIPANTS)
        return CHAT_E_VALIDATION;
    /* Members: the creator first, then each distinct other id. */
    long long members[CHAT_GROUP_MAX_PARTICIPANTS + 1];
    size_t n = 0;
    members[n++] = creator_id;
    for (size_t i = 0; i < count; i++) {
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = members[k] == participant_ids[i];
        if (!seen)
            members[n++] = participant_ids[i];
    }
    if (n < 2 || n > CHAT_GROUP_MAX_PARTICIPANTS || (!is_group && n != 2))
        return CHAT_E_VALIDATION;
    if (!is_group && name && *name)
        return CHAT_E_VALIDATION;
    for (size_t i = 1; i < n; i++) {
        int rc = user_exists(db, members[i]);
        if (rc != CHAT_OK)
            return rc;
    }
    char key[48] = "";
    if (!is_group) {
        long long lo = members[0] < members[1] ? members[0] : members[1];
        long long hi = members[0] < members[1] ? members[1] : members[0];
        snprintf(key, sizeof(key), "%lld:%lld", lo, hi);
        if (find_direct(db, key, conv_id) == CHAT_OK) {
            /* Starting a direct chat again rejoins it if either member had left. */
            *existed = true;
            return rejoin_direct(db, *conv_id, members);
        }
    }
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = insert_conversation(db, creator_id, members, n, is_group ? name : NULL, is_group,
                             is_group ? NULL : key, conv_id);
    if (rc == CHAT_OK)
        return chat_db_commit(db);
    chat_db_rollback(db);
    if (rc == CHAT_E_DUPLICATE && !is_group) {
        /* Lost a race with a concurrent create of the same direct chat. */
        rc = find_direct(db, key, conv_id);
        if (rc == CHAT_OK)
            *existed = true;
    }
    return rc;
}
