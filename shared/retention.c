/* Retention, shared by chatctl gc and the push daemons' schedule (retention.h). The lock
 * keeps two hosts from purging at the same time; the maintenance_runs row, moved forward
 * on the database's clock, keeps the daemons to one run per interval between them. */
#include "retention.h"

#include <string.h>

#include "errors.h"
#include "log.h"

/* Takes the session lock 'chat_retention' on db's connection (released by
 * release_lock, or by the server when the connection ends). *got is false when another
 * connection held it for wait_s seconds. */
static int take_lock(struct chat_db *db, int wait_s, bool *got)
{
    long long v = 0;
    int rc = chat_db_query_int(db, "SELECT COALESCE(GET_LOCK('chat_retention', ?), -1)",
                               CHAT_DB_PARAMS(DB_INT(wait_s)), &v);
    *got = rc == CHAT_OK && v == 1;
    return rc == CHAT_OK && v == -1 ? CHAT_E_DB : rc;
}

static void release_lock(struct chat_db *db)
{
    if (chat_db_query_int(db, "SELECT COALESCE(RELEASE_LOCK('chat_retention'), 0)", NULL, 0,
                          NULL) != CHAT_OK)
        log_warn("retention: could not release the lock; it ends with the connection");
}

int chat_retention_run(struct chat_db *db, const struct chat_config *cfg, int lock_wait_s,
                       struct chat_gc_stats *st, bool *ran)
{
    bool got = false;
    *ran = false;
    memset(st, 0, sizeof(*st));
    int rc = take_lock(db, lock_wait_s, &got);
    if (rc != CHAT_OK || !got)
        return rc;
    rc = chat_db_exec(db, "UPDATE maintenance_runs SET last_run_at = NOW(6) WHERE task = 'retention'",
                      NULL, 0, NULL, NULL);
    if (rc == CHAT_OK) {
        *ran = true;
        rc = chat_gc(db, cfg, st);
    }
    release_lock(db);
    return rc;
}

/* When this thread next tries (CLOCK_MONOTONIC ms); 0 before the first call. */
static _Thread_local long long next_try_ms;

int chat_retention_tick(struct chat_db *db, const struct chat_config *cfg, long long now_ms)
{
    if (cfg->retention_interval_s <= 0 || now_ms < next_try_ms)
        return CHAT_OK;
    long long every = (long long)cfg->retention_interval_s * 1000 / 4;
    next_try_ms = now_ms + (every < 250 ? 250 : every > 60000 ? 60000 : every);
    bool got = false;
    int rc = take_lock(db, 0, &got);
    if (rc != CHAT_OK || !got)
        goto out; /* another host is running it */
    unsigned long long claimed = 0;
    rc = chat_db_exec(db,
                      "UPDATE maintenance_runs SET last_run_at = NOW(6) WHERE task = 'retention' "
                      "AND last_run_at <= NOW(6) - INTERVAL ? SECOND",
                      CHAT_DB_PARAMS(DB_INT(cfg->retention_interval_s)), &claimed, NULL);
    if (rc == CHAT_OK && claimed == 1) {
        struct chat_gc_stats st;
        rc = chat_gc(db, cfg, &st);
        log_info("retention: ran: removed %lld attachment rows, %lld files, %lld temp files, "
                 "%lld events, %lld rate-limit buckets",
                 st.attachments, st.files, st.tmp_files, st.events, st.rate_buckets);
    }
    release_lock(db);
out:
    if (rc != CHAT_OK)
        log_warn("retention: %s", chat_err_code(rc));
    return rc;
}
