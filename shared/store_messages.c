/* Layer 3 (message views) of the data layer: reading messages. One message, history
 * pages, the page around a message, and the decoration (reactions, attachments) every
 * message object gets. Calls the decorators, store_rows.c and store_membership.c;
 * sending is in store_message_submit.c, edits and deletes in store_message_edits.c. */
#include "errors.h"
#include "store.h"
#include "store_internal.h"

int chat_messages_decorate(struct chat_db *db, json_object *messages, long long viewer_id)
{
    if (json_object_array_length(messages) == 0)
        return CHAT_OK;
    char *ids = chat_message_ids_json(messages);
    struct chat_db_result r;
    /* One round trip for both decorations (chat_decoration_col): the reactions, emoji in
     * the order they were first used on the message and users in reacting order, then
     * the attachments by id. Tombstones show no attachments (their rows go on delete). */
    int rc = chat_db_query(
            db,
            "SELECT 0, r.message_id, "
            "MIN(r.created_at) OVER (PARTITION BY r.message_id, r.emoji) AS first_at, "
            "r.emoji, r.created_at, r.user_id, NULL, NULL, NULL, NULL, NULL "
            "FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS j "
            "JOIN reactions r ON r.message_id = j.id "
            "UNION ALL "
            "SELECT 1, a.message_id, NULL, NULL, NULL, a.id, " CHAT_ATTACHMENT_COLUMNS " "
            "FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS j "
            "JOIN attachments a ON a.message_id = j.id "
            "JOIN messages m ON m.id = a.message_id AND m.deleted_at IS NULL "
            "ORDER BY 1, 2, 3, 4, 5, 6",
            CHAT_DB_PARAMS(DB_STR(ids), DB_STR(ids)), &r);
    free(ids);
    if (rc != CHAT_OK)
        return rc;
    unsigned split = 0;
    while (split < r.nrows && chat_db_cell_int(&r, split, CHAT_DECO_KIND) == 0)
        split++;
    chat_reactions_apply(messages, &r, 0, split, viewer_id);
    chat_attachments_apply(messages, &r, split, r.nrows);
    chat_db_result_free(&r);
    return CHAT_OK;
}

/* chat_messages_decorate for a single message object. */
static int message_decorate(struct chat_db *db, json_object *message, long long viewer_id)
{
    json_object *one = json_object_new_array_ext(1);
    json_object_array_add(one, json_object_get(message));
    int rc = chat_messages_decorate(db, one, viewer_id);
    json_object_put(one);
    return rc;
}

/* Runs a query selecting CHAT_MESSAGE_COLUMNS that matches at most one message, and
 * decorates it for viewer_id (0: for an event payload). */
static json_object *message_row(const struct chat_db_result *r, unsigned row, unsigned col)
{
    (void)col; /* CHAT_MESSAGE_COLUMNS come first */
    return chat_message_json_from_row(r, row);
}

static int query_one_message(struct chat_db *db, const char *sql,
                             const struct chat_db_param *params, unsigned nparams,
                             long long viewer_id, json_object **out)
{
    json_object *m = NULL;
    int rc = chat_query_one_json(db, sql, params, nparams, message_row, &m);
    if (rc == CHAT_OK)
        rc = message_decorate(db, m, viewer_id);
    if (rc == CHAT_OK)
        *out = m;
    else
        json_object_put(m);
    return rc;
}

int chat_message_load_json(struct chat_db *db, long long conv_id, long long message_id,
                           long long viewer_id, json_object **out)
{
    return query_one_message(db, CHAT_MESSAGE_SELECT
                                 "WHERE m.id = ? AND m.conversation_id = ?",
                             CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id)), viewer_id, out);
}

int chat_message_get_json(struct chat_db *db, long long conv_id, long long message_id,
                          long long viewer_id, json_object **out)
{
    int rc = chat_conv_check_participant(db, conv_id, viewer_id);
    if (rc != CHAT_OK)
        return rc;
    return chat_message_load_json(db, conv_id, message_id, viewer_id, out);
}

int chat_message_find_by_client_id(struct chat_db *db, const struct chat_message_input *in,
                                   json_object **out)
{
    return query_one_message(db,
                             CHAT_MESSAGE_SELECT
                             "WHERE m.conversation_id = ? AND m.sender_id = ? AND m.client_msg_id = ?",
                             CHAT_DB_PARAMS(DB_INT(in->conversation_id), DB_INT(in->sender_id),
                                            DB_STR(in->client_msg_id)),
                             in->sender_id, out);
}

/* Appends the first count rows of r to results, oldest first: r is in ascending id order
 * when ascending, else descending (nearest first either way). */
static void add_rows(json_object *results, const struct chat_db_result *r, unsigned count,
                     bool ascending)
{
    for (unsigned i = 0; i < count; i++) {
        unsigned row = ascending ? i : count - 1 - i;
        json_object_array_add(results, chat_message_json_from_row(r, row));
    }
}

