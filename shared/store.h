/* The data layer shared by chat-api, chat-httpd, chatctl and chat-push. Every function
 * takes the caller's per-thread struct chat_db, returns CHAT_OK or a negative CHAT_E_*
 * code, and hands back new json-c references the caller must json_object_put(). Every
 * change writes its events row in the same transaction (see chat_event_append). The
 * store_*.c files that define these are layered (see store_internal.h). */
#ifndef CHAT_STORE_H
#define CHAT_STORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "crypto.h"
#include "i18n.h"
#include "db.h"

#define CHAT_USERNAME_MAX 32
#define CHAT_DISPLAY_NAME_MAX 64
#define CHAT_PASSWORD_MIN 8
#define CHAT_PASSWORD_MAX 256
#define CHAT_CONV_NAME_MAX 100
#define CHAT_CLIENT_MSG_ID_MAX 64
#define CHAT_PAGE_DEFAULT 50
#define CHAT_PAGE_MAX 200
#define CHAT_USER_AGENT_MAX 255     /* bytes of User-Agent kept for the session list */
#define CHAT_SESSION_TOUCH_S 60     /* a session's last_used_at is at most this stale */
#define CHAT_SESSIONS_LIST_MAX 200  /* newest sessions listed */
#define CHAT_MENTION_ALL_ADMIN_ONLY 100 /* @all/@here: admins only in larger groups */
#define CHAT_NOTIFY_MENTIONS_DEFAULT_OVER 50 /* groups larger default to 'mentions' */
#define CHAT_MUTE_MAX_DAYS 366 /* muted_until at most this far ahead */
#define CHAT_DELETED_USER_NAME "Deleted user" /* display name of a deleted account */

/* ---- users (store_users.c) ---- */

/* True when name is 1..32 characters of [A-Za-z0-9_.-]. */
bool chat_username_valid(const char *name);

/* Creates a user. display_name may be NULL (defaults to the username). Returns
 * CHAT_E_DUPLICATE when the username is taken, CHAT_E_VALIDATION for a bad username or
 * password length. */
int chat_user_create(struct chat_db *db, const struct chat_config *cfg, const char *username,
                     const char *display_name, const char *password, long long *user_id);
/* Deactivates (active false: ends every session and connection of the user at once) or
 * reactivates an account, by actor_id (a site admin; 0: the operator), audited as
 * user.deactivated / user.reactivated when the state changed (*changed).
 * CHAT_E_NOT_FOUND for no such user, CHAT_E_CONFLICT for an admin's own account. A
 * deactivated user's login answers CHAT_E_FORBIDDEN after the password check, and no
 * session can be created. The caller wakes the push daemons after a deactivation. */
int chat_user_set_active(struct chat_db *db, long long actor_id, long long user_id, bool active,
                         bool *changed);
/* Grants or revokes site administration (users.is_admin), by actor_id (0: the operator),
 * audited as user.admin_granted / user.admin_revoked when it changed (*changed).
 * CHAT_E_NOT_FOUND for no such user. */
int chat_user_set_admin(struct chat_db *db, long long actor_id, long long user_id, bool admin,
                        bool *changed);
/* CHAT_OK when user_id is a site admin, else CHAT_E_NOT_FOUND. */
int chat_user_is_site_admin(struct chat_db *db, long long user_id);
/* The site admin's view of a user: {id, username, display_name, is_admin,
 * deactivated_at|null, created_at}. CHAT_E_NOT_FOUND for no such user. */
int chat_admin_user_get_json(struct chat_db *db, long long user_id, json_object **out);
/* {results: [admin's user], has_more}: users whose username or display name contains q
 * (case-insensitive; "" is everyone) with id > after, by id, at most limit. */
int chat_admin_users_page_json(struct chat_db *db, const char *q, long long after, int limit,
                               json_object **out);
/* chatctl user passwd: sets the password and ends every session of the user. */
int chat_user_set_password(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password);
/* CHAT_OK when password is user_id's, else CHAT_E_AUTH_FAILED (one argon2id run either
 * way). */
int chat_user_verify_password(struct chat_db *db, const struct chat_config *cfg,
                              long long user_id, const char *password);
/* The user's own change (the current password was checked by the caller): checks the
 * new one's length (CHAT_E_VALIDATION, before any hashing), stores it and ends every
 * session of user_id but keep_session_id, their connections included. */
int chat_user_change_password(struct chat_db *db, const struct chat_config *cfg,
                              long long user_id, long long keep_session_id, const char *password);
/* Checks credentials in about constant time. Returns CHAT_E_AUTH_FAILED on mismatch. */
int chat_user_authenticate(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password, long long *user_id);
/* {id, username, display_name, avatar_url, deleted}; CHAT_E_NOT_FOUND if there is no
 * such user. */
int chat_user_get_json(struct chat_db *db, long long user_id, json_object **out);
/* CHAT_OK when viewer_id may see user_id (themself, or someone they share a conversation
 * with), else CHAT_E_NOT_FOUND, also for ids no user has. */
int chat_user_check_visible(struct chat_db *db, long long viewer_id, long long user_id);
/* The user objects of up to CHAT_DB_BATCH (db_batch.h) ids in one statement: out[i] for
 * user_ids[i] (the caller puts each), NULL for an id with no user. */
int chat_users_get_json_many(struct chat_db *db, const long long *user_ids, size_t n,
                             json_object **out);
int chat_user_find_by_username(struct chat_db *db, const char *username, long long *user_id);
/* Users whose username or display name starts with q (case-insensitive), at most limit. */
int chat_user_search_json(struct chat_db *db, const char *q, int limit, json_object **out_array);

