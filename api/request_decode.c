/* Decoding of query strings, cookie headers and percent-escapes into caller buffers,
 * bounded by the buffer size. Used by authentication (the session cookie), the handlers
 * (query parameters, {str} path segments) and the multipart parser. */
#include "request_decode.h"

#include <ctype.h>
#include <string.h>

#include "errors.h"

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool chat_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = query ? query : "";
    while (*p) {
        const char *end = p + strcspn(p, "&");
        if ((size_t)(end - p) >= nlen && strncmp(p, name, nlen) == 0 &&
            (p[nlen] == '=' || p + nlen == end)) {
            const char *v = p + nlen + (p[nlen] == '=' ? 1 : 0);
            size_t o = 0;
            while (v < end && o + 1 < outlen) {
                if (*v == '%' && end - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    out[o++] = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 3;
                } else {
                    out[o++] = *v == '+' ? ' ' : *v;
                    v++;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = *end ? end + 1 : end;
    }
    return false;
}

int chat_percent_decode(const char *s, size_t n, char *out, size_t outlen, size_t *outn)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (o + 1 >= outlen)
            return CHAT_E_VALIDATION;
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
            return CHAT_E_BAD_REQUEST;
        out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
        i += 2;
    }
    out[o] = '\0';
    *outn = o;
    return CHAT_OK;
}

bool chat_cookie_value(const char *cookie_header, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = cookie_header;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = p + strcspn(p, ";");
        if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(end - p) - nlen - 1;
            if (vlen >= outlen)
                return false;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return true;
        }
        p = end;
    }
    return false;
}
