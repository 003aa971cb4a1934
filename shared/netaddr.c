/* Addresses, CIDR blocks and X-Forwarded-For (see netaddr.h). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address as 16 bytes; IPv4 as its IPv4-mapped IPv6 form, so "1.2.3.4" and
 * "::ffff:1.2.3.4" are the same. */
struct addr {
    unsigned char b[16];
};

static bool parse_addr(const char *s, size_t len, struct addr *out)
{
    char buf[CHAT_ADDR_CHARS];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct in_addr v4;
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memset(out->b, 0, 10);
        out->b[10] = out->b[11] = 0xff;
        memcpy(out->b + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, buf, out->b) == 1;
}

/* One list entry, "ADDR" or "ADDR/BITS", as an address and a prefix length in the
 * 128-bit form (an IPv4 /n is /96+n). */
static bool parse_block(const char *s, size_t len, struct addr *base, int *bits)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (!parse_addr(s, alen, base))
        return false;
    bool v4 = memchr(s, ':', alen) == NULL;
    int max = v4 ? 32 : 128;
    *bits = 128;
    if (slash) {
        const char *d = slash + 1;
        size_t dlen = len - alen - 1;
        if (dlen == 0 || dlen > 3)
            return false;
        int n = 0;
        for (size_t i = 0; i < dlen; i++) {
            if (d[i] < '0' || d[i] > '9')
                return false;
            n = n * 10 + (d[i] - '0');
        }
        if (n > max)
            return false;
        *bits = v4 ? 96 + n : n;
    }
    return true;
}

static bool in_block(const struct addr *a, const struct addr *base, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a->b, base->b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a->b[whole] & mask) == (base->b[whole] & mask);
}

/* Finds the next entry of a space-separated list: sets *s and *len, returns false at
 * the end. *cursor starts at the list. */
static bool next_word(const char **cursor, const char **s, size_t *len)
{
    const char *p = *cursor;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return false;
    *s = p;
    *len = strcspn(p, " \t");
    *cursor = p + *len;
    return true;
}

bool chat_addr_list_valid(const char *list, char *err, size_t errlen)
{
    const char *cur = list ? list : "", *w;
    size_t len;
    while (next_word(&cur, &w, &len)) {
        struct addr base;
        int bits;
        if (!parse_block(w, len, &base, &bits)) {
            snprintf(err, errlen, "'%.*s' is not an IP address or CIDR block", (int)len, w);
            return false;
        }
    }
    return true;
}

static bool addr_in_list(const struct addr *a, const char *list)
{
    const char *cur = list ? list : "", *w;
    size_t len;
    while (next_word(&cur, &w, &len)) {
        struct addr base;
        int bits;
        if (parse_block(w, len, &base, &bits) && in_block(a, &base, bits))
            return true;
    }
    return false;
}

bool chat_addr_in_list(const char *addr, const char *list)
{
    struct addr a;
    return addr && parse_addr(addr, strlen(addr), &a) && addr_in_list(&a, list);
}

static void copy_addr(char out[CHAT_ADDR_CHARS], const char *s, size_t len)
{
    if (len >= CHAT_ADDR_CHARS)
        len = CHAT_ADDR_CHARS - 1;
    memcpy(out, s, len);
    out[len] = '\0';
}

void chat_client_address(const char *remote, const char *forwarded, const char *trusted,
                         char out[CHAT_ADDR_CHARS])
{
    remote = remote ? remote : "";
    copy_addr(out, remote, strlen(remote));
    if (!forwarded || !chat_addr_in_list(remote, trusted))
        return;
    /* From the right: each entry was appended by the hop to its right, which is trusted
     * so far. */
    const char *end = forwarded + strlen(forwarded);
    while (end > forwarded) {
        const char *start = end;
        while (start > forwarded && start[-1] != ',')
            start--;
        const char *s = start, *e = end;
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        struct addr a;
        if (s == e) {
            /* an empty entry (",," or a trailing comma) carries nothing: skip it */
        } else if (!parse_addr(s, (size_t)(e - s), &a)) {
            return;
        } else {
            copy_addr(out, s, (size_t)(e - s));
            if (!addr_in_list(&a, trusted))
                return;
        }
        end = start > forwarded ? start - 1 : forwarded;
    }
}
