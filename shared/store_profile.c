/* Layer 5 (writes) of the data layer: what a user changes about their own account: the
 * display name, the avatar, and deleting the account. A change others see writes a
 * user.updated event (conversation NULL) in its transaction; chat-push delivers it to
 * the users who share a conversation with the subject, looked up when it is delivered
 * (docs/protocol.md). Account deletion also goes through the other writers (reactions,
 * message tombstones, leaving), each with its own events. */
#include <stdlib.h>
#include <string.h>

#include "blobs.h"

#include "errors.h"
#include "store.h"
#include "store_internal.h"
#include "utf8.h"

/* Inside a transaction: writes user.updated {user_id, user} for user_id's row as it now
 * is; *out (may be NULL) gets the user object. */
static int announce_user(struct chat_db *db, long long user_id, json_object **out)
{
    json_object *user = NULL;
    int rc = chat_user_get_json(db, user_id, &user);
    if (rc != CHAT_OK)
        return rc;
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "user_id", json_object_new_int64(user_id));
    json_object_object_add(payload, "user", json_object_get(user));
    rc = chat_event_append(db, 0, "user.updated", payload, NULL);
    json_object_put(payload);
    if (rc == CHAT_OK && out)
        *out = user;
    else
        json_object_put(user);
    return rc;
}

/* Inside a transaction: locks user_id's live (not deleted) row; CHAT_E_NOT_FOUND when
 * there is none. */
static int lock_live_user(struct chat_db *db, long long user_id)
{
    return chat_db_query_int(db, "SELECT id FROM users WHERE id = ? AND deleted_at IS NULL FOR UPDATE",
                             CHAT_DB_PARAMS(DB_INT(user_id)), NULL);
}

/* Ends the transaction with rc and drops *out when it did not commit. */
static int end_change(struct chat_db *db, int rc, json_object **out)
{
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
    }
    return rc;
}