/* ---- the user's own account (store_profile.c) ---- */

/* Changes user_id's profile in one transaction with its user.updated event: the display
 * name unless name is NULL (controls and bidi formatting stripped as at registration;
 * CHAT_E_VALIDATION when nothing is left or it is over CHAT_DISPLAY_NAME_MAX characters),
 * and the locale setting unless locale is NULL ("" clears it; else a catalog locale tag,
 * checked by the caller). *out is the user object. */
int chat_user_set_profile(struct chat_db *db, long long user_id, const char *name,
                          const char *locale, json_object **out);
/* Replaces user_id's avatar with len bytes of content_type (checked by the caller), or
 * removes it when data is NULL; writes user.updated. *out is the user object. */
int chat_user_set_avatar(struct chat_db *db, long long user_id, const char *content_type,
                         const void *data, size_t len, json_object **out);
/* user_id's avatar as viewer_id may see it (chat_user_check_visible): one row of
 * content_type, sha256, image (its length in r->lens[2]); the caller frees r.
 * CHAT_E_NOT_FOUND for no such user, not visible, or no avatar. */
int chat_avatar_get(struct chat_db *db, long long viewer_id, long long user_id,
                    struct chat_db_result *r);
/* Deletes user_id's account (the password was checked by the caller): the row becomes
 * the "Deleted user" (username '~<id>', so the old name is free; no password; no
 * avatar) with user.updated, every session and connection ends, then
 * chat_account_purge. */
int chat_account_delete(struct chat_db *db, long long user_id);
/* What a deleted account leaves behind goes: its reactions, the text and attachments of
 * its messages (tombstones stay, from "Deleted user"), its conversations (it leaves
 * them) and unattached uploads, each with the events the same change by hand writes.
 * Safe to run again (chatctl gc finishes one cut short). */
int chat_account_purge(struct chat_db *db, long long user_id);

/* ---- chat-notify's queue (store_notify.c) ---- */

/* Events evaluated per transaction. */
#define CHAT_NOTIFY_BATCH 256

enum chat_notify_kind { CHAT_NOTIFY_OFFLINE, CHAT_NOTIFY_BOT };

/* One reader of the event log with its own cursor (notify_cursors.stream = name):
 * message.created events are evaluated delay_us after they were written, and an event
 * above an id that is not visible yet only gap_us after (the longest transaction). */
struct chat_notify_stream {
    const char *name;
    enum chat_notify_kind kind;
    long long delay_us, gap_us;
};

/* One transaction: evaluates the due events after the stream's cursor (at most
 * CHAT_NOTIFY_BATCH, in id order), stores their deliveries (offline: one per offline
 * webhook and user the message notifies; bot: one per bot participant with an outgoing
 * URL) and moves the cursor past them. *events is how many events it passed (a full
 * batch means call again), *enqueued the deliveries stored. */
int chat_notify_evaluate(struct chat_db *db, const struct chat_notify_stream *stream,
                         int preview_chars, int *events, long long *enqueued);
/* The lease that makes one chat-notify the working one (notify_leader): takes it when
 * it is free or has expired, or renews it when holder has it, for lease_ms. *leading
 * says whether holder has it now (false on an error too). */
int chat_notify_lead(struct chat_db *db, const char *holder, int lease_ms, bool *leading);
/* Gives the lease up at once, when holder has it (a clean stop: a standby takes over
 * without waiting for it to expire). */
int chat_notify_resign(struct chat_db *db, const char *holder);
/* Claims up to limit due deliveries, leased for lease_s seconds (not due again before
 * then): rows of (id, url, secret, body, attempts, webhook_id, whether the message was
 * deleted since) into *out, which the caller frees (nothing to free on error). */
int chat_notify_claim(struct chat_db *db, int limit, int lease_s, struct chat_db_result *out);
/* Records one attempt of a delivery: delivered, dropped (the last attempt failed), or
 * due again in retry_ms; error (may be NULL) is kept as last_error. */
int chat_notify_record(struct chat_db *db, long long delivery_id, bool delivered, bool drop,
                       long long retry_ms, const char *error);
/* Deletes delivered and dropped rows finished more than retention_hours ago (at most
 * 10,000 a call); *removed is how many. */
int chat_notify_purge(struct chat_db *db, int retention_hours, long long *removed);

/* ---- bots (accounts: store_users.c; tokens: store_sessions.c) ---- */

/* A bot token: this prefix and a session-sized random token (so a bearer token names
 * its kind without a second lookup). */
#define CHAT_BOT_TOKEN_PREFIX "bot_"
#define CHAT_BOT_TOKEN_CHARS (4 + CHAT_TOKEN_CHARS)

/* Creates bot account username (is_bot, no usable password) and its token, written
 * into token (shown to the operator once; only its SHA-256 is stored). CHAT_E_VALIDATION
 * for a bad name, CHAT_E_DUPLICATE when the username is taken. */
int chat_bot_create(struct chat_db *db, const char *username, const char *display_name,
                    long long *user_id, char token[CHAT_BOT_TOKEN_CHARS + 1]);
/* The id of bot username; CHAT_E_NOT_FOUND when there is no such bot. */
int chat_bot_find(struct chat_db *db, const char *username, long long *user_id);
/* Gives bot user_id a new token (the old one stops working at once), into token. */
int chat_bot_token_set(struct chat_db *db, long long user_id, char token[CHAT_BOT_TOKEN_CHARS + 1]);
/* The active bot whose token this is; CHAT_E_NOT_AUTHENTICATED for any other text. */
int chat_bot_token_lookup(struct chat_db *db, const char *token, long long *user_id);
/* Whether token has a bot token's shape (the prefix and the length): a session token
 * that happens to start with the prefix is longer or shorter. */
