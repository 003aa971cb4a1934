/* The wake-up call to push daemons: one datagram to every address in
 * cfg->push_wake_sockets after a commit. An address is a UNIX datagram socket path (it
 * contains '/') or a UDP "IP:PORT" ("[IPv6]:PORT"). Losing a datagram is harmless (the
 * daemon also polls), so sends never block and failures are only logged at debug level.
 * chat-push also uses these addresses to pass typing relays to the other daemons. */
#ifndef CHAT_WAKE_H
#define CHAT_WAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "config.h"

/* Opens the non-blocking UNIX datagram socket used for wake-ups. Returns an fd or -1.
 * UDP addresses go through one process-wide UDP socket opened on first use. */
int chat_wake_open(void);

/* Parses one address of n bytes. Returns false when it is neither a usable UNIX path nor
 * a numeric IP:PORT. */
bool chat_wake_parse(const char *text, size_t n, struct sockaddr_storage *addr, socklen_t *len);

/* UDP datagrams are sealed: 'S', the sender's clock in Unix ms (8 bytes, big-endian),
 * the message, then crypto_auth (HMAC-SHA512-256) of all that under the key derived from
 * push_wake_secret_file. A receiver drops a datagram whose MAC is wrong or whose time is
 * more than CHAT_WAKE_MAX_SKEW_MS away from its own clock (the replay bound). UNIX
 * datagrams are sent as they are: the receiver checks the sender's uid instead. */
#define CHAT_WAKE_KEY_BYTES 32
#define CHAT_WAKE_SEAL_BYTES (1 + 8 + 32)
#define CHAT_WAKE_MAX_SKEW_MS 30000

enum chat_wake_open_status {
    CHAT_WAKE_OPEN_OK,
    CHAT_WAKE_OPEN_MALFORMED, /* not a sealed datagram at all */
    CHAT_WAKE_OPEN_BAD_MAC,
    CHAT_WAKE_OPEN_STALE,     /* authentic, but outside the replay window */
};

/* Reads the secret file at path and derives the key (BLAKE2b-256 of its content). Refuses
 * (false, with the reason in why) a missing or unreadable file, one shorter than 32 bytes
 * and one that other users may read or write. */
bool chat_wake_key_load(const char *path, unsigned char key[CHAT_WAKE_KEY_BYTES], char *why,
                        size_t why_size);

/* True when push_wake_bind or push_wake_sockets names a UDP address. */
bool chat_wake_uses_udp(const struct chat_config *cfg);

/* Seals msg (len bytes) at now_ms into out, which must hold len + CHAT_WAKE_SEAL_BYTES.
 * Returns the sealed length. */
size_t chat_wake_seal(const unsigned char key[CHAT_WAKE_KEY_BYTES], const void *msg, size_t len,
                      long long now_ms, unsigned char *out);

/* The clock seals use: CLOCK_REALTIME in Unix ms. */
long long chat_wake_now_ms(void);

/* Checks a sealed datagram of n bytes at now_ms; on CHAT_WAKE_OPEN_OK *msg and *len are
 * the message inside it (pointing into buf). */
enum chat_wake_open_status chat_wake_unseal(const unsigned char key[CHAT_WAKE_KEY_BYTES],
                                            const unsigned char *buf, size_t n, long long now_ms,
                                            const unsigned char **msg, size_t *len);

/* Sends one wake-up datagram to every address in cfg->push_wake_sockets. */
void chat_wake_push_daemons(int fd, const struct chat_config *cfg);

/* Sends msg to every address in cfg->push_wake_sockets except `skip` (the caller's own,
 * as text; may be NULL). UDP addresses get the sealed form, with the key read once per
 * process from push_wake_secret_file; without a usable secret they are skipped and the
 * reason logged once (the daemons still poll every push_poll_interval_ms). At most
 * 4 KiB of msg. */
void chat_wake_send_all(int fd, const struct chat_config *cfg, const void *msg, size_t len,
                        const char *skip);

#endif
