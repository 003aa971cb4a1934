/* The urlencoded form parser (see form.h). */
#include "form.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "i18n.h"
#include "strbuf.h"
#include "utf8.h"
#include "xalloc.h"

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into out (at least n + 1 bytes). Returns the decoded length, or -1 for
 * a malformed escape or a decoded NUL byte. */
static long decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (n - i < 3 || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0)
                return -1;
            c = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        }
        if (c == '\0')
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

void chat_form_free(char **values, size_t nfields)
{
    for (size_t i = 0; i < nfields; i++) {
        free(values[i]);
        values[i] = NULL;
    }
}

int chat_form_parse(const char *body, size_t len, const struct chat_form_field *fields,
                    size_t nfields, char **values, char *detail, size_t detail_len)
{
    assert(nfields <= CHAT_FORM_MAX_FIELDS);
    int rc = CHAT_OK;
    char *name = NULL, *value = NULL;
    size_t pos = 0;
    if (detail_len)
        detail[0] = '\0';
    for (size_t i = 0; i < nfields; i++)
        values[i] = NULL;

    while (pos < len) {
        const char *pair = body + pos;
        const char *amp = memchr(pair, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - pair) : len - pos;
        pos += plen + 1;
        if (plen == 0)
            continue; /* "a=1&&b=2" and a trailing '&' are harmless */
        const char *eq = memchr(pair, '=', plen);
        size_t nlen = eq ? (size_t)(eq - pair) : 0;
        if (!eq || nlen == 0) {
            snprintf(detail, detail_len, "error.form.malformed_field");
            rc = CHAT_E_BAD_REQUEST;
            goto out;
        }
        size_t vlen = plen - nlen - 1;
        name = chat_xmalloc(nlen + 1);
        value = chat_xmalloc(vlen + 1);
        long dn = decode(pair, nlen, name), dv = decode(eq + 1, vlen, value);
        if (dn < 0 || dv < 0) {
            snprintf(detail, detail_len, "error.form.malformed_escape");
            rc = CHAT_E_BAD_REQUEST;
            goto out;
        }
        size_t f = 0;
        while (f < nfields && strcmp(fields[f].name, name) != 0)
            f++;
        if (f == nfields) {
            /* The name is not echoed: it is whatever the client sent. */
            snprintf(detail, detail_len, "error.form.unknown_field");
            rc = CHAT_E_UNKNOWN_FIELD;
            goto out;
        }
        if (values[f]) {
            chat_detail_printf(detail, detail_len, "error.form.field_repeated", "name=%s", fields[f].name);
            rc = CHAT_E_BAD_REQUEST;
            goto out;
        }
        if (!chat_utf8_valid(value, (size_t)dv)) {
            chat_detail_printf(detail, detail_len, "error.form.field_not_utf8", "name=%s", fields[f].name);
            rc = CHAT_E_INVALID_UTF8;
            goto out;
        }
        if ((size_t)dv > fields[f].max_bytes) {
            chat_detail_printf(detail, detail_len, "error.form.field_too_long",
                               "name=%s" CHAT_DETAIL_SEP "max=%zu", fields[f].name, fields[f].max_bytes);
            rc = CHAT_E_VALIDATION;
            goto out;
        }
        values[f] = value;
        value = NULL;
        free(name);
        name = NULL;
    }
    for (size_t f = 0; f < nfields; f++) {
        if (fields[f].required && !values[f]) {
            chat_detail_printf(detail, detail_len, "error.json.field_required", "name=%s", fields[f].name);
            rc = CHAT_E_MISSING_FIELD;
            goto out;
        }
    }
out:
    free(name);
    free(value);
    if (rc != CHAT_OK)
        chat_form_free(values, nfields);
    return rc;
}
