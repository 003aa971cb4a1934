/* Layer 1 (bottom) of the data layer: the audit log of moderation actions (site admins,
 * group admins and the operator's chatctl). A row is written inside the transaction of
 * the action it records, so there is no action without its row and no row without its
 * action. Calls only shared/db.c and store_rows.c's time helper. */
#include <stdio.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"

int chat_audit_append(struct chat_db *db, const struct chat_audit_entry *e)
{
    /* The names are copied now: the log must still say who it was after a rename or an
     * account's deletion. An actor id of 0 is the operator. */
    return chat_db_exec(
        db,
        "INSERT INTO audit_log (actor_id, actor_name, action, target_user_id, target_name, "
        "conversation_id, message_id, detail) VALUES (NULLIF(?, 0), "
        "CASE WHEN ? = 0 THEN 'operator' ELSE "
        "COALESCE((SELECT username FROM users WHERE id = ?), '?') END, "
        "?, NULLIF(?, 0), (SELECT username FROM users WHERE id = ?), NULLIF(?, 0), NULLIF(?, 0), ?)",
        CHAT_DB_PARAMS(DB_INT(e->actor_id), DB_INT(e->actor_id), DB_INT(e->actor_id),
                       DB_STR(e->action), DB_INT(e->target_user_id), DB_INT(e->target_user_id),
                       DB_INT(e->conversation_id), DB_INT(e->message_id),
                       DB_STR_OR_NULL(e->detail)),
        NULL, NULL);
}

/* A nullable id column as JSON: null when the cell is NULL. */
static void add_id(json_object *o, const char *key, const struct chat_db_result *r,
                   unsigned row, unsigned col)
{
    chat_json_add_nullable_int(o, key, chat_db_cell_int(r, row, col),
                               chat_db_cell_is_null(r, row, col));
}

int chat_audit_page_json(struct chat_db *db, long long user_id, long long before, int limit,
                         json_object **out)
{
    struct chat_db_result r;
    /* One row more than asked tells whether there is another page. */
    int rc = chat_db_query(
        db,
        "SELECT id, created_at, actor_id, actor_name, action, target_user_id, target_name, "
        "conversation_id, message_id, detail FROM audit_log "
        "WHERE (? = 0 OR id < ?) AND (? = 0 OR actor_id = ? OR target_user_id = ?) "
        "ORDER BY id DESC LIMIT ?",
        CHAT_DB_PARAMS(DB_INT(before), DB_INT(before), DB_INT(user_id), DB_INT(user_id),
                       DB_INT(user_id), DB_INT(limit + 1)),
        &r);
    if (rc != CHAT_OK)
        return rc;
    unsigned n = r.nrows > (unsigned)limit ? (unsigned)limit : r.nrows;
    json_object *arr = json_object_new_array_ext((int)n);
    for (unsigned i = 0; i < n; i++) {
        char at[32];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_int64(chat_db_cell_int(&r, i, 0)));
        chat_json_add_nullable_string(o, "created_at",
                                      chat_time_rfc3339(chat_db_cell(&r, i, 1), at));
        add_id(o, "actor_id", &r, i, 2);
        json_object_object_add(o, "actor", json_object_new_string(chat_db_cell(&r, i, 3)));
        json_object_object_add(o, "action", json_object_new_string(chat_db_cell(&r, i, 4)));
        add_id(o, "target_user_id", &r, i, 5);
        chat_json_add_nullable_string(o, "target", chat_db_cell(&r, i, 6));
        add_id(o, "conversation_id", &r, i, 7);
        add_id(o, "message_id", &r, i, 8);
        chat_json_add_nullable_string(o, "detail", chat_db_cell(&r, i, 9));
        json_object_array_add(arr, o);
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "results", arr);
    json_object_object_add(*out, "has_more", json_object_new_boolean(r.nrows > n));
    chat_db_result_free(&r);
    return CHAT_OK;
}