bool chat_bot_token_shaped(const char *token);

/* ---- webhooks (store_webhooks.c; delivered by chat-notify, notify/) ---- */

#define CHAT_WEBHOOK_URL_MAX 2000

/* http:// or https:// with a host, printable ASCII without spaces, at most
 * CHAT_WEBHOOK_URL_MAX bytes. */
bool chat_webhook_url_valid(const char *url);
/* Adds a webhook of kind "offline" (bot_user_id 0) or "bot" (the bot's outgoing URL,
 * replacing one it had) and writes its new signing secret into secret. Returns
 * CHAT_E_VALIDATION for a bad URL. */
int chat_webhook_add(struct chat_db *db, const char *kind, const char *url, long long bot_user_id,
                     char secret[CHAT_TOKEN_CHARS + 1], long long *webhook_id);
/* Removes a webhook and its deliveries; CHAT_E_NOT_FOUND when there is none. */
int chat_webhook_remove(struct chat_db *db, long long webhook_id);
/* Every webhook: [{id, kind, url, bot, created_at, pending, delivered, dropped}] (the
 * secret is never listed). The caller puts *out_array. */
int chat_webhooks_list_json(struct chat_db *db, json_object **out_array);

/* ---- sessions (store_sessions.c) ---- */

/* Creates a session for user_id. Writes the new bearer token and CSRF token. user_agent
 * and address (may be NULL) are kept for the session list. CHAT_E_FORBIDDEN for a
 * deactivated or deleted account. */
int chat_session_create(struct chat_db *db, const struct chat_config *cfg, long long user_id,
                        const char *user_agent, const char *address,
                        char token[CHAT_TOKEN_CHARS + 1], char csrf[CHAT_TOKEN_CHARS + 1]);
/* Resolves a token. session_id, csrf and locale (the user's users.locale, "" for none)
 * may be NULL. Returns CHAT_E_NOT_AUTHENTICATED when the token is unknown or expired.
 * Moves the session's last_used_at to now when it is older than CHAT_SESSION_TOUCH_S (so
 * at most one write a minute per session). */
int chat_session_lookup(struct chat_db *db, const char *token, long long *user_id,
                        long long *session_id, char csrf[CHAT_TOKEN_CHARS + 1],
                        char locale[CHAT_LOCALE_CHARS]);
/* The live sessions of user_id, newest first, at most CHAT_SESSIONS_LIST_MAX:
 * [{id, created_at, last_used_at, user_agent, address, expires_at, current}], current
 * true for current_id. */
int chat_sessions_list_json(struct chat_db *db, long long user_id, long long current_id,
                            json_object **out_array);
/* Ends user_id's session session_id (with its session.revoked event, like logout).
 * CHAT_E_NOT_FOUND when user_id has no such live session. */
int chat_session_revoke_own(struct chat_db *db, long long user_id, long long session_id);
/* Ends every session of user_id but keep_id, with one session.revoked event naming them. */
int chat_sessions_revoke_others(struct chat_db *db, long long user_id, long long keep_id);
/* What the push daemon keeps of a session: its user, id, and how long until it expires. */
struct chat_session_info {
    long long user_id, session_id, expires_in_ms;
    char locale[CHAT_LOCALE_CHARS]; /* the user's language setting, "" for none */
};
/* Like chat_session_lookup, into *out. */
int chat_session_find(struct chat_db *db, const char *token, struct chat_session_info *out);
/* chat_session_find for up to CHAT_DB_BATCH (db_batch.h) tokens in one statement:
 * status[i] is CHAT_OK (out[i] filled) or CHAT_E_NOT_AUTHENTICATED for tokens[i] (NULL
 * counts as unknown). Returns CHAT_OK or the query's error (then status is unset). */
int chat_sessions_find_many(struct chat_db *db, const char *const *tokens, size_t n,
                            struct chat_session_info *out, int *status);
/* chat_session_alive for up to CHAT_DB_BATCH (db_batch.h) sessions in one statement:
 * alive[i] for session_ids[i]. */
int chat_sessions_alive_many(struct chat_db *db, const long long *session_ids, size_t n,
                             bool *alive);
/* CHAT_OK while session session_id exists and has not expired, else
 * CHAT_E_NOT_AUTHENTICATED (one primary-key read). */
int chat_session_alive(struct chat_db *db, long long session_id);
/* Logout: deletes the token's session (nothing when there is none) and, in the same
 * transaction, writes {"user_id","session_ids":[id]} as a session.revoked event
 * (conversation NULL), which ends the session's connections on every push daemon. The
 * caller wakes the daemons after. */
int chat_session_delete(struct chat_db *db, const char *token);
/* Deletes every session of user_id with one session.revoked event, the same way. With
 * every_connection the event carries no session_ids and the daemons end every connection
 * of the user, whatever session it came from (account deactivation); otherwise only those
 * of the deleted sessions (a password change: a login right after it stays open). */
int chat_sessions_revoke_user(struct chat_db *db, long long user_id, bool every_connection);

/* ---- conversations (creating: store_conversation_changes.c; participation and ids:
 * store_membership.c; the objects: store_conversations.c) ---- */

