/* Layer 2 (decorators) of the data layer: the "reactions" of message objects, the
 * per-message summaries [{emoji, count, user_ids, me}] (one query for a whole array of
 * messages), and the viewer-specific "me". Calls store_rows.c only; the changes are in
 * store_reaction_changes.c. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"
#include "xalloc.h"

struct message_ref {
    long long id;
    json_object *message;
};

static int ref_cmp(const void *a, const void *b)
{
    long long x = ((const struct message_ref *)a)->id, y = ((const struct message_ref *)b)->id;
    return (x > y) - (x < y);
}

/* Starts an {emoji, count, user_ids} summary inside the message's "reactions". */
static json_object *add_summary(json_object *message, const char *emoji)
{
    json_object *summary = json_object_new_object();
    json_object_object_add(summary, "emoji", json_object_new_string(emoji));
    json_object_object_add(summary, "count", json_object_new_int(0));
    json_object_object_add(summary, "user_ids", json_object_new_array());
    json_object_array_add(json_object_object_get(message, "reactions"), summary);
    return summary;
}

static void add_user(json_object *summary, long long user_id)
{
    json_object *ids = json_object_object_get(summary, "user_ids");
    json_object_array_add(ids, json_object_new_int64(user_id));
    json_object_set_int(json_object_object_get(summary, "count"),
                        (int)json_object_array_length(ids));
}

void chat_reactions_apply(json_object *messages, const struct chat_db_result *r, unsigned from,
                          unsigned to, long long viewer_id)
{
    size_t n = json_object_array_length(messages);
    struct message_ref *refs = chat_xcalloc(n ? n : 1, sizeof(*refs));
    for (size_t i = 0; i < n; i++) {
        refs[i].message = json_object_array_get_idx(messages, i);
        refs[i].id = json_object_get_int64(json_object_object_get(refs[i].message, "id"));
        json_object_object_add(refs[i].message, "reactions", json_object_new_array());
    }
    qsort(refs, n, sizeof(*refs), ref_cmp);
    json_object *summary = NULL;
    for (unsigned i = from; i < to; i++) {
        long long message_id = chat_db_cell_int(r, i, CHAT_DECO_MESSAGE_ID);
        const char *emoji = chat_db_cell(r, i, CHAT_DECO_EMOJI);
        if (i == from || message_id != chat_db_cell_int(r, i - 1, CHAT_DECO_MESSAGE_ID) ||
            strcmp(emoji, chat_db_cell(r, i - 1, CHAT_DECO_EMOJI)) != 0) {
            struct message_ref key = {.id = message_id};
            struct message_ref *ref = bsearch(&key, refs, n, sizeof(*refs), ref_cmp);
            assert(ref); /* the query only returns reactions of these messages */
            summary = add_summary(ref->message, emoji);
        }
        add_user(summary, chat_db_cell_int(r, i, CHAT_DECO_USER_ID));
    }
    if (viewer_id > 0)
        for (size_t i = 0; i < n; i++)
            chat_message_add_me(refs[i].message, viewer_id);
    free(refs);
}

void chat_message_add_me(json_object *message, long long viewer_id)
{
    json_object *reactions = json_object_object_get(message, "reactions");
    size_t n = json_object_array_length(reactions);
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_array_get_idx(reactions, i);
        json_object *ids = json_object_object_get(r, "user_ids");
        bool me = false;
        size_t k = json_object_array_length(ids);
        for (size_t j = 0; j < k && !me; j++)
            me = json_object_get_int64(json_object_array_get_idx(ids, j)) == viewer_id;
        json_object_object_add(r, "me", json_object_new_boolean(me));
    }
}
