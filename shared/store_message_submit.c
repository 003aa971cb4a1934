/* Layer 5 (writes) of the data layer: sending a message. chat_message_submit holds the
 * checks and the error details shared by the REST POST (api/routes_messages.c) and the
 * WebSocket message.send frame (push/db_worker.c), so both paths accept and refuse
 * exactly the same input; chat_message_send stores the message (idempotent by
 * client_msg_id) with its event in one transaction. Calls message views
 * (store_messages.c), attachments, decorators, membership and the event log. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "i18n.h"
#include "store.h"
#include "store_internal.h"
#include "utf8.h"

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

static bool client_msg_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CHAT_CLIENT_MSG_ID_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.:", *s))
            return false;
    return true;
}

/* CHAT_OK, or CHAT_E_VALIDATION with the reason in detail. */
static int check_input(const struct chat_config *cfg, const struct chat_message_input *in,
                       bool has_reply_to, char *detail, size_t detail_len)
{
    if (blank(in->text) && !in->attachment_count) {
        snprintf(detail, detail_len, "error.message.text_empty");
        return CHAT_E_VALIDATION;
    }
    if (chat_utf8_length(in->text, strlen(in->text)) > (size_t)cfg->max_message_chars) {
        chat_detail_printf(detail, detail_len, "error.message.text_too_long", "max=%d",
                           cfg->max_message_chars);
        return CHAT_E_VALIDATION;
    }
    if (in->client_msg_id && !client_msg_id_valid(in->client_msg_id)) {
        snprintf(detail, detail_len, "error.message.client_msg_id_invalid");
        return CHAT_E_VALIDATION;
    }
    if (has_reply_to && in->reply_to <= 0) {
        snprintf(detail, detail_len, "error.message.reply_to_invalid");
        return CHAT_E_VALIDATION;
    }
    return CHAT_OK;
}

int chat_message_submit(struct chat_db *db, const struct chat_config *cfg,
                        const struct chat_message_input *in, bool has_reply_to,
                        json_object **out, bool *created, char *detail, size_t detail_len)
{
    detail[0] = '\0';
    *out = NULL;
    *created = false;
    int rc = check_input(cfg, in, has_reply_to, detail, detail_len);
    /* A non-participant learns nothing, not even whether the input was valid: refused
     * input and attachments (checked before the transaction) ask first. A valid plain
     * message goes straight to the send, whose conversation lock asks the same. */
    if (rc != CHAT_OK || in->attachment_count) {
        int member = chat_conv_check_participant(db, in->conversation_id, in->sender_id);
        if (member != CHAT_OK)
            rc = member;
    }
    if (rc == CHAT_OK && in->attachment_count)
        rc = chat_attachments_validate(db, in->sender_id, in->attachment_ids,
                                       in->attachment_count, detail, detail_len);
    if (rc == CHAT_OK) {
        rc = chat_message_send(db, cfg, in, out, created);
        if (rc == CHAT_E_VALIDATION && !detail[0])
            snprintf(detail, detail_len, "error.message.reply_to_elsewhere");
        if (rc == CHAT_E_CONFLICT && !detail[0])
            snprintf(detail, detail_len, "error.message.attachment_used");
    }
    if (rc == CHAT_E_NOT_FOUND)
        snprintf(detail, detail_len, CHAT_DETAIL_CONVERSATION_NOT_FOUND);
    return rc;
}

/* The first statement of a send, in its transaction: locks the conversation for the
 * sender (no row: not a participant) and reads, without locking them, the direct chat's
 * state (CHAT_DIRECT_SEND_STATE), the database's time (the message's created_at, so the
 * answer needs no read back) and the sender's user columns. One round trip. */
static int lock_for_send(struct chat_db *db, const struct chat_message_input *in,
                         struct chat_db_result *r)
{
    long long s = in->sender_id;
    int rc = chat_db_query(
        db,
        "SELECT " CHAT_DIRECT_SEND_STATE ", NOW(6), "
        /* Scalar subqueries, not a join: a locking read locks every row it joins, and
         * the sender's users row is not the send's to lock. */
        CHAT_USER_COLUMNS_OF("p.user_id") " "
        "FROM conversations c JOIN participants p ON p.conversation_id = c.id AND p.user_id = ? "
        "WHERE c.id = ? FOR UPDATE",
        CHAT_DB_PARAMS(DB_INT(s), DB_INT(s), DB_INT(s), DB_INT(s), DB_INT(s), DB_INT(s),
                       DB_INT(in->conversation_id)),
        r);
    if (rc == CHAT_OK && r->nrows == 0) {
        chat_db_result_free(r);
        rc = CHAT_E_NOT_FOUND;
    }
    return rc;
}

/* Inside the send's transaction, after lock_for_send: writes the message, its mentions
 * and attachments, the conversation's last message and the sender's markers, and its
 * event; *out is built from what was written. CHAT_E_DUPLICATE when the sender's
 * client_msg_id is taken (a retry: nothing was written). */
