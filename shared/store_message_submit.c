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
    /* A non-participant learns nothing, not even whether the input was valid. */
    int rc = chat_conv_check_participant(db, in->conversation_id, in->sender_id);
    if (rc == CHAT_OK)
        rc = check_input(cfg, in, has_reply_to, detail, detail_len);
    if (rc == CHAT_OK)
        rc = chat_attachments_validate(db, in->sender_id, in->attachment_ids,
                                       in->attachment_count, detail, detail_len);
    if (rc != CHAT_OK && rc != CHAT_E_VALIDATION)
        goto out;
    if (rc == CHAT_OK) {
        rc = chat_message_send(db, cfg, in, out, created);
        if (rc == CHAT_E_VALIDATION && !detail[0])
            snprintf(detail, detail_len, "error.message.reply_to_elsewhere");
        if (rc == CHAT_E_CONFLICT && !detail[0])
            snprintf(detail, detail_len, "error.message.attachment_used");
    }
out:
    if (rc == CHAT_E_NOT_FOUND)
        snprintf(detail, detail_len, CHAT_DETAIL_CONVERSATION_NOT_FOUND);
    return rc;
}

static int insert_message(struct chat_db *db, const struct chat_message_input *in,
                          json_object **out)
{
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
                      "reply_to_id) VALUES (?, ?, ?, ?, ?)",
                      CHAT_DB_PARAMS(DB_INT(in->conversation_id), DB_INT(in->sender_id),
                                     DB_STR(in->text), DB_STR_OR_NULL(in->client_msg_id),
                                     in->reply_to ? DB_INT(in->reply_to) : DB_NULL),
                      NULL, &id);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_mentions_store(db, in->conversation_id, (long long)id, in->sender_id, in->text,
                             false);
    if (rc != CHAT_OK)
        return rc;
    /* Same transaction: a failed attach (taken by a concurrent send) undoes the message. */
    rc = chat_attachments_attach(db, (long long)id, in->sender_id, in->attachment_ids,
                                 in->attachment_count);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_exec(db,
                      "UPDATE conversations c JOIN messages m ON m.id = ? "
                      "SET c.last_activity_at = m.created_at, c.last_message_id = m.id "
                      "WHERE c.id = ?",
                      CHAT_DB_PARAMS(DB_INT(id), DB_INT(in->conversation_id)), NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    /* The sender has read everything up to their own message. */
    rc = chat_db_exec(db,
                      "UPDATE participants SET last_read_message_id = ?, last_read_at = NOW(6), "
                      "last_delivered_at = NOW(6), "
                      "last_delivered_message_id = GREATEST(last_delivered_message_id, ?) "
                      "WHERE conversation_id = ? AND user_id = ?",
                      CHAT_DB_PARAMS(DB_INT(id), DB_INT(id), DB_INT(in->conversation_id),
                                     DB_INT(in->sender_id)),
                      NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_message_load_json(db, in->conversation_id, (long long)id, 0, out);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_event_append(db, in->conversation_id, "message.created", *out, NULL);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        return rc;
    }
    chat_message_add_me(*out, in->sender_id);
    return CHAT_OK;
}

int chat_message_send(struct chat_db *db, const struct chat_config *cfg,
                      const struct chat_message_input *in, json_object **out, bool *created)
{
    (void)cfg;
    *out = NULL;
    *created = false;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_conv_lock_for_participant(db, in->conversation_id, in->sender_id);
    if (rc != CHAT_OK)
        goto out;
    if (in->client_msg_id) {
        rc = chat_message_find_by_client_id(db, in, out);
        if (rc == CHAT_OK)
            goto out; /* a retry: the original, nothing new */
        if (rc != CHAT_E_NOT_FOUND)
            goto out;
    }
    /* Under the conversation lock: a block or the other member leaving orders with it. */
    rc = chat_block_check_direct(db, in->conversation_id, in->sender_id);
    if (rc == CHAT_OK)
        rc = insert_message(db, in, out);
    if (rc == CHAT_OK)
        *created = true;
out:
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
