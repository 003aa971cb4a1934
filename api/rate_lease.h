/* Rate-limit leases: tokens a process has taken from a shared bucket (store_ratelimit.c)
 * ahead of need and spends on its next requests of the same bucket, so that a client's
 * steady requests cost a bucket write every few requests instead of every one. A lease
 * lasts at most CHAT_RATE_LEASE_MS; what is left of it then is given up (it refills like
 * any spent token). The bucket never admits more than its shape allows, whatever the
 * number of processes: tokens are taken before they are spent. What a lease costs is the
 * other way round: while P processes hold leases on one bucket, a client can be refused
 * up to (P - 1) x lease tokens early, for at most CHAT_RATE_LEASE_MS (docs/API.md, "Rate
 * limits"). One table per worker process or chat-httpd thread (struct chat_app). */
#ifndef CHAT_RATE_LEASE_H
#define CHAT_RATE_LEASE_H

#include <stdbool.h>

#define CHAT_RATE_LEASE_SLOTS 64   /* direct-mapped by the bucket key's hash */
#define CHAT_RATE_LEASE_KEY_MAX 80 /* rate_buckets.bucket */
#define CHAT_RATE_LEASE_MS 1000

struct chat_rate_lease {
    char key[CHAT_RATE_LEASE_KEY_MAX];
    int left;               /* tokens taken and not spent yet */
    double bucket_left;     /* the bucket's own level when the lease was taken */
    long long expires_ms;   /* monotonic; 0: empty */
};

struct chat_rate_leases {
    struct chat_rate_lease slots[CHAT_RATE_LEASE_SLOTS];
};

/* Spends cost tokens of the lease on key, if it holds that many and has not expired at
 * now_ms. On success *remaining is what the client has left (the bucket's level when the
 * lease was taken plus what is left of the lease). */
bool chat_rate_lease_spend(struct chat_rate_leases *l, const char *key, int cost,
                           long long now_ms, double *remaining);
/* Records a lease of `left` tokens on key (what a take handed out beyond its cost), with
 * the bucket's level after the take. left 0 clears any lease on key. */
void chat_rate_lease_put(struct chat_rate_leases *l, const char *key, int left,
                         double bucket_left, long long now_ms);
/* The lease a take asks for on a bucket of this capacity: an eighth of it, at most
 * max_lease (rate_lease_max; 0 turns leases off). */
int chat_rate_lease_size(int burst, int max_lease);

#endif
