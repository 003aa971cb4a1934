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

#endif
