/* Layer 4 (conversation views) of the data layer: the conversation objects as a viewer
 * sees them, for the list, for one conversation and for event payloads, each embedding
 * its last message. Calls message views (store_messages.c: decoration) and store_rows.c;
 * creation and every other change are in store_conversation_changes.c. */
#include <stdlib.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"
#include "xalloc.h"

/* The column of the conversations query where its last message's CHAT_MESSAGE_COLUMNS
 * begin (NULL when it has none). */
#define LAST_MESSAGE_COL 10

/* Builds conversation objects for the viewer: every conversation when only_conv is 0,
 * else just that one. Three statements whatever the number of conversations: the
 * conversations with their last messages, the participants, and the last messages'
 * reactions and attachments. for_event leaves out the viewer-specific fields (unread_count,
 * unread_mention_count, the notification level and mute, and "me" in the last message's
 * reactions): an event payload reaches every participant. */
static int build_conversations(struct chat_db *db, long long viewer_id, long long only_conv,
                               bool for_event, json_object **out_array)
{
    struct chat_db_result convs = {0}, parts = {0};
    json_object *arr = NULL, *last_messages = NULL;
    int *last_of = NULL; /* per conversation row: its index in last_messages, or -1 */
    long long *part_conv = NULL; /* per participants row: its conversation id */
    int rc = chat_db_query(
        db,
        "SELECT c.id, c.is_group, c.name, c.created_at, c.last_activity_at, c.last_message_id, "
        "(SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id "
        "   AND m.id > p.last_read_message_id AND m.sender_id <> p.user_id "
        "   AND m.deleted_at IS NULL), "
        /* message_mentions_unread: one index range; tombstones have no rows left */
        "(SELECT COUNT(*) FROM message_mentions mm WHERE mm.user_id = p.user_id "
        "   AND mm.conversation_id = c.id AND mm.message_id > p.last_read_message_id), "
        "p.notify_level, IF(p.muted_until > NOW(6), p.muted_until, NULL), "
        CHAT_MESSAGE_COLUMNS " "
        "FROM participants p JOIN conversations c ON c.id = p.conversation_id "
        "LEFT JOIN messages m ON m.id = c.last_message_id "
        "LEFT JOIN users u ON u.id = m.sender_id "
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
    last_messages = json_object_new_array_ext((int)convs.nrows);
    last_of = chat_xcalloc(convs.nrows ? convs.nrows : 1, sizeof(*last_of));
    for (unsigned i = 0; i < convs.nrows; i++) {
        last_of[i] = -1;
        if (chat_db_cell_is_null(&convs, i, LAST_MESSAGE_COL))
            continue;
        last_of[i] = (int)json_object_array_length(last_messages);
        json_object_array_add(last_messages,
                              chat_message_json_from_cols(&convs, i, LAST_MESSAGE_COL));
    }
    rc = chat_messages_decorate(db, last_messages, for_event ? 0 : viewer_id);
    if (rc != CHAT_OK)
        goto out;

    /* The participants rows are in conversation id order: each conversation's are found
     * by a binary search over their ids, parsed once, not by a scan of every row per
     * conversation (200 conversations of 3 are 120,000 parses). */
    part_conv = chat_xcalloc(parts.nrows ? parts.nrows : 1, sizeof(*part_conv));
    for (unsigned k = 0; k < parts.nrows; k++)
        part_conv[k] = chat_db_cell_int(&parts, k, 0);
    arr = json_object_new_array_ext((int)convs.nrows);
    for (unsigned i = 0; i < convs.nrows; i++) {
        char t1[32], t2[32];
        long long id = chat_db_cell_int(&convs, i, 0);
        json_object *c = json_object_new_object();
        chat_json_put(c, "id", json_object_new_int64(id));
        chat_json_put(c, "is_group",
                               json_object_new_boolean(chat_db_cell_int(&convs, i, 1) != 0));
        chat_json_put_string_or_null(c, "name", chat_db_cell(&convs, i, 2));
        chat_json_put_string_or_null(c, "created_at",
                                      chat_time_rfc3339(chat_db_cell(&convs, i, 3), t1));
        chat_json_put_string_or_null(c, "last_activity_at",
                                      chat_time_rfc3339(chat_db_cell(&convs, i, 4), t2));
        json_object *plist = json_object_new_array();
        int members = 0;
        unsigned lo = 0, hi = parts.nrows;
        while (lo < hi) {
            unsigned mid = lo + (hi - lo) / 2;
            if (part_conv[mid] < id)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (unsigned k = lo; k < parts.nrows && part_conv[k] == id; k++) {
            members++;
            json_object *u = chat_user_json_from_row(&parts, k, 1);
            if (!for_event) /* presence (store_presence.c) changes without an event here */
                chat_json_put(u, "online",
                              json_object_new_boolean(chat_db_cell_int(
                                                       &parts, k, 1 + CHAT_USER_COLUMNS_COUNT)));
            chat_json_put(u, "role", json_object_new_string(
                                                  chat_db_cell(&parts, k, 2 + CHAT_USER_COLUMNS_COUNT)));
            json_object_array_add(plist, u);
        }
        chat_json_put(c, "participants", plist);
        chat_json_put(c, "last_message",
                               last_of[i] < 0 ? NULL
                                              : json_object_get(json_object_array_get_idx(
                                                        last_messages, (size_t)last_of[i])));
        if (!for_event) {
            chat_json_put(c, "unread_count",
                                   json_object_new_int64(chat_db_cell_int(&convs, i, 6)));
            chat_json_put(c, "unread_mention_count",
                                   json_object_new_int64(chat_db_cell_int(&convs, i, 7)));
            chat_notify_fields_add(c, chat_db_cell_int(&convs, i, 1) != 0, members,
                                   chat_db_cell(&convs, i, 8), chat_db_cell(&convs, i, 9));
        }
        json_object_array_add(arr, c);
    }
    *out_array = arr;
out:
    json_object_put(last_messages);
    free(last_of);
    free(part_conv);
    chat_db_result_free(&convs);
    chat_db_result_free(&parts);
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
