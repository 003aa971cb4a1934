/* The API's wake-up call to push daemons: one datagram per configured UNIX socket after a
 * commit. Losing one is harmless (the daemon also polls), so sends never block and
 * failures are only logged at debug level. */
#ifndef CHAT_WAKE_H
#define CHAT_WAKE_H

#include "config.h"

/* Opens the non-blocking datagram socket used for wake-ups. Returns an fd or -1. */
int chat_wake_open(void);

/* Sends one datagram to every socket listed in cfg->push_wake_sockets. */
void chat_wake_push_daemons(int fd, const struct chat_config *cfg);

#endif
