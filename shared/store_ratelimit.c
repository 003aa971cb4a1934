/* Layer 1 (bottom) of the data layer: rate-limit token buckets in MariaDB, one atomic
 * statement per check. Calls no other store file. */
#include <stdlib.h>

#include "errors.h"
#include "store.h"

int chat_rate_take(struct chat_db *db, const char *key, const struct chat_rate_bucket *bucket,
                   int cost, int want, struct chat_rate_result *res)
{
    struct chat_db_result r;
    /* A cost above the capacity could never be paid: it takes the whole (full) bucket. */
    int burst = bucket->burst;
    if (cost > burst)
        cost = burst;
    if (want < cost)
        want = cost;
    if (want > burst)
        want = burst;
    if (want > CHAT_RATE_TAKE_MAX)
        want = cost > CHAT_RATE_TAKE_MAX ? cost : CHAT_RATE_TAKE_MAX;
    /* ON DUPLICATE KEY UPDATE assigns left to right and later expressions see the new
     * values: `allowed` (how many tokens are taken: 0 when refused, else cost and up to
     * want while the refilled level has them) is computed from the refilled level, then
     * `tokens` pays them, then the time moves on. RETURNING hands back the outcome in
     * the same round trip; the row lock makes concurrent checks of one bucket serial. */
    int rc = chat_db_query(
        db,
        "INSERT INTO rate_buckets (bucket, tokens, updated_at, allowed) "
        "VALUES (?, ? - ?, UNIX_TIMESTAMP(NOW(6)), ?) ON DUPLICATE KEY UPDATE "
        "allowed = IF(LEAST(?, tokens + GREATEST(0, UNIX_TIMESTAMP(NOW(6)) - updated_at) * ? / ?) >= ?, "
        "  GREATEST(?, LEAST(?, FLOOR(LEAST(?, tokens + "
        "    GREATEST(0, UNIX_TIMESTAMP(NOW(6)) - updated_at) * ? / ?)))), 0), "
        "tokens = LEAST(?, tokens + GREATEST(0, UNIX_TIMESTAMP(NOW(6)) - updated_at) * ? / ?) - allowed, "
        "updated_at = UNIX_TIMESTAMP(NOW(6)) "
        "RETURNING tokens, allowed",
        CHAT_DB_PARAMS(DB_STR(key), DB_INT(burst), DB_INT(want), DB_INT(want),
                       DB_INT(burst), DB_INT(bucket->refill), DB_INT(bucket->period_s),
                       DB_INT(cost), DB_INT(cost), DB_INT(want), DB_INT(burst),
                       DB_INT(bucket->refill), DB_INT(bucket->period_s), DB_INT(burst),
                       DB_INT(bucket->refill), DB_INT(bucket->period_s)),
        &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows != 1) {
        chat_db_result_free(&r);
        return CHAT_E_INTERNAL;
    }
    double tokens = strtod(chat_db_cell(&r, 0, 0), NULL);
    double per_s = (double)bucket->refill / bucket->period_s;
    res->taken = (int)chat_db_cell_int(&r, 0, 1);
    res->allowed = res->taken > 0;
    res->remaining = tokens < 0 ? 0 : tokens;
    res->retry_after_s = res->allowed ? 0 : (cost - res->remaining) / per_s;
    chat_db_result_free(&r);
    return CHAT_OK;
}
