/* Statements that answer many keys at once with a fixed placeholder list: the statement
 * is prepared once (db.c caches it by its text's address) whatever the batch holds, and
 * the slots a smaller batch leaves unused are bound to a value that matches nothing.
 * Used by the push daemon's batched connect path (sessions, users, conversations and
 * presence of up to CHAT_DB_BATCH connections per statement). */
#ifndef CHAT_DB_BATCH_H
#define CHAT_DB_BATCH_H

#include <stddef.h>

#include "db.h"

/* Keys per batched statement. A statement's parameters stay below CHAT_DB_MAX_PARAMS
 * with three per row (CHAT_DB_BATCH x 3 + a few). */
#define CHAT_DB_BATCH 64

/* x repeated 64 times, joined by sep: the text of a fixed list. */
#define CHAT_DB_REP2(x, sep) x sep x
#define CHAT_DB_REP4(x, sep) CHAT_DB_REP2(x, sep) sep CHAT_DB_REP2(x, sep)
#define CHAT_DB_REP8(x, sep) CHAT_DB_REP4(x, sep) sep CHAT_DB_REP4(x, sep)
#define CHAT_DB_REP16(x, sep) CHAT_DB_REP8(x, sep) sep CHAT_DB_REP8(x, sep)
#define CHAT_DB_REP32(x, sep) CHAT_DB_REP16(x, sep) sep CHAT_DB_REP16(x, sep)
#define CHAT_DB_REP64(x, sep) CHAT_DB_REP32(x, sep) sep CHAT_DB_REP32(x, sep)

/* "(?,?,...)" with CHAT_DB_BATCH placeholders, for `IN` lists. */
#define CHAT_DB_IN_LIST "(" CHAT_DB_REP64("?", ",") ")"

/* Binds ids[0 .. n) to params[0 .. CHAT_DB_BATCH) and 0, which is never an id, to the
 * slots after them. n must be at most CHAT_DB_BATCH. */
static inline void chat_db_bind_id_list(struct chat_db_param *params, const long long *ids,
                                        size_t n)
{
    for (size_t i = 0; i < CHAT_DB_BATCH; i++)
        params[i] = DB_INT(i < n ? ids[i] : 0);
}

/* qsort/bsearch order of long long ids. */
int chat_id_cmp(const void *a, const void *b);
/* Sorts ids and drops repeats; returns how many are left. */
size_t chat_ids_sort_unique(long long *ids, size_t n);

/* Runs sql, whose parameters are a CHAT_DB_IN_LIST of ids (bound as above) followed by
 * nextra more (at most 4), into *out (the caller frees it): chat_db_query's contract. */
int chat_db_query_ids(struct chat_db *db, const char *sql, const long long *ids, size_t n,
                      const struct chat_db_param *extra, unsigned nextra,
                      struct chat_db_result *out);

#endif
