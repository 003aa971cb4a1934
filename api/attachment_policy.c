/* Content types, filenames and download headers for attachments. */
#include "attachment_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static bool token_char(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool chat_content_type_normalize(const char *value, char *out, size_t outlen)
{
    if (!value)
        return false;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t o = 0, slash = 0;
    const char *p = value;
    for (; token_char((unsigned char)*p) || *p == '/'; p++) {
        if (*p == '/') {
            if (slash || o == 0)
                return false;
            slash = o;
        }
        if (o + 1 >= outlen)
            return false;
        out[o++] = (char)tolower((unsigned char)*p);
    }
    out[o] = '\0';
    while (*p == ' ' || *p == '\t')
        p++;
    /* Parameters (charset, boundary...) are not kept. */
    if (*p && *p != ';')
        return false;
    return slash > 0 && slash + 1 < o;
}

bool chat_content_type_allowed(const char *type, const char *allow_list)
{
    const char *slash = strchr(type, '/');
    size_t major = slash ? (size_t)(slash - type) : strlen(type);
    const char *p = allow_list;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 3 && strncmp(p, "*/*", 3) == 0)
            return true;
        if (n == major + 2 && strncmp(p, type, major) == 0 && strncmp(p + major, "/*", 2) == 0)
            return true;
        if (n == strlen(type) && n && strncmp(p, type, n) == 0)
            return true;
        p += n;
    }
    return false;
}

const char *chat_content_type_served(const char *type, bool *inline_ok)
{
    /* Shown in the page (an <img>): browsers never run these. */
    static const char *const images[] = {"image/png", "image/jpeg", "image/gif", "image/webp"};
    /* Downloaded under their own type: inert in a browser tab even if opened. */
    static const char *const inert[] = {"text/plain", "text/csv", "application/pdf",
                                        "application/zip", "application/gzip",
                                        "application/json"};
    *inline_ok = false;
    for (size_t i = 0; i < sizeof(images) / sizeof(images[0]); i++) {
        if (strcmp(type, images[i]) == 0) {
            *inline_ok = true;
            return type;
        }
    }
    for (size_t i = 0; i < sizeof(inert) / sizeof(inert[0]); i++)
        if (strcmp(type, inert[i]) == 0)
            return type;
    if (strncmp(type, "audio/", 6) == 0 || strncmp(type, "video/", 6) == 0)
        return type;
    return "application/octet-stream";
}

/* Length of the UTF-8 character starting with byte c (input already validated). */
static size_t char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* U+202A..U+202E and U+2066..U+2069: they reorder what a user sees ("exe.txt"). */
static bool bidi_control(const unsigned char *s)
{
    return s[0] == 0xE2 && ((s[1] == 0x80 && s[2] >= 0xAA && s[2] <= 0xAE) ||
                            (s[1] == 0x81 && s[2] >= 0xA6 && s[2] <= 0xA9));
}

bool chat_filename_sanitize(const char *raw, char *out, size_t max_chars)
{
    size_t len = strlen(raw);
    if (!chat_utf8_valid(raw, len))
        return false;
    const char *base = raw;
    for (const char *p = raw; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    while (*base == ' ' || *base == '.')
        base++;
    size_t o = 0, chars = 0;
    for (const unsigned char *p = (const unsigned char *)base; *p && chars < max_chars;) {
        size_t n = char_len(*p);
        if (*p < 0x20 || *p == 0x7f || (n == 3 && bidi_control(p))) {
            p += n;
            continue;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
        chars++;
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    if (o == 0)
        strcpy(out, "file");
    return true;
}

void chat_content_disposition(const char *filename, bool inline_ok, char *out, size_t outlen)
{
    char ascii[256], encoded[2560];
    size_t a = 0, e = 0;
    for (const unsigned char *p = (const unsigned char *)filename; *p; p++) {
        bool plain = *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\';
        /* One '_' per non-ASCII character in the fallback. */
        if (a + 1 < sizeof(ascii) && (plain || (*p & 0xC0) != 0x80))
            ascii[a++] = plain ? (char)*p : '_';
        bool attr_char = isalnum(*p) || (*p && strchr("!#$&+-.^_`|~", *p));
        if (e + 4 < sizeof(encoded)) {
            if (attr_char)
                encoded[e++] = (char)*p;
            else
                e += (size_t)snprintf(encoded + e, sizeof(encoded) - e, "%%%02X", *p);
        }
    }
    ascii[a] = '\0';
    encoded[e] = '\0';
    snprintf(out, outlen, "%s; filename=\"%s\"; filename*=UTF-8''%s",
             inline_ok ? "inline" : "attachment", ascii, encoded);
}
