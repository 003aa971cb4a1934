/* Layer 1 (bottom) of the data layer: who takes part in which conversation. The
 * participant checks, the conversation lock every event-writing transaction takes first,
 * and a user's conversation ids. Calls only shared/db.c, never another store file. */
#include <stdio.h>

#include "db_batch.h"
#include "errors.h"
#include "store.h"
#include "store_internal.h"
#include "xalloc.h"

int chat_conv_check_participant(struct chat_db *db, long long conv_id, long long user_id)
{
    return chat_db_query_int(db,
                             "SELECT 1 FROM participants WHERE conversation_id = ? AND user_id = ?",
                             CHAT_DB_PARAMS(DB_INT(conv_id), DB_INT(user_id)), NULL);
}

int chat_conv_ids_for_user(struct chat_db *db, long long user_id, long long **ids, size_t *count)
{
    struct chat_db_result r;
    int rc = chat_db_query(db, "SELECT conversation_id FROM participants WHERE user_id = ? "
                               "ORDER BY conversation_id",
                           CHAT_DB_PARAMS(DB_INT(user_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    *ids = chat_xcalloc(r.nrows ? r.nrows : 1, sizeof(long long));
    for (unsigned i = 0; i < r.nrows; i++)
        (*ids)[i] = chat_db_cell_int(&r, i, 0);
    *count = r.nrows;
    chat_db_result_free(&r);
    return CHAT_OK;
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

void chat_direct_key(long long a, long long b, char key[CHAT_DIRECT_KEY_LEN])
{
    snprintf(key, CHAT_DIRECT_KEY_LEN, "%lld:%lld", a < b ? a : b, a < b ? b : a);
}

int chat_conv_direct_find(struct chat_db *db, long long a, long long b, long long *conv_id)
{
    char key[CHAT_DIRECT_KEY_LEN];
    chat_direct_key(a, b, key);
    return chat_db_query_int(db, "SELECT id FROM conversations WHERE direct_key = ?",
                             CHAT_DB_PARAMS(DB_STR(key)), conv_id);
}

int chat_conv_ids_for_users(struct chat_db *db, const long long *user_ids, size_t n,
                            long long **ids, size_t *counts)
{
    static const char sql[] = "SELECT user_id, conversation_id FROM participants "
                              "WHERE user_id IN " CHAT_DB_IN_LIST
                              " ORDER BY user_id, conversation_id";
    struct chat_db_result r;
    int rc = chat_db_query_ids(db, sql, user_ids, n, NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    chat_rows_group_by_key(&r, user_ids, n, ids, counts);
    chat_db_result_free(&r);
    return CHAT_OK;
}
