/* Helpers shared by the store_*.c files only, grouped by the layer that defines them.
 *
 * The data layer is layered: a store file calls only files of lower layers, never one
 * of its own layer or above (checked with nm on the objects, see the commit history).
 *   1  bottom:      store_rows.c (rows -> JSON), store_membership.c (who takes part),
 *                   store_events.c (the event log), store_sessions.c, store_ratelimit.c,
 *                   store_audit.c (the moderation log)
 *                   store_blocks.c (who blocked whom)
 *   2  records and decorators: store_users.c, store_webhooks.c, store_attachments.c (uploads, attach, gc),
 *                   store_mentions.c (a message's mentions, written with it),
 *                   store_reactions.c and store_message_attachments.c (fields of message
 *                   objects)
 *   3  message views:      store_messages.c
 *   4  conversation views: store_conversations.c, store_search.c
 *   5  writes:      store_conversation_changes.c, store_message_submit.c,
 *                   store_message_edits.c, store_reaction_changes.c, store_receipts.c,
 *                   store_presence.c, store_block_changes.c, store_notify_levels.c,
 *                   store_notify.c (chat-notify's queue)
 * The public declarations stay in store.h whichever file defines them. */
#ifndef CHAT_STORE_INTERNAL_H
#define CHAT_STORE_INTERNAL_H

#include <limits.h>

#include "json_util.h"
#include "store.h"

/* The moment a presence_connections row pc (LEFT JOINed with its daemon d) last had a
 * connection: when its count dropped to 0, or the last heartbeat of a daemon that died
 * holding connections (used by store_presence.c and store_notify.c, layer 5). */
#define CHAT_PRESENCE_EFFECTIVE_LAST_SEEN \
    "IF(pc.connections > 0, COALESCE(d.heartbeat_at, pc.last_seen), pc.last_seen)"

/* ---- layer 1, store_rows.c: result rows -> JSON ---- */

/* Builds an object from row `row` of r, reading its cells from column `col` on. */
typedef json_object *(*chat_row_json_fn)(const struct chat_db_result *r, unsigned row,
                                         unsigned col);

/* Runs a query that matches at most one row and builds the object from its cells with
 * build (from column 0). Returns CHAT_OK with *out (the caller puts it), CHAT_E_NOT_FOUND
 * when nothing matched, or the query's error. */
int chat_query_one_json(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                        unsigned nparams, chat_row_json_fn build, json_object **out);

/* Runs a query whose first column is an id and returns those ids in *ids (malloc'd,
 * owned by the caller; NULL when there are none) and *count. */
int chat_query_ids(struct chat_db *db, const char *sql, const struct chat_db_param *params,
                   unsigned nparams, long long **ids, size_t *count);

/* Column list for chat_user_json_from_row, of the users row aliased as `a` (a string
 * literal): CHAT_USER_COLUMNS_COUNT columns. */
#define CHAT_USER_COLUMNS(a) CHAT_USER_FIELDS(CHAT_USER_FIELD_OF_ALIAS, a)
#define CHAT_USER_COLUMNS_COUNT 6
/* The same columns as scalar subqueries of the user whose id is the SQL expression id:
 * for a locking read (FOR UPDATE) that must not lock the users row, which a join would. */
#define CHAT_USER_COLUMNS_OF(id) CHAT_USER_FIELDS(CHAT_USER_FIELD_SUBQUERY, id)
/* The one list both are made of: F(x, expression over a users row). */
#define CHAT_USER_FIELDS(F, x)                                                             \
    F(x, "id") ", " F(x, "username") ", " F(x, "display_name") ", " F(x, "avatar_sha256") \
    ", " F(x, "deleted_at IS NOT NULL") ", " F(x, "is_bot")
#define CHAT_USER_FIELD_OF_ALIAS(a, e) a "." e
#define CHAT_USER_FIELD_SUBQUERY(id, e) "(SELECT su." e " FROM users su WHERE su.id = " id ")"

