/* Layer 5 (writes) of the data layer: conversation writes. Creating a conversation
 * (direct or group), renaming a group and its membership (listing, adding, removing,
 * leaving, rejoining a direct chat one left) and group roles (admin or member). Blocks
 * (store_blocks.c) are checked here for opening direct chats and adding people. Every
 * change to an existing conversation locks its row first and writes its event (and, for a
 * moderation action, its audit row) in the same transaction. Calls conversation views
 * (store_conversations.c, for event payloads), users, rows, membership, blocks, the event
 * log and the audit log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_batch.h"
#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* Inside a transaction: locks the conversation for actor_id (CHAT_E_NOT_FOUND when they
 * do not take part) and reads its kind and whether actor_id is one of its admins. */
static int lock_conversation(struct chat_db *db, long long conv_id, long long actor_id,
                             bool *is_group, bool *actor_admin)
{
    int rc = chat_conv_lock_for_participant(db, conv_id, actor_id);
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r;
    rc = chat_db_query(db,
                       "SELECT c.is_group, p.role = 'admin' FROM conversations c "
                       "JOIN participants p ON p.conversation_id = c.id AND p.user_id = ? "
                       "WHERE c.id = ?",
                       CHAT_DB_PARAMS(DB_INT(actor_id), DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0)
        rc = CHAT_E_NOT_FOUND;
    else {
        *is_group = chat_db_cell_int(&r, 0, 0) != 0;
        *actor_admin = chat_db_cell_int(&r, 0, 1) != 0;
    }
    chat_db_result_free(&r);
    return rc;
}

/* lock_conversation for a change only a group takes: direct_rc when it is a direct chat. */
static int lock_group(struct chat_db *db, long long conv_id, long long actor_id, int direct_rc,
                      bool *actor_admin)
{
    bool is_group = false;
    int rc = lock_conversation(db, conv_id, actor_id, &is_group, actor_admin);
    return rc == CHAT_OK && !is_group ? direct_rc : rc;
}

/* The group-role rule for changing a group: CHAT_E_NOT_ADMIN unless actor is an admin. */
static int require_admin(bool actor_admin)
{
    return actor_admin ? CHAT_OK : CHAT_E_NOT_ADMIN;
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
    bool admin = false;
    json_object *conv = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_group(db, conv_id, user_id, CHAT_E_VALIDATION, &admin);
    if (rc == CHAT_OK)
        rc = require_admin(admin);
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

/* Participant objects {id, username, display_name, joined_at, role} of conv_id in
 * joining order: all of them when user_id is 0, else only that user's (possibly none). */
static int query_participants(struct chat_db *db, long long conv_id, long long user_id,
                              json_object **out_array)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT " CHAT_USER_COLUMNS("u") ", p.joined_at, p.role "
                           "FROM participants p JOIN users u ON u.id = p.user_id "
                           "WHERE p.conversation_id = ? AND (? = 0 OR p.user_id = ?) "
                           "ORDER BY p.joined_at, u.id",
                           CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(user_id), DB_INT(user_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = chat_participants_json_from_rows(&r);
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

/* Ends a participant change's transaction; when it (or its commit) failed, nothing of it
 * is returned: *out is dropped and *done is false. */
static int end_participant_change(struct chat_db *db, int rc, json_object **out, bool *done)
{
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        *done = false;
    }
    return rc;
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
                         long long user_id, int max_participants, bool *added, json_object **out)
{
    *added = false;
    *out = NULL;
    bool admin = false;
    long long count = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_group(db, conv_id, actor_id, CHAT_E_CONFLICT, &admin);
    if (rc == CHAT_OK)
        rc = user_exists(db, user_id);
    if (rc == CHAT_OK) /* before "already a member": the answer must not depend on it */
        rc = chat_block_check_by(db, user_id, actor_id);
    if (rc != CHAT_OK)
        goto out;
    rc = get_participant(db, conv_id, user_id, out);
    if (rc != CHAT_E_NOT_FOUND)
        goto out; /* already a member (nothing changes), or an error */
    rc = chat_db_query_int(db, "SELECT COUNT(*) FROM participants WHERE conversation_id = ?",
                           CHAT_DB_PARAMS(DB_INT(conv_id)), &count);
    if (rc == CHAT_OK && count >= max_participants)
        rc = CHAT_E_GROUP_FULL;
    if (rc == CHAT_OK)
        rc = insert_participant(db, conv_id, user_id);
    if (rc == CHAT_OK)
        rc = get_participant(db, conv_id, user_id, out);
    *added = rc == CHAT_OK;
out:
    return end_participant_change(db, rc, out, added);
}

/* ids minus the sorted list `drop`, in place; returns how many are left. */
static size_t ids_without(long long *ids, size_t n, const long long *drop, size_t ndrop)
{
    if (ndrop == 0)
        return n; /* drop may be NULL then */
    size_t out = 0;
    for (size_t i = 0; i < n; i++)
        if (!bsearch(&ids[i], drop, ndrop, sizeof(*drop), chat_id_cmp))
            ids[out++] = ids[i];
    return out;
}

int chat_participants_add_many(struct chat_db *db, long long conv_id, long long actor_id,
                               long long *user_ids, size_t n, int max_participants,
                               bool *added, json_object **out)
{
    *added = false;
    *out = NULL;
    bool admin = false;
    long long count = 0, *existing = NULL;
    size_t nexisting = 0;
    char *all_json = NULL, *new_json = NULL;
    json_object *added_arr = NULL, *already = NULL;
    n = chat_ids_sort_unique(user_ids, n);
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_group(db, conv_id, actor_id, CHAT_E_CONFLICT, &admin);
    if (rc != CHAT_OK)
        goto out;
    all_json = chat_ids_json(user_ids, n);
    /* Before "already members": the answer must not depend on who takes part. */
    rc = chat_members_check(db, all_json, n, actor_id);
    if (rc == CHAT_OK)
        rc = chat_members_existing(db, conv_id, all_json, &existing, &nexisting);
    if (rc != CHAT_OK)
        goto out;
    already = json_object_new_array_ext((int)nexisting);
    for (size_t i = 0; i < nexisting; i++)
        json_object_array_add(already, json_object_new_int64(existing[i]));
    size_t nnew = ids_without(user_ids, n, existing, nexisting);
    if (nnew > 0) {
        rc = chat_db_query_int(db, "SELECT COUNT(*) FROM participants WHERE conversation_id = ?",
                               CHAT_DB_PARAMS(DB_INT(conv_id)), &count);
        if (rc == CHAT_OK && count + (long long)nnew > max_participants)
            rc = CHAT_E_GROUP_FULL;
        new_json = chat_ids_json(user_ids, nnew);
        if (rc == CHAT_OK)
            rc = chat_members_insert(db, conv_id, new_json, true);
        if (rc == CHAT_OK)
            rc = chat_members_json(db, conv_id, new_json, &added_arr);
    } else
        added_arr = json_object_new_array();
    if (rc != CHAT_OK)
        goto out;
    *out = json_object_new_object();
    json_object_object_add(*out, "added", json_object_get(added_arr));
    json_object_object_add(*out, "already_participants", json_object_get(already));
    *added = nnew > 0;
out:
    json_object_put(added_arr);
    json_object_put(already);
    free(existing);
    free(all_json);
    free(new_json);
    return end_participant_change(db, rc, out, added);
}

/* Inside a transaction holding the conversation lock: gives user_id (a participant)
 * role, writes participant.role_changed and the audit row `action` by actor_id. */
static int write_role(struct chat_db *db, long long conv_id, long long actor_id,
                      long long user_id, const char *role, const char *action)
{
    json_object *user = NULL, *payload = NULL;
    int rc = chat_db_exec(db, "UPDATE participants SET role = ? WHERE conversation_id = ? AND user_id = ?",
                          CHAT_DB_PARAMS(DB_STR(role), DB_INT(conv_id), DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_user_get_json(db, user_id, &user);
    if (rc != CHAT_OK)
        goto out;
    payload = participant_payload(conv_id, user_id, user);
    json_object_object_add(payload, "role", json_object_new_string(role));
    json_object_object_add(payload, "actor_id", json_object_new_int64(actor_id));
    rc = chat_event_append(db, conv_id, "participant.role_changed", payload, NULL);
    if (rc == CHAT_OK)
        rc = chat_audit_append(db, &(struct chat_audit_entry){
                                       .actor_id = actor_id, .action = action,
                                       .target_user_id = user_id, .conversation_id = conv_id,
                                       .detail = role});
out:
    json_object_put(payload);
    json_object_put(user);
    return rc;
}

/* The number of admins of conv_id. */
static int count_admins(struct chat_db *db, long long conv_id, long long *count)
{
    return chat_db_query_int(db,
                             "SELECT COUNT(*) FROM participants WHERE conversation_id = ? AND role = 'admin'",
                             CHAT_DB_PARAMS(DB_INT(conv_id)), count);
}

/* After leaver_id left a group: when no admin is left, the earliest remaining
 * participant (the list's order) becomes one, so a group with members always has an
 * admin. Leaving is never refused for being the last admin; demoting is (set_role). */
static int keep_an_admin(struct chat_db *db, long long conv_id, long long leaver_id)
{
    long long admins = 0, heir = 0;
    int rc = count_admins(db, conv_id, &admins);
    if (rc != CHAT_OK || admins > 0)
        return rc;
    rc = chat_db_query_int(db,
                           "SELECT user_id FROM participants WHERE conversation_id = ? "
                           "ORDER BY joined_at, user_id LIMIT 1",
                           CHAT_DB_PARAMS(DB_INT(conv_id)), &heir);
    if (rc == CHAT_E_NOT_FOUND)
        return CHAT_OK; /* the last participant left */
    if (rc != CHAT_OK)
        return rc;
    return write_role(db, conv_id, leaver_id, heir, "admin", "group.admin_inherited");
}

int chat_participant_remove(struct chat_db *db, long long conv_id, long long actor_id,
                            long long user_id)
{
    bool is_group = false, admin = false;
    json_object *user = NULL, *payload = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_conversation(db, conv_id, actor_id, &is_group, &admin);
    if (rc == CHAT_OK && user_id != actor_id) {
        if (!is_group)
            rc = CHAT_E_CONFLICT;
        else if ((rc = require_admin(admin)) == CHAT_OK)
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
    if (rc == CHAT_OK && user_id != actor_id)
        rc = chat_audit_append(db, &(struct chat_audit_entry){
                                       .actor_id = actor_id, .action = "group.member_removed",
                                       .target_user_id = user_id, .conversation_id = conv_id});
    if (rc == CHAT_OK && is_group)
        rc = keep_an_admin(db, conv_id, user_id);
out:
    json_object_put(payload);
    json_object_put(user);
    return chat_db_end(db, rc);
}

int chat_participant_set_role(struct chat_db *db, long long conv_id, long long actor_id,
                              long long user_id, bool make_admin, bool *changed,
                              json_object **out)
{
    *changed = false;
    *out = NULL;
    bool admin = false;
    long long admins = 0;
    const char *role = make_admin ? "admin" : "member";
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_group(db, conv_id, actor_id, CHAT_E_CONFLICT, &admin);
    if (rc == CHAT_OK)
        rc = require_admin(admin);
    if (rc == CHAT_OK)
        rc = get_participant(db, conv_id, user_id, out);
    if (rc != CHAT_OK)
        goto out;
    bool was_admin = strcmp(json_object_get_string(json_object_object_get(*out, "role")), "admin") == 0;
    if (was_admin == make_admin)
        goto out; /* nothing changes */
    /* The actor is an admin, so demoting someone else always leaves one; demoting the
     * only admin (themselves) is refused: they promote someone first, or leave. */
    if (!make_admin && (rc = count_admins(db, conv_id, &admins)) == CHAT_OK && admins <= 1)
        rc = CHAT_E_LAST_ADMIN;
    if (rc == CHAT_OK)
        rc = write_role(db, conv_id, actor_id, user_id, role, "group.role_changed");
    json_object_put(*out);
    *out = NULL;
    if (rc == CHAT_OK)
        rc = get_participant(db, conv_id, user_id, out);
    *changed = rc == CHAT_OK;
out:
    return end_participant_change(db, rc, out, changed);
}

/* Brings user_id back into a direct conversation they left (they see the whole history
 * again), with a participant.added event, in its own transaction. Only the one who left
 * comes back this way: starting the chat never pulls the other member back in. */
static int rejoin_direct(struct chat_db *db, long long conv_id, long long user_id)
{
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_int(db, "SELECT id FROM conversations WHERE id = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_INT(conv_id)), NULL);
    if (rc == CHAT_OK) {
        rc = chat_conv_check_participant(db, conv_id, user_id);
        if (rc == CHAT_E_NOT_FOUND)
            rc = insert_participant(db, conv_id, user_id);
    }
    return chat_db_end(db, rc);
}

/* Inserts the conversation, creator_id (a group's first admin) and the users of
 * others_json as members, and writes conversation.created. */
static int insert_conversation(struct chat_db *db, long long creator_id, const char *others_json,
                               const char *name, bool is_group, const char *direct_key,
                               long long *conv_id)
{
    unsigned long long id = 0;
    int rc = chat_db_exec(db,
                          "INSERT INTO conversations (is_group, name, direct_key, created_by) "
                          "VALUES (?, ?, ?, ?)",
                          CHAT_DB_PARAMS(DB_INT(is_group ? 1 : 0), DB_STR_OR_NULL(name),
                                         DB_STR_OR_NULL(direct_key), DB_INT(creator_id)),
                          NULL, &id);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db,
                          "INSERT INTO participants (conversation_id, user_id, role) VALUES (?, ?, ?)",
                          CHAT_DB_PARAMS(DB_INT(id), DB_INT(creator_id),
                                         DB_STR(is_group ? "admin" : "member")),
                          NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_members_insert(db, (long long)id, others_json, false);
    if (rc != CHAT_OK)
        return rc;
    json_object *conv = NULL;
    rc = chat_conv_get_json(db, (long long)id, creator_id, &conv);
    if (rc != CHAT_OK)
        return rc;
    chat_conv_drop_own_fields(conv); /* the creator's notification setting is theirs */
    rc = chat_event_append(db, (long long)id, "conversation.created", conv, NULL);
    json_object_put(conv);
    *conv_id = (long long)id;
    return rc;
}

int chat_conv_create(struct chat_db *db, long long creator_id, long long *participant_ids,
                     size_t count, const char *name, bool is_group, int max_participants,
                     long long *conv_id, bool *existed)
{
    *existed = false;
    /* The others: each distinct id but the creator's. */
    size_t n = chat_ids_sort_unique(participant_ids, count);
    for (size_t i = 0; i < n; i++)
        if (participant_ids[i] == creator_id) {
            memmove(&participant_ids[i], &participant_ids[i + 1],
                    (n - i - 1) * sizeof(*participant_ids));
            n--;
            break;
        }
    if (n < 1 || (long long)n + 1 > max_participants || (!is_group && n != 1))
        return CHAT_E_VALIDATION;
    if (!is_group && name && *name)
        return CHAT_E_VALIDATION;
    char *others = chat_ids_json(participant_ids, n);
    int rc = chat_members_check(db, others, n, creator_id);
    if (rc == CHAT_E_BLOCKED && !is_group)
        rc = CHAT_OK; /* a direct chat checks both ways below */
    if (rc == CHAT_OK && !is_group)
        rc = chat_block_check_pair(db, creator_id, participant_ids[0]);
    if (rc != CHAT_OK)
        goto out;
    char key[CHAT_DIRECT_KEY_LEN] = "";
    if (!is_group) {
        chat_direct_key(creator_id, participant_ids[0], key);
        if (chat_conv_direct_find(db, creator_id, participant_ids[0], conv_id) == CHAT_OK) {
            /* Starting a direct chat again brings its starter back if they had left. */
            *existed = true;
            rc = rejoin_direct(db, *conv_id, creator_id);
            goto out;
        }
    }
    rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        goto out;
    rc = insert_conversation(db, creator_id, others, is_group ? name : NULL, is_group,
                             is_group ? NULL : key, conv_id);
    if (rc == CHAT_OK) {
        rc = chat_db_commit(db);
        goto out;
    }
    chat_db_rollback(db);
    if (rc == CHAT_E_DUPLICATE && !is_group) {
        /* Lost a race with a concurrent create of the same direct chat. */
        rc = chat_conv_direct_find(db, creator_id, participant_ids[0], conv_id);
        if (rc == CHAT_OK) {
            *existed = true;
            rc = rejoin_direct(db, *conv_id, creator_id);
        }
    }
out:
    free(others);
    return rc;
}