static int insert_message(struct chat_db *db, const struct chat_message_input *in,
                          const struct chat_db_result *lock, json_object **out)
{
    const char *now = chat_db_cell(lock, 0, 1);
    char *mentions = NULL;
    int rc;
    if (in->reply_to) {
        rc = chat_db_query_int(db, "SELECT id FROM messages WHERE id = ? AND conversation_id = ?",
                               CHAT_DB_PARAMS(DB_INT(in->reply_to), DB_INT(in->conversation_id)),
                               NULL);
        if (rc != CHAT_OK)
            return rc == CHAT_E_NOT_FOUND ? CHAT_E_VALIDATION : rc;
    }
    unsigned long long id = 0;
    rc = chat_db_exec(db,
                      "INSERT INTO messages (conversation_id, sender_id, text, client_msg_id, "
                      "reply_to_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                      CHAT_DB_PARAMS(DB_INT(in->conversation_id), DB_INT(in->sender_id),
                                     DB_STR(in->text), DB_STR_OR_NULL(in->client_msg_id),
                                     in->reply_to ? DB_INT(in->reply_to) : DB_NULL, DB_STR(now)),
                      NULL, &id);
    if (rc == CHAT_OK)
        rc = chat_mentions_store(db, in->conversation_id, (long long)id, in->sender_id,
                                 in->text, false, &mentions);
    /* Same transaction: a failed attach (taken by a concurrent send) undoes the message. */
    if (rc == CHAT_OK)
        rc = chat_attachments_attach(db, (long long)id, in->sender_id, in->attachment_ids,
                                     in->attachment_count);
    /* The conversation's newest message, and the sender has read everything up to their
     * own message: one statement for both rows, which lock_for_send holds already. */
    if (rc == CHAT_OK)
        rc = chat_db_exec(db,
                          "UPDATE conversations c JOIN participants p "
                          "ON p.conversation_id = c.id AND p.user_id = ? "
                          "SET c.last_activity_at = ?, c.last_message_id = ?, "
                          "p.last_read_message_id = ?, p.last_read_at = NOW(6), "
                          "p.last_delivered_at = NOW(6), "
                          "p.last_delivered_message_id = GREATEST(p.last_delivered_message_id, ?) "
                          "WHERE c.id = ?",
                          CHAT_DB_PARAMS(DB_INT(in->sender_id), DB_STR(now), DB_INT(id),
                                         DB_INT(id), DB_INT(id), DB_INT(in->conversation_id)),
                          NULL, NULL);
    if (rc != CHAT_OK)
        goto out;
    *out = chat_message_json_build(&(struct chat_message_fields){
            .id = (long long)id,
            .conversation_id = in->conversation_id,
            .sender = chat_user_json_from_row(lock, 0, 2),
            .text = in->text,
            .created_at = now,
            .reply_to = in->reply_to,
            .client_msg_id = in->client_msg_id,
            .mentions_json = mentions,
    });
    if (in->attachment_count) {
        json_object *one = json_object_new_array();
        json_object_array_add(one, json_object_get(*out));
        rc = chat_messages_decorate(db, one, 0);
        json_object_put(one);
    }
    if (rc == CHAT_OK)
        rc = chat_event_append(db, in->conversation_id, "message.created", *out, NULL);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        goto out;
    }
    chat_message_add_me(*out, in->sender_id);
out:
    free(mentions);
    return rc;
}

int chat_message_send(struct chat_db *db, const struct chat_config *cfg,
                      const struct chat_message_input *in, json_object **out, bool *created)
{
    (void)cfg;
    *out = NULL;
    *created = false;
    struct chat_db_result lock = {0};
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_for_send(db, in, &lock);
    if (rc != CHAT_OK)
        goto out;
    /* Under the conversation lock: a block or the other member leaving orders with it. */
    rc = chat_block_state_outcome(chat_db_cell_int(&lock, 0, 0));
    if (rc == CHAT_OK) {
        rc = insert_message(db, in, &lock, out);
        *created = rc == CHAT_OK;
    }
    /* A retry (the sender's client_msg_id is taken) answers the original, also once the
     * chat has been blocked or left since: the send it repeats had been accepted. Only
     * the INSERT failed, so the transaction holds nothing of it. */
    if (rc != CHAT_OK && in->client_msg_id && (rc == CHAT_E_DUPLICATE || rc == CHAT_E_BLOCKED ||
                                               rc == CHAT_E_YOU_BLOCKED ||
                                               rc == CHAT_E_RECIPIENT_LEFT)) {
        int found = chat_message_find_by_client_id(db, in, out);
        if (found == CHAT_OK || found != CHAT_E_NOT_FOUND)
            rc = found;
    }
out:
    chat_db_result_free(&lock);
    if (rc == CHAT_OK)
        rc = chat_db_commit(db);
    else
        chat_db_rollback(db);
    if (rc != CHAT_OK && *out) {
        json_object_put(*out);
        *out = NULL;
        *created = false;
    }
    return rc;
}
