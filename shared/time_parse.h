/* Reading a timestamp a client sent. */
#ifndef CHAT_TIME_PARSE_H
#define CHAT_TIME_PARSE_H

#include <stdbool.h>

/* Parses an RFC 3339 date-time ("2026-12-04T10:00:00Z", "2026-12-04T07:00:00.5-03:00":
 * 'T' or 't', an optional fraction of up to 9 digits, 'Z', 'z' or an offset of at most
 * 23:59), years 1970-9999, and writes it as MariaDB's UTC "YYYY-MM-DD HH:MM:SS.ffffff"
 * into out (the fraction cut to microseconds). Returns false, out untouched, for anything
 * else, a leap second or a date that does not exist included. */
bool chat_time_parse_rfc3339(const char *s, char out[27]);

#endif
