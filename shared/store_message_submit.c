/* Sending a message on behalf of a client: the checks and the error details shared by
 * the REST POST (api/routes_messages.c) and the WebSocket message.send frame
 * (push/db_worker.c), so both paths accept and refuse exactly the same input. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "store.h"
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
        snprintf(detail, detail_len, "text must not be empty.");
        return CHAT_E_VALIDATION;
    }
    if (chat_utf8_length(in->text, strlen(in->text)) > (size_t)cfg->max_message_chars) {
        snprintf(detail, detail_len, "text is longer than %d characters.", cfg->max_message_chars);
        return CHAT_E_VALIDATION;
    }
    if (in->client_msg_id && !client_msg_id_valid(in->client_msg_id)) {
        snprintf(detail, detail_len, "client_msg_id must be 1 to 64 characters of letters, "
                                     "digits, '-', '_', '.' or ':'.");
        return CHAT_E_VALIDATION;
    }
    if (has_reply_to && in->reply_to <= 0) {
        snprintf(detail, detail_len, "reply_to must be a message id.");
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
            snprintf(detail, detail_len, "reply_to must be a message in this conversation.");
        if (rc == CHAT_E_CONFLICT && !detail[0])
            snprintf(detail, detail_len, "An attachment is already attached to a message.");
    }
out:
    if (rc == CHAT_E_NOT_FOUND)
        snprintf(detail, detail_len, "Conversation not found.");
    return rc;
}
