/* MariaDB access through prepared statements only. One struct chat_db per thread; it
 * caches prepared statements by SQL text and reconnects once when the server went away
 * outside a transaction. Results come back as text cells, which is all the JSON layer
 * needs. */
#ifndef CHAT_DB_H
#define CHAT_DB_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "config.h"

enum chat_db_param_kind { CHAT_DB_NULL, CHAT_DB_INT, CHAT_DB_STR };

struct chat_db_param {
    enum chat_db_param_kind kind;
    long long i;
    const char *s;
    size_t len;
};

#define DB_INT(v) ((struct chat_db_param){.kind = CHAT_DB_INT, .i = (long long)(v)})
#define DB_STR(v) ((struct chat_db_param){.kind = CHAT_DB_STR, .s = (v), .len = strlen(v)})
#define DB_BYTES(p, n) ((struct chat_db_param){.kind = CHAT_DB_STR, .s = (const char *)(p), .len = (n)})
#define DB_NULL ((struct chat_db_param){.kind = CHAT_DB_NULL})
/* A string parameter that is NULL in SQL when the C string is NULL. */
#define DB_STR_OR_NULL(v) ((v) ? DB_STR(v) : DB_NULL)

/* A fetched result: rows x cols text cells, NULL for SQL NULL. Owned by the caller, freed
 * with chat_db_result_free(). */
struct chat_db_result {
    unsigned nrows, ncols;
    char **cells;         /* nrows x ncols, each pointing into arena or NULL */
    char *arena;          /* every cell's text, NUL-terminated, in one allocation */
    unsigned long *lens;
    unsigned long long insert_id;
    unsigned long long affected;
};

#define CHAT_DB_STMT_CACHE 192
#define CHAT_DB_MAX_PARAMS 300

struct chat_db {
    MYSQL *mysql;
    const struct chat_config *cfg;
    bool in_transaction;
    /* Writes that have reached the database: COMMITs and autocommit statements other
     * than SELECT. A transaction that failed with CHAT_E_DB_CONFLICT may run again only
     * when this has not moved since the caller began (chat_db_retry_conflict). */
    unsigned long long writes;
    unsigned long long conflicts; /* CHAT_E_DB_CONFLICT failures, for metrics and logs */
    struct {
        const char *sql;
        MYSQL_STMT *stmt;
    } cache[CHAT_DB_STMT_CACHE];
};

/* Connects using cfg (which must outlive db). Returns CHAT_OK or CHAT_E_DB. */
int chat_db_open(struct chat_db *db, const struct chat_config *cfg);
void chat_db_close(struct chat_db *db);

/* Runs `sql` with `params` bound to its placeholders. When `out` is not NULL, the rows
 * (if any), insert id and affected-row count are stored there, and the caller frees it.
 * Returns CHAT_OK, CHAT_E_DUPLICATE for a unique-key violation, CHAT_E_DB_CONFLICT when
 * the server rolled the transaction back (an InnoDB deadlock, or a Galera certification
 * conflict with a write on another node; both are MariaDB error 1213), or CHAT_E_DB.
 * `sql` should be a string literal: statements are cached by its address. */
int chat_db_query(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                  unsigned nparams, struct chat_db_result *out);

/* chat_db_query without rows: returns affected rows in *affected when not NULL. */
int chat_db_exec(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                 unsigned nparams, unsigned long long *affected, unsigned long long *insert_id);

/* chat_db_query for a statement that must find a row: CHAT_E_NOT_FOUND (with nothing
 * left to free) when it found none; otherwise the caller frees *out. */
int chat_db_query_row(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                      unsigned nparams, struct chat_db_result *out);

/* Runs a query expected to return at most one row and stores its first column in *value
 * (value may be NULL to only test existence). Returns CHAT_OK, CHAT_E_NOT_FOUND when no
 * row matched, or the query's error. */
int chat_db_query_int(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                      unsigned nparams, long long *value);

int chat_db_begin(struct chat_db *db);
int chat_db_commit(struct chat_db *db);
/* Rolls back if a transaction is open; safe to call on every error path. */
void chat_db_rollback(struct chat_db *db);
/* Ends the open transaction: commits when rc is CHAT_OK, else rolls back. Returns rc, or
 * the commit's error. */
int chat_db_end(struct chat_db *db, int rc);

/* How many conflicting transactions are run again before CHAT_E_DB_CONFLICT reaches the
 * client. */
#define CHAT_DB_CONFLICT_RETRIES 3

/* Whether work that failed with rc should run again: rc is CHAT_E_DB_CONFLICT, fewer
 * than CHAT_DB_CONFLICT_RETRIES attempts were made, and nothing was written since
 * `writes_mark` (db->writes when the work began), so repeating it cannot write anything
 * twice. When it returns true it has slept a short random backoff (1 to 2^attempt ms),
 * which makes two conflicting writers unlikely to collide again. */
bool chat_db_retry_conflict(struct chat_db *db, int rc, unsigned long long writes_mark,
                            int attempt);

void chat_db_result_free(struct chat_db_result *r);
const char *chat_db_cell(const struct chat_db_result *r, unsigned row, unsigned col);
long long chat_db_cell_int(const struct chat_db_result *r, unsigned row, unsigned col);
bool chat_db_cell_is_null(const struct chat_db_result *r, unsigned row, unsigned col);

#define CHAT_DB_PARAMS(...) ((const struct chat_db_param[]){__VA_ARGS__}), \
    (sizeof((const struct chat_db_param[]){__VA_ARGS__}) / sizeof(struct chat_db_param))

#endif
