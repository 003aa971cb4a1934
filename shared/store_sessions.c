/* Layer 1 (bottom) of the data layer: login sessions, opaque random tokens stored only
 * as SHA-256 hashes. Calls no other store file. */
#include <string.h>

#include "errors.h"
#include "store.h"

int chat_session_create(struct chat_db *db, const struct chat_config *cfg, long long user_id,
                        char token[CHAT_TOKEN_CHARS + 1], char csrf[CHAT_TOKEN_CHARS + 1])
{
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_new(token);
    chat_token_new(csrf);
    chat_token_hash(token, strlen(token), hash);
    return chat_db_exec(db,
                        "INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) "
                        "VALUES (?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? HOUR)",
                        CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash)), DB_INT(user_id), DB_STR(csrf),
                                       DB_INT(cfg->session_ttl_hours)),
                        NULL, NULL);
}

int chat_session_lookup(struct chat_db *db, const char *token, long long *user_id,
                        char csrf[CHAT_TOKEN_CHARS + 1])
{
    size_t len = strlen(token);
    if (len == 0 || len > 256)
        return CHAT_E_NOT_AUTHENTICATED;
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, len, hash);
    struct chat_db_result r;
    int rc = chat_db_query(db,
                           "SELECT user_id, csrf_token FROM sessions "
                           "WHERE token_hash = ? AND expires_at > UTC_TIMESTAMP(6)",
                           CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash))), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0) {
        rc = CHAT_E_NOT_AUTHENTICATED;
    } else {
        *user_id = chat_db_cell_int(&r, 0, 0);
        if (csrf)
            snprintf(csrf, CHAT_TOKEN_CHARS + 1, "%s", chat_db_cell(&r, 0, 1));
    }
    chat_db_result_free(&r);
    return rc;
}

int chat_session_delete(struct chat_db *db, const char *token)
{
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    chat_token_hash(token, strlen(token), hash);
    return chat_db_exec(db, "DELETE FROM sessions WHERE token_hash = ?",
                        CHAT_DB_PARAMS(DB_BYTES(hash, sizeof(hash))), NULL, NULL);
}
