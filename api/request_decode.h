/* Decoding the raw request text: query parameters, cookies and percent-escapes. Pure
 * functions of their arguments (no response, no allocation), fuzzed by fuzz_router. */
#ifndef CHAT_REQUEST_DECODE_H
#define CHAT_REQUEST_DECODE_H

#include <stdbool.h>
#include <stddef.h>

/* Reads one query parameter into out (percent-decoded). Returns true when present. */
bool chat_query_param(const char *query, const char *name, char *out, size_t outlen);
/* Strictly percent-decodes the n bytes at s into out (NUL-terminated; '+' stays '+').
 * *outn receives the decoded length, which may include NUL bytes. Returns CHAT_OK,
 * CHAT_E_BAD_REQUEST for a malformed escape, or CHAT_E_VALIDATION when out is too small. */
int chat_percent_decode(const char *s, size_t n, char *out, size_t outlen, size_t *outn);
/* Reads one cookie's value into out. Returns true when present. */
bool chat_cookie_value(const char *cookie_header, const char *name, char *out, size_t outlen);

#endif
