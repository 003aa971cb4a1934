/* The typing state table: relay throttling and expiry (pure logic, see typing.h). */
#include "typing.h"

#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

static struct push_typing_entry *find(struct push_typing *t, struct push_typing_key key)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->items[i].key.user_id == key.user_id &&
            t->items[i].key.conversation_id == key.conversation_id)
            return &t->items[i];
    return NULL;
}

bool push_typing_active(struct push_typing *t, struct push_typing_key key)
{
    return find(t, key) != NULL;
}

static void remove_at(struct push_typing *t, size_t i)
{
    free(t->items[i].user_json);
    t->items[i] = t->items[--t->count];
}

enum push_typing_action push_typing_update(struct push_typing *t, struct push_typing_key key,
                                           bool typing, long long now_ms, const char *user_json)
{
    struct push_typing_entry *e = find(t, key);
    if (!typing) {
        if (!e)
            return PUSH_TYPING_NOTHING;
        remove_at(t, (size_t)(e - t->items));
        return PUSH_TYPING_RELAY_STOP;
    }
    if (e) {
        e->expires_ms = now_ms + PUSH_TYPING_EXPIRE_MS;
        if (now_ms - e->last_relay_ms < PUSH_TYPING_RELAY_MS)
            return PUSH_TYPING_NOTHING;
        e->last_relay_ms = now_ms;
        return PUSH_TYPING_RELAY_START;
    }
    if (t->count >= PUSH_TYPING_MAX)
        return PUSH_TYPING_NOTHING;
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct push_typing_entry *items = chat_xmalloc(cap * sizeof(*items));
        if (t->count)
            memcpy(items, t->items, t->count * sizeof(*items));
        free(t->items);
        t->items = items;
        t->cap = cap;
    }
    t->items[t->count++] = (struct push_typing_entry){
        .key = key,
        .last_relay_ms = now_ms,
        .expires_ms = now_ms + PUSH_TYPING_EXPIRE_MS,
        .user_json = chat_xstrdup(user_json ? user_json : "null")};
    return PUSH_TYPING_RELAY_START;
}

size_t push_typing_expire(struct push_typing *t, long long now_ms,
                          struct push_typing_expired *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < t->count && n < max;) {
        if (t->items[i].expires_ms <= now_ms) {
            out[n++] = (struct push_typing_expired){t->items[i].key, t->items[i].user_json};
            t->items[i].user_json = NULL; /* handed over */
            remove_at(t, i);
        } else {
            i++;
        }
    }
    return n;
}

void push_typing_free(struct push_typing *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->items[i].user_json);
    free(t->items);
    memset(t, 0, sizeof(*t));
}
