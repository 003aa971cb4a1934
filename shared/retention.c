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

/* Deleted accounts (chat_account_delete) that still have something of theirs left,
 * because the request that deleted them failed half-way: purged now. At most 100 a run. */
static int purge_deleted_accounts(struct chat_db *db, long long *count)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT u.id FROM users u WHERE u.deleted_at IS NOT NULL AND ("
                           "EXISTS (SELECT 1 FROM messages m WHERE m.sender_id = u.id "
                           "AND m.deleted_at IS NULL) OR "
                           "EXISTS (SELECT 1 FROM participants p WHERE p.user_id = u.id) OR "
                           "EXISTS (SELECT 1 FROM reactions x WHERE x.user_id = u.id)) LIMIT 100",
                           NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned i = 0; i < r.nrows && rc == CHAT_OK; i++) {
        rc = chat_account_purge(db, chat_db_cell_int(&r, i, 0));
        *count += rc == CHAT_OK;
    }
    chat_db_result_free(&r);
    return rc;
}

/* Everything a run does. */
static int run_once(struct chat_db *db, const struct chat_config *cfg, struct chat_gc_stats *st)
{
    int rc = chat_gc(db, cfg, st);
    return rc == CHAT_OK ? purge_deleted_accounts(db, &st->accounts) : rc;
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
        rc = run_once(db, cfg, st);
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
        rc = run_once(db, cfg, &st);
        log_info("retention: ran: removed %lld attachment rows, %lld files, %lld temp files, "
                 "%lld events, %lld rate-limit buckets, %lld audit entries; purged %lld "
                 "deleted accounts",
                 st.attachments, st.files, st.tmp_files, st.events, st.rate_buckets, st.audit,
                 st.accounts);
    }
    release_lock(db);
out:
    if (rc != CHAT_OK)
        log_warn("retention: %s", chat_err_code(rc));
    return rc;
}
