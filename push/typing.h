/* Typing indicators: never stored, relayed to the conversation's other participants.
 *
 * The table remembers, for each (user, conversation) that is typing, when the last
 * is_typing:true relay went out and when the state expires. A repeat within
 * PUSH_TYPING_RELAY_MS is absorbed (at most one relay per user and conversation per
 * 2 s); without a repeat for PUSH_TYPING_EXPIRE_MS the state expires and an
 * is_typing:false relay goes out. An explicit stop is relayed at once.
 *
 * Pure logic, no I/O; the lws thread owns the table. */
#ifndef CHAT_PUSH_TYPING_H
#define CHAT_PUSH_TYPING_H

#include <stdbool.h>
#include <stddef.h>

#define PUSH_TYPING_RELAY_MS 2000
#define PUSH_TYPING_EXPIRE_MS 6000
/* Bound on (user, conversation) pairs typing at once on one daemon; past it new starts
 * are not relayed (logged by the caller). */
#define PUSH_TYPING_MAX 100000

struct push_typing_key {
    long long user_id, conversation_id;
};

struct push_typing_entry {
    struct push_typing_key key;
    long long last_relay_ms, expires_ms;
    char *user_json; /* the user object for the relays (owned) */
};

/* An expired state; the receiver owns user_json. */
struct push_typing_expired {
    struct push_typing_key key;
    char *user_json;
};

struct push_typing {
    struct push_typing_entry *items; /* owned; unordered */
    size_t count, cap;
};

enum push_typing_action { PUSH_TYPING_NOTHING, PUSH_TYPING_RELAY_START, PUSH_TYPING_RELAY_STOP };

/* A typing frame arrived from the user whose object (JSON text) is user_json (copied
 * when a state is created). Returns what to relay. */
enum push_typing_action push_typing_update(struct push_typing *t, struct push_typing_key key,
                                           bool typing, long long now_ms, const char *user_json);

/* Removes the states that expired at now_ms and writes up to max of their keys to out;
 * returns how many were written (call again while it returns max). */
size_t push_typing_expire(struct push_typing *t, long long now_ms,
                          struct push_typing_expired *out, size_t max);

/* True while key has a typing state (started, neither stopped nor expired). */
bool push_typing_active(struct push_typing *t, struct push_typing_key key);
void push_typing_free(struct push_typing *t);

#endif
