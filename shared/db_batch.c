/* Statements over a fixed list of ids (db_batch.h). */
#include "db_batch.h"

#include <assert.h>

int chat_db_query_ids(struct chat_db *db, const char *sql, const long long *ids, size_t n,
                      const struct chat_db_param *extra, unsigned nextra,
                      struct chat_db_result *out)
{
    struct chat_db_param params[CHAT_DB_BATCH + 4];
    assert(n <= CHAT_DB_BATCH && nextra <= 4);
    chat_db_bind_id_list(params, ids, n);
    for (unsigned i = 0; i < nextra; i++)
        params[CHAT_DB_BATCH + i] = extra[i];
    return chat_db_query(db, sql, params, CHAT_DB_BATCH + nextra, out);
}