/* Creates a conversation with creator_id and the given participants (duplicates and the
 * creator in the list are ignored; participant_ids is sorted in place), a group of at
 * most max_participants with the creator, in a fixed number of statements whatever its
 * size. A direct conversation (is_group false) takes exactly
 * one other user and returns the existing one with *existed = true when there is one,
 * bringing creator_id back into it if they had left (the other member, if they left,
 * stays out until they start it themselves). Writes a conversation.created (or
 * participant.added) event. Errors: CHAT_E_VALIDATION (unknown user, wrong count, name
 * too long); for a direct chat CHAT_E_BLOCKED / CHAT_E_YOU_BLOCKED while either has
 * blocked the other; for a group CHAT_E_BLOCKED when a participant has blocked
 * creator_id. */
int chat_conv_create(struct chat_db *db, long long creator_id, long long *participant_ids,
                     size_t count, const char *name, bool is_group, int max_participants,
                     long long *conv_id, bool *existed);
/* Returns CHAT_OK when user_id takes part in conv_id, else CHAT_E_NOT_FOUND. */
int chat_conv_check_participant(struct chat_db *db, long long conv_id, long long user_id);
/* Direct conversations are unique per pair through direct_key "<low id>:<high id>". */
#define CHAT_DIRECT_KEY_LEN 48
void chat_direct_key(long long a, long long b, char key[CHAT_DIRECT_KEY_LEN]);
/* The id of the direct conversation of a and b (whoever takes part in it now), or
 * CHAT_E_NOT_FOUND. store_membership.c. */
int chat_conv_direct_find(struct chat_db *db, long long a, long long b, long long *conv_id);
/* The conversation object as the viewer sees it: {id, is_group, name, created_at,
 * last_activity_at, participants[{id, username, display_name, role, online}], last_message,
 * unread_count}. CHAT_E_NOT_FOUND for non-participants. */
int chat_conv_get_json(struct chat_db *db, long long conv_id, long long viewer_id,
                       json_object **out);
/* The viewer's conversations, newest activity first, at most CHAT_PAGE_MAX. */
int chat_conv_list_json(struct chat_db *db, long long viewer_id, json_object **out_array);
/* The ids of every conversation user_id takes part in. *ids is malloc'ed; caller frees. */
int chat_conv_ids_for_user(struct chat_db *db, long long user_id, long long **ids, size_t *count);
/* chat_conv_ids_for_user for up to CHAT_DB_BATCH (db_batch.h) users in one statement:
 * ids[i] (malloc'ed, caller frees; NULL when none) and counts[i] for user_ids[i]. On an
 * error nothing is allocated. */
int chat_conv_ids_for_users(struct chat_db *db, const long long *user_ids, size_t n,
                            long long **ids, size_t *counts);

/* ---- messages (sending: store_message_submit.c; reading: store_messages.c; text rules,
 * edits and deletes: store_message_edits.c) ---- */

struct chat_message_input {
    long long conversation_id;
    long long sender_id;
    const char *text;
    const char *client_msg_id; /* may be NULL */
    long long reply_to;        /* 0 = none */
    const long long *attachment_ids; /* uploads of sender_id to attach; may be NULL */
    size_t attachment_count;         /* at most CHAT_ATTACHMENTS_MAX; text may then be blank */
};

/* Validates and stores a message plus its message.created event in one transaction.
 * A repeated (conversation, sender, client_msg_id) returns the original with *created =
 * false. Errors: CHAT_E_NOT_FOUND (not a participant), CHAT_E_VALIDATION (empty or too
 * long text, reply_to outside the conversation); in a direct conversation
 * CHAT_E_RECIPIENT_LEFT (the other member left it) and CHAT_E_BLOCKED /
 * CHAT_E_YOU_BLOCKED (either blocked the other). *out is the REST message object. */
int chat_message_send(struct chat_db *db, const struct chat_config *cfg,
                      const struct chat_message_input *in, json_object **out, bool *created);

/* What a client's send goes through, on REST and on the WebSocket alike: checks
 * participation (CHAT_E_NOT_FOUND first, so outsiders learn nothing about their input),
 * validates the input (blank or too long text, malformed client_msg_id, reply_to <= 0
 * when has_reply_to) and calls chat_message_send. On an error, detail (never NULL) holds
 * the message for the client, or "" for the error's default. store_message_submit.c. */
int chat_message_submit(struct chat_db *db, const struct chat_config *cfg,
                        const struct chat_message_input *in, bool has_reply_to,
                        json_object **out, bool *created, char *detail, size_t detail_len);

/* One page of history: {results: [...oldest first], has_more}. before/after 0 = unset;
 * at most one of them is non-zero. limit is already clamped by the caller. */
int chat_message_page_json(struct chat_db *db, long long conv_id, long long viewer_id,
                           long long before, long long after, int limit, json_object **out);

/* The page of history centred on message `around` (which must be a message of the
 * conversation, else CHAT_E_NOT_FOUND): up to (limit - 1) / 2 older messages, the message
 * and newer ones, filled from the other side when one side runs out.
 * {results: [...oldest first], has_more_before, has_more_after}. */
int chat_message_around_json(struct chat_db *db, long long conv_id, long long viewer_id,
                             long long around, int limit, json_object **out);

/* One message as the viewer sees it. CHAT_E_NOT_FOUND for non-participants and for
 * messages of other conversations. */
int chat_message_get_json(struct chat_db *db, long long conv_id, long long message_id,
                          long long viewer_id, json_object **out);

/* The rules for a message's text (not blank, at most cfg->max_message_chars
 * characters): CHAT_OK, or CHAT_E_VALIDATION with the reason in detail. */
