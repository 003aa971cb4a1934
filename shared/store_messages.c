/* Messages: sending (idempotent by client_msg_id) and history pages. */
#include <string.h>

#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

json_object *chat_message_json_from_row(const struct chat_db_result *r, unsigned row)
{
    char created[32], edited[32];
    bool deleted = !chat_db_cell_is_null(r, row, 8);
    json_object *m = json_object_new_object();
    json_object_object_add(m, "id", json_object_new_int64(chat_db_cell_int(r, row, 0)));
    json_object_object_add(m, "conversation_id",
                           json_object_new_int64(chat_db_cell_int(r, row, 1)));
    json_object *sender = json_object_new_object();
    json_object_object_add(sender, "id", json_object_new_int64(chat_db_cell_int(r, row, 2)));
    json_object_object_add(sender, "username", json_object_new_string(chat_db_cell(r, row, 3)));
    json_object_object_add(sender, "display_name",
                           json_object_new_string(chat_db_cell(r, row, 4)));
    json_object_object_add(m, "sender", sender);
    json_object_object_add(m, "text", json_object_new_string(deleted ? "" : chat_db_cell(r, row, 5)));
    chat_json_add_nullable_string(m, "created_at", chat_time_rfc3339(chat_db_cell(r, row, 6), created));
    chat_json_add_nullable_string(m, "edited_at", chat_time_rfc3339(chat_db_cell(r, row, 7), edited));
    json_object_object_add(m, "deleted", json_object_new_boolean(deleted));
    chat_json_add_nullable_int(m, "reply_to", chat_db_cell_int(r, row, 9),
                               chat_db_cell_is_null(r, row, 9));
    chat_json_add_nullable_string(m, "client_msg_id", chat_db_cell(r, row, 10));
    return m;
}

/* Runs a query selecting CHAT_MESSAGE_COLUMNS that matches at most one message. */
static int query_one_message(struct chat_db *db, const char *sql,
                             const struct chat_db_param *params, unsigned nparams,
                             json_object **out)
{
    struct chat_db_result r;
    int rc = chat_db_query(db, sql, params, nparams, &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0)
        rc = CHAT_E_NOT_FOUND;
    else
        *out = chat_message_json_from_row(&r, 0);
    chat_db_result_free(&r);
    return rc;
}

static int load_message(struct chat_db *db, long long message_id, json_object **out)
{
    return query_one_message(db, "SELECT " CHAT_MESSAGE_COLUMNS " FROM messages m "
                                 "JOIN users u ON u.id = m.sender_id WHERE m.id = ?",
                             CHAT_DB_PARAMS(DB_INT(message_id)), out);
}

/* Returns the existing message for a repeated client_msg_id, or CHAT_E_NOT_FOUND. */
static int find_by_client_id(struct chat_db *db, const struct chat_message_input *in,
                             json_object **out)
{
    return query_one_message(db,
                             "SELECT " CHAT_MESSAGE_COLUMNS " FROM messages m "
                             "JOIN users u ON u.id = m.sender_id "
                             "WHERE m.conversation_id = ? AND m.sender_id = ? AND m.client_msg_id = ?",
                             CHAT_DB_PARAMS(DB_INT(in->conversation_id), DB_INT(in->sender_id),
                                            DB_STR(in->client_msg_id)),
                             out);
}

/* Locks the conversation row for the rest of the transaction, which orders every event
 * of one conversation by commit (see docs/protocol.md), and checks membership. */
int chat_conv_lock_for_participant(struct chat_db *db, long long conv_id, long long user_id)
{
    return chat_db_query_int(db,
                             "SELECT c.id FROM conversations c JOIN participants p "
                             "ON p.conversation_id = c.id AND p.user_id = ? "
                             "WHERE c.id = ? FOR UPDATE",
                             CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(conv_id)), NULL);
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
    rc = chat_db_exec(db,
                      "UPDATE conversations c JOIN messages m ON m.id = ? "
                      "SET c.last_activity_at = m.created_at, c.last_message_id = m.id "
                      "WHERE c.id = ?",
                      CHAT_DB_PARAMS(DB_INT(id), DB_INT(in->conversation_id)), NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    /* The sender has read everything up to their own message. */
    rc = chat_db_exec(db,
                      "UPDATE participants SET last_read_message_id = ?, "
                      "last_delivered_message_id = GREATEST(last_delivered_message_id, ?) "
                      "WHERE conversation_id = ? AND user_id = ?",
                      CHAT_DB_PARAMS(DB_INT(id), DB_INT(id), DB_INT(in->conversation_id),
                                     DB_INT(in->sender_id)),
                      NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    rc = load_message(db, (long long)id, out);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_event_append(db, in->conversation_id, "message.created", *out, NULL);
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
    }
    return rc;
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
        rc = find_by_client_id(db, in, out);
        if (rc == CHAT_OK)
            goto out; /* a retry: the original, nothing new */
        if (rc != CHAT_E_NOT_FOUND)
            goto out;
    }
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

int chat_message_page_json(struct chat_db *db, long long conv_id, long long viewer_id,
                           long long before, long long after, int limit, json_object **out)
{
    int rc = chat_conv_check_participant(db, conv_id, viewer_id);
    if (rc != CHAT_OK)
        return rc;
    struct chat_db_result r;
    bool ascending = after > 0;
    if (ascending)
        rc = chat_db_query(db,
                           "SELECT " CHAT_MESSAGE_COLUMNS " FROM messages m "
                           "JOIN users u ON u.id = m.sender_id "
                           "WHERE m.conversation_id = ? AND m.id > ? ORDER BY m.id ASC LIMIT ?",
                           CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(after), DB_INT(limit + 1)), &r);
    else
        rc = chat_db_query(db,
                           "SELECT " CHAT_MESSAGE_COLUMNS " FROM messages m "
                           "JOIN users u ON u.id = m.sender_id "
                           "WHERE m.conversation_id = ? AND m.id < ? ORDER BY m.id DESC LIMIT ?",
                           CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(before > 0 ? before : LLONG_MAX),
                                          DB_INT(limit + 1)),
                           &r);
    if (rc != CHAT_OK)
        return rc;
    bool has_more = r.nrows > (unsigned)limit;
    unsigned n = has_more ? (unsigned)limit : r.nrows;
    json_object *results = json_object_new_array_ext((int)n);
    for (unsigned i = 0; i < n; i++) {
        unsigned row = ascending ? i : n - 1 - i; /* results are always oldest first */
        json_object_array_add(results, chat_message_json_from_row(&r, row));
    }
    chat_db_result_free(&r);
    json_object *page = json_object_new_object();
    json_object_object_add(page, "results", results);
    json_object_object_add(page, "has_more", json_object_new_boolean(has_more));
    *out = page;
    return CHAT_OK;
}
