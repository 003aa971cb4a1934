/* application/x-www-form-urlencoded bodies: the chat page's plain HTML form posts, which
 * must work without JavaScript. Strict, like the JSON bodies: every field is declared in
 * a table, and anything else is refused. */
#ifndef CHAT_FORM_H
#define CHAT_FORM_H

#include <stdbool.h>
#include <stddef.h>

/* Most fields one table may declare. */
#define CHAT_FORM_MAX_FIELDS 8

struct chat_form_field {
    const char *name;
    size_t max_bytes; /* longest decoded value accepted */
    bool required;
};

/* Parses body (len bytes, not NUL-terminated): name=value pairs separated by '&', '+'
 * for a space and %XX escapes, as browsers send them. Each declared field may appear
 * once; its decoded value (NUL-terminated, valid UTF-8, no NUL bytes) is stored in
 * values[i], matching fields[i], or NULL when absent. An empty body has no fields.
 *
 * Returns CHAT_OK, or with a reason in detail (always NUL-terminated when detail_len > 0)
 * and every values[i] NULL: CHAT_E_BAD_REQUEST (a malformed escape, a pair without '=',
 * an empty name, a repeated field, a decoded NUL byte), CHAT_E_UNKNOWN_FIELD,
 * CHAT_E_MISSING_FIELD, CHAT_E_INVALID_UTF8, or CHAT_E_VALIDATION (a value longer than
 * its max_bytes). nfields is at most CHAT_FORM_MAX_FIELDS. The caller frees each
 * values[i] with chat_form_free(). */
int chat_form_parse(const char *body, size_t len, const struct chat_form_field *fields,
                    size_t nfields, char **values, char *detail, size_t detail_len);

/* Frees the values chat_form_parse() filled and sets them to NULL. */
void chat_form_free(char **values, size_t nfields);

#endif
