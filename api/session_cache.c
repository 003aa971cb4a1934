/* The session cache (session_cache.h): 256 direct-mapped slots indexed by the first byte
 * of the token's SHA-256, which is uniformly distributed. A collision only costs a read. */
#include "session_cache.h"

#include <stdio.h>
#include <string.h>

static struct chat_session_entry *slot_of(const struct chat_session_cache *c,
                                          const unsigned char *hash)
{
    return (struct chat_session_entry *)&c->slots[hash[0] % CHAT_SESSION_CACHE_SLOTS];
}

const struct chat_session_entry *chat_session_cache_get(const struct chat_session_cache *c,
                                                        const unsigned char *hash,
                                                        long long now_ms, int ttl_ms)
{
    const struct chat_session_entry *e = slot_of(c, hash);
    if (ttl_ms <= 0 || e->read_at_ms == 0 || now_ms - e->read_at_ms > ttl_ms ||
        now_ms < e->read_at_ms || memcmp(e->hash, hash, CHAT_TOKEN_HASH_BYTES) != 0)
        return NULL;
    return e;
}

void chat_session_cache_put(struct chat_session_cache *c, const unsigned char *hash,
                            const struct chat_session_entry *ids, const char *csrf,
                            const char *locale, long long now_ms)
{
    struct chat_session_entry *e = slot_of(c, hash);
    memcpy(e->hash, hash, CHAT_TOKEN_HASH_BYTES);
    e->user_id = ids->user_id;
    e->session_id = ids->session_id;
    snprintf(e->csrf, sizeof(e->csrf), "%s", csrf);
    snprintf(e->locale, sizeof(e->locale), "%s", locale);
    e->read_at_ms = now_ms > 0 ? now_ms : 1;
}

void chat_session_cache_forget(struct chat_session_cache *c, const unsigned char *hash)
{
    struct chat_session_entry *e = slot_of(c, hash);
    if (memcmp(e->hash, hash, CHAT_TOKEN_HASH_BYTES) == 0)
        e->read_at_ms = 0;
}

void chat_session_cache_forget_user(struct chat_session_cache *c, long long user_id)
{
    for (size_t i = 0; i < CHAT_SESSION_CACHE_SLOTS; i++)
        if (c->slots[i].user_id == user_id)
            c->slots[i].read_at_ms = 0;
}