int chat_user_set_profile(struct chat_db *db, long long user_id, const char *name,
                          const char *locale, json_object **out)
{
    *out = NULL;
    /* The same rule as at registration (chat_user_create): controls and bidi formatting
     * removed, and nothing else left is an error. */
    char clean[4 * CHAT_DISPLAY_NAME_MAX + 1];
    if (name) {
        size_t len = strlen(name);
        if (len > 4 * CHAT_DISPLAY_NAME_MAX ||
            chat_utf8_length(name, len) > CHAT_DISPLAY_NAME_MAX)
            return CHAT_E_VALIDATION;
        if (chat_utf8_strip_controls(name, len, clean) == 0)
            return CHAT_E_VALIDATION;
    }
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_live_user(db, user_id);
    if (rc == CHAT_OK && name)
        rc = chat_db_exec(db, "UPDATE users SET display_name = ? WHERE id = ?",
                          CHAT_DB_PARAMS(DB_STR(clean), DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK && locale)
        rc = chat_db_exec(db, "UPDATE users SET locale = NULLIF(?, '') WHERE id = ?",
                          CHAT_DB_PARAMS(DB_STR(locale), DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = announce_user(db, user_id, out);
    return end_change(db, rc, out);
}

int chat_user_set_avatar(struct chat_db *db, long long user_id, const char *content_type,
                         const void *data, size_t len, json_object **out)
{
    char sha[CHAT_SHA256_HEX_LEN + 1];
    *out = NULL;
    if (data)
        chat_blob_sha256_hex(data, len, sha);
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_live_user(db, user_id);
    if (rc == CHAT_OK && data)
        rc = chat_db_exec(db,
                          "INSERT INTO user_avatars (user_id, content_type, sha256, image) "
                          "VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE "
                          "content_type = VALUES(content_type), sha256 = VALUES(sha256), "
                          "image = VALUES(image)",
                          CHAT_DB_PARAMS(DB_INT(user_id), DB_STR(content_type), DB_STR(sha),
                                         DB_BYTES(data, len)),
                          NULL, NULL);
    else if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM user_avatars WHERE user_id = ?",
                          CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "UPDATE users SET avatar_sha256 = ? WHERE id = ?",
                          CHAT_DB_PARAMS(data ? DB_STR(sha) : DB_NULL, DB_INT(user_id)), NULL,
                          NULL);
    if (rc == CHAT_OK)
        rc = announce_user(db, user_id, out);
    return end_change(db, rc, out);
}

int chat_avatar_get(struct chat_db *db, long long viewer_id, long long user_id,
                    struct chat_db_result *r)
{
    int rc = chat_user_check_visible(db, viewer_id, user_id);
    if (rc != CHAT_OK)
        return rc;
    return chat_db_query_row(db,
                             "SELECT a.content_type, a.sha256, a.image FROM user_avatars a "
                             "JOIN users u ON u.id = a.user_id AND u.deleted_at IS NULL "
                             "WHERE a.user_id = ?",
                             CHAT_DB_PARAMS(DB_INT(user_id)), r);
}

/* Removes user_id's reactions: with reaction.removed events where the user still takes
 * part (others see them go), then whatever is left in conversations the user has left. */
static int remove_reactions(struct chat_db *db, long long user_id)
{
    struct chat_db_result r = {0};
    int rc = chat_db_query(db,
                           "SELECT m.conversation_id, r.message_id, r.emoji FROM reactions r "
                           "JOIN messages m ON m.id = r.message_id "
                           "JOIN participants p ON p.conversation_id = m.conversation_id "
                           "AND p.user_id = r.user_id WHERE r.user_id = ?",
                           CHAT_DB_PARAMS(DB_INT(user_id)), &r);
    for (unsigned i = 0; i < r.nrows && rc == CHAT_OK; i++) {
        bool removed;
        rc = chat_reaction_remove(db, chat_db_cell_int(&r, i, 0), chat_db_cell_int(&r, i, 1),
                                  user_id, chat_db_cell(&r, i, 2), &removed);
    }
    chat_db_result_free(&r);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM reactions WHERE user_id = ?",
                          CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    return rc;
}

/* Leaves every conversation (participant.removed each, as a leave by hand). */
static int leave_all(struct chat_db *db, long long user_id)
{
    long long *ids = NULL;
    size_t n = 0;
    int rc = chat_conv_ids_for_user(db, user_id, &ids, &n);
    for (size_t i = 0; i < n && rc == CHAT_OK; i++) {
        rc = chat_participant_remove(db, ids[i], user_id, user_id);
        if (rc == CHAT_E_NOT_FOUND) /* left meanwhile */
            rc = CHAT_OK;
    }
    free(ids);
    return rc;
}

int chat_account_purge(struct chat_db *db, long long user_id)
{
    int erased = 0, rc;
    rc = remove_reactions(db, user_id);
    do {
        if (rc == CHAT_OK)
            rc = chat_messages_erase_author(db, user_id, CHAT_PAGE_MAX, &erased);
    } while (rc == CHAT_OK && erased > 0);
    if (rc == CHAT_OK)
        rc = leave_all(db, user_id);
    /* Uploads never attached go now (their files at the next gc); attached ones went
     * with their messages' tombstones. */
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM attachments WHERE uploader_id = ? AND message_id IS NULL",
                          CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    return rc;
}

int chat_account_delete(struct chat_db *db, long long user_id)
{
    /* First the row: from this commit on no login or new session is possible (the name is
     * '~<id>', which no login matches, and chat_session_create checks deleted_at), the
     * old username is free, and every user object reads "Deleted user". '!' is no
     * argon2id hash, so no password verifies. */
    json_object *user = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_exec(db,
                      "UPDATE users SET deleted_at = COALESCE(deleted_at, UTC_TIMESTAMP(6)), "
                      "deactivated_at = COALESCE(deactivated_at, UTC_TIMESTAMP(6)), "
                      "username = CONCAT('~', id), display_name = ?, password_hash = '!', "
                      "avatar_sha256 = NULL WHERE id = ?",
                      CHAT_DB_PARAMS(DB_STR(CHAT_DELETED_USER_NAME), DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM user_avatars WHERE user_id = ?",
                          CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = announce_user(db, user_id, &user);
    json_object_put(user);
    rc = chat_db_end(db, rc);
    /* Every session and connection ends at once, then the content goes. */
    if (rc == CHAT_OK)
        rc = chat_sessions_revoke_user(db, user_id, true);
    if (rc == CHAT_OK)
        rc = chat_account_purge(db, user_id);
    return rc;
}
