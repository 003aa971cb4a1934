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

/* Sends one wake-up datagram to every address in cfg->push_wake_sockets. */
void chat_wake_push_daemons(int fd, const struct chat_config *cfg);

/* Sends msg to every address in cfg->push_wake_sockets except `skip` (the caller's own,
 * as text; may be NULL). */
void chat_wake_send_all(int fd, const struct chat_config *cfg, const void *msg, size_t len,
                        const char *skip);

#endif
