/* Rate-limit leases (rate_lease.h). */
#include "rate_lease.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static struct chat_rate_lease *slot_of(struct chat_rate_leases *l, const char *key)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return &l->slots[h % CHAT_RATE_LEASE_SLOTS];
}

bool chat_rate_lease_spend(struct chat_rate_leases *l, const char *key, int cost,
                           long long now_ms, double *remaining)
{
    struct chat_rate_lease *s = slot_of(l, key);
    if (s->expires_ms == 0 || now_ms >= s->expires_ms || s->left < cost ||
        strcmp(s->key, key) != 0)
        return false;
    s->left -= cost;
    *remaining = s->bucket_left + s->left;
    return true;
}

void chat_rate_lease_put(struct chat_rate_leases *l, const char *key, int left,
                         double bucket_left, long long now_ms)
{
    struct chat_rate_lease *s = slot_of(l, key);
    if (left <= 0) {
        if (strcmp(s->key, key) == 0)
            s->expires_ms = 0;
        return;
    }
    snprintf(s->key, sizeof(s->key), "%s", key);
    s->left = left;
    s->bucket_left = bucket_left;
    s->expires_ms = now_ms + CHAT_RATE_LEASE_MS;
}

int chat_rate_lease_size(int burst, int max_lease)
{
    int size = burst / 8;
    return size < max_lease ? size : max_lease;
}
