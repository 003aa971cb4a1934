/* Layer 1 (bottom) of the data layer: who has blocked whom (sql/008_user_blocks.sql),
 * read only. The writes that check a block (conversations, participants, messages,
 * presence) ask here; blocking and unblocking themselves are in store_block_changes.c.
 * Calls only shared/db.c, never another store file. */
#include <assert.h>
#include <stdlib.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

int chat_block_state(struct chat_db *db, long long a, long long b, bool *a_blocks_b,
                     bool *b_blocks_a)
{
    struct chat_db_result r;
    *a_blocks_b = *b_blocks_a = false;
    int rc = chat_db_query(db,
                           "SELECT blocker_id FROM user_blocks WHERE (blocker_id = ? AND "
                           "blocked_id = ?) OR (blocker_id = ? AND blocked_id = ?)",
                           CHAT_DB_PARAMS(DB_INT(a), DB_INT(b), DB_INT(b), DB_INT(a)), &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned i = 0; i < r.nrows; i++) {
        if (chat_db_cell_int(&r, i, 0) == a)
            *a_blocks_b = true;
        else
            *b_blocks_a = true;
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_block_check_pair(struct chat_db *db, long long actor_id, long long other_id)
{
    bool actor_blocks = false, other_blocks = false;
    int rc = chat_block_state(db, actor_id, other_id, &actor_blocks, &other_blocks);
    if (rc != CHAT_OK)
        return rc;
    return other_blocks ? CHAT_E_BLOCKED : actor_blocks ? CHAT_E_YOU_BLOCKED : CHAT_OK;
}

int chat_block_state_outcome(long long state)
{
    static const int outcome[] = {CHAT_OK, CHAT_E_RECIPIENT_LEFT, CHAT_E_BLOCKED,
                                  CHAT_E_YOU_BLOCKED};
    assert(state >= 0 && state <= 3);
    return outcome[state];
}

int chat_block_check_direct(struct chat_db *db, long long conv_id, long long actor_id)
{
    long long state = 0;
    int rc = chat_db_query_int(db,
                               "SELECT " CHAT_DIRECT_SEND_STATE " FROM conversations c WHERE c.id = ?",
                               CHAT_DB_PARAMS(DB_INT(actor_id), DB_INT(actor_id), DB_INT(actor_id),
                                              DB_INT(actor_id), DB_INT(actor_id), DB_INT(conv_id)),
                               &state);
    return rc == CHAT_OK ? chat_block_state_outcome(state) : rc;
}

int chat_block_check_by(struct chat_db *db, long long blocker_id, long long actor_id)
{
    int rc = chat_db_query_int(db,
                               "SELECT 1 FROM user_blocks WHERE blocker_id = ? AND blocked_id = ?",
                               CHAT_DB_PARAMS(DB_INT(blocker_id), DB_INT(actor_id)), NULL);
    return rc == CHAT_OK ? CHAT_E_BLOCKED : rc == CHAT_E_NOT_FOUND ? CHAT_OK : rc;
}

int chat_block_peers(struct chat_db *db, long long user_id, long long **ids, size_t *count)
{
    return chat_query_ids(db,
                           "SELECT blocked_id FROM user_blocks WHERE blocker_id = ? UNION "
                           "SELECT blocker_id FROM user_blocks WHERE blocked_id = ? ORDER BY 1",
                           CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(user_id)),
                          ids, count);
}
