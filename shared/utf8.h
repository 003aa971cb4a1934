#ifndef CHAT_UTF8_H
#define CHAT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) and contains no NUL byte. */
bool chat_utf8_valid(const char *s, size_t len);

/* Number of code points in well-formed UTF-8. */
size_t chat_utf8_length(const char *s, size_t len);

/* Length in bytes of the first max_chars code points of s[0..len) (all of it when it
 * has fewer): a cut that never splits a character. */
size_t chat_utf8_prefix_len(const char *s, size_t len, size_t max_chars);

/* Copies well-formed UTF-8 s[0..len) to out (len + 1 bytes; out may equal s) without the
 * characters that have no place in a name shown to others: U+0000-U+001F, U+007F-U+009F,
 * U+200E, U+200F, U+202A-U+202E and U+2066-U+2069. NUL-terminates out; returns its length. */
size_t chat_utf8_strip_controls(const char *s, size_t len, char *out);

#endif
