/* Statements over a fixed list of ids (db_batch.h). */
#include <assert.h>
#include <stdlib.h>

#include "db_batch.h"

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

int chat_id_cmp(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

size_t chat_ids_sort_unique(long long *ids, size_t n)
{
    if (n == 0)
        return 0;
    qsort(ids, n, sizeof(*ids), chat_id_cmp);
    size_t out = 1;
    for (size_t i = 1; i < n; i++)
        if (ids[i] != ids[out - 1])
            ids[out++] = ids[i];
    return out;
}
