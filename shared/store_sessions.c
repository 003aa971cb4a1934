/* Layer 1 (bottom) of the data layer: login sessions and bot tokens, opaque random
 * tokens stored only as SHA-256 hashes, and their revocation: deleting sessions writes a session.revoked
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
#include "store_internal.h"

int chat_session_create(struct chat_db *db, const struct chat_config *cfg, long long user_id,
                        const char *user_agent, const char *address,
                        char token[CHAT_TOKEN_CHARS + 1], char csrf[CHAT_TOKEN_CHARS + 1])
{
    /* Shown in the session list only: printable ASCII (what user agents send), anything
     * else as '?', cut to the column. */
    char agent[CHAT_USER_AGENT_MAX + 1];
    size_t n = 0;
    for (const char *p = user_agent ? user_agent : ""; *p && n < CHAT_USER_AGENT_MAX; p++)
        agent[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    agent[n] = '\0';
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_new(token);
    chat_token_new(csrf);
    chat_token_hash(token, strlen(token), hash);
    /* INSERT ... SELECT reads the user row under a shared lock, so a deactivation
     * (chat_user_set_active) either commits first and this inserts nothing, or waits for
     * this session and then ends it. */
    unsigned long long affected = 0;
    int rc = chat_db_exec(db,
                          "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at, "
                          "last_used_at, user_agent, address) "
                          "SELECT ?, id, ?, UTC_TIMESTAMP(6) + INTERVAL ? HOUR, UTC_TIMESTAMP(6), "
                          "?, ? FROM users WHERE id = ? AND deactivated_at IS NULL "
                          "AND deleted_at IS NULL",
                          CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash)), DB_STR(csrf),
                                         DB_INT(cfg->session_ttl_hours),
                                         agent[0] ? DB_STR(agent) : DB_NULL,
                                         address && *address ? DB_STR(address) : DB_NULL,
                                         DB_INT(user_id)),
                          &affected, NULL);
    return rc == CHAT_OK && affected == 0 ? CHAT_E_FORBIDDEN : rc;
}

/* The session of token, if it exists and has not expired: user_id, csrf_token, id, the
 * microseconds left, and whether last_used_at is older than CHAT_SESSION_TOUCH_S. */
static int find_session(struct chat_db *db, const char *token, struct chat_db_result *r)
{
    size_t len = strlen(token);
    if (len == 0 || len > 256)
        return CHAT_E_NOT_AUTHENTICATED;
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, len, hash);
    int rc = chat_db_query_row(db,
                               "SELECT s.user_id, s.csrf_token, s.id, "
                               "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), s.expires_at), "
                               "COALESCE(s.last_used_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND, 1), "
                               "COALESCE(u.locale, '') "
                               "FROM sessions s JOIN users u ON u.id = s.user_id "
                               "WHERE s.token_hash = ? AND s.expires_at > UTC_TIMESTAMP(6)",
                               CHAT_DB_PARAMS(DB_INT(CHAT_SESSION_TOUCH_S),
                                              DB_BYTES(hash, sizeof(hash))), r);
    return rc == CHAT_E_NOT_FOUND ? CHAT_E_NOT_AUTHENTICATED : rc;
}

int chat_session_lookup(struct chat_db *db, const char *token, long long *user_id,
                        long long *session_id, char csrf[CHAT_TOKEN_CHARS + 1],
                        char locale[CHAT_LOCALE_CHARS])
{
    struct chat_db_result r;
    int rc = find_session(db, token, &r);
    if (rc != CHAT_OK)
        return rc;
    *user_id = chat_db_cell_int(&r, 0, 0);
    long long id = chat_db_cell_int(&r, 0, 2);
    bool stale = chat_db_cell_int(&r, 0, 4) != 0;
    if (session_id)
        *session_id = id;
    if (csrf)
        snprintf(csrf, CHAT_TOKEN_CHARS + 1, "%s", chat_db_cell(&r, 0, 1));
    if (locale)
        snprintf(locale, CHAT_LOCALE_CHARS, "%s", chat_db_cell(&r, 0, 5));
    chat_db_result_free(&r);
    /* "Last used" is coarse on purpose: one write per session a minute at most, not one
     * per request. The condition is repeated so that concurrent requests write once. */
    if (stale)
        rc = chat_db_exec(db,
                          "UPDATE sessions SET last_used_at = UTC_TIMESTAMP(6) WHERE id = ? "
                          "AND (last_used_at IS NULL OR "
                          "last_used_at < UTC_TIMESTAMP(6) - INTERVAL ? SECOND)",
                          CHAT_DB_PARAMS(DB_INT(id), DB_INT(CHAT_SESSION_TOUCH_S)), NULL, NULL);
    return rc;
}

