#include "db.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "log.h"
#include "xalloc.h"

static int connect_mysql(struct chat_db *db)
{
    const struct chat_config *cfg = db->cfg;
    db->mysql = mysql_init(NULL);
    if (!db->mysql)
        return CHAT_E_NOMEM;
    unsigned int timeout = 5;
    mysql_optionsv(db->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    /* A frozen server (paused, partitioned) must not hold a worker for ever: a statement
     * that gets no answer fails with CR_SERVER_LOST and the request answers 503. */
    unsigned int io_timeout = (unsigned)db->cfg->db_timeout_s;
    mysql_optionsv(db->mysql, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_optionsv(db->mysql, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_optionsv(db->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const char *host = cfg->db_host[0] ? cfg->db_host : "localhost";
    const char *sock = cfg->db_host[0] ? NULL : cfg->db_socket;
    if (!mysql_real_connect(db->mysql, host, cfg->db_user, cfg->db_password, cfg->db_name,
                            (unsigned)cfg->db_port, sock, 0)) {
        log_error("cannot connect to MariaDB (%s%s): %s", cfg->db_host[0] ? "host " : "socket ",
                  cfg->db_host[0] ? cfg->db_host : cfg->db_socket, mysql_error(db->mysql));
        mysql_close(db->mysql);
        db->mysql = NULL;
        return CHAT_E_DB;
    }
    /* Timestamps are stored and returned in UTC; the API formats them as RFC 3339 Z.
     * wsrep_sync_wait is set only when configured: it is a Galera setting. */
    char init[96] = "SET time_zone = '+00:00'";
    if (cfg->db_wsrep_sync_wait > 0)
        snprintf(init, sizeof(init), "SET time_zone = '+00:00', wsrep_sync_wait = %d",
                 cfg->db_wsrep_sync_wait);
    if (mysql_query(db->mysql, init) != 0) {
        log_error("cannot set up the session (%s): %s", init, mysql_error(db->mysql));
        mysql_close(db->mysql);
        db->mysql = NULL;
        return CHAT_E_DB;
    }
    return CHAT_OK;
}

int chat_db_open(struct chat_db *db, const struct chat_config *cfg)
{
    memset(db, 0, sizeof(*db));
    db->cfg = cfg;
    return connect_mysql(db);
}

static void drop_statements(struct chat_db *db)
{
    for (unsigned i = 0; i < CHAT_DB_STMT_CACHE; i++) {
        if (db->cache[i].stmt)
            mysql_stmt_close(db->cache[i].stmt);
        db->cache[i].stmt = NULL;
        db->cache[i].sql = NULL;
    }
}

void chat_db_close(struct chat_db *db)
{
    drop_statements(db);
    if (db->mysql)
        mysql_close(db->mysql);
    db->mysql = NULL;
}

static bool connection_lost(unsigned err)
{
    return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST || err == ER_CONNECTION_KILLED ||
           err == CR_CONNECTION_ERROR || err == ER_SERVER_SHUTDOWN;
}

static int reconnect(struct chat_db *db)
{
    chat_db_close(db);
    return connect_mysql(db);
}

/* Returns a prepared statement for sql, preparing and caching it on first use. */
static MYSQL_STMT *statement_for(struct chat_db *db, const char *sql, unsigned *mysql_err)
{
    unsigned free_slot = CHAT_DB_STMT_CACHE;
    for (unsigned i = 0; i < CHAT_DB_STMT_CACHE; i++) {
        if (db->cache[i].sql == sql)
            return db->cache[i].stmt;
        if (!db->cache[i].sql && free_slot == CHAT_DB_STMT_CACHE)
            free_slot = i;
    }
    MYSQL_STMT *stmt = mysql_stmt_init(db->mysql);
    if (!stmt) {
        *mysql_err = CR_OUT_OF_MEMORY;
        return NULL;
    }
    if (mysql_stmt_prepare(stmt, sql, strlen(sql)) != 0) {
        *mysql_err = mysql_stmt_errno(stmt);
        log_error("prepare failed (%u): %s; sql: %.200s", *mysql_err, mysql_stmt_error(stmt), sql);
        mysql_stmt_close(stmt);
        return NULL;
    }
    my_bool update_max = 1;
    mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max);
    if (free_slot == CHAT_DB_STMT_CACHE) {
        /* Cache full: evict slot 0. A full cache means a bug (dynamic SQL); warn once. */
        log_warn("prepared statement cache full");
        mysql_stmt_close(db->cache[0].stmt);
        free_slot = 0;
    }
    db->cache[free_slot].sql = sql;
    db->cache[free_slot].stmt = stmt;
    return stmt;
}

static void forget_statement(struct chat_db *db, const char *sql)
{
    for (unsigned i = 0; i < CHAT_DB_STMT_CACHE; i++) {
        if (db->cache[i].sql == sql) {
            mysql_stmt_close(db->cache[i].stmt);
            db->cache[i].sql = NULL;
            db->cache[i].stmt = NULL;
        }
    }
}

/* A result whose widest possible texts fit in this gets its arena in one allocation. */
#define ARENA_UPFRONT_MAX (1u << 20)

static int fetch_rows(MYSQL_STMT *stmt, struct chat_db_result *out, unsigned *mysql_err)
{
    MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
    if (!meta)
        return CHAT_OK; /* not a SELECT */
    int rc = CHAT_E_DB;
    MYSQL_BIND *binds = NULL;
    unsigned long *lens = NULL;
    my_bool *nulls = NULL;
    char *rowbuf = NULL;
    size_t *offs = NULL; /* per cell: 1 + its offset in out->arena, 0 for SQL NULL */
    size_t arena_len = 0, arena_cap = 0;

    if (mysql_stmt_store_result(stmt) != 0) {
        *mysql_err = mysql_stmt_errno(stmt);
        if (*mysql_err != ER_LOCK_DEADLOCK) /* logged by the caller as a conflict */
            log_error("store_result: %s", mysql_stmt_error(stmt));
        goto out;
    }
    unsigned ncols = mysql_num_fields(meta);
    unsigned nrows = (unsigned)mysql_stmt_num_rows(stmt);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    out->ncols = ncols;
    out->nrows = 0;
    binds = chat_xcalloc(ncols, sizeof(*binds));
    lens = chat_xcalloc(ncols, sizeof(*lens));
    nulls = chat_xcalloc(ncols, sizeof(*nulls));
    size_t rowsize = 0;
    for (unsigned c = 0; c < ncols; c++)
        rowsize += fields[c].max_length + 1;
    rowbuf = chat_xmalloc(rowsize + 1);
    out->cells = chat_xcalloc((size_t)nrows * ncols + 1, sizeof(char *));
    out->lens = chat_xcalloc((size_t)nrows * ncols + 1, sizeof(unsigned long));
    /* The cells' texts go into one growing arena rather than a malloc each (a page of 50
     * messages has 750 cells); their offsets become pointers once it stops moving. */
    offs = chat_xcalloc((size_t)nrows * ncols + 1, sizeof(size_t));
    if ((size_t)nrows * rowsize <= ARENA_UPFRONT_MAX) /* the bound: no growing at all */
        arena_cap = (size_t)nrows * rowsize;
    out->arena = chat_xmalloc(arena_cap + 1);
    size_t off = 0;
    for (unsigned c = 0; c < ncols; c++) {
        binds[c].buffer_type = MYSQL_TYPE_STRING;
        binds[c].buffer = rowbuf + off;
        binds[c].buffer_length = fields[c].max_length + 1;
        binds[c].length = &lens[c];
        binds[c].is_null = &nulls[c];
        off += fields[c].max_length + 1;
    }
    if (mysql_stmt_bind_result(stmt, binds) != 0) {
        log_error("bind_result: %s", mysql_stmt_error(stmt));
        goto out;
    }
    for (unsigned r = 0; r < nrows; r++) {
        int f = mysql_stmt_fetch(stmt);
        if (f == MYSQL_NO_DATA)
            break;
        if (f == 1) {
            log_error("fetch: %s", mysql_stmt_error(stmt));
            goto out;
        }
        for (unsigned c = 0; c < ncols; c++) {
            size_t i = (size_t)r * ncols + c;
            if (nulls[c])
                continue;
            if (arena_len + lens[c] + 1 > arena_cap) {
                arena_cap = (arena_len + lens[c] + 1) * 2;
                out->arena = chat_xreallocarray(out->arena, arena_cap, 1);
            }
            memcpy(out->arena + arena_len, binds[c].buffer, lens[c]);
            out->arena[arena_len + lens[c]] = '\0';
            offs[i] = arena_len + 1;
            arena_len += lens[c] + 1;
            out->lens[i] = lens[c];
        }
        out->nrows = r + 1;
    }
    rc = CHAT_OK;
out:
    if (offs) {
        for (size_t i = 0; i < (size_t)out->nrows * out->ncols; i++)
            out->cells[i] = offs[i] ? out->arena + offs[i] - 1 : NULL;
    }
    free(offs);
    mysql_stmt_free_result(stmt);
    mysql_free_result(meta);
    free(binds);
    free(lens);
    free(nulls);
    free(rowbuf);
    return rc;
}

static int run_once(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                    unsigned nparams, struct chat_db_result *out, unsigned *mysql_err)
{
    *mysql_err = 0;
    if (!db->mysql) {
        *mysql_err = CR_SERVER_GONE_ERROR;
        return CHAT_E_DB;
    }
    MYSQL_STMT *stmt = statement_for(db, sql, mysql_err);
    if (!stmt)
        return CHAT_E_DB;
    if (mysql_stmt_param_count(stmt) != nparams) {
        log_error("parameter count mismatch (%lu vs %u) for: %.200s", mysql_stmt_param_count(stmt),
                  nparams, sql);
        return CHAT_E_INTERNAL;
    }
    MYSQL_BIND binds[CHAT_DB_MAX_PARAMS];
    my_bool is_null = 1;
    if (nparams > CHAT_DB_MAX_PARAMS) {
        log_error("too many parameters (%u) for: %.200s", nparams, sql);
        return CHAT_E_INTERNAL;
    }
    memset(binds, 0, sizeof(binds));
    for (unsigned i = 0; i < nparams; i++) {
        switch (params[i].kind) {
        case CHAT_DB_NULL:
            binds[i].buffer_type = MYSQL_TYPE_NULL;
            binds[i].is_null = &is_null;
            break;
        case CHAT_DB_INT:
            binds[i].buffer_type = MYSQL_TYPE_LONGLONG;
            binds[i].buffer = (void *)&params[i].i;
            break;
        case CHAT_DB_STR:
            binds[i].buffer_type = MYSQL_TYPE_STRING;
            binds[i].buffer = (void *)params[i].s;
            binds[i].buffer_length = params[i].len;
            break;
        }
    }
    if (nparams && mysql_stmt_bind_param(stmt, binds) != 0) {
        *mysql_err = mysql_stmt_errno(stmt);
        log_error("bind_param: %s", mysql_stmt_error(stmt));
        return CHAT_E_DB;
    }
    if (mysql_stmt_execute(stmt) != 0) {
        *mysql_err = mysql_stmt_errno(stmt);
        if (*mysql_err == ER_DUP_ENTRY)
            return CHAT_E_DUPLICATE;
        if (*mysql_err == ER_LOCK_DEADLOCK) {
            db->conflicts++;
            log_warn("transaction rolled back by a conflict (%u): %s", *mysql_err,
                     mysql_stmt_error(stmt));
            return CHAT_E_DB_CONFLICT;
        }
        log_error("execute failed (%u): %s; sql: %.200s", *mysql_err, mysql_stmt_error(stmt), sql);
        /* The statement may be invalid after a schema change or reconnect. */
        forget_statement(db, sql);
        return CHAT_E_DB;
    }
    if (!db->in_transaction && strncmp(sql, "SELECT", 6) != 0)
        db->writes++;
    if (out) {
        memset(out, 0, sizeof(*out));
        out->insert_id = mysql_stmt_insert_id(stmt);
        out->affected = mysql_stmt_affected_rows(stmt);
        int rc = fetch_rows(stmt, out, mysql_err);
        if (rc != CHAT_OK) {
            chat_db_result_free(out);
            /* An error in the middle of a result (RETURNING's value out of range, a
             * Galera abort) leaves Connector/C 3.3 out of step with the server on this
             * statement: its next execute would wait out db_timeout_s and lose the
             * connection. A fresh statement next time is in step (test_api_abuse_limits.py,
             * test_an_invitation_cost_above_127_is_counted_and_the_next_request_is_answered). */
            forget_statement(db, sql);
            if (*mysql_err == ER_LOCK_DEADLOCK) { /* Galera aborted it while it ran */
                db->conflicts++;
                log_warn("transaction rolled back by a conflict (%u) while reading a result",
                         *mysql_err);
                return CHAT_E_DB_CONFLICT;
            }
            return rc;
        }
    } else {
        mysql_stmt_free_result(stmt);
    }
    return CHAT_OK;
}

/* Whether a statement that failed with err may run again on a new connection. "Gone
 * away" means it never reached the server; any other loss (2013 mid-query, a read
 * timeout, a killed connection) may have happened after the server executed it, so only
 * a read is safe to repeat: a repeated INSERT would turn a success into a duplicate. */
static bool safe_to_retry(const char *sql, unsigned err)
{
    if (!connection_lost(err))
        return false;
    return err == CR_SERVER_GONE_ERROR || strncmp(sql, "SELECT", 6) == 0;
}

int chat_db_query(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                  unsigned nparams, struct chat_db_result *out)
{
    unsigned err;
    int rc = run_once(db, sql, params, nparams, out, &err);
    if (rc == CHAT_E_DB && err == ER_LOCK_DEADLOCK) {
        /* Galera aborted the transaction before the statement ran (at its prepare). */
        db->conflicts++;
        log_warn("transaction rolled back by a conflict (%u) before a statement ran", err);
        return CHAT_E_DB_CONFLICT;
    }
    if (rc == CHAT_E_DB && connection_lost(err) && !safe_to_retry(sql, err)) {
        log_warn("MariaDB connection lost (%u) during a write; not repeating it", err);
        reconnect(db); /* for the next statement; this one answers an error */
        return rc;
    }
    if (rc == CHAT_E_DB && safe_to_retry(sql, err) && !db->in_transaction) {
        log_warn("MariaDB connection lost (%u); reconnecting", err);
        if (reconnect(db) == CHAT_OK)
            rc = run_once(db, sql, params, nparams, out, &err);
    }
    return rc;
}

int chat_db_exec(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                 unsigned nparams, unsigned long long *affected, unsigned long long *insert_id)
{
    struct chat_db_result r;
    int rc = chat_db_query(db, sql, params, nparams, &r);
    if (rc != CHAT_OK)
        return rc;
    if (affected)
        *affected = r.affected;
    if (insert_id)
        *insert_id = r.insert_id;
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_db_query_row(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                      unsigned nparams, struct chat_db_result *out)
{
    int rc = chat_db_query(db, sql, params, nparams, out);
    if (rc == CHAT_OK && out->nrows == 0) {
        chat_db_result_free(out);
        rc = CHAT_E_NOT_FOUND;
    }
    return rc;
}

int chat_db_query_int(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                      unsigned nparams, long long *value)
{
    struct chat_db_result r;
    int rc = chat_db_query_row(db, sql, params, nparams, &r);
    if (rc != CHAT_OK)
        return rc;
    if (value)
        *value = chat_db_cell_int(&r, 0, 0);
    chat_db_result_free(&r);
    return CHAT_OK;
}

static int simple(struct chat_db *db, const char *sql)
{
    if (!db->mysql && reconnect(db) != CHAT_OK)
        return CHAT_E_DB;
    if (mysql_query(db->mysql, sql) != 0) {
        unsigned err = mysql_errno(db->mysql);
        if (connection_lost(err) && !db->in_transaction && reconnect(db) == CHAT_OK &&
            mysql_query(db->mysql, sql) == 0)
            return CHAT_OK;
        if (err == ER_LOCK_DEADLOCK) { /* Galera: certification failed at COMMIT */
            db->conflicts++;
            log_warn("%s rolled back by a conflict (%u): %s", sql, err, mysql_error(db->mysql));
            return CHAT_E_DB_CONFLICT;
        }
        log_error("%s failed: %s", sql, db->mysql ? mysql_error(db->mysql) : "no connection");
        return CHAT_E_DB;
    }
    return CHAT_OK;
}

int chat_db_begin(struct chat_db *db)
{
    int rc = simple(db, "START TRANSACTION");
    if (rc == CHAT_OK)
        db->in_transaction = true;
    return rc;
}

int chat_db_commit(struct chat_db *db)
{
    int rc = simple(db, "COMMIT");
    db->in_transaction = false;
    if (rc == CHAT_OK)
        db->writes++;
    return rc;
}

void chat_db_rollback(struct chat_db *db)
{
    if (!db->in_transaction)
        return;
    db->in_transaction = false;
    if (db->mysql && mysql_query(db->mysql, "ROLLBACK") != 0)
        log_warn("ROLLBACK failed: %s", mysql_error(db->mysql));
}

int chat_db_end(struct chat_db *db, int rc)
{
    if (rc == CHAT_OK)
        return chat_db_commit(db);
    chat_db_rollback(db);
    return rc;
}

bool chat_db_retry_conflict(struct chat_db *db, int rc, unsigned long long writes_mark,
                            int attempt)
{
    if (rc != CHAT_E_DB_CONFLICT || attempt >= CHAT_DB_CONFLICT_RETRIES ||
        db->writes != writes_mark)
        return false;
    chat_db_rollback(db); /* the server has rolled back; end our side of it too */
    long us = 1000 + (long)randombytes_uniform(1000u << attempt);
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
    return true;
}

void chat_db_result_free(struct chat_db_result *r)
{
    free(r->arena);
    free(r->cells);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

const char *chat_db_cell(const struct chat_db_result *r, unsigned row, unsigned col)
{
    if (row >= r->nrows || col >= r->ncols)
        return NULL;
    return r->cells[(size_t)row * r->ncols + col];
}

long long chat_db_cell_int(const struct chat_db_result *r, unsigned row, unsigned col)
{
    const char *s = chat_db_cell(r, row, col);
    return s ? strtoll(s, NULL, 10) : 0;
}

bool chat_db_cell_is_null(const struct chat_db_result *r, unsigned row, unsigned col)
{
    return chat_db_cell(r, row, col) == NULL;
}
