/* Layer 1 (bottom) of the data layer: login sessions, opaque random tokens stored only
 * as SHA-256 hashes, and their revocation: deleting sessions writes a session.revoked
 * event in the same transaction, so every push daemon ends their connections. Calls no
 * other store file. */
#include <assert.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "db_batch.h"
#include "errors.h"
#include "json_util.h"
#include "store.h"

int chat_session_create(struct chat_db *db, const struct chat_config *cfg, long long user_id,
                        char token[CHAT_TOKEN_CHARS + 1], char csrf[CHAT_TOKEN_CHARS + 1])
{
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_new(token);
    chat_token_new(csrf);
    chat_token_hash(token, strlen(token), hash);
    /* INSERT ... SELECT reads the user row under a shared lock, so a deactivation
     * (chat_user_set_active) either commits first and this inserts nothing, or waits for
     * this session and then ends it. */
    unsigned long long affected = 0;
    int rc = chat_db_exec(db,
                          "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) "
                          "SELECT ?, id, ?, UTC_TIMESTAMP(6) + INTERVAL ? HOUR FROM users "
                          "WHERE id = ? AND deactivated_at IS NULL",
                          CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash)), DB_STR(csrf),
                                         DB_INT(cfg->session_ttl_hours), DB_INT(user_id)),
                          &affected, NULL);
    return rc == CHAT_OK && affected == 0 ? CHAT_E_FORBIDDEN : rc;
}

/* The session of token, if it exists and has not expired. */
static int find_session(struct chat_db *db, const char *token, struct chat_db_result *r)
{
    size_t len = strlen(token);
    if (len == 0 || len > 256)
        return CHAT_E_NOT_AUTHENTICATED;
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, len, hash);
    int rc = chat_db_query_row(db,
                               "SELECT user_id, csrf_token, id, "
                               "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) "
                               "FROM sessions WHERE token_hash = ? AND expires_at > UTC_TIMESTAMP(6)",
                               CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash))), r);
    return rc == CHAT_E_NOT_FOUND ? CHAT_E_NOT_AUTHENTICATED : rc;
}

