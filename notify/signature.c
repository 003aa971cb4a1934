#include "signature.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void chat_notify_signature(const char *secret, long long unix_time, const char *body,
                           size_t body_len, char out[CHAT_NOTIFY_SIGNATURE_MAX])
{
    char prefix[24];
    int n = snprintf(prefix, sizeof(prefix), "%lld.", unix_time);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix, (unsigned long long)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    char hex[2 * sizeof(mac) + 1];
    sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
    snprintf(out, CHAT_NOTIFY_SIGNATURE_MAX, "t=%lld,v1=%s", unix_time, hex);
}

long long chat_notify_backoff_ms(int attempt, long long base_ms, long long max_ms, uint32_t random)
{
    long long pause = base_ms;
    for (int i = 1; i < attempt && pause < max_ms; i++)
        pause *= 2;
    if (pause > max_ms)
        pause = max_ms;
    /* pause - pause/2 * random/2^32: between half and all of it. */
    long long jitter = (long long)(((unsigned long long)(pause / 2) * random) >> 32);
    return pause - jitter;
}
