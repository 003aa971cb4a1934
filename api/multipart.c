/* multipart/form-data: boundary, part headers, Content-Disposition parameters. */
#include "multipart.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "request_decode.h"

#define MAX_HEADER_LINES 16

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

bool chat_multipart_is_form_data(const char *ct)
{
    static const char type[] = "multipart/form-data";
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = sizeof(type) - 1;
    return strncasecmp(ct, type, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Reads one parameter value (a token or a quoted-string with backslash escapes) at *pp,
 * up to end, into out. Returns false when it does not fit or a quote is unterminated. */
static bool param_value(const char **pp, const char *end, char *out, size_t outlen)
{
    const char *p = *pp;
    size_t o = 0;
    if (p < end && *p == '"') {
        p++;
        for (;;) {
            if (p >= end)
                return false;
            char c = *p++;
            if (c == '"')
                break;
            /* Only \" and \\ are escapes: browsers send Windows paths unescaped. */
            if (c == '\\' && p < end && (*p == '"' || *p == '\\'))
                c = *p++;
            if (o + 1 >= outlen)
                return false;
            out[o++] = c;
        }
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (o + 1 >= outlen)
                return false;
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    *pp = p;
    return true;
}

/* Calls back for each `; name=value` parameter after the first token of a header value.
 * Returns false on a malformed or over-long value. */
typedef bool (*param_fn)(void *ctx, const char *name, size_t nlen, const char *value);

static bool each_param(const char *p, const char *end, param_fn fn, void *ctx)
{
    char value[CHAT_MULTIPART_FILENAME_MAX * 3 + 1];
    p = memchr(p, ';', (size_t)(end - p));
    while (p && p < end) {
        p = skip_spaces(p + 1, end);
        const char *name = p;
        while (p < end && *p != '=' && *p != ';')
            p++;
        size_t nlen = (size_t)(p - name);
        while (nlen && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
            nlen--;
        if (p < end && *p == '=') {
            p = skip_spaces(p + 1, end);
            if (!param_value(&p, end, value, sizeof(value)))
                return false;
            if (!fn(ctx, name, nlen, value))
                return false;
        }
        p = skip_spaces(p, end);
        if (p < end && *p != ';')
            return false;
    }
    return true;
}

static bool name_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

/* RFC 5987 ext-value "UTF-8''percent-encoded" into out; NUL bytes are refused. */
static bool decode_ext_value(const char *v, char *out, size_t outlen)
{
    const char *q = strstr(v, "''");
    if (!q || (size_t)(q - v) != 5 || strncasecmp(v, "UTF-8", 5) != 0)
        return false;
    size_t n = 0;
    q += 2;
    return chat_percent_decode(q, strlen(q), out, outlen, &n) == CHAT_OK && n == strlen(out);
}

static bool disposition_param(void *ctx, const char *name, size_t nlen, const char *value)
{
    struct chat_multipart_part *part = ctx;
    if (name_is(name, nlen, "name"))
        return snprintf(part->name, sizeof(part->name), "%s", value) < (int)sizeof(part->name);
    if (name_is(name, nlen, "filename*")) {
        if (!decode_ext_value(value, part->filename, sizeof(part->filename)))
            return false;
        part->has_filename = true;
        return true;
    }
    if (name_is(name, nlen, "filename")) {
        /* filename* (when present) wins, whatever the order. */
        if (part->has_filename)
            return true;
        if (strlen(value) > CHAT_MULTIPART_FILENAME_MAX)
            return false;
        snprintf(part->filename, sizeof(part->filename), "%s", value);
        part->has_filename = true;
    }
    return true;
}

static bool boundary_param(void *ctx, const char *name, size_t nlen, const char *value)
{
    char *out = ctx;
    if (!name_is(name, nlen, "boundary"))
        return true;
    size_t n = strlen(value);
    if (n == 0 || n > CHAT_MULTIPART_BOUNDARY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return false;
    memcpy(out, value, n + 1);
    return true;
}

int chat_multipart_boundary(const char *content_type, char out[CHAT_MULTIPART_BOUNDARY_MAX + 1])
{
    out[0] = '\0';
    if (!chat_multipart_is_form_data(content_type))
        return CHAT_E_BAD_REQUEST;
    const char *end = content_type + strlen(content_type);
    if (!each_param(content_type, end, boundary_param, out) || !out[0])
        return CHAT_E_BAD_REQUEST;
    return CHAT_OK;
}

/* Parses the header block [p, end) of one part (lines separated by CRLF). */
static bool parse_headers(const char *p, const char *end, struct chat_multipart_part *part)
{
    int lines = 0;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if (++lines > MAX_HEADER_LINES)
            return false;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p)
            return false;
        size_t nlen = (size_t)(colon - p);
        const char *v = skip_spaces(colon + 1, eol);
        const char *vend = eol;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        if (name_is(p, nlen, "Content-Disposition")) {
            if (!each_param(v, vend, disposition_param, part))
                return false;
        } else if (name_is(p, nlen, "Content-Type")) {
            size_t vlen = (size_t)(vend - v);
            if (vlen >= sizeof(part->content_type))
                return false;
            memcpy(part->content_type, v, vlen);
            part->content_type[vlen] = '\0';
        }
        p = eol + 2;
    }
    return true;
}

int chat_multipart_parse(const char *body, size_t len, const char *boundary,
                         struct chat_multipart_part *parts, size_t max_parts, size_t *nparts)
{
    char delim[CHAT_MULTIPART_BOUNDARY_MAX + 5];
    size_t blen = strlen(boundary);
    *nparts = 0;
    if (blen == 0 || blen > CHAT_MULTIPART_BOUNDARY_MAX)
        return CHAT_E_BAD_REQUEST;
    /* "\r\n--boundary": every delimiter but a first one at the very start. */
    int dlen = snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
    const char *end = body + len, *p;
    if (len >= (size_t)dlen - 2 && memcmp(body, delim + 2, (size_t)dlen - 2) == 0)
        p = body + dlen - 2;
    else if ((p = memmem(body, len, delim, (size_t)dlen)))
        p += dlen;
    else
        return CHAT_E_BAD_REQUEST;
    for (;;) {
        /* After a delimiter: "--" closes, else optional padding and CRLF. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return *nparts ? CHAT_OK : CHAT_E_BAD_REQUEST;
        p = skip_spaces(p, end);
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return CHAT_E_BAD_REQUEST;
        p += 2;
        if (*nparts >= max_parts)
            return CHAT_E_BAD_REQUEST;
        struct chat_multipart_part *part = &parts[*nparts];
        memset(part, 0, sizeof(*part));
        const char *hend;
        size_t window = (size_t)(end - p);
        if (window > CHAT_MULTIPART_HEADERS_MAX + 4)
            window = CHAT_MULTIPART_HEADERS_MAX + 4;
        if (window >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p; /* no headers */
            p += 2;
        } else {
            hend = memmem(p, window, "\r\n\r\n", 4);
            if (!hend || !parse_headers(p, hend, part))
                return CHAT_E_BAD_REQUEST;
            p = hend + 4;
        }
        const char *next = memmem(p, (size_t)(end - p), delim, (size_t)dlen);
        if (!next)
            return CHAT_E_BAD_REQUEST; /* truncated */
        part->data = p;
        part->len = (size_t)(next - p);
        (*nparts)++;
        p = next + dlen;
    }
}
