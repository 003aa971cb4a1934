/* Layer 5 (writes) of the data layer: receipts, and the message status read from them.
 * Calls store_membership.c, store_rows.c and the event log.
 *
 * Two markers per participant (last delivered and last read message id, with
 * the time each last moved), so storage grows with participants and not with messages
 * times participants. A message's status for a user is worked out from their markers. */
#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* The caller's markers as {conversation_id, user_id, last_read_message_id, last_read_at,
 * last_delivered_message_id, last_delivered_at}. */
static int load_markers(struct chat_db *db, long long conv_id, long long user_id,
                        json_object **out)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT last_read_message_id, last_read_at, last_delivered_message_id, "
                           "last_delivered_at FROM participants "
                           "WHERE conversation_id = ? AND user_id = ?",
                           CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(user_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0) {
        chat_db_result_free(&r);
        return CHAT_E_NOT_FOUND;
    }
    char read_at[32], delivered_at[32];
    json_object *m = json_object_new_object();
    json_object_object_add(m, "conversation_id", json_object_new_int64(conv_id));
    json_object_object_add(m, "user_id", json_object_new_int64(user_id));
    json_object_object_add(m, "last_read_message_id", json_object_new_int64(chat_db_cell_int(&r, 0, 0)));
    chat_json_add_nullable_string(m, "last_read_at", chat_time_rfc3339(chat_db_cell(&r, 0, 1), read_at));
    json_object_object_add(m, "last_delivered_message_id",
                           json_object_new_int64(chat_db_cell_int(&r, 0, 2)));
    chat_json_add_nullable_string(m, "last_delivered_at",
                                  chat_time_rfc3339(chat_db_cell(&r, 0, 3), delivered_at));
    chat_db_result_free(&r);
    *out = m;
    return CHAT_OK;
}

/* Writes receipt.updated {conversation_id, user_id, kind, message_id, at} from the
 * markers just stored. */
static int append_receipt_event(struct chat_db *db, long long conv_id, long long user_id,
                                enum chat_receipt_kind kind, json_object *markers)
{
    bool read = kind == CHAT_RECEIPT_READ;
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "conversation_id", json_object_new_int64(conv_id));
    json_object_object_add(payload, "user_id", json_object_new_int64(user_id));
    json_object_object_add(payload, "kind", json_object_new_string(read ? "read" : "delivered"));
    json_object_object_add(payload, "message_id",
                           json_object_get(json_object_object_get(
                               markers, read ? "last_read_message_id" : "last_delivered_message_id")));
    json_object_object_add(payload, "at", json_object_get(json_object_object_get(
                                              markers, read ? "last_read_at" : "last_delivered_at")));
    int rc = chat_event_append(db, conv_id, "receipt.updated", payload, NULL);
    json_object_put(payload);
    return rc;
}

int chat_receipt_mark(struct chat_db *db, long long conv_id, long long user_id,
                      enum chat_receipt_kind kind, long long message_id, json_object **out,
                      bool *moved)
{
    *out = NULL;
    *moved = false;
    bool read = kind == CHAT_RECEIPT_READ;
    struct chat_db_result r = {0};
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_conv_lock_for_participant(db, conv_id, user_id);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query_int(db, "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                           CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id)), NULL);
    if (rc == CHAT_E_NOT_FOUND)
        rc = CHAT_E_VALIDATION;
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query(db,
                       "SELECT last_read_message_id < ?, last_delivered_message_id < ? "
                       "FROM participants WHERE conversation_id = ? AND user_id = ?",
                       CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(message_id), DB_INT(conv_id),
                                      DB_INT(user_id)),
                       &r);
    if (rc != CHAT_OK)
        goto out;
    /* Reading implies delivery; neither marker ever moves back. */
    bool read_moves = read && r.nrows == 1 && chat_db_cell_int(&r, 0, 0);
    bool delivered_moves = r.nrows == 1 && chat_db_cell_int(&r, 0, 1);
    if (read_moves || delivered_moves)
        rc = chat_db_exec(db,
                          "UPDATE participants SET "
                          "last_read_at = IF(?, NOW(6), last_read_at), "
                          "last_read_message_id = IF(?, ?, last_read_message_id), "
                          "last_delivered_at = IF(?, NOW(6), last_delivered_at), "
                          "last_delivered_message_id = IF(?, ?, last_delivered_message_id) "
                          "WHERE conversation_id = ? AND user_id = ?",
                          CHAT_DB_PARAMS(DB_INT(read_moves), DB_INT(read_moves), DB_INT(message_id),
                                         DB_INT(delivered_moves), DB_INT(delivered_moves),
                                         DB_INT(message_id), DB_INT(conv_id), DB_INT(user_id)),
                          NULL, NULL);
    if (rc == CHAT_OK)
        rc = load_markers(db, conv_id, user_id, out);
    /* One event per call: a read that also moved delivery says "read", which implies it. */
    if (rc == CHAT_OK && (read_moves || delivered_moves))
        rc = append_receipt_event(db, conv_id, user_id,
                                  read_moves ? CHAT_RECEIPT_READ : CHAT_RECEIPT_DELIVERED, *out);
    *moved = rc == CHAT_OK && (read_moves || delivered_moves);
out:
    chat_db_result_free(&r);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        *moved = false;
    }
    return rc;
}

int chat_message_status_json(struct chat_db *db, long long conv_id, long long message_id,
                             long long viewer_id, json_object **out_array)
{
    long long sender_id = 0;
    int rc = chat_conv_check_participant(db, conv_id, viewer_id);
    if (rc == CHAT_OK)
        rc = chat_db_query_int(db, "SELECT sender_id FROM messages WHERE id = ? AND conversation_id = ?",
                               CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id)), &sender_id);
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r;
    rc = chat_db_query(db,
                       "SELECT user_id, last_read_message_id >= ?, last_read_at, "
                       "last_delivered_message_id >= ?, last_delivered_at FROM participants "
                       "WHERE conversation_id = ? AND user_id <> ? ORDER BY user_id",
                       CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(message_id), DB_INT(conv_id),
                                      DB_INT(sender_id)),
                       &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = json_object_new_array_ext((int)r.nrows);
    for (unsigned i = 0; i < r.nrows; i++) {
        bool read = chat_db_cell_int(&r, i, 1) != 0, delivered = chat_db_cell_int(&r, i, 3) != 0;
        char at[32];
        json_object *s = json_object_new_object();
        json_object_object_add(s, "user_id", json_object_new_int64(chat_db_cell_int(&r, i, 0)));
        json_object_object_add(s, "status", json_object_new_string(read        ? "read"
                                                                   : delivered ? "delivered"
                                                                               : "sent"));
        chat_json_add_nullable_string(
            s, "at", read || delivered ? chat_time_rfc3339(chat_db_cell(&r, i, read ? 2 : 4), at) : NULL);
        json_object_array_add(arr, s);
    }
    chat_db_result_free(&r);
    *out_array = arr;
    return CHAT_OK;
}