/* History reads return nothing to someone who does not take part: an empty page is
 * then told apart from an empty history by asking (chat_message_page_json), so a full
 * page costs no membership round trip of its own. */
#define VIEWER_TAKES_PART                                                                  \
    "EXISTS (SELECT 1 FROM participants pm WHERE pm.conversation_id = m.conversation_id " \
    "AND pm.user_id = ?)"

/* Up to limit messages of conv_id with id < before that viewer_id may read, newest first. */
static int query_older(struct chat_db *db, long long conv_id, long long viewer_id,
                       long long before, int limit, struct chat_db_result *r)
{
    return chat_db_query(db,
                         CHAT_MESSAGE_SELECT
                         "WHERE m.conversation_id = ? AND m.id < ? AND " VIEWER_TAKES_PART
                         " ORDER BY m.id DESC LIMIT ?",
                         CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(before), DB_INT(viewer_id),
                                        DB_INT(limit)),
                         r);
}

/* Up to limit messages of conv_id with id >= from that viewer_id may read, oldest first. */
static int query_newer(struct chat_db *db, long long conv_id, long long viewer_id,
                       long long from, int limit, struct chat_db_result *r)
{
    return chat_db_query(db,
                         CHAT_MESSAGE_SELECT
                         "WHERE m.conversation_id = ? AND m.id >= ? AND " VIEWER_TAKES_PART
                         " ORDER BY m.id ASC LIMIT ?",
                         CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(from), DB_INT(viewer_id),
                                        DB_INT(limit)),
                         r);
}

/* Decorates results for the viewer and wraps them as {results, ...}: the page object. */
static int finish_page(struct chat_db *db, json_object *results, long long viewer_id,
                       json_object **out)
{
    int rc = chat_messages_decorate(db, results, viewer_id);
    if (rc != CHAT_OK) {
        json_object_put(results);
        return rc;
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "results", results);
    return CHAT_OK;
}

int chat_message_page_json(struct chat_db *db, long long conv_id, long long viewer_id,
                           long long before, long long after, int limit, json_object **out)
{
    struct chat_db_result r;
    bool ascending = after > 0;
    int rc = ascending ? query_newer(db, conv_id, viewer_id, after + 1, limit + 1, &r)
                       : query_older(db, conv_id, viewer_id, before > 0 ? before : LLONG_MAX,
                                     limit + 1, &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0 && (rc = chat_conv_check_participant(db, conv_id, viewer_id)) != CHAT_OK) {
        chat_db_result_free(&r);
        return rc; /* nothing, because they do not take part */
    }
    bool has_more = r.nrows > (unsigned)limit;
    unsigned n = has_more ? (unsigned)limit : r.nrows;
    json_object *results = json_object_new_array_ext((int)n);
    add_rows(results, &r, n, ascending);
    chat_db_result_free(&r);
    rc = finish_page(db, results, viewer_id, out);
    if (rc == CHAT_OK)
        json_object_object_add(*out, "has_more", json_object_new_boolean(has_more));
    return rc;
}

int chat_message_around_json(struct chat_db *db, long long conv_id, long long viewer_id,
                             long long around, int limit, json_object **out)
{
    int rc = chat_conv_check_participant(db, conv_id, viewer_id);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_int(db, "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                           CHAT_DB_PARAMS(DB_INT(around), DB_INT(conv_id)), NULL);
    if (rc != CHAT_OK)
        return rc;
    /* One more than a full page on each side tells whether more lies beyond it. */
    struct chat_db_result older = {0}, newer = {0};
    rc = query_older(db, conv_id, viewer_id, around, limit + 1, &older);
    if (rc == CHAT_OK)
        rc = query_newer(db, conv_id, viewer_id, around, limit + 1, &newer);
    if (rc != CHAT_OK)
        goto out;
    unsigned want_before = (unsigned)(limit - 1) / 2;
    unsigned take_before = older.nrows < want_before ? older.nrows : want_before;
    unsigned take_after = newer.nrows < (unsigned)limit - take_before
                              ? newer.nrows : (unsigned)limit - take_before;
    if (take_before + take_after < (unsigned)limit) /* the newer side ran out */
        take_before = older.nrows < (unsigned)limit - take_after
                          ? older.nrows : (unsigned)limit - take_after;
    json_object *results = json_object_new_array_ext((int)(take_before + take_after));
    add_rows(results, &older, take_before, false);
    add_rows(results, &newer, take_after, true);
    rc = finish_page(db, results, viewer_id, out);
    if (rc == CHAT_OK) {
        json_object_object_add(*out, "has_more_before",
                               json_object_new_boolean(older.nrows > take_before));
        json_object_object_add(*out, "has_more_after",
                               json_object_new_boolean(newer.nrows > take_after));
    }
out:
    chat_db_result_free(&older);
    chat_db_result_free(&newer);
    return rc;
}