int chat_message_text_check(const struct chat_config *cfg, const char *text, char *detail,
                            size_t detail_len);

/* Replaces the text of user_id's own message (text validated by the caller), keeping
 * the old text in message_edits and setting edited_at; writes message.updated. An
 * unchanged text changes nothing (*changed false, no event). Errors: CHAT_E_NOT_FOUND,
 * CHAT_E_FORBIDDEN (not the author), CHAT_E_CONFLICT (a deleted message). *out is the
 * message as user_id sees it. */
int chat_message_edit(struct chat_db *db, long long conv_id, long long message_id,
                      long long user_id, const char *text, json_object **out, bool *changed);

/* Turns user_id's own message, or any message of a group user_id is an admin of (then
 * audited as group.message_deleted), into a tombstone: text "", edit history, reactions
 * and attachments removed, deleted_at set; writes message.deleted and rewrites the
 * message's earlier events to the tombstone (chat_events_scrub_message), all in one
 * transaction. Deleting a tombstone again succeeds with *changed false and no event.
 * Errors: CHAT_E_NOT_FOUND, CHAT_E_NOT_ADMIN (someone else's message in a group),
 * CHAT_E_FORBIDDEN (someone else's message in a direct chat). */
int chat_message_delete(struct chat_db *db, long long conv_id, long long message_id,
                        long long user_id, bool *changed);
/* A site admin's delete of any message, wherever it is: the same tombstone, event and
 * scrub as chat_message_delete, plus the audit row message.deleted by actor_id (0: the
 * operator). A tombstone again: *changed false. CHAT_E_NOT_FOUND for no such message. */
int chat_message_moderate_delete(struct chat_db *db, long long actor_id, long long message_id,
                                 bool *changed);

/* Tombstones (as chat_message_delete) up to limit of author_id's live messages, in any
 * conversation, whether or not the author still takes part; *erased counts them. For
 * account deletion. */
int chat_messages_erase_author(struct chat_db *db, long long author_id, int limit, int *erased);

/* ---- reactions (store_reaction_changes.c) ---- */

#define CHAT_EMOJI_MAX_BYTES 32
#define CHAT_REACTIONS_PER_USER_MAX 20  /* distinct emoji one user may put on one message */
#define CHAT_REACTION_KINDS_MAX 50      /* distinct emoji on one message */

/* Adds (message, user_id, emoji) when absent (*added true) and writes reaction.added.
 * emoji is validated by the caller. Errors: CHAT_E_NOT_FOUND, CHAT_E_CONFLICT (a deleted
 * message, or one of the limits above), and in a direct conversation those of
 * chat_block_check_direct. *out is the message as user_id sees it. */
int chat_reaction_add(struct chat_db *db, long long conv_id, long long message_id,
                      long long user_id, const char *emoji, bool *added, json_object **out);
/* Removes the reaction when present (*removed true) and writes reaction.removed. */
int chat_reaction_remove(struct chat_db *db, long long conv_id, long long message_id,
                         long long user_id, const char *emoji, bool *removed);

/* ---- receipts (store_receipts.c) ---- */

enum chat_receipt_kind { CHAT_RECEIPT_DELIVERED, CHAT_RECEIPT_READ };

/* Moves user_id's delivered (or read, which implies delivered) marker forward to
 * message_id, never back; writes receipt.updated when a marker moved (*moved).
 * Errors: CHAT_E_NOT_FOUND (not a participant), CHAT_E_VALIDATION (message_id is not a
 * message of the conversation). *out: {conversation_id, user_id, last_read_message_id,
 * last_read_at, last_delivered_message_id, last_delivered_at}. */
int chat_receipt_mark(struct chat_db *db, long long conv_id, long long user_id,
                      enum chat_receipt_kind kind, long long message_id, json_object **out,
                      bool *moved);
/* [{user_id, status: "sent"|"delivered"|"read", at}] of every participant other than the
 * message's author, from the markers. CHAT_E_NOT_FOUND as for chat_message_get_json. */
int chat_message_status_json(struct chat_db *db, long long conv_id, long long message_id,
                             long long viewer_id, json_object **out_array);

/* ---- conversation changes and participants (store_conversation_changes.c) ---- */

/* Group roles: a group participant is an "admin" or a "member"; the creator is the first
 * admin. Renaming, removing someone else and changing roles need an admin
 * (CHAT_E_NOT_ADMIN otherwise); adding and leaving are open to every participant. Role
 * changes write participant.role_changed and an audit row (store_audit.c). */

/* Renames a group (name validated by the caller); writes conversation.updated when the
 * name changed. Errors: CHAT_E_NOT_FOUND, CHAT_E_VALIDATION (a direct conversation),
 * CHAT_E_NOT_ADMIN. */
int chat_conv_rename(struct chat_db *db, long long conv_id, long long user_id, const char *name);
/* [{id, username, display_name, joined_at, role}], in joining order. */
int chat_participants_list_json(struct chat_db *db, long long conv_id, long long viewer_id,
                                json_object **out_array);
/* actor_id adds user_id to a group as a member (*added false when already a member,
 * nothing written); writes participant.added. Errors: CHAT_E_NOT_FOUND (actor not a
 * participant), CHAT_E_CONFLICT (direct conversation), CHAT_E_GROUP_FULL (the group has
 * max_participants), CHAT_E_VALIDATION (unknown user), CHAT_E_BLOCKED (user_id has
 * blocked actor_id). *out is the participant object. */
