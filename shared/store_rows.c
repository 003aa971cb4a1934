/* Layer 1 (bottom) of the data layer: turning result rows into JSON. The row -> object
 * converters for users, messages and attachments, timestamps in RFC 3339, and
 * chat_query_one_json. Calls only shared/db.c and json_util.c, never another store file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"
#include "strbuf.h"
#include "xalloc.h"

const char *chat_time_rfc3339(const char *db_time, char out[32])
{
    if (!db_time)
        return NULL;
    /* "YYYY-MM-DD HH:MM:SS" optionally followed by ".ffffff". */
    size_t n = strlen(db_time);
    if (n < 19 || n > 26) {
        snprintf(out, 32, "%s", db_time);
        return out;
    }
    memcpy(out, db_time, n);
    out[10] = 'T';
    if (n == 19) {
        memcpy(out + 19, ".000000", 7);
        n = 26;
    }
    out[n] = 'Z';
    out[n + 1] = '\0';
    return out;
}

json_object *chat_user_json_from_row(const struct chat_db_result *r, unsigned row, unsigned col)
{
    long long id = chat_db_cell_int(r, row, col);
    bool deleted = chat_db_cell_int(r, row, col + 4) != 0;
    const char *avatar = chat_db_cell(r, row, col + 3);
    json_object *u = json_object_new_object();
    chat_json_put(u, "id", json_object_new_int64(id));
    chat_json_put(u, "username",
                           json_object_new_string(deleted ? "" : chat_db_cell(r, row, col + 1)));
    chat_json_put(u, "display_name",
                           json_object_new_string(deleted ? CHAT_DELETED_USER_NAME
                                                          : chat_db_cell(r, row, col + 2)));
    if (avatar && !deleted) {
        /* The version is the image's hash: a new avatar is a new URL, so one URL can be
         * cached for good (routes_profile.c). */
        char url[96];
        snprintf(url, sizeof(url), "/api/users/%lld/avatar/?v=%.16s", id, avatar);
        chat_json_put(u, "avatar_url", json_object_new_string(url));
    } else {
        chat_json_put(u, "avatar_url", NULL);
    }
    chat_json_put(u, "deleted", json_object_new_boolean(deleted));
    chat_json_put(u, "is_bot", json_object_new_boolean(chat_db_cell_int(r, row, col + 5) != 0));
    return u;
}

int chat_query_ids(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                   unsigned nparams, long long **ids, size_t *count)
{
    struct chat_db_result r;
    *ids = NULL;
    *count = 0;
    int rc = chat_db_query(db, sql, params, nparams, &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows) {
        *ids = chat_xreallocarray(NULL, r.nrows, sizeof(**ids));
        for (unsigned i = 0; i < r.nrows; i++)
            (*ids)[i] = chat_db_cell_int(&r, i, 0);
    }
    *count = r.nrows;
    chat_db_result_free(&r);
    return CHAT_OK;
}

int chat_query_one_json(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                        unsigned nparams, chat_row_json_fn build, json_object **out)
{
    struct chat_db_result r;
    int rc = chat_db_query_row(db, sql, params, nparams, &r);
    if (rc != CHAT_OK)
        return rc;
    *out = build(&r, 0, 0);
    chat_db_result_free(&r);
    return CHAT_OK;
}

json_object *chat_message_json_build(const struct chat_message_fields *f)
{
    char created[32], edited[32];
    json_object *m = json_object_new_object();
    chat_json_put(m, "id", json_object_new_int64(f->id));
    chat_json_put(m, "conversation_id", json_object_new_int64(f->conversation_id));
    chat_json_put(m, "sender", f->sender);
    chat_json_put(m, "text", json_object_new_string(f->deleted ? "" : f->text));
    chat_json_put_string_or_null(m, "created_at", chat_time_rfc3339(f->created_at, created));
    chat_json_put_string_or_null(m, "edited_at", chat_time_rfc3339(f->edited_at, edited));
    chat_json_put(m, "deleted", json_object_new_boolean(f->deleted));
    chat_json_put(m, "reply_to", f->reply_to == 0 ? NULL : json_object_new_int64(f->reply_to));
    chat_json_put_string_or_null(m, "client_msg_id", f->client_msg_id);
    /* Most messages have no reactions, attachments or mentions: room for one each, not
     * json-c's default of 32 (the decorators' appends grow them). */
    chat_json_put(m, "reactions", json_object_new_array_ext(1));
    chat_json_put(m, "attachments", json_object_new_array_ext(1));
    /* Written by chat_mentions_store only, so it is an array or NULL; anything else
     * (a hand-edited row) reads as no mentions rather than breaking the message. */
    json_object *mentions = NULL;
    if (!f->deleted && f->mentions_json)
        mentions = json_tokener_parse(f->mentions_json);
    if (!json_object_is_type(mentions, json_type_array)) {
        json_object_put(mentions);
        mentions = json_object_new_array_ext(1);
    }
    chat_json_put(m, "mentions", mentions);
    return m;
}

json_object *chat_message_json_from_row(const struct chat_db_result *r, unsigned row)
{
    return chat_message_json_from_cols(r, row, 0);
}

