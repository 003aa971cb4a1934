/* Layer 5 (writes) of the data layer: changes to a message by its author, edits
 * (keeping the old text) and deletes (tombstones, which also scrub the text from the
 * message's earlier events), also by a group admin or a site admin (audited). Each writes its event in the same transaction, after locking
 * the conversation row. Calls message views
 * (store_messages.c), decorators (reactions' "me", the attachments hook), membership and
 * the event log. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "i18n.h"
#include "store.h"
#include "store_internal.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

int chat_message_text_check(const struct chat_config *cfg, const char *text, char *detail,
                            size_t detail_len)
{
    bool blank = true;
    for (const char *p = text; *p && blank; p++)
        blank = isspace((unsigned char)*p) != 0;
    if (blank) {
        snprintf(detail, detail_len, "error.message.text_empty");
        return CHAT_E_VALIDATION;
    }
    if (chat_utf8_length(text, strlen(text)) > (size_t)cfg->max_message_chars) {
        chat_detail_printf(detail, detail_len, "error.message.text_too_long", "max=%d",
                           cfg->max_message_chars);
        return CHAT_E_VALIDATION;
    }
    return CHAT_OK;
}

/* Inside a transaction: locks the conversation for user_id and checks that message_id
 * is user_id's own message there. *deleted tells whether it is a tombstone; when
 * old_text is not NULL it receives a copy of the current text (caller frees).
 * CHAT_E_NOT_FOUND (not a participant, or not a message of the conversation),
 * CHAT_E_FORBIDDEN (someone else's message). */
static int lock_own_message(struct chat_db *db, long long conv_id, long long message_id,
                            long long user_id, bool *deleted, char **old_text)
{
    int rc = chat_conv_lock_for_participant(db, conv_id, user_id);
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r;
    rc = chat_db_query(db,
                       "SELECT sender_id, deleted_at IS NOT NULL, text FROM messages "
                       "WHERE id = ? AND conversation_id = ?",
                       CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0)
        rc = CHAT_E_NOT_FOUND;
    else if (chat_db_cell_int(&r, 0, 0) != user_id)
        rc = CHAT_E_FORBIDDEN;
    else {
        *deleted = chat_db_cell_int(&r, 0, 1) != 0;
        if (old_text)
            *old_text = chat_xstrdup(chat_db_cell(&r, 0, 2));
    }
    chat_db_result_free(&r);
    return rc;
}

/* Loads the changed message, writes its event (payload without viewer fields), then
 * adds the author's "me" for the REST answer. *out is set only on success. */
static int append_message_event(struct chat_db *db, long long conv_id, long long message_id,
                                long long user_id, const char *type, json_object **out)
{
    json_object *msg = NULL;
    int rc = chat_message_load_json(db, conv_id, message_id, 0, &msg);
    if (rc == CHAT_OK)
        rc = chat_event_append(db, conv_id, type, msg, NULL);
    if (rc != CHAT_OK) {
        json_object_put(msg);
        return rc;
    }
    chat_message_add_me(msg, user_id);
    *out = msg;
    return CHAT_OK;
}

int chat_message_edit(struct chat_db *db, long long conv_id, long long message_id,
                      long long user_id, const char *text, json_object **out, bool *changed)
{
    *out = NULL;
    *changed = false;
    bool deleted = false;
    char *old_text = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_own_message(db, conv_id, message_id, user_id, &deleted, &old_text);
    if (rc == CHAT_OK && deleted)
        rc = CHAT_E_CONFLICT;
    if (rc != CHAT_OK)
        goto out;
    if (strcmp(old_text, text) == 0) {
        /* Byte-identical (the column's collation would call "a" and "A" equal). */
        rc = chat_message_load_json(db, conv_id, message_id, user_id, out);
        goto out;
    }
    rc = chat_db_exec(db,
                      "INSERT INTO message_edits (message_id, old_text) "
                      "SELECT id, text FROM messages WHERE id = ?",
                      CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "UPDATE messages SET text = ?, edited_at = NOW(6) WHERE id = ?",
                          CHAT_DB_PARAMS(DB_STR(text), DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK) /* the entities follow the new text (offsets, names, reach) */
        rc = chat_mentions_store(db, conv_id, message_id, user_id, text, true, NULL);
    if (rc == CHAT_OK)
        rc = append_message_event(db, conv_id, message_id, user_id, "message.updated", out);
    *changed = rc == CHAT_OK;
out:
    free(old_text);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        *changed = false;
    }
    return rc;
}

/* Inside the delete's transaction, with the conversation locked: the tombstone. Text,
 * edit history, reactions and attachments go, deleted_at is set, message.deleted is
 * written and the message's earlier events are rewritten to the tombstone. */