int chat_participant_add(struct chat_db *db, long long conv_id, long long actor_id,
                         long long user_id, int max_participants, bool *added, json_object **out);
/* The same for the n user_ids (sorted and deduplicated here, in place), all or nothing,
 * in one transaction of a fixed number of statements plus one per 64 added: those who
 * take part already are left as they are. *out is {added: [participant objects],
 * already_participants: [ids]}, *added whether anyone was added. Errors as above for any
 * one of them; CHAT_E_GROUP_FULL when the newcomers do not all fit. */
/* How many of the n distinct user_ids do not take part in conv_id (the invitations an
 * add of them costs). */
int chat_conv_count_newcomers(struct chat_db *db, long long conv_id, const long long *ids,
                              size_t n, size_t *count);
int chat_participants_add_many(struct chat_db *db, long long conv_id, long long actor_id,
                               long long *user_ids, size_t n, int max_participants,
                               bool *added, json_object **out);
/* actor_id removes user_id; actor_id == user_id leaves (any conversation). Removing
 * someone else needs a group and an admin of it (audited as group.member_removed).
 * Writes participant.removed; when the last admin leaves, the earliest remaining
 * participant becomes admin in the same transaction (participant.role_changed, audited
 * as group.admin_inherited). Errors: CHAT_E_NOT_FOUND (actor or user not a
 * participant), CHAT_E_CONFLICT (someone else in a direct conversation),
 * CHAT_E_NOT_ADMIN. */
int chat_participant_remove(struct chat_db *db, long long conv_id, long long actor_id,
                            long long user_id);
/* An admin of the group makes user_id an admin (make_admin) or a member; *changed false
 * and nothing written when the role is already that. *out is the participant object.
 * Errors: CHAT_E_NOT_FOUND (actor or user not a participant), CHAT_E_CONFLICT (a direct
 * conversation), CHAT_E_NOT_ADMIN, CHAT_E_LAST_ADMIN (demoting the only admin). */
int chat_participant_set_role(struct chat_db *db, long long conv_id, long long actor_id,
                              long long user_id, bool make_admin, bool *changed,
                              json_object **out);

/* ---- notification levels (store_notify_levels.c) ---- */

/* Sets user_id's notification level in conv_id (level "all", "mentions" or "none", or
 * NULL for the default; checked by the caller) and mute (muted_until as MariaDB's UTC
 * "YYYY-MM-DD HH:MM:SS.ffffff", or NULL for none). When either changed (*changed), writes
 * participant.notifications_changed, addressed to user_id only. *out is the conversation
 * as user_id sees it. CHAT_E_NOT_FOUND (not a participant), CHAT_E_VALIDATION with
 * *detail (a static string) for a mute not in the future or more than
 * CHAT_MUTE_MAX_DAYS ahead. */
int chat_notify_level_set(struct chat_db *db, long long conv_id, long long user_id,
                          const char *level, const char *muted_until, bool *changed,
                          json_object **out, const char **detail);

/* ---- presence (store_presence.c; used by chat-push and the REST API) ---- */

/* A push daemon whose heartbeat is older than this is taken for dead: its connection
 * counts no longer make anyone online (chat-push beats every few seconds). */
#define CHAT_PRESENCE_STALE_MS 15000

/* Creates or refreshes daemon_id's heartbeat row. */
int chat_presence_heartbeat(struct chat_db *db, const char *daemon_id);
/* The connections each of up to CHAT_DB_BATCH (db_batch.h) users holds on live daemons
 * (heartbeat newer than stale_ms) other than daemon_id, in one statement: counts[i] for
 * user_ids[i] (connections_per_user across daemons). */
int chat_presence_connections_elsewhere_many(struct chat_db *db, const char *daemon_id,
                                             const long long *user_ids, size_t n, int stale_ms,
                                             long long *counts);
/* One user's change on this daemon in a batch: the count it holds now, and whether it
 * went from 0 to 1 connection since the last change recorded (it may have dropped back to
 * 0 since: it was online meanwhile, and the sweep decides when it is not). */
struct chat_presence_change {
    long long user_id;
    int connections;
    bool came_online;
};
/* Records what up to CHAT_DB_BATCH (db_batch.h) distinct users now hold on daemon_id, in
 * one transaction: every count in one upsert (connections_per_user reads them across
 * daemons), then the presence rows of the users that came online locked in id order, and
 * those that were offline marked online with a presence event each (*announced counts
 * them). Going offline is left to chat_presence_sweep, after the offline delay. 8
 * statements for the whole batch (up to 14 when it announces an odd number). */
int chat_presence_set_many(struct chat_db *db, const char *daemon_id,
                           const struct chat_presence_change *changes, size_t n, int *announced);
/* Marks offline (with a presence event each) the online users with no live connection
 * row: none on a daemon with a heartbeat newer than stale_ms, and none closed within
 * offline_delay_ms. Deletes rows that no longer matter. *announced counts the events. */
int chat_presence_sweep(struct chat_db *db, int offline_delay_ms, int stale_ms, int *announced);
/* A daemon stopping cleanly: its users' counts become 0 as of now (the delay still
 * applies, so a restart does not flap) and its heartbeat row goes. */
int chat_presence_daemon_stop(struct chat_db *db, const char *daemon_id);
/* The users who share a conversation of at most max_group_size participants with
 * user_id (not user_id) and whom user_id has not blocked: presence is pushed through
 * direct chats and small groups only, because fanning it out through a group costs the
 * square of its size. *ids is malloc'ed; the caller frees it. */
