/* A growable byte buffer, always NUL-terminated. Aborts on out-of-memory, like every
 * allocation of the project's own (shared/xalloc.h). */
#ifndef CHAT_STRBUF_H
#define CHAT_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *data; /* owned; NULL until the first append */
    size_t len, cap;
};

/* Makes room for extra more bytes and the terminating NUL. */
void strbuf_reserve(struct strbuf *b, size_t extra);
void strbuf_append(struct strbuf *b, const char *s, size_t n);
void strbuf_puts(struct strbuf *b, const char *s);
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with HTML special characters (& < > " ') escaped. */
void strbuf_append_html(struct strbuf *b, const char *s, size_t n);
/* Gives up ownership of the data (possibly NULL) and resets b. */
char *strbuf_detach(struct strbuf *b, size_t *len);
void strbuf_free(struct strbuf *b);

#endif
