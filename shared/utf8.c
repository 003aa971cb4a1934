#include "utf8.h"

#include <string.h>

bool chat_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        unsigned need;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= need)
            return false;
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        if (cp >= 0xD800 && cp <= 0xDFFF)
            return false;
        i += need + 1;
    }
    return true;
}

size_t chat_utf8_length(const char *str, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)str[i] & 0xC0) != 0x80)
            n++;
    return n;
}

size_t chat_utf8_prefix_len(const char *str, size_t len, size_t max_chars)
{
    size_t chars = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char)str[i] & 0xC0) != 0x80 && chars++ == max_chars)
            return i;
    }
    return len;
}

/* C0 and C1 controls, DEL, the marks LRM/RLM, and the bidi embeddings, overrides and
 * isolates: characters that draw nothing themselves but reorder or hide what follows. */
static bool is_display_control(unsigned cp)
{
    return cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t chat_utf8_strip_controls(const char *str, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = 0, i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t clen = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (clen > len - i)
            clen = len - i; /* not well-formed: copied as it is */
        unsigned cp = clen == 1 ? c : c & (0x7Fu >> clen);
        for (size_t k = 1; k < clen; k++)
            cp = (cp << 6) | (s[i + k] & 0x3F);
        if (!is_display_control(cp)) {
            memmove(out + n, str + i, clen);
            n += clen;
        }
        i += clen;
    }
    out[n] = '\0';
    return n;
}