int chat_presence_recipients(struct chat_db *db, long long user_id, int max_group_size,
                             long long **ids, size_t *count);
/* For each of up to CHAT_DB_BATCH (db_batch.h) users, in one statement, the users who
 * share a conversation of at most max_group_size participants with them (not
 * themselves): presence is pushed through direct chats and small groups only, because
 * fanning it out through a group costs the square of its size. ids[i] (malloc'ed, caller
 * frees; NULL when none) and counts[i] for user_ids[i]; on an error nothing is
 * allocated. */
int chat_presence_recipients_many(struct chat_db *db, const long long *user_ids, size_t n,
                                  int max_group_size, long long **ids, size_t *counts);
/* {user_id, online, last_seen} for viewer_id, who must be user_id or share a
 * conversation with them (else CHAT_E_NOT_FOUND) and not be blocked by them (else
 * CHAT_E_BLOCKED). last_seen is now while online, the last moment seen once offline,
 * null if never. */
int chat_presence_get_json(struct chat_db *db, long long viewer_id, long long user_id,
                           json_object **out);

/* ---- blocking (checks: store_blocks.c; changes and the list: store_block_changes.c) ---- */

#define CHAT_BLOCKS_MAX 1000 /* users one user may block */

/* Whether a has blocked b and whether b has blocked a (one query). */
int chat_block_state(struct chat_db *db, long long a, long long b, bool *a_blocks_b,
                     bool *b_blocks_a);
/* For an action of actor_id that involves other_id both ways (a direct chat: opening it,
 * posting in it): CHAT_E_BLOCKED when other_id has blocked actor_id, CHAT_E_YOU_BLOCKED
 * when actor_id has blocked other_id, else CHAT_OK (or the query's error). */
int chat_block_check_pair(struct chat_db *db, long long actor_id, long long other_id);
/* What actor_id may add to conversation conv_id (a message, a reaction): in a direct
 * conversation the other member must still take part (CHAT_E_RECIPIENT_LEFT: it would
 * wait for them) and neither may have blocked the other (as chat_block_check_pair);
 * groups: CHAT_OK. CHAT_E_NOT_FOUND for no such conversation. */
int chat_block_check_direct(struct chat_db *db, long long conv_id, long long actor_id);
/* CHAT_E_BLOCKED when blocker_id has blocked actor_id, else CHAT_OK (or the query's
 * error): for what only the blocked side may not do (add the blocker to a group, see
 * their presence). */
int chat_block_check_by(struct chat_db *db, long long blocker_id, long long actor_id);
/* Every user user_id has blocked or is blocked by, ascending (the push daemon relays no
 * typing between them). *ids is malloc'ed (NULL when none); the caller frees it. */
int chat_block_peers(struct chat_db *db, long long user_id, long long **ids, size_t *count);
/* blocker_id blocks blocked_id (*added false when it already was: nothing written);
 * writes block.changed (and the blocked user's presence event, see store_block_changes.c)
 * in the same transaction. *out is the block object {id, username, display_name,
 * blocked_at}. Errors: CHAT_E_VALIDATION (oneself, or no such user), CHAT_E_CONFLICT
 * (already CHAT_BLOCKS_MAX blocks). */
int chat_block_add(struct chat_db *db, long long blocker_id, long long blocked_id, bool *added,
                   json_object **out);
/* Lifts the block, with the same events. CHAT_E_NOT_FOUND when there was none. */
int chat_block_remove(struct chat_db *db, long long blocker_id, long long blocked_id);
/* blocker_id's block objects, newest first (at most CHAT_BLOCKS_MAX). */
int chat_blocks_list_json(struct chat_db *db, long long blocker_id, json_object **out_array);

/* ---- attachments (store_attachments.c; files in blobs.h) ---- */

#define CHAT_ATTACHMENTS_MAX 10          /* attachment_ids per message */
#define CHAT_FILENAME_MAX_CHARS 200      /* display filename, after sanitizing */
#define CHAT_CONTENT_TYPE_MAX 127

/* Stores data (content-addressed on disk, see blobs.h) and an unattached attachment row
 * of uploader_id, in that order inside one transaction: on any failure neither the row
 * nor a newly created file remains. filename and content_type are already sanitized.
 * *out is {id, filename, size, content_type, sha256, url}. */
int chat_attachment_create(struct chat_db *db, const struct chat_config *cfg,
                           long long uploader_id, const char *filename,
                           const char *content_type, const void *data, size_t len,
                           json_object **out);

struct chat_attachment {
    long long id, size;
    char filename[CHAT_FILENAME_MAX_CHARS * 4 + 1];
    char content_type[CHAT_CONTENT_TYPE_MAX + 1];
    char sha256[65];
};

/* The attachment when viewer_id may download it: the uploader while it is unattached,
 * afterwards the participants of its message's conversation (while the message is not
 * deleted). CHAT_E_NOT_FOUND for everyone else. */
int chat_attachment_get_for_viewer(struct chat_db *db, long long id, long long viewer_id,
                                   struct chat_attachment *out);

/* Checks attachment_ids before a send: at most CHAT_ATTACHMENTS_MAX, no repeats, each an
 * upload of sender_id; else CHAT_E_VALIDATION with the reason in detail. That none is
 * attached yet is checked atomically by chat_message_send (CHAT_E_CONFLICT). */
int chat_attachments_validate(struct chat_db *db, long long sender_id, const long long *ids,
                              size_t count, char *detail, size_t detail_len);

