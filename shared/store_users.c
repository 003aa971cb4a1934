/* Layer 2 (records) of the data layer: users. Creation, credentials, lookup and the user
 * object. Calls store_rows.c only. */
#include <ctype.h>
#include <string.h>

#include "db_batch.h"
#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"
#include "utf8.h"

bool chat_username_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > CHAT_USERNAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

static int check_password(const char *password)
{
    size_t n = chat_utf8_length(password, strlen(password));
    if (n < CHAT_PASSWORD_MIN || n > CHAT_PASSWORD_MAX)
        return CHAT_E_VALIDATION;
    return CHAT_OK;
}

int chat_user_create(struct chat_db *db, const struct chat_config *cfg, const char *username,
                     const char *display_name, const char *password, long long *user_id)
{
    if (!chat_username_valid(username) || check_password(password) != CHAT_OK)
        return CHAT_E_VALIDATION;
    if (!display_name || !*display_name)
        display_name = username;
    /* Controls and bidi overrides are removed, not refused: a name pasted with a stray
     * mark still registers, and what others see cannot be reordered or hidden. */
    size_t dlen = strlen(display_name);
    if (dlen > 4 * CHAT_DISPLAY_NAME_MAX)
        return CHAT_E_VALIDATION;
    char display[4 * CHAT_DISPLAY_NAME_MAX + 1];
    if (chat_utf8_strip_controls(display_name, dlen, display) == 0)
        return CHAT_E_VALIDATION;
    char hash[128];
    int rc = chat_password_hash(cfg, password, hash);
    if (rc != CHAT_OK)
        return rc;
    unsigned long long id = 0;
    rc = chat_db_exec(db,
                      "INSERT INTO users (username, display_name, password_hash) VALUES (?, ?, ?)",
                      CHAT_DB_PARAMS(DB_STR(username), DB_STR(display), DB_STR(hash)), NULL,
                      &id);
    if (rc == CHAT_OK && user_id)
        *user_id = (long long)id;
    return rc;
}

int chat_user_set_password(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password)
{
    if (!chat_username_valid(username))
        return CHAT_E_NOT_FOUND; /* no such user (and not comparable with the ascii column) */
    if (check_password(password) != CHAT_OK)
        return CHAT_E_VALIDATION;
    char hash[128];
    int rc = chat_password_hash(cfg, password, hash);
    if (rc != CHAT_OK)
        return rc;
    unsigned long long affected = 0;
    rc = chat_db_exec(db, "UPDATE users SET password_hash = ? WHERE username = ?",
                      CHAT_DB_PARAMS(DB_STR(hash), DB_STR(username)), &affected, NULL);
    if (rc != CHAT_OK)
        return rc;
    if (affected == 0)
        return CHAT_E_NOT_FOUND;
    /* A new password ends every existing session of that user, and their connections. */
    long long user_id;
    rc = chat_user_find_by_username(db, username, &user_id);
    return rc == CHAT_OK ? chat_sessions_revoke_user(db, user_id, false) : rc;
}