int chat_session_lookup(struct chat_db *db, const char *token, long long *user_id,
                        char csrf[CHAT_TOKEN_CHARS + 1])
{
    struct chat_db_result r;
    int rc = find_session(db, token, &r);
    if (rc != CHAT_OK)
        return rc;
    *user_id = chat_db_cell_int(&r, 0, 0);
    if (csrf)
        snprintf(csrf, CHAT_TOKEN_CHARS + 1, "%s", chat_db_cell(&r, 0, 1));
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_session_find(struct chat_db *db, const char *token, struct chat_session_info *out)
{
    struct chat_db_result r;
    int rc = find_session(db, token, &r);
    if (rc != CHAT_OK)
        return rc;
    out->user_id = chat_db_cell_int(&r, 0, 0);
    out->session_id = chat_db_cell_int(&r, 0, 2);
    out->expires_in_ms = chat_db_cell_int(&r, 0, 3) / 1000;
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_session_alive(struct chat_db *db, long long session_id)
{
    long long n = 0;
    int rc = chat_db_query_int(db,
                               "SELECT COUNT(*) FROM sessions WHERE id = ? AND "
                               "expires_at > UTC_TIMESTAMP(6)",
                               CHAT_DB_PARAMS(DB_INT(session_id)), &n);
    if (rc == CHAT_OK && n == 0)
        rc = CHAT_E_NOT_AUTHENTICATED;
    return rc;
}

/* Deletes the sessions the SELECT `pick` (one parameter, param) returns, locked, and writes
 * their session.revoked event, all in one transaction; every_connection leaves the ids out
 * of the event, so the daemons end every connection of the user. */
static int revoke(struct chat_db *db, const char *pick, struct chat_db_param param,
                  bool every_connection)
{
    struct chat_db_result r = {0};
    json_object *payload = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query(db, pick, &param, 1, &r);
    if (rc != CHAT_OK || r.nrows == 0)
        goto out;
    long long user_id = chat_db_cell_int(&r, 0, 1);
    json_object *ids = json_object_new_array();
    payload = json_object_new_object();
    json_object_object_add(payload, "user_id", json_object_new_int64(user_id));
    for (unsigned i = 0; i < r.nrows; i++) {
        long long id = chat_db_cell_int(&r, i, 0);
        json_object_array_add(ids, json_object_new_int64(id));
        if (rc == CHAT_OK)
            rc = chat_db_exec(db, "DELETE FROM sessions WHERE id = ?",
                              CHAT_DB_PARAMS(DB_INT(id)), NULL, NULL);
    }
    if (every_connection)
        json_object_put(ids);
    else
        json_object_object_add(payload, "session_ids", ids);
    if (rc == CHAT_OK) { /* the event row itself: store_events.c is the same layer */
        size_t len;
        const char *json = chat_json_to_string(payload, &len);
        rc = chat_db_exec(db,
                          "INSERT INTO events (conversation_id, type, payload) "
                          "VALUES (NULL, 'session.revoked', ?)",
                          CHAT_DB_PARAMS(DB_BYTES(json, len)), NULL, NULL);
    }
out:
    json_object_put(payload);
    chat_db_result_free(&r);
    return chat_db_end(db, rc);
}

int chat_session_delete(struct chat_db *db, const char *token)
{
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, strlen(token), hash);
    return revoke(db, "SELECT id, user_id FROM sessions WHERE token_hash = ? FOR UPDATE",
                  DB_BYTES(hash, sizeof(hash)), false);
}

int chat_sessions_revoke_user(struct chat_db *db, long long user_id, bool every_connection)
{
    return revoke(db, "SELECT id, user_id FROM sessions WHERE user_id = ? ORDER BY id FOR UPDATE",
                  DB_INT(user_id), every_connection);
}

/* The sessions of up to CHAT_DB_BATCH tokens in one statement (the push daemon's batched
 * connect path); a token that is not 1..256 bytes takes no slot. */
static const char SQL_SESSIONS_BY_HASH[] =
    "SELECT token_hash, user_id, id, "
    "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) FROM sessions "
    "WHERE token_hash IN " CHAT_DB_IN_LIST " AND expires_at > UTC_TIMESTAMP(6)";

int chat_sessions_find_many(struct chat_db *db, const char *const *tokens, size_t n,
                            struct chat_session_info *out, int *status)
{
    unsigned char hashes[CHAT_DB_BATCH][CHAT_TOKEN_HASH_BYTES];
    struct chat_db_param params[CHAT_DB_BATCH];
    struct chat_db_result r;
    assert(n <= CHAT_DB_BATCH);
    for (size_t i = 0; i < CHAT_DB_BATCH; i++) {
        size_t len = i < n && tokens[i] ? strlen(tokens[i]) : 0;
        if (i < n)
            status[i] = CHAT_E_NOT_AUTHENTICATED;
        if (len == 0 || len > 256) {
            params[i] = DB_BYTES("", 0); /* never a 32-byte hash */
            continue;
        }
        chat_token_hash(tokens[i], len, hashes[i]);
        params[i] = DB_BYTES(hashes[i], CHAT_TOKEN_HASH_BYTES);
    }
    int rc = chat_db_query(db, SQL_SESSIONS_BY_HASH, params, CHAT_DB_BATCH, &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned row = 0; row < r.nrows; row++) {
        const char *hash = chat_db_cell(&r, row, 0);
        if (!hash || r.lens[(size_t)row * r.ncols] != CHAT_TOKEN_HASH_BYTES)
            continue;
        /* Every token with this hash: a user's connections may share one session. */
        for (size_t i = 0; i < n; i++) {
            if (params[i].len != CHAT_TOKEN_HASH_BYTES ||
                memcmp(params[i].s, hash, CHAT_TOKEN_HASH_BYTES) != 0)
                continue;
            out[i].user_id = chat_db_cell_int(&r, row, 1);
            out[i].session_id = chat_db_cell_int(&r, row, 2);
            out[i].expires_in_ms = chat_db_cell_int(&r, row, 3) / 1000;
            status[i] = CHAT_OK;
        }
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_sessions_alive_many(struct chat_db *db, const long long *session_ids, size_t n,
                             bool *alive)
{
    static const char sql[] = "SELECT id FROM sessions WHERE id IN " CHAT_DB_IN_LIST
                              " AND expires_at > UTC_TIMESTAMP(6)";
    struct chat_db_result r;
    int rc = chat_db_query_ids(db, sql, session_ids, n, NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        alive[i] = false;
        for (unsigned row = 0; row < r.nrows && !alive[i]; row++)
            alive[i] = chat_db_cell_int(&r, row, 0) == session_ids[i];
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}