/* Inside the caller's transaction: gives the attachments to message_id. Same errors as
 * chat_attachments_check (CHAT_E_CONFLICT when a concurrent send took one first). */
int chat_attachments_attach(struct chat_db *db, long long message_id, long long sender_id,
                            const long long *ids, size_t count);

/* ---- search (store_search.c) ---- */

#define CHAT_SEARCH_QUERY_MAX 200 /* characters of q */

/* Messages of viewer_id's conversations (or only of conv_id when non-zero, which must be
 * one of them, else CHAT_E_NOT_FOUND; only sender_id's when that is non-zero) whose text
 * matches q, tombstones excluded, newest first, with id < before when before > 0:
 * {results, has_more}. Words of 3+ characters use the FULLTEXT index (all must match, as
 * prefixes); a query with only shorter words is a substring match instead.
 * CHAT_E_BAD_REQUEST when q has no word. */
int chat_message_search_json(struct chat_db *db, long long viewer_id, const char *q,
                             long long conv_id, long long sender_id, long long before, int limit,
                             json_object **out);

/* ---- rate limits (store_ratelimit.c) ---- */

struct chat_rate_result {
    bool allowed;
    int taken;           /* tokens taken: 0 when refused, else cost to want */
    double remaining;    /* tokens left after this request */
    double retry_after_s; /* when refused: seconds until one token is there */
};

/* A bucket's shape: refill tokens every period_s seconds (continuously), up to burst. */
struct chat_rate_bucket {
    int refill, period_s, burst;
};

/* Most tokens one take hands out when it takes more than its cost (a lease); a cost
 * itself is taken whole, whatever its size (rate_buckets.allowed is an INT). */
#define CHAT_RATE_TAKE_MAX 100

/* Takes cost tokens (at least 1; more than burst counts as burst) from the bucket named
 * key in one atomic statement, so every process and host sharing the database sees one
 * bucket; when the bucket has more, up to want (a lease the caller spends on its next
 * requests: api/rate_lease.c). Returns CHAT_OK (allowed or not, and how many were
 * taken, in *res) or the query's error. */
int chat_rate_take(struct chat_db *db, const char *key, const struct chat_rate_bucket *bucket,
                   int cost, int want, struct chat_rate_result *res);

/* ---- maintenance (chatctl gc; store_attachments.c) ---- */

struct chat_gc_stats {
    long long attachments;  /* rows: unattached after 24 h, or of deleted messages */
    long long files;        /* files no row names */
    long long tmp_files;    /* abandoned temp files */
    long long events;       /* older than event_retention_hours */
    long long rate_buckets; /* idle for an hour */
    long long audit;        /* audit_log rows older than audit_retention_days (0: none) */
    long long accounts;     /* deleted accounts whose purge was cut short, finished
                             * (retention.c, after chat_gc) */
};

/* Removes what is no longer needed (see struct chat_gc_stats). A file is removed only
 * when no row names its hash and it has not been written or reused for an hour (an
 * upload reusing it may not have committed yet). */
int chat_gc(struct chat_db *db, const struct chat_config *cfg, struct chat_gc_stats *st);

/* ---- events (store_events.c) ---- */

/* Appends an event inside the caller's open transaction. payload is serialized here and
 * not consumed. */
int chat_event_append(struct chat_db *db, long long conversation_id, const char *type,
                      json_object *payload, long long *event_id);

/* Appends n events of `type` in conversation_id (0: none, as for presence) in one
 * statement per CHAT_DB_BATCH (db_batch.h) events plus at most 6, inside the caller's
 * open transaction. The payloads are serialized here and not consumed. */
int chat_events_append_many(struct chat_db *db, long long conversation_id, const char *type,
                            json_object *const *payloads, size_t n);

/* Inside the delete's transaction: rewrites every event that carries message_id's content
 * (its message.created and message.updated rows, and conversation payloads whose
 * last_message it is) to the tombstone, except the row keep_event_id (the
 * message.deleted event itself). The rows keep their ids, so resume, SSE and long-poll
 * see the same log, without the text. tombstone is not consumed. */
int chat_events_scrub_message(struct chat_db *db, long long message_id, json_object *tombstone,
                              long long keep_event_id);

/* ---- audit log (store_audit.c) ---- */

/* One moderation action. Ids of 0 are "none" (stored as NULL); actor_id 0 is the
 * operator (chatctl). action is one of the names in docs/API.md ("Audit log"). */
struct chat_audit_entry {
    long long actor_id;
    const char *action;
    long long target_user_id;
    long long conversation_id;
    long long message_id;
    const char *detail; /* may be NULL; at most 100 characters */
};

/* Inside the caller's transaction (the action's own): writes one audit_log row, with the
 * actor's and the target's usernames as they are now. */
int chat_audit_append(struct chat_db *db, const struct chat_audit_entry *e);
/* {results: [entry], has_more}, newest first, ids below before (0: from the newest),
 * at most limit; user_id (0: everyone) keeps the rows where that user is the actor or
 * the target. entry: {id, created_at, actor_id|null, actor, action, target_user_id|null,
 * target|null, conversation_id|null, message_id|null, detail|null}. */
int chat_audit_page_json(struct chat_db *db, long long user_id, long long before, int limit,
                         json_object **out);

/* ---- time (store_rows.c) ---- */

/* Converts MariaDB "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) to RFC 3339 "YYYY-MM-DDTHH:MM:SS.ffffffZ".
 * out must hold 32 bytes. A NULL input gives NULL. */
const char *chat_time_rfc3339(const char *db_time, char out[32]);

#endif