static int tombstone(struct chat_db *db, long long conv_id, long long message_id)
{
    json_object *msg = NULL;
    int rc = chat_db_exec(db, "UPDATE messages SET text = '', deleted_at = NOW(6) WHERE id = ?",
                          CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM message_edits WHERE message_id = ?",
                          CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM reactions WHERE message_id = ?",
                          CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_attachments_clear_for_message(db, message_id);
    if (rc == CHAT_OK)
        rc = chat_mentions_clear(db, message_id);
    /* The tombstone is the message.deleted payload and replaces the text in every earlier
     * event, so no resume after this commit can return the text (docs/protocol.md). */
    long long event_id = 0;
    if (rc == CHAT_OK)
        rc = chat_message_load_json(db, conv_id, message_id, 0, &msg);
    if (rc == CHAT_OK)
        rc = chat_event_append(db, conv_id, "message.deleted", msg, &event_id);
    if (rc == CHAT_OK)
        rc = chat_events_scrub_message(db, message_id, msg, event_id);
    json_object_put(msg);
    return rc;
}

/* Inside a transaction: locks the conversation for user_id and checks that user_id may
 * delete message_id there: their own message, or any message of a group they are an
 * admin of (*moderated true, *author_id its sender). CHAT_E_NOT_FOUND (not a participant,
 * or not a message of the conversation), CHAT_E_NOT_ADMIN (someone else's message in a
 * group), CHAT_E_FORBIDDEN (someone else's in a direct chat). */
static int lock_deletable_message(struct chat_db *db, long long conv_id, long long message_id,
                                  long long user_id, bool *deleted, bool *moderated,
                                  long long *author_id)
{
    int rc = chat_conv_lock_for_participant(db, conv_id, user_id);
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r;
    rc = chat_db_query(db,
                       "SELECT m.sender_id, m.deleted_at IS NOT NULL, c.is_group, p.role = 'admin' "
                       "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                       "JOIN participants p ON p.conversation_id = c.id AND p.user_id = ? "
                       "WHERE m.id = ? AND m.conversation_id = ?",
                       CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(message_id), DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0) {
        chat_db_result_free(&r);
        return CHAT_E_NOT_FOUND;
    }
    *author_id = chat_db_cell_int(&r, 0, 0);
    *deleted = chat_db_cell_int(&r, 0, 1) != 0;
    bool is_group = chat_db_cell_int(&r, 0, 2) != 0, admin = chat_db_cell_int(&r, 0, 3) != 0;
    chat_db_result_free(&r);
    *moderated = *author_id != user_id;
    if (*moderated && !is_group)
        return CHAT_E_FORBIDDEN;
    if (*moderated && !admin)
        return CHAT_E_NOT_ADMIN;
    return CHAT_OK;
}

int chat_message_delete(struct chat_db *db, long long conv_id, long long message_id,
                        long long user_id, bool *changed)
{
    *changed = false;
    bool deleted = false, moderated = false;
    long long author_id = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_deletable_message(db, conv_id, message_id, user_id, &deleted, &moderated,
                                &author_id);
    if (rc != CHAT_OK || deleted)
        goto out; /* deleting a tombstone again changes nothing */
    rc = tombstone(db, conv_id, message_id);
    if (rc == CHAT_OK && moderated)
        rc = chat_audit_append(db, &(struct chat_audit_entry){
                                       .actor_id = user_id, .action = "group.message_deleted",
                                       .target_user_id = author_id, .conversation_id = conv_id,
                                       .message_id = message_id});
    *changed = rc == CHAT_OK;
out:
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *changed = false;
    return rc;
}

int chat_message_moderate_delete(struct chat_db *db, long long actor_id, long long message_id,
                                 bool *changed)
{
    *changed = false;
    long long conv_id = 0;
    struct chat_db_result r = {0};
    /* The message's conversation, then its lock (the order every writer of that
     * conversation takes), then the message again under the lock. */
    int rc = chat_db_query_int(db, "SELECT conversation_id FROM messages WHERE id = ?",
                               CHAT_DB_PARAMS(DB_INT(message_id)), &conv_id);
    if (rc != CHAT_OK)
        return rc;
    if ((rc = chat_db_begin(db)) != CHAT_OK)
        return rc;
    rc = chat_db_query_int(db, "SELECT id FROM conversations WHERE id = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_INT(conv_id)), NULL);
    if (rc == CHAT_OK)
        rc = chat_db_query_row(db,
                               "SELECT sender_id, deleted_at IS NOT NULL FROM messages WHERE id = ?",
                               CHAT_DB_PARAMS(DB_INT(message_id)), &r);
    if (rc != CHAT_OK || chat_db_cell_int(&r, 0, 1) != 0)
        goto out; /* gone, or a tombstone already: nothing changes */
    rc = tombstone(db, conv_id, message_id);
    if (rc == CHAT_OK)
        rc = chat_audit_append(db, &(struct chat_audit_entry){
                                       .actor_id = actor_id, .action = "message.deleted",
                                       .target_user_id = chat_db_cell_int(&r, 0, 0),
                                       .conversation_id = conv_id, .message_id = message_id});
    *changed = rc == CHAT_OK;
out:
    chat_db_result_free(&r);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *changed = false;
    return rc;
}

int chat_messages_erase_author(struct chat_db *db, long long author_id, int limit, int *erased)
{
    struct chat_db_result r = {0};
    *erased = 0;
    int rc = chat_db_query(db,
                           "SELECT conversation_id, id FROM messages WHERE sender_id = ? "
                           "AND deleted_at IS NULL ORDER BY id LIMIT ?",
                           CHAT_DB_PARAMS(DB_INT(author_id), DB_INT(limit)), &r);
    /* One transaction per message, as a delete by hand: a long history does not hold
     * its conversations locked, and what is done stays done if a later one fails. The
     * conversation is locked without a membership check: the author may have left it. */
    for (unsigned i = 0; i < r.nrows && rc == CHAT_OK; i++) {
        long long conv_id = chat_db_cell_int(&r, i, 0);
        rc = chat_db_begin(db);
        if (rc != CHAT_OK)
            break;
        rc = chat_db_query_int(db, "SELECT id FROM conversations WHERE id = ? FOR UPDATE",
                               CHAT_DB_PARAMS(DB_INT(conv_id)), NULL);
        if (rc == CHAT_OK)
            rc = tombstone(db, conv_id, chat_db_cell_int(&r, i, 1));
        rc = chat_db_end(db, rc);
        *erased += rc == CHAT_OK;
    }
    chat_db_result_free(&r);
    return rc;
}
