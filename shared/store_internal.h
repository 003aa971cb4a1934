/* Helpers shared by the store_*.c files only. */
#ifndef CHAT_STORE_INTERNAL_H
#define CHAT_STORE_INTERNAL_H

#include <limits.h>

#include "json_util.h"
#include "store.h"

/* Column list for chat_message_json_from_row; the query must alias messages as m and
 * the sender's users row as u. */
#define CHAT_MESSAGE_COLUMNS                                                                 \
    "m.id, m.conversation_id, m.sender_id, u.username, u.display_name, m.text, "           \
    "m.created_at, m.edited_at, m.deleted_at, m.reply_to_id, m.client_msg_id"

/* Builds the REST message object from a row selected with CHAT_MESSAGE_COLUMNS. */
json_object *chat_message_json_from_row(const struct chat_db_result *r, unsigned row);

/* Inside a transaction: locks the conversation row (serializing its writers so its
 * events commit in id order) and checks that user_id takes part. CHAT_E_NOT_FOUND
 * otherwise. */
int chat_conv_lock_for_participant(struct chat_db *db, long long conv_id, long long user_id);

#endif