int chat_sessions_list_json(struct chat_db *db, long long user_id, long long current_id,
                            json_object **out_array)
{
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT id, created_at, last_used_at, user_agent, address, expires_at "
                           "FROM sessions WHERE user_id = ? AND expires_at > UTC_TIMESTAMP(6) "
                           "ORDER BY id DESC LIMIT ?",
                           CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(CHAT_SESSIONS_LIST_MAX)), &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = json_object_new_array_ext((int)r.nrows);
    for (unsigned i = 0; i < r.nrows; i++) {
        char t[3][32];
        long long id = chat_db_cell_int(&r, i, 0);
        json_object *s = json_object_new_object();
        json_object_object_add(s, "id", json_object_new_int64(id));
        chat_json_add_nullable_string(s, "created_at", chat_time_rfc3339(chat_db_cell(&r, i, 1), t[0]));
        chat_json_add_nullable_string(s, "last_used_at",
                                      chat_time_rfc3339(chat_db_cell(&r, i, 2), t[1]));
        chat_json_add_nullable_string(s, "user_agent", chat_db_cell(&r, i, 3));
        chat_json_add_nullable_string(s, "address", chat_db_cell(&r, i, 4));
        chat_json_add_nullable_string(s, "expires_at", chat_time_rfc3339(chat_db_cell(&r, i, 5), t[2]));
        json_object_object_add(s, "current", json_object_new_boolean(id == current_id));
        json_object_array_add(arr, s);
    }
    chat_db_result_free(&r);
    *out_array = arr;
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
    snprintf(out->locale, sizeof(out->locale), "%s", chat_db_cell(&r, 0, 5));
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

/* Deletes the sessions the SELECT `pick` (with its nparams params) returns, locked, and
 * writes their session.revoked event, all in one transaction; every_connection leaves the
 * ids out of the event, so the daemons end every connection of the user. *count (may be
 * NULL) is the number deleted. */
static int revoke(struct chat_db *db, const char *pick, const struct chat_db_param *params,
                  unsigned nparams, bool every_connection, unsigned *count)
{
    struct chat_db_result r = {0};
    json_object *payload = NULL;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query(db, pick, params, nparams, &r);
    if (rc != CHAT_OK || r.nrows == 0)
        goto out;
    if (count)
        *count = r.nrows;
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
                  CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash))), false, NULL);
}

int chat_sessions_revoke_user(struct chat_db *db, long long user_id, bool every_connection)
{
    return revoke(db, "SELECT id, user_id FROM sessions WHERE user_id = ? ORDER BY id FOR UPDATE",
                  CHAT_DB_PARAMS(DB_INT(user_id)), every_connection, NULL);
}

int chat_session_revoke_own(struct chat_db *db, long long user_id, long long session_id)
{
    unsigned n = 0;
    int rc = revoke(db, "SELECT id, user_id FROM sessions WHERE id = ? AND user_id = ? "
                        "AND expires_at > UTC_TIMESTAMP(6) FOR UPDATE",
                    CHAT_DB_PARAMS(DB_INT(session_id), DB_INT(user_id)), false, &n);
    return rc == CHAT_OK && n == 0 ? CHAT_E_NOT_FOUND : rc;
}

int chat_sessions_revoke_others(struct chat_db *db, long long user_id, long long keep_id)
{
    return revoke(db, "SELECT id, user_id FROM sessions WHERE user_id = ? AND id <> ? "
                      "ORDER BY id FOR UPDATE",
                  CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(keep_id)), false, NULL);
}

/* The sessions of up to CHAT_DB_BATCH tokens in one statement (the push daemon's batched
 * connect path); a token that is not 1..256 bytes takes no slot. */
static const char SQL_SESSIONS_BY_HASH[] =
    "SELECT s.token_hash, s.user_id, s.id, "
    "TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), s.expires_at), COALESCE(u.locale, '') "
    "FROM sessions s JOIN users u ON u.id = s.user_id "
    "WHERE s.token_hash IN " CHAT_DB_IN_LIST " AND s.expires_at > UTC_TIMESTAMP(6)";

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
            snprintf(out[i].locale, sizeof(out[i].locale), "%s", chat_db_cell(&r, row, 4));
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

int chat_bot_token_set(struct chat_db *db, long long user_id, char token[CHAT_BOT_TOKEN_CHARS + 1])
{
    char raw[CHAT_TOKEN_CHARS + 1];
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_new(raw);
    snprintf(token, CHAT_BOT_TOKEN_CHARS + 1, "%s%s", CHAT_BOT_TOKEN_PREFIX, raw);
    chat_token_hash(token, strlen(token), hash);
    return chat_db_exec(db,
                        "INSERT INTO bot_tokens (user_id, token_hash) VALUES (?, ?) "
                        "ON DUPLICATE KEY UPDATE token_hash = VALUES(token_hash), "
                        "created_at = UTC_TIMESTAMP(6)",
                        CHAT_DB_PARAMS(DB_INT(user_id), DB_BYTES(hash, sizeof(hash))), NULL, NULL);
}

bool chat_bot_token_shaped(const char *token)
{
    return strlen(token) == CHAT_BOT_TOKEN_CHARS &&
           strncmp(token, CHAT_BOT_TOKEN_PREFIX, strlen(CHAT_BOT_TOKEN_PREFIX)) == 0;
}

int chat_bot_token_lookup(struct chat_db *db, const char *token, long long *user_id)
{
    if (!chat_bot_token_shaped(token))
        return CHAT_E_NOT_AUTHENTICATED;
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, CHAT_BOT_TOKEN_CHARS, hash);
    int rc = chat_db_query_int(db,
                               "SELECT u.id FROM bot_tokens t JOIN users u ON u.id = t.user_id "
                               "WHERE t.token_hash = ? AND u.is_bot AND u.deactivated_at IS NULL "
                               "AND u.deleted_at IS NULL",
                               CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash))), user_id);
    return rc == CHAT_E_NOT_FOUND ? CHAT_E_NOT_AUTHENTICATED : rc;
}
