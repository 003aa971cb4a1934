/* Layer 2 (records) of the data layer: users. Creation, credentials, lookup and the user
 * object; for site administration the admin flag, deactivation (audited) and the paged
 * user list. Calls store_rows.c, store_sessions.c and store_audit.c (layer 1). */
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

/* The display name stored for a new account (the username when none is given) into
 * out: controls and bidi overrides are removed, not refused, so a name pasted with a
 * stray mark still registers and what others see cannot be reordered or hidden.
 * CHAT_E_VALIDATION when it is too long or nothing is left. */
static int clean_display_name(const char *display_name, const char *username,
                              char out[4 * CHAT_DISPLAY_NAME_MAX + 1])
{
    if (!display_name || !*display_name)
        display_name = username;
    size_t dlen = strlen(display_name);
    if (dlen > 4 * CHAT_DISPLAY_NAME_MAX || chat_utf8_strip_controls(display_name, dlen, out) == 0)
        return CHAT_E_VALIDATION;
    return CHAT_OK;
}

int chat_user_create(struct chat_db *db, const struct chat_config *cfg, const char *username,
                     const char *display_name, const char *password, long long *user_id)
{
    if (!chat_username_valid(username) || check_password(password) != CHAT_OK)
        return CHAT_E_VALIDATION;
    char display[4 * CHAT_DISPLAY_NAME_MAX + 1];
    if (clean_display_name(display_name, username, display) != CHAT_OK)
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

int chat_bot_create(struct chat_db *db, const char *username, const char *display_name,
                    long long *user_id, char token[CHAT_BOT_TOKEN_CHARS + 1])
{
    char display[4 * CHAT_DISPLAY_NAME_MAX + 1];
    if (!chat_username_valid(username) || clean_display_name(display_name, username, display) != CHAT_OK)
        return CHAT_E_VALIDATION;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    unsigned long long id = 0;
    /* '!' is no argon2id hash: no password ever verifies against it, so a bot cannot log
     * in (the same mark as a deleted account's). */
    rc = chat_db_exec(db,
                      "INSERT INTO users (username, display_name, password_hash, is_bot) "
                      "VALUES (?, ?, '!', TRUE)",
                      CHAT_DB_PARAMS(DB_STR(username), DB_STR(display)), NULL, &id);
    if (rc == CHAT_OK)
        rc = chat_bot_token_set(db, (long long)id, token);
    rc = chat_db_end(db, rc);
    if (rc == CHAT_OK)
        *user_id = (long long)id;
    return rc;
}

int chat_bot_find(struct chat_db *db, const char *username, long long *user_id)
{
    return chat_db_query_int(db, "SELECT id FROM users WHERE username = ? AND is_bot",
                             CHAT_DB_PARAMS(DB_STR(username)), user_id);
}

/* Stores the argon2id hash of password (length checked first) as user_id's. */
static int store_password(struct chat_db *db, const struct chat_config *cfg, long long user_id,
                          const char *password)
{
    if (check_password(password) != CHAT_OK)
        return CHAT_E_VALIDATION;
    char hash[128];
    int rc = chat_password_hash(cfg, password, hash);
    if (rc != CHAT_OK)
        return rc;
    unsigned long long affected = 0;
    rc = chat_db_exec(db, "UPDATE users SET password_hash = ? WHERE id = ?",
                      CHAT_DB_PARAMS(DB_STR(hash), DB_INT(user_id)), &affected, NULL);
    return rc == CHAT_OK && affected == 0 ? CHAT_E_NOT_FOUND : rc;
}

int chat_user_set_password(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password)
{
    long long user_id;
    int rc = chat_user_find_by_username(db, username, &user_id);
    if (rc == CHAT_OK)
        rc = store_password(db, cfg, user_id, password);
    /* A new password ends every existing session of that user, and their connections. */
    return rc == CHAT_OK ? chat_sessions_revoke_user(db, user_id, false) : rc;
}

int chat_user_verify_password(struct chat_db *db, const struct chat_config *cfg,
                              long long user_id, const char *password)
{
    struct chat_db_result r;
    int rc = chat_db_query_row(db, "SELECT password_hash FROM users WHERE id = ?",
                               CHAT_DB_PARAMS(DB_INT(user_id)), &r);
    if (rc == CHAT_E_NOT_FOUND) {
        chat_password_dummy_verify(cfg, password);
        return CHAT_E_AUTH_FAILED;
    }
    if (rc != CHAT_OK)
        return rc;
    bool ok = chat_password_verify(chat_db_cell(&r, 0, 0), password);
    chat_db_result_free(&r);
    return ok ? CHAT_OK : CHAT_E_AUTH_FAILED;
}

int chat_user_change_password(struct chat_db *db, const struct chat_config *cfg,
                              long long user_id, long long keep_session_id, const char *password)
{
    int rc = store_password(db, cfg, user_id, password);
    /* Whoever else held a session (perhaps the reason for the change) is out, sockets
     * included; the caller's own session stays. */
    return rc == CHAT_OK ? chat_sessions_revoke_others(db, user_id, keep_session_id) : rc;
}

int chat_user_set_active(struct chat_db *db, long long actor_id, long long user_id, bool active,
                         bool *changed)
{
    *changed = false;
    if (actor_id != 0 && actor_id == user_id)
        return CHAT_E_CONFLICT; /* an admin cannot shut themselves out */
    long long was_active = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_int(db, "SELECT deactivated_at IS NULL FROM users WHERE id = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_INT(user_id)), &was_active);
    if (rc != CHAT_OK || (was_active != 0) == active)
        goto out;
    /* First the flag (new sessions are refused from its commit on: chat_session_create
     * reads it under a shared lock), then the sessions that exist. */
    rc = chat_db_exec(db,
                      active ? "UPDATE users SET deactivated_at = NULL WHERE id = ?"
                             : "UPDATE users SET deactivated_at = UTC_TIMESTAMP(6) WHERE id = ?",
                      CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_audit_append(db, &(struct chat_audit_entry){
                                       .actor_id = actor_id,
                                       .action = active ? "user.reactivated" : "user.deactivated",
                                       .target_user_id = user_id});
    *changed = rc == CHAT_OK;
out:
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK) {
        *changed = false;
        return rc;
    }
    /* Also when it was deactivated already: a session that slipped in is ended too. */
    return active ? CHAT_OK : chat_sessions_revoke_user(db, user_id, true);
}

int chat_user_set_admin(struct chat_db *db, long long actor_id, long long user_id, bool admin,
                        bool *changed)
{
    unsigned long long affected = 0;
    *changed = false;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_int(db, "SELECT id FROM users WHERE id = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_INT(user_id)), NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "UPDATE users SET is_admin = ? WHERE id = ? AND is_admin <> ?",
                          CHAT_DB_PARAMS(DB_INT(admin), DB_INT(user_id), DB_INT(admin)), &affected,
                          NULL);
    if (rc == CHAT_OK && affected > 0)
        rc = chat_audit_append(db, &(struct chat_audit_entry){
                                       .actor_id = actor_id,
                                       .action = admin ? "user.admin_granted" : "user.admin_revoked",
                                       .target_user_id = user_id});
    *changed = rc == CHAT_OK && affected > 0;
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *changed = false;
    return rc;
}

int chat_user_is_site_admin(struct chat_db *db, long long user_id)
{
    return chat_db_query_int(db, "SELECT 1 FROM users WHERE id = ? AND is_admin",
                             CHAT_DB_PARAMS(DB_INT(user_id)), NULL);
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
    return chat_query_one_json(db, "SELECT " CHAT_USER_COLUMNS("u") " FROM users u WHERE u.id = ?",
                               CHAT_DB_PARAMS(DB_INT(user_id)), chat_user_json_from_row, out);
}

int chat_user_check_visible(struct chat_db *db, long long viewer_id, long long user_id)
{
    if (viewer_id == user_id)
        return CHAT_OK;
    return chat_db_query_int(db,
                             "SELECT 1 FROM participants p1 JOIN participants p2 "
                             "ON p2.conversation_id = p1.conversation_id AND p2.user_id = ? "
                             "WHERE p1.user_id = ? LIMIT 1",
                             CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(viewer_id)), NULL);
}

int chat_user_find_by_username(struct chat_db *db, const char *username, long long *user_id)
{
    if (!chat_username_valid(username))
        return CHAT_E_NOT_FOUND; /* see chat_user_authenticate */
    return chat_db_query_int(db, "SELECT id FROM users WHERE username = ?",
                             CHAT_DB_PARAMS(DB_STR(username)), user_id);
}

/* The LIKE pattern matching names that contain (prefix_only: start with) q, wildcards
 * in q escaped, so a query of "%" matches a literal percent sign. The first
 * CHAT_DISPLAY_NAME_MAX characters count, cut at a character (a byte cut could send
 * MariaDB half a character: an error, not a search). *ascii tells whether q is ASCII:
 * username is an ascii column, and LIKE with a non-ASCII pattern is an "illegal mix of
 * collations" error (no username could match one anyway). */
static void like_pattern(const char *q, bool prefix_only,
                         char pattern[2 * 4 * CHAT_DISPLAY_NAME_MAX + 3], bool *ascii)
{
    size_t n = 0, qlen = chat_utf8_prefix_len(q, strlen(q), CHAT_DISPLAY_NAME_MAX);
    *ascii = true;
    if (!prefix_only)
        pattern[n++] = '%';
    for (size_t i = 0; i < qlen; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            pattern[n++] = '\\';
        pattern[n++] = q[i];
        *ascii = *ascii && (unsigned char)q[i] < 0x80;
    }
    pattern[n++] = '%';
    pattern[n] = '\0';
}

int chat_user_search_json(struct chat_db *db, const char *q, int limit, json_object **out_array)
{
    char pattern[2 * 4 * CHAT_DISPLAY_NAME_MAX + 3];
    bool ascii;
    like_pattern(q, true, pattern, &ascii);
    struct chat_db_result r;
    int rc = ascii ? chat_db_query(db,
                                   "SELECT " CHAT_USER_COLUMNS("u") " FROM users u "
                                   "WHERE (username LIKE ? OR display_name LIKE ?) "
                                   "AND deleted_at IS NULL ORDER BY username LIMIT ?",
                                   CHAT_DB_PARAMS(DB_STR(pattern), DB_STR(pattern), DB_INT(limit)),
                                   &r)
                   : chat_db_query(db,
                                   "SELECT " CHAT_USER_COLUMNS("u") " FROM users u "
                                   "WHERE display_name LIKE ? AND deleted_at IS NULL "
                                   "ORDER BY username LIMIT ?",
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

/* The admin's user object from the ADMIN_USER_COLUMNS cells of row i. */
#define ADMIN_USER_COLUMNS                                                                   \
    "SELECT " CHAT_USER_COLUMNS("users") ", is_admin, deactivated_at, created_at FROM users "
static json_object *admin_user_json(const struct chat_db_result *r, unsigned row, unsigned col)
{
    char t1[32], t2[32];
    json_object *u = chat_user_json_from_row(r, row, col);
    json_object_object_add(u, "is_admin", json_object_new_boolean(chat_db_cell_int(r, row, col + CHAT_USER_COLUMNS_COUNT)));
    chat_json_add_nullable_string(u, "deactivated_at",
                                  chat_time_rfc3339(chat_db_cell(r, row, col + CHAT_USER_COLUMNS_COUNT + 1), t1));
    chat_json_add_nullable_string(u, "created_at",
                                  chat_time_rfc3339(chat_db_cell(r, row, col + CHAT_USER_COLUMNS_COUNT + 2), t2));
    return u;
}

int chat_admin_user_get_json(struct chat_db *db, long long user_id, json_object **out)
{
    return chat_query_one_json(db, ADMIN_USER_COLUMNS "WHERE id = ?",
                               CHAT_DB_PARAMS(DB_INT(user_id)), admin_user_json, out);
}

int chat_admin_users_page_json(struct chat_db *db, const char *q, long long after, int limit,
                               json_object **out)
{
    char pattern[2 * 4 * CHAT_DISPLAY_NAME_MAX + 3];
    bool ascii;
    like_pattern(q, false, pattern, &ascii);
    struct chat_db_result r;
    /* One row more than asked tells whether there is another page. */
    int rc = ascii ? chat_db_query(db,
                                   ADMIN_USER_COLUMNS "WHERE id > ? AND (username LIKE ? OR "
                                   "display_name LIKE ?) ORDER BY id LIMIT ?",
                                   CHAT_DB_PARAMS(DB_INT(after), DB_STR(pattern), DB_STR(pattern),
                                                  DB_INT(limit + 1)),
                                   &r)
                   : chat_db_query(db,
                                   ADMIN_USER_COLUMNS "WHERE id > ? AND display_name LIKE ? "
                                   "ORDER BY id LIMIT ?",
                                   CHAT_DB_PARAMS(DB_INT(after), DB_STR(pattern), DB_INT(limit + 1)),
                                   &r);
    if (rc != CHAT_OK)
        return rc;
    unsigned n = r.nrows > (unsigned)limit ? (unsigned)limit : r.nrows;
    json_object *arr = json_object_new_array_ext((int)n);
    for (unsigned i = 0; i < n; i++)
        json_object_array_add(arr, admin_user_json(&r, i, 0));
    *out = json_object_new_object();
    json_object_object_add(*out, "results", arr);
    json_object_object_add(*out, "has_more", json_object_new_boolean(r.nrows > n));
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_users_get_json_many(struct chat_db *db, const long long *user_ids, size_t n,
                             json_object **out)
{
    static const char sql[] =
        "SELECT " CHAT_USER_COLUMNS("users") " FROM users WHERE id IN " CHAT_DB_IN_LIST;
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