json_object *chat_message_json_from_cols(const struct chat_db_result *r, unsigned row,
                                         unsigned c)
{
    /* CHAT_MESSAGE_COLUMNS: id, conversation, the sender's user columns, then these. */
    const unsigned t = c + 2 + CHAT_USER_COLUMNS_COUNT;
    return chat_message_json_build(&(struct chat_message_fields){
            .id = chat_db_cell_int(r, row, c),
            .conversation_id = chat_db_cell_int(r, row, c + 1),
            .sender = chat_user_json_from_row(r, row, c + 2),
            .text = chat_db_cell(r, row, t),
            .created_at = chat_db_cell(r, row, t + 1),
            .edited_at = chat_db_cell(r, row, t + 2),
            .deleted = !chat_db_cell_is_null(r, row, t + 3),
            .reply_to = chat_db_cell_is_null(r, row, t + 4) ? 0 : chat_db_cell_int(r, row, t + 4),
            .client_msg_id = chat_db_cell(r, row, t + 5),
            .mentions_json = chat_db_cell_is_null(r, row, t + 6) ? NULL : chat_db_cell(r, row, t + 6),
    });
}

char *chat_ids_json(const long long *ids, size_t n)
{
    struct strbuf b = {0};
    strbuf_puts(&b, "[");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&b, "%s%lld", i ? "," : "", ids[i]);
    strbuf_puts(&b, "]");
    return strbuf_detach(&b, NULL);
}

char *chat_message_ids_json(json_object *messages)
{
    size_t n = json_object_array_length(messages);
    long long *ids = chat_xcalloc(n ? n : 1, sizeof(*ids));
    for (size_t i = 0; i < n; i++)
        ids[i] = json_object_get_int64(
                json_object_object_get(json_object_array_get_idx(messages, i), "id"));
    char *json = chat_ids_json(ids, n);
    free(ids);
    return json;
}

json_object *chat_attachment_json_from_row(const struct chat_db_result *r, unsigned row,
                                           unsigned col)
{
    char url[64];
    long long id = chat_db_cell_int(r, row, col);
    json_object *a = json_object_new_object();
    chat_json_put(a, "id", json_object_new_int64(id));
    chat_json_put(a, "filename", json_object_new_string(chat_db_cell(r, row, col + 1)));
    chat_json_put(a, "size", json_object_new_int64(chat_db_cell_int(r, row, col + 2)));
    chat_json_put(a, "content_type",
                           json_object_new_string(chat_db_cell(r, row, col + 3)));
    chat_json_put(a, "sha256", json_object_new_string(chat_db_cell(r, row, col + 4)));
    snprintf(url, sizeof(url), "/api/chat/attachments/%lld/", id);
    chat_json_put(a, "url", json_object_new_string(url));
    return a;
}

void chat_rows_group_by_key(const struct chat_db_result *r, const long long *keys, size_t n,
                            long long **values, size_t *counts)
{
    for (size_t i = 0; i < n; i++) {
        values[i] = NULL;
        counts[i] = 0;
    }
    for (unsigned start = 0, end; start < r->nrows; start = end) {
        long long key = chat_db_cell_int(r, start, 0);
        for (end = start + 1; end < r->nrows && chat_db_cell_int(r, end, 0) == key; end++)
            ;
        for (size_t i = 0; i < n; i++) {
            if (keys[i] != key || values[i])
                continue;
            values[i] = chat_xreallocarray(NULL, end - start, sizeof(long long));
            for (unsigned k = start; k < end; k++)
                values[i][k - start] = chat_db_cell_int(r, k, 1);
            counts[i] = end - start;
        }
    }
}

json_object *chat_participants_json_from_rows(const struct chat_db_result *r)
{
    json_object *arr = json_object_new_array_ext((int)r->nrows);
    for (unsigned i = 0; i < r->nrows; i++) {
        char joined[32];
        json_object *p = chat_user_json_from_row(r, i, 0);
        chat_json_add_nullable_string(
                p, "joined_at",
                chat_time_rfc3339(chat_db_cell(r, i, CHAT_USER_COLUMNS_COUNT), joined));
        json_object_object_add(p, "role", json_object_new_string(
                                              chat_db_cell(r, i, CHAT_USER_COLUMNS_COUNT + 1)));
        json_object_array_add(arr, p);
    }
    return arr;
}

const char *chat_notify_level_effective(bool is_group, long long members, const char *setting)
{
    if (setting && *setting)
        return setting;
    return is_group && members > CHAT_NOTIFY_MENTIONS_DEFAULT_OVER ? "mentions" : "all";
}

void chat_notify_fields_add(json_object *obj, bool is_group, long long members,
                            const char *setting, const char *muted_until)
{
    char t[32];
    json_object_object_add(obj, "notify_level", json_object_new_string(
                                                    chat_notify_level_effective(is_group, members,
                                                                                setting)));
    chat_json_add_nullable_string(obj, "notify_level_setting", setting);
    chat_json_add_nullable_string(obj, "muted_until", chat_time_rfc3339(muted_until, t));
}

void chat_conv_drop_own_fields(json_object *conv)
{
    static const char *const own[] = {"unread_mention_count", "notify_level",
                                      "notify_level_setting", "muted_until"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        json_object_object_del(conv, own[i]);
}
