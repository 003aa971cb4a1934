/* What a webhook receiver checks (docs/WEBHOOKS.md): the X-Chat-Signature header of a
 * body, and the pause before a failed delivery's next attempt. Pure functions, so the
 * unit tests pin both. */
#ifndef CHAT_NOTIFY_SIGNATURE_H
#define CHAT_NOTIFY_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

/* "t=" up to 20 digits ",v1=" 64 hex digits and a NUL. */
#define CHAT_NOTIFY_SIGNATURE_MAX 96

/* Writes "t=<unix_time>,v1=<hex HMAC-SHA256 of "<unix_time>.<body>" keyed with the
 * secret's bytes>" into out. Signing the time with the body lets a receiver refuse a
 * replayed request by its age. */
void chat_notify_signature(const char *secret, long long unix_time, const char *body,
                           size_t body_len, char out[CHAT_NOTIFY_SIGNATURE_MAX]);

/* The pause in milliseconds after failed attempt number `attempt` (1 for the first):
 * base_ms doubled per earlier failure, at most max_ms, then less a jitter of up to half
 * drawn from `random` (uniform over uint32), so receivers coming back are not hit by
 * every queued delivery at the same instant. */
long long chat_notify_backoff_ms(int attempt, long long base_ms, long long max_ms, uint32_t random);

#endif
