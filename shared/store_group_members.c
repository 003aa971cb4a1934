/* Layer 5 (writes) of the data layer, for store_conversation_changes.c: many group
 * participants at once. Each check and write here is a fixed number of statements
 * whatever the number of people (their ids travel as one JSON array through
 * JSON_TABLE), so creating a group of thousands, or adding 2,000 people in one request,
 * costs a few dozen round trips rather than several per person. Runs inside the
 * caller's transaction. Calls users, rows and the event log. */
#include <stdlib.h>

#include "db_batch.h"
#include "errors.h"
#include "json_util.h"
#include "store.h"
#include "store_internal.h"
#include "xalloc.h"

/* The ids of a JSON array parameter as a derived table j(id). */
#define IDS_TABLE "JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS j"

int chat_members_check(struct chat_db *db, const char *ids_json, size_t n, long long inviter_id)
{
    long long found = 0;
    int rc = chat_db_query_int(db,
                               "SELECT COUNT(*) FROM " IDS_TABLE
                               " JOIN users u ON u.id = j.id AND u.deleted_at IS NULL",
                               CHAT_DB_PARAMS(DB_STR(ids_json)), &found);
    if (rc != CHAT_OK)
        return rc;
    if ((size_t)found != n)
        return CHAT_E_VALIDATION; /* an unknown or deleted account among them */
    rc = chat_db_query_int(db,
                           "SELECT 1 FROM " IDS_TABLE
                           " JOIN user_blocks b ON b.blocker_id = j.id AND b.blocked_id = ? LIMIT 1",
                           CHAT_DB_PARAMS(DB_STR(ids_json), DB_INT(inviter_id)), NULL);
    if (rc == CHAT_OK)
        return CHAT_E_BLOCKED; /* one of them has blocked the inviter */
    return rc == CHAT_E_NOT_FOUND ? CHAT_OK : rc;
}

int chat_members_existing(struct chat_db *db, long long conv_id, const char *ids_json,
                          long long **ids, size_t *count)
{
    return chat_query_ids(db,
                          "SELECT p.user_id FROM " IDS_TABLE
                          " JOIN participants p ON p.conversation_id = ? AND p.user_id = j.id "
                          "ORDER BY p.user_id",
                          CHAT_DB_PARAMS(DB_STR(ids_json), DB_INT(conv_id)), ids, count);
}

/* participant.added for each user of ids_json: {conversation_id, user_id, user}, without
 * the conversation object a single add carries (thousands of copies of a conversation of
 * thousands would be the square of the group); the added user's clients read it with
 * GET /api/chat/conversations/<pk>/ (docs/protocol.md). */
static int announce(struct chat_db *db, long long conv_id, const char *ids_json)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT " CHAT_USER_COLUMNS("u") " FROM " IDS_TABLE
                           " JOIN users u ON u.id = j.id ORDER BY u.id",
                           CHAT_DB_PARAMS(DB_STR(ids_json)), &r);
    if (rc != CHAT_OK)
        return rc;
    json_object **payloads = chat_xcalloc(r.nrows ? r.nrows : 1, sizeof(*payloads));
    for (unsigned i = 0; i < r.nrows; i++) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, "conversation_id", json_object_new_int64(conv_id));
        json_object_object_add(p, "user_id", json_object_new_int64(chat_db_cell_int(&r, i, 0)));
        json_object_object_add(p, "user", chat_user_json_from_row(&r, i, 0));
        payloads[i] = p;
    }
    rc = chat_events_append_many(db, conv_id, "participant.added", payloads, r.nrows);
    for (unsigned i = 0; i < r.nrows; i++)
        json_object_put(payloads[i]);
    free(payloads);
    chat_db_result_free(&r);
    return rc;
}

int chat_members_insert(struct chat_db *db, long long conv_id, const char *ids_json,
                        bool announce_each)
{
    /* participants has no AUTO_INCREMENT, so INSERT ... SELECT loses no ids here. */
    int rc = chat_db_exec(db,
                          "INSERT INTO participants (conversation_id, user_id, role) "
                          "SELECT ?, j.id, 'member' FROM " IDS_TABLE,
                          CHAT_DB_PARAMS(DB_INT(conv_id), DB_STR(ids_json)), NULL, NULL);
    if (rc == CHAT_OK && announce_each)
        rc = announce(db, conv_id, ids_json);
    return rc;
}

int chat_members_json(struct chat_db *db, long long conv_id, const char *ids_json,
                      json_object **out_array)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT " CHAT_USER_COLUMNS("u") ", p.joined_at, p.role FROM " IDS_TABLE
                           " JOIN participants p ON p.conversation_id = ? AND p.user_id = j.id "
                           "JOIN users u ON u.id = p.user_id ORDER BY p.joined_at, u.id",
                           CHAT_DB_PARAMS(DB_STR(ids_json), DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    *out_array = chat_participants_json_from_rows(&r);
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_conv_count_newcomers(struct chat_db *db, long long conv_id, const long long *ids,
                              size_t n, size_t *count)
{
    char *ids_json = chat_ids_json(ids, n);
    long long members = 0;
    int rc = chat_db_query_int(db,
                               "SELECT COUNT(*) FROM " IDS_TABLE
                               " JOIN participants p ON p.conversation_id = ? AND p.user_id = j.id",
                               CHAT_DB_PARAMS(DB_STR(ids_json), DB_INT(conv_id)), &members);
    free(ids_json);
    if (rc == CHAT_OK)
        *count = n - (size_t)members;
    return rc;
}
