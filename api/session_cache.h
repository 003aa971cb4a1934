/* A per-process (per chat-httpd thread) memory of sessions just looked up (the user, the
 * CSRF token and the user's language setting), so that a
 * client's requests in quick succession cost one session read, not one each. An entry
 * answers for at most session_cache_ms (at most 1 s) after it was read from MariaDB:
 * that is the bound on how long a revoked session (logout, password change,
 * deactivation, expiry) can still be accepted by a process that has not seen the
 * revocation; the process that revokes forgets it at once (docs/SECURITY.md). */
#ifndef CHAT_SESSION_CACHE_H
#define CHAT_SESSION_CACHE_H

#include <stdbool.h>

#include "crypto.h"
#include "i18n.h"

#define CHAT_SESSION_CACHE_SLOTS 256 /* direct-mapped by the token's hash */

struct chat_session_entry {
    unsigned char hash[CHAT_TOKEN_HASH_BYTES];
    long long user_id, session_id;
    char csrf[CHAT_TOKEN_CHARS + 1];
    char locale[CHAT_LOCALE_CHARS]; /* the user's language setting, "" for none */
    long long read_at_ms; /* monotonic; 0: empty slot */
};

struct chat_session_cache {
    struct chat_session_entry slots[CHAT_SESSION_CACHE_SLOTS];
};

/* The entry for hash read at most ttl_ms before now_ms, or NULL. */
const struct chat_session_entry *chat_session_cache_get(const struct chat_session_cache *c,
                                                        const unsigned char *hash,
                                                        long long now_ms, int ttl_ms);
/* Remembers a session read at now_ms (replacing whatever shared its slot): the user and
 * session ids of ids, csrf and locale. */
void chat_session_cache_put(struct chat_session_cache *c, const unsigned char *hash,
                            const struct chat_session_entry *ids, const char *csrf,
                            const char *locale, long long now_ms);
/* Forgets hash (a session this process has just ended). */
void chat_session_cache_forget(struct chat_session_cache *c, const unsigned char *hash);
/* Forgets every session of user_id (their sessions were ended here). */
void chat_session_cache_forget_user(struct chat_session_cache *c, long long user_id);

#endif
