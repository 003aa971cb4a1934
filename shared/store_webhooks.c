/* Layer 2 (records) of the data layer: the webhooks chat-notify posts to (an operator's
 * offline-notification webhooks and bots' outgoing URLs), each with the secret that
 * signs its bodies, and their delivery counts. Calls store_rows.c (layer 1). chatctl is
 * the only writer; chat-notify reads them (notify/). */
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "errors.h"
#include "store.h"
#include "store_internal.h"

bool chat_webhook_url_valid(const char *url)
{
    size_t n = strlen(url);
    if (n > CHAT_WEBHOOK_URL_MAX)
        return false;
    size_t scheme = !strncmp(url, "http://", 7) ? 7 : !strncmp(url, "https://", 8) ? 8 : 0;
    if (!scheme || n == scheme || url[scheme] == '/')
        return false;
    /* Printable ASCII without spaces: what goes into a request line unchanged. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return false;
    return true;
}

int chat_webhook_add(struct chat_db *db, const char *kind, const char *url, long long bot_user_id,
                     char secret[CHAT_TOKEN_CHARS + 1], long long *webhook_id)
{
    if (!chat_webhook_url_valid(url))
        return CHAT_E_VALIDATION;
    chat_token_new(secret);
    if (bot_user_id) {
        /* A bot has one outgoing URL: setting another replaces it and its secret (its
         * pending deliveries then go to the new URL, signed with the new secret). */
        unsigned long long changed = 0;
        int rc = chat_db_exec(db, "UPDATE webhooks SET url = ?, secret = ? WHERE bot_user_id = ?",
                              CHAT_DB_PARAMS(DB_STR(url), DB_STR(secret), DB_INT(bot_user_id)),
                              &changed, NULL);
        if (rc != CHAT_OK)
            return rc;
        if (changed)
            return chat_db_query_int(db, "SELECT id FROM webhooks WHERE bot_user_id = ?",
                                     CHAT_DB_PARAMS(DB_INT(bot_user_id)), webhook_id);
    }
    unsigned long long id = 0;
    int rc = chat_db_exec(db, "INSERT INTO webhooks (kind, url, secret, bot_user_id) VALUES (?, ?, ?, ?)",
                          CHAT_DB_PARAMS(DB_STR(kind), DB_STR(url), DB_STR(secret),
                                         bot_user_id ? DB_INT(bot_user_id) : DB_NULL),
                          NULL, &id);
    if (rc == CHAT_OK && webhook_id)
        *webhook_id = (long long)id;
    return rc;
}

int chat_webhook_remove(struct chat_db *db, long long webhook_id)
{
    unsigned long long affected = 0;
    int rc = chat_db_exec(db, "DELETE FROM webhooks WHERE id = ?",
                          CHAT_DB_PARAMS(DB_INT(webhook_id)), &affected, NULL);
    return rc == CHAT_OK && affected == 0 ? CHAT_E_NOT_FOUND : rc;
}

int chat_webhooks_list_json(struct chat_db *db, json_object **out_array)
{
    struct chat_db_result r;
    int rc = chat_db_query(
        db,
        "SELECT w.id, w.kind, w.url, u.username, w.created_at, "
        "COALESCE(SUM(d.state = 'pending'), 0), COALESCE(SUM(d.state = 'delivered'), 0), "
        "COALESCE(SUM(d.state = 'dropped'), 0) "
        "FROM webhooks w LEFT JOIN users u ON u.id = w.bot_user_id "
        "LEFT JOIN webhook_deliveries d ON d.webhook_id = w.id GROUP BY w.id ORDER BY w.id",
        NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr = json_object_new_array_ext((int)r.nrows);
    for (unsigned i = 0; i < r.nrows; i++) {
        char at[32];
        json_object *w = json_object_new_object();
        json_object_object_add(w, "id", json_object_new_int64(chat_db_cell_int(&r, i, 0)));
        json_object_object_add(w, "kind", json_object_new_string(chat_db_cell(&r, i, 1)));
        json_object_object_add(w, "url", json_object_new_string(chat_db_cell(&r, i, 2)));
        chat_json_add_nullable_string(w, "bot", chat_db_cell(&r, i, 3));
        chat_json_add_nullable_string(w, "created_at", chat_time_rfc3339(chat_db_cell(&r, i, 4), at));
        json_object_object_add(w, "pending", json_object_new_int64(chat_db_cell_int(&r, i, 5)));
        json_object_object_add(w, "delivered", json_object_new_int64(chat_db_cell_int(&r, i, 6)));
        json_object_object_add(w, "dropped", json_object_new_int64(chat_db_cell_int(&r, i, 7)));
        json_object_array_add(arr, w);
    }
    chat_db_result_free(&r);
    *out_array = arr;
    return CHAT_OK;
}