int chat_user_set_active(struct chat_db *db, const char *username, bool active)
{
    long long user_id;
    int rc = chat_user_find_by_username(db, username, &user_id);
    if (rc != CHAT_OK)
        return rc;
    /* First the flag (new sessions are refused from its commit on: chat_session_create
     * reads it under a shared lock), then the sessions that exist. */
    rc = chat_db_exec(db,
                      active ? "UPDATE users SET deactivated_at = NULL WHERE id = ?"
                             : "UPDATE users SET deactivated_at = COALESCE(deactivated_at, "
                               "UTC_TIMESTAMP(6)) WHERE id = ?",
                      CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    if (rc != CHAT_OK || active)
        return rc;
    return chat_sessions_revoke_user(db, user_id, true);
}

int chat_user_authenticate(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password, long long *user_id)
{
    struct chat_db_result r = {0};
    /* A name no user can have is not looked up: the column is ascii, and comparing it with
     * non-ASCII text is an "illegal mix of collations" error, not a miss. */
    int rc = !chat_username_valid(username)
                 ? CHAT_OK
                 : chat_db_query(db, "SELECT id, password_hash, deactivated_at IS NOT NULL "
                                     "FROM users WHERE username = ?",
                                 CHAT_DB_PARAMS(DB_STR(username)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0) {
        chat_db_result_free(&r);
        chat_password_dummy_verify(cfg, password);
        return CHAT_E_AUTH_FAILED;
    }
    bool ok = chat_password_verify(chat_db_cell(&r, 0, 1), password);
    bool deactivated = chat_db_cell_int(&r, 0, 2) != 0;
    *user_id = chat_db_cell_int(&r, 0, 0);
    chat_db_result_free(&r);
    /* Only the right password learns that the account is deactivated. */
    return !ok ? CHAT_E_AUTH_FAILED : deactivated ? CHAT_E_FORBIDDEN : CHAT_OK;
}

int chat_user_get_json(struct chat_db *db, long long user_id, json_object **out)
{
    return chat_query_one_json(db, "SELECT id, username, display_name FROM users WHERE id = ?",
                               CHAT_DB_PARAMS(DB_INT(user_id)), chat_user_json_from_row, out);
}

int chat_user_find_by_username(struct chat_db *db, const char *username, long long *user_id)
{
    if (!chat_username_valid(username))
        return CHAT_E_NOT_FOUND; /* see chat_user_authenticate */
    return chat_db_query_int(db, "SELECT id FROM users WHERE username = ?",
                             CHAT_DB_PARAMS(DB_STR(username)), user_id);
}

int chat_user_search_json(struct chat_db *db, const char *q, int limit, json_object **out_array)
{
    /* Escape LIKE wildcards so a query of "%" matches a literal percent sign. The first
     * CHAT_DISPLAY_NAME_MAX characters count, cut at a character (a byte cut could send
     * MariaDB half a character: an error, not a search). */
    char pattern[2 * 4 * CHAT_DISPLAY_NAME_MAX + 2];
    size_t n = 0, qlen = chat_utf8_prefix_len(q, strlen(q), CHAT_DISPLAY_NAME_MAX);
    for (size_t i = 0; i < qlen; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            pattern[n++] = '\\';
        pattern[n++] = q[i];
    }
    pattern[n++] = '%';
    pattern[n] = '\0';
    bool ascii = true;
    for (size_t i = 0; i < qlen; i++)
        ascii = ascii && (unsigned char)q[i] < 0x80;
    struct chat_db_result r;
    /* username is an ascii column: LIKE with a non-ASCII pattern is an "illegal mix of
     * collations" error, and no username could match one anyway. */
    int rc = ascii ? chat_db_query(db,
                                   "SELECT id, username, display_name FROM users "
                                   "WHERE username LIKE ? OR display_name LIKE ? "
                                   "ORDER BY username LIMIT ?",
                                   CHAT_DB_PARAMS(DB_STR(pattern), DB_STR(pattern), DB_INT(limit)),
                                   &r)
                   : chat_db_query(db,
                                   "SELECT id, username, display_name FROM users "
                                   "WHERE display_name LIKE ? ORDER BY username LIMIT ?",
                                   CHAT_DB_PARAMS(DB_STR(pattern), DB_INT(limit)), &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < r.nrows; i++)
        json_object_array_add(arr, chat_user_json_from_row(&r, i, 0));
    chat_db_result_free(&r);
    *out_array = arr;
    return CHAT_OK;
}

int chat_users_get_json_many(struct chat_db *db, const long long *user_ids, size_t n,
                             json_object **out)
{
    static const char sql[] =
        "SELECT id, username, display_name FROM users WHERE id IN " CHAT_DB_IN_LIST;
    struct chat_db_result r;
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    int rc = chat_db_query_ids(db, sql, user_ids, n, NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned row = 0; row < r.nrows; row++) {
        long long id = chat_db_cell_int(&r, row, 0);
        for (size_t i = 0; i < n; i++)
            if (user_ids[i] == id && !out[i])
                out[i] = chat_user_json_from_row(&r, row, 0);
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}