/* Rows (key, value) ordered by key, as a batched statement returns them: values[i] gets
 * (malloc'ed, caller frees) the values of keys[i] and counts[i] their number; a key
 * without rows gets NULL and 0. A key listed twice gets the same values twice. */
void chat_rows_group_by_key(const struct chat_db_result *r, const long long *keys, size_t n,
                            long long **values, size_t *counts);

/* The user object {id, username, display_name, avatar_url, deleted, is_bot} from the
 * CHAT_USER_COLUMNS cells at col.. of a row. A deleted account reads as "Deleted user"
 * with an empty username, whatever its row holds. */
json_object *chat_user_json_from_row(const struct chat_db_result *r, unsigned row, unsigned col);

/* Participant objects {user..., joined_at, role} from rows of CHAT_USER_COLUMNS,
 * joined_at and role, in the rows' order. */
json_object *chat_participants_json_from_rows(const struct chat_db_result *r);

/* Column list for chat_message_json_from_row; the query must alias messages as m and
 * the sender's users row as u. */
#define CHAT_MESSAGE_COLUMNS                                                                 \
    "m.id, m.conversation_id, " CHAT_USER_COLUMNS("u") ", m.text, "                       \
    "m.created_at, m.edited_at, m.deleted_at, m.reply_to_id, m.client_msg_id, m.mentions_json"

/* The usual head of a message query: every column, with the sender joined. Messages are
 * read first, in their index's order, and each sender by its primary key: left to itself
 * MariaDB 10.11 reads a small users table first (a full scan into a join buffer), which
 * loses the index order, so a page of 50 read and sorted every message of the
 * conversation with its TEXT columns in a temporary table (1.5-1.9 ms of server CPU
 * against 0.3 ms for 200 messages; docs/PERFORMANCE.md). */
#define CHAT_MESSAGE_SELECT                                                                  \
    "SELECT " CHAT_MESSAGE_COLUMNS " FROM messages m "                                      \
    "STRAIGHT_JOIN users u FORCE INDEX (PRIMARY) ON u.id = m.sender_id "

/* What a message object is built from (chat_message_json_build). Times are MariaDB
 * DATETIME texts; edited_at and client_msg_id may be NULL, reply_to 0 for none. */
struct chat_message_fields {
    long long id, conversation_id;
    json_object *sender; /* taken */
    const char *text, *created_at, *edited_at;
    bool deleted;
    long long reply_to;
    const char *client_msg_id;
    const char *mentions_json; /* as chat_mentions_store wrote it, or NULL */
};

/* The REST message object with empty "reactions" and "attachments" (chat_messages_decorate
 * fills them): from a row (below), or from what a send has just written (no read back). */
json_object *chat_message_json_build(const struct chat_message_fields *f);

/* Builds the REST message object from a row selected with CHAT_MESSAGE_COLUMNS, with
 * empty "reactions" and "attachments" (chat_messages_decorate fills them) and its
 * "mentions" as stored by chat_mentions_store. */
json_object *chat_message_json_from_row(const struct chat_db_result *r, unsigned row);
/* The same from CHAT_MESSAGE_COLUMNS starting at column col of the row. */
json_object *chat_message_json_from_cols(const struct chat_db_result *r, unsigned row,
                                         unsigned col);

/* "[1,2,3]": ids as a JSON array text, for statements that join JSON_TABLE(?, '$[*]'
 * COLUMNS (id BIGINT UNSIGNED PATH '$')) (malloc'd, caller frees). */
char *chat_ids_json(const long long *ids, size_t n);
/* The "id"s of the message objects in `messages` as a JSON array text ("[1,2,3]"), for
 * queries that join JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')).
 * Caller frees. */
char *chat_message_ids_json(json_object *messages);

/* Column list for chat_attachment_json_from_row (the attachments row aliased as a). */
#define CHAT_ATTACHMENT_COLUMNS "a.id, a.filename, a.size, a.content_type, a.sha256"
/* The attachment object {id, filename, size, content_type, sha256, url} from the
 * CHAT_ATTACHMENT_COLUMNS cells starting at col. */
