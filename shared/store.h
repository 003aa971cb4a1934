/* The data layer shared by chat-api, chat-httpd, chatctl and chat-push. Every function
 * takes the caller's per-thread struct chat_db, returns CHAT_OK or a negative CHAT_E_*
 * code, and hands back new json-c references the caller must json_object_put(). Every
 * change writes its events row in the same transaction (see chat_event_append). */
#ifndef CHAT_STORE_H
#define CHAT_STORE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "crypto.h"
#include "db.h"

#define CHAT_USERNAME_MAX 32
#define CHAT_DISPLAY_NAME_MAX 64
#define CHAT_PASSWORD_MIN 8
#define CHAT_PASSWORD_MAX 256
#define CHAT_CONV_NAME_MAX 100
#define CHAT_CLIENT_MSG_ID_MAX 64
#define CHAT_GROUP_MAX_PARTICIPANTS 256
#define CHAT_PAGE_DEFAULT 50
#define CHAT_PAGE_MAX 200

/* ---- users ---- */

/* True when name is 1..32 characters of [A-Za-z0-9_.-]. */
bool chat_username_valid(const char *name);

/* Creates a user. display_name may be NULL (defaults to the username). Returns
 * CHAT_E_DUPLICATE when the username is taken, CHAT_E_VALIDATION for a bad username or
 * password length. */
int chat_user_create(struct chat_db *db, const struct chat_config *cfg, const char *username,
                     const char *display_name, const char *password, long long *user_id);
int chat_user_set_password(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password);
/* Checks credentials in about constant time. Returns CHAT_E_AUTH_FAILED on mismatch. */
int chat_user_authenticate(struct chat_db *db, const struct chat_config *cfg,
                           const char *username, const char *password, long long *user_id);
/* {id, username, display_name}; CHAT_E_NOT_FOUND if there is no such user. */
int chat_user_get_json(struct chat_db *db, long long user_id, json_object **out);
int chat_user_find_by_username(struct chat_db *db, const char *username, long long *user_id);
/* Users whose username or display name starts with q (case-insensitive), at most limit. */
int chat_user_search_json(struct chat_db *db, const char *q, int limit, json_object **out_array);

/* ---- sessions ---- */

/* Creates a session for user_id. Writes the new bearer token and CSRF token. */
int chat_session_create(struct chat_db *db, const struct chat_config *cfg, long long user_id,
                        char token[CHAT_TOKEN_CHARS + 1], char csrf[CHAT_TOKEN_CHARS + 1]);
/* Resolves a token. csrf may be NULL. Returns CHAT_E_NOT_AUTHENTICATED when the token is
 * unknown or expired. */
int chat_session_lookup(struct chat_db *db, const char *token, long long *user_id,
                        char csrf[CHAT_TOKEN_CHARS + 1]);
int chat_session_delete(struct chat_db *db, const char *token);

/* ---- conversations ---- */

/* Creates a conversation with creator_id and the given participants (duplicates and the
 * creator in the list are ignored). A direct conversation (is_group false) takes exactly
 * one other user and returns the existing one with *existed = true when there is one.
 * Writes a conversation.created event. Errors: CHAT_E_VALIDATION (unknown user, wrong
 * count, name too long). */
int chat_conv_create(struct chat_db *db, long long creator_id, const long long *participant_ids,
                     size_t count, const char *name, bool is_group, long long *conv_id,
                     bool *existed);
/* Returns CHAT_OK when user_id takes part in conv_id, else CHAT_E_NOT_FOUND. */
int chat_conv_check_participant(struct chat_db *db, long long conv_id, long long user_id);
/* The conversation object as the viewer sees it: {id, is_group, name, created_at,
 * last_activity_at, participants[{id, username, display_name}], last_message,
 * unread_count}. CHAT_E_NOT_FOUND for non-participants. */
int chat_conv_get_json(struct chat_db *db, long long conv_id, long long viewer_id,
                       json_object **out);
/* The viewer's conversations, newest activity first, at most CHAT_PAGE_MAX. */
int chat_conv_list_json(struct chat_db *db, long long viewer_id, json_object **out_array);
/* The ids of every conversation user_id takes part in. *ids is malloc'ed; caller frees. */
int chat_conv_ids_for_user(struct chat_db *db, long long user_id, long long **ids, size_t *count);

/* ---- messages ---- */

struct chat_message_input {
    long long conversation_id;
    long long sender_id;
    const char *text;
    const char *client_msg_id; /* may be NULL */
    long long reply_to;        /* 0 = none */
};

/* Validates and stores a message plus its message.created event in one transaction.
 * A repeated (conversation, sender, client_msg_id) returns the original with *created =
 * false. Errors: CHAT_E_NOT_FOUND (not a participant), CHAT_E_VALIDATION (empty or too
 * long text, reply_to outside the conversation). *out is the REST message object. */
int chat_message_send(struct chat_db *db, const struct chat_config *cfg,
                      const struct chat_message_input *in, json_object **out, bool *created);

/* One page of history: {results: [...oldest first], has_more}. before/after 0 = unset;
 * at most one of them is non-zero. limit is already clamped by the caller. */
int chat_message_page_json(struct chat_db *db, long long conv_id, long long viewer_id,
                           long long before, long long after, int limit, json_object **out);

/* ---- events ---- */

/* Appends an event inside the caller's open transaction. payload is serialized here and
 * not consumed. */
int chat_event_append(struct chat_db *db, long long conversation_id, const char *type,
                      json_object *payload, long long *event_id);

/* ---- time ---- */

/* Converts MariaDB "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) to RFC 3339 "YYYY-MM-DDTHH:MM:SS.ffffffZ".
 * out must hold 32 bytes. A NULL input gives NULL. */
const char *chat_time_rfc3339(const char *db_time, char out[32]);

#endif
