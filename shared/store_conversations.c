/* Layer 4 (conversation views) of the data layer: the conversation objects as a viewer
 * sees them, for the list, for one conversation and for event payloads, each embedding
 * its last message. Calls message views (store_messages.c: decoration) and store_rows.c;
 * creation and every other change are in store_conversation_changes.c. */
#include "errors.h"
#include "store.h"
#include "store_internal.h"

/* Builds conversation objects for the viewer: every conversation when only_conv is 0,
 * else just that one. A fixed number of queries regardless of the number of
 * conversations. for_event leaves out the viewer-specific fields (unread_count,
 * unread_mention_count, the notification level and mute, and "me" in the last message's
 * reactions): an event payload reaches every participant. */
static int build_conversations(struct chat_db *db, long long viewer_id, long long only_conv,
                               bool for_event, json_object **out_array)
{
    struct chat_db_result convs = {0}, parts = {0}, lasts = {0};
    json_object *arr = NULL, *last_messages = NULL;
    int rc = chat_db_query(
        db,
        "SELECT c.id, c.is_group, c.name, c.created_at, c.last_activity_at, c.last_message_id, "
        "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id "
        "   AND m.id > p.last_read_message_id AND m.sender_id <> p.user_id "
        "   AND m.deleted_at IS NULL), "
        /* message_mentions_unread: one index range; tombstones have no rows left */
        "(SELECT COUNT(*) FROM message_mentions mm WHERE mm.user_id = p.user_id "
        "   AND mm.conversation_id = c.id AND mm.message_id > p.last_read_message_id), "
        "p.notify_level, IF(p.muted_until > NOW(6), p.muted_until, NULL) "
        "FROM participants p JOIN conversations c ON c.id = p.conversation_id "
        "WHERE p.user_id = ? AND (? = 0 OR c.id = ?) "
        "ORDER BY c.last_activity_at DESC, c.id DESC LIMIT 200",
        CHAT_DB_PARAMS(DB_INT(viewer_id), DB_INT(only_conv), DB_INT(only_conv)), &convs);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query(db,
                       "SELECT pp.conversation_id, " CHAT_USER_COLUMNS("u") ", "
                       "COALESCE(up.online, 0) AND bl.blocker_id IS NULL, pp.role "
                       "FROM participants p "
                       "JOIN participants pp ON pp.conversation_id = p.conversation_id "
                       "JOIN users u ON u.id = pp.user_id "
                       "LEFT JOIN user_presence up ON up.user_id = u.id "
                       /* who blocked the viewer shows as offline to them */
                       "LEFT JOIN user_blocks bl ON bl.blocker_id = u.id AND bl.blocked_id = p.user_id "
                       "WHERE p.user_id = ? AND (? = 0 OR p.conversation_id = ?) "
                       "ORDER BY pp.conversation_id, pp.joined_at, u.id",
                       CHAT_DB_PARAMS(DB_INT(viewer_id), DB_INT(only_conv), DB_INT(only_conv)),
                       &parts);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query(db,
                       "SELECT " CHAT_MESSAGE_COLUMNS " FROM participants p "
                       "JOIN conversations c ON c.id = p.conversation_id "
                       "JOIN messages m ON m.id = c.last_message_id "
                       "JOIN users u ON u.id = m.sender_id "
                       "WHERE p.user_id = ? AND (? = 0 OR p.conversation_id = ?)",
                       CHAT_DB_PARAMS(DB_INT(viewer_id), DB_INT(only_conv), DB_INT(only_conv)),
                       &lasts);
    if (rc != CHAT_OK)
        goto out;
    last_messages = json_object_new_array_ext((int)lasts.nrows);
    for (unsigned k = 0; k < lasts.nrows; k++)
        json_object_array_add(last_messages, chat_message_json_from_row(&lasts, k));
    rc = chat_messages_decorate(db, last_messages, for_event ? 0 : viewer_id);
    if (rc != CHAT_OK)
        goto out;

    arr = json_object_new_array_ext((int)convs.nrows);
    for (unsigned i = 0; i < convs.nrows; i++) {
        char t1[32], t2[32];
        long long id = chat_db_cell_int(&convs, i, 0);
        json_object *c = json_object_new_object();
        json_object_object_add(c, "id", json_object_new_int64(id));
        json_object_object_add(c, "is_group",
                               json_object_new_boolean(chat_db_cell_int(&convs, i, 1) != 0));
        chat_json_add_nullable_string(c, "name", chat_db_cell(&convs, i, 2));
        chat_json_add_nullable_string(c, "created_at",
                                      chat_time_rfc3339(chat_db_cell(&convs, i, 3), t1));
        chat_json_add_nullable_string(c, "last_activity_at",
                                      chat_time_rfc3339(chat_db_cell(&convs, i, 4), t2));
        json_object *plist = json_object_new_array();
        int members = 0;
        for (unsigned k = 0; k < parts.nrows; k++) {
            if (chat_db_cell_int(&parts, k, 0) != id)
                continue;
            members++;
            json_object *u = chat_user_json_from_row(&parts, k, 1);
            if (!for_event) /* presence (store_presence.c) changes without an event here */
                json_object_object_add(u, "online",
                                       json_object_new_boolean(chat_db_cell_int(
                                                       &parts, k, 1 + CHAT_USER_COLUMNS_COUNT)));
            json_object_object_add(u, "role", json_object_new_string(
                                                  chat_db_cell(&parts, k, 2 + CHAT_USER_COLUMNS_COUNT)));
            json_object_array_add(plist, u);
        }
        json_object_object_add(c, "participants", plist);
        json_object *last = NULL;
        for (unsigned k = 0; k < lasts.nrows && !last; k++)
            if (chat_db_cell_int(&lasts, k, 1) == id)
                last = json_object_get(json_object_array_get_idx(last_messages, k));
        json_object_object_add(c, "last_message", last);
        if (!for_event) {
            json_object_object_add(c, "unread_count",
                                   json_object_new_int64(chat_db_cell_int(&convs, i, 6)));
            json_object_object_add(c, "unread_mention_count",
                                   json_object_new_int64(chat_db_cell_int(&convs, i, 7)));
            chat_notify_fields_add(c, chat_db_cell_int(&convs, i, 1) != 0, members,
                                   chat_db_cell(&convs, i, 8), chat_db_cell(&convs, i, 9));
        }
        json_object_array_add(arr, c);
    }
    *out_array = arr;
out:
    json_object_put(last_messages);
    chat_db_result_free(&convs);
    chat_db_result_free(&parts);
    chat_db_result_free(&lasts);
    return rc;
}

int chat_conv_list_json(struct chat_db *db, long long viewer_id, json_object **out_array)
{
    return build_conversations(db, viewer_id, 0, false, out_array);
}

/* One conversation as viewer_id sees it (for_event: without viewer-specific fields). */
static int get_one(struct chat_db *db, long long conv_id, long long viewer_id, bool for_event,
                   json_object **out)
{
    json_object *arr = NULL;
    int rc = build_conversations(db, viewer_id, conv_id, for_event, &arr);
    if (rc != CHAT_OK)
        return rc;
    if (json_object_array_length(arr) == 0) {
        json_object_put(arr);
        return CHAT_E_NOT_FOUND;
    }
    *out = json_object_get(json_object_array_get_idx(arr, 0));
    json_object_put(arr);
    return CHAT_OK;
}

int chat_conv_get_json(struct chat_db *db, long long conv_id, long long viewer_id,
                       json_object **out)
{
    return get_one(db, conv_id, viewer_id, false, out);
}

int chat_conv_event_json(struct chat_db *db, long long conv_id, long long member_id,
                         json_object **out)
{
    return get_one(db, conv_id, member_id, true, out);
}
