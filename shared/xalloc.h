/* The project's out-of-memory policy, in one place (docs/ARCHITECTURE.md, "Out of
 * memory"): every allocation the project makes itself goes through these helpers and
 * ends the process when it fails. Every such size is bounded by a configured limit, so
 * a failure means the machine is out of memory, not that a client asked for too much;
 * the supervisor (chat-api's master, systemd) restarts the process, and MariaDB keeps
 * everything that was committed. A library that reports its own allocation failure
 * (json-c, libsodium's argon2id, mysql_init) is answered with CHAT_E_NOMEM instead,
 * which becomes a 503 "out_of_memory" for that one request. */
#ifndef CHAT_XALLOC_H
#define CHAT_XALLOC_H

#include <stddef.h>

/* Each returns memory the caller owns and frees with free(); never NULL. A zero size
 * allocates one byte, so the result can always be freed and reallocated. */
void *chat_xmalloc(size_t n);
void *chat_xcalloc(size_t n, size_t size);
/* Resizes p (which may be NULL) to n * size bytes; the product is checked for
 * overflow. The old pointer is invalid afterwards. */
void *chat_xreallocarray(void *p, size_t n, size_t size);
char *chat_xstrdup(const char *s);
char *chat_xstrndup(const char *s, size_t n);

/* Writes "fatal: out of memory" to stderr and aborts. */
_Noreturn void chat_out_of_memory(void);

#endif
