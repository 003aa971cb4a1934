/* The project's error codes, named once. Each entry: symbol, HTTP status, the stable
 * machine-readable `code` clients see in {"detail": ..., "code": ...}, and the default
 * human-readable detail. Functions return CHAT_OK (0) or one of the negative CHAT_E_*
 * values below. */
#ifndef CHAT_ERRORS_H
#define CHAT_ERRORS_H

#define CHAT_ERROR_MAP(X)                                                                  \
    X(PARSE, 400, "parse_error", "Malformed JSON.")                                        \
    X(INVALID_TYPE, 400, "invalid_type", "A field has the wrong type.")                    \
    X(INVALID_UTF8, 400, "invalid_utf8", "The request is not valid UTF-8.")                \
    X(UNKNOWN_FIELD, 400, "unknown_field", "The body has a field this endpoint does not take.") \
    X(MISSING_FIELD, 400, "missing_field", "A required field is missing.")                 \
    X(BAD_REQUEST, 400, "bad_request", "The request is malformed.")                        \
    X(BAD_FRAME, 400, "bad_frame", "The push daemon does not take this frame.")            \
    X(NOT_AUTHENTICATED, 401, "not_authenticated", "Authentication credentials were not provided or have expired.") \
    X(AUTH_FAILED, 401, "authentication_failed", "Wrong username or password.")            \
    X(CSRF, 403, "csrf_failed", "CSRF token missing or incorrect.")                        \
    X(FORBIDDEN, 403, "permission_denied", "You do not have permission to do this.")      \
    X(NOT_ADMIN, 403, "not_admin", "Only an admin of this group may do this.")             \
    X(WRONG_PASSWORD, 403, "wrong_password", "The current password is wrong.")          \
    X(REGISTRATION_CLOSED, 403, "registration_closed", "Registration is disabled on this server.") \
    X(BLOCKED, 403, "blocked", "This user has blocked you.")                                \
    X(YOU_BLOCKED, 403, "user_blocked", "You have blocked this user; unblock them first.")   \
    X(RECIPIENT_LEFT, 403, "recipient_left", "The other participant has left this direct conversation; they see nothing new until they come back.") \
    X(MENTION_NOT_ALLOWED, 403, "mention_not_allowed", "Only an admin of this group may use @all or @here in a group of more than 100 participants.") \
    X(NOT_FOUND, 404, "not_found", "Not found.")                                           \
    X(METHOD, 405, "method_not_allowed", "Method not allowed.")                            \
    X(CONFLICT, 409, "conflict", "The request conflicts with the current state.")          \
    X(DUPLICATE, 409, "duplicate", "That already exists.")                                 \
    X(GROUP_FULL, 409, "group_full", "The group has as many participants as it may have.") \
    X(LAST_ADMIN, 409, "last_admin", "A group keeps at least one admin; promote another first.") \
    X(TOO_LARGE, 413, "payload_too_large", "The request body is too large.")               \
    X(UNSUPPORTED_MEDIA, 415, "unsupported_media_type", "Send the body as application/json.") \
    X(VALIDATION, 422, "validation_error", "The request is well-formed but invalid.")      \
    X(RATE_LIMITED, 429, "rate_limited", "Too many requests.")                             \
    X(TOO_MANY_CONNECTIONS, 429, "too_many_connections", "Too many open connections for this user.") \
    X(INTERNAL, 500, "internal_error", "Internal server error.")                           \
    X(DB, 503, "database_unavailable", "The database is unavailable; try again.")          \
    X(DB_CONFLICT, 503, "database_conflict", "A concurrent change conflicted with this one; try again.") \
    X(NOMEM, 503, "out_of_memory", "The server is out of memory; try again.")              \
    X(BUSY, 503, "server_busy", "Every password-hashing slot is busy; try again shortly.")

enum chat_err_index {
#define CHAT_X(name, status, code, msg) CHAT_ERR_INDEX_##name,
    CHAT_ERROR_MAP(CHAT_X)
#undef CHAT_X
    CHAT_ERR_INDEX_COUNT
};

enum chat_err {
    CHAT_OK = 0,
#define CHAT_X(name, status, code, msg) CHAT_E_##name = -1 - CHAT_ERR_INDEX_##name,
    CHAT_ERROR_MAP(CHAT_X)
#undef CHAT_X
};

/* Details that several places send with a code, so the same case reads the same
 * everywhere (REST, WebSocket error frames, the HTTP fallbacks). */
#define CHAT_DETAIL_CONVERSATION_NOT_FOUND "error.conversation_not_found"

/* Lookups for an error value; an unknown value maps to INTERNAL. */
int chat_err_status(int err);
const char *chat_err_code(int err);
const char *chat_err_message(int err);

#endif