json_object *chat_attachment_json_from_row(const struct chat_db_result *r, unsigned row,
                                           unsigned col);

/* A participant's notification level in effect: setting ("all", "mentions", "none"), or
 * when that is NULL the default, "mentions" for a group of more than
 * CHAT_NOTIFY_MENTIONS_DEFAULT_OVER members, else "all" (docs/API.md "Notification
 * levels"). */
const char *chat_notify_level_effective(bool is_group, long long members, const char *setting);
/* Adds "notify_level" (in effect), "notify_level_setting" (setting or null) and
 * "muted_until" (RFC 3339 from the DATETIME muted_until, null when not muted now: the
 * caller passes NULL for a mute that has ended) to obj. */
void chat_notify_fields_add(json_object *obj, bool is_group, long long members,
                            const char *setting, const char *muted_until);

/* Removes from a conversation object what is its viewer's own (unread_mention_count and
 * the notification fields), for a payload every participant receives. */
void chat_conv_drop_own_fields(json_object *conv);

/* ---- layer 1, store_membership.c: who takes part (chat_conv_check_participant and
 * chat_conv_ids_for_user are public, in store.h) ---- */

/* Inside a transaction: locks the conversation row (serializing its writers so its
 * events commit in id order) and checks that user_id takes part. CHAT_E_NOT_FOUND
 * otherwise. */
int chat_conv_lock_for_participant(struct chat_db *db, long long conv_id, long long user_id);

/* ---- layer 2, decorators: they add fields to message objects built by store_rows.c ---- */

/* The decorations of message objects come from one statement (chat_messages_decorate in
 * store_messages.c): reaction rows, then attachment rows, each with these columns. */
enum chat_decoration_col {
    CHAT_DECO_KIND,       /* 0: a reaction, 1: an attachment */
    CHAT_DECO_MESSAGE_ID,
    CHAT_DECO_EMOJI = 3,  /* reactions */
    CHAT_DECO_USER_ID = 5,
    CHAT_DECO_ATTACHMENT = 6, /* attachments: CHAT_ATTACHMENT_COLUMNS from here */
};

/* store_reactions.c: sets "reactions" of each message in `messages` from the reaction
 * rows [from, to) of r (ordered by message, the emoji's first use, then reacting order),
 * with "me" for viewer_id when it is not 0. */
void chat_reactions_apply(json_object *messages, const struct chat_db_result *r, unsigned from,
                          unsigned to, long long viewer_id);
/* store_reactions.c: adds "me" to each reaction of an already decorated message object,
 * for viewer_id. */
void chat_message_add_me(json_object *message, long long viewer_id);

/* The attachments hook (store_message_attachments.c, owned by the attachments module):
 * sets "attachments" of each message in `messages` from the attachment rows [from, to)
 * of r, and detaches every attachment of a message that is being deleted (inside the
 * caller's transaction). */
void chat_attachments_apply(json_object *messages, const struct chat_db_result *r,
                            unsigned from, unsigned to);
int chat_attachments_clear_for_message(struct chat_db *db, long long message_id);

/* store_mentions.c: inside the caller's transaction, with the conversation locked (a
 * send or an edit): finds the mentions of text (mentions.h) among conv_id's participants
 * and stores them as message_id's mentions_json (NULL for none) and message_mentions rows
 * (one per user reached: named, or by @all, or by @here when online now), replacing
 * earlier ones when replace. CHAT_E_MENTION_NOT_ALLOWED for @all/@here in a group of more
 * than CHAT_MENTION_ALL_ADMIN_ONLY participants from someone who is not its admin.
 * *entities_out (when not NULL) gets the mentions_json written (malloc'd, NULL for none). */
int chat_mentions_store(struct chat_db *db, long long conv_id, long long message_id,
                        long long sender_id, const char *text, bool replace,
                        char **entities_out);
/* store_mentions.c: inside a delete's transaction: message_id mentions nobody any more. */
int chat_mentions_clear(struct chat_db *db, long long message_id);

/* ---- layer 3, store_messages.c: message views ---- */

/* One message of conv_id, decorated for viewer_id (0: for an event payload), without a
 * membership check. CHAT_E_NOT_FOUND when it is not a message of that conversation. */
int chat_message_load_json(struct chat_db *db, long long conv_id, long long message_id,
                           long long viewer_id, json_object **out);

/* Fills "reactions" and "attachments" of every message object in the json array
 * `messages`, with one query per kind for the whole array (never one per message).
 * viewer_id > 0 adds the viewer-specific "me" to each reaction (REST); 0 leaves it out
 * (event payloads). Returns CHAT_OK or the query's error. */
int chat_messages_decorate(struct chat_db *db, json_object *messages, long long viewer_id);
/* The existing message of in->sender_id with in->client_msg_id in in->conversation_id
 * (a repeated send), decorated for the sender, or CHAT_E_NOT_FOUND. */
int chat_message_find_by_client_id(struct chat_db *db, const struct chat_message_input *in,
                                   json_object **out);

/* ---- layer 4, store_conversations.c: conversation views ---- */

/* The conversation object for event payloads: as member_id sees it (member_id must take
 * part), without "unread_count" and without viewer-specific reaction fields. */
int chat_conv_event_json(struct chat_db *db, long long conv_id, long long member_id,
                         json_object **out);

/* Layer 5 (writes) declares nothing here: its functions are public (store.h) or static. */

/* ---- layer 1, store_blocks.c: the direct chat's state for adding to it ---- */

/* An SQL expression over conversation row `c` for actor `?` (five placeholders, all the
 * actor's id): 0 a group or a direct chat both take part in with no block, 1 the other
 * member left, 2 the other blocked the actor, 3 the actor blocked the other. In a direct
 * chat whose other member takes part, that member is the participant who is not the
 * actor. Read by chat_block_check_direct and the send's conversation lock. */
#define CHAT_DIRECT_SEND_STATE                                                             \
    "CASE WHEN c.direct_key IS NULL THEN 0 "                                               \
    "WHEN NOT EXISTS (SELECT 1 FROM participants q "                                       \
    "  WHERE q.conversation_id = c.id AND q.user_id <> ?) THEN 1 "                         \
    "WHEN EXISTS (SELECT 1 FROM participants q JOIN user_blocks b "                        \
    "  ON b.blocker_id = q.user_id AND b.blocked_id = ? "                                  \
    "  WHERE q.conversation_id = c.id AND q.user_id <> ?) THEN 2 "                         \
    "WHEN EXISTS (SELECT 1 FROM participants q JOIN user_blocks b "                        \
    "  ON b.blocked_id = q.user_id AND b.blocker_id = ? "                                  \
    "  WHERE q.conversation_id = c.id AND q.user_id <> ?) THEN 3 "                         \
    "ELSE 0 END"
/* What a CHAT_DIRECT_SEND_STATE value means: CHAT_OK or the refusal. */
int chat_block_state_outcome(long long state);

/* ---- layer 5, store_group_members.c: many participants at once ---- */

/* CHAT_OK when the n distinct users of ids_json all exist (not deleted) and none has
 * blocked inviter_id; else CHAT_E_VALIDATION or CHAT_E_BLOCKED. Three statements at most. */
int chat_members_check(struct chat_db *db, const char *ids_json, size_t n, long long inviter_id);
/* The users of ids_json who take part in conv_id already, sorted (*ids malloc'd). */
int chat_members_existing(struct chat_db *db, long long conv_id, const char *ids_json,
                          long long **ids, size_t *count);
/* Inserts the users of ids_json (none of whom takes part yet) as members of conv_id, and
 * with announce_each a participant.added event for each. */
int chat_members_insert(struct chat_db *db, long long conv_id, const char *ids_json,
                        bool announce_each);
/* The participant objects of the users of ids_json in conv_id, in joining order. */
int chat_members_json(struct chat_db *db, long long conv_id, const char *ids_json,
                      json_object **out_array);

#endif
