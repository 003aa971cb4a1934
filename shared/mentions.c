/* Finding the mentions in a message's text (mentions.h): one pass over the UTF-8, counting
 * UTF-16 code units as it goes. */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "mentions.h"

#define USERNAME_MAX 32 /* CHAT_USERNAME_MAX (store.h); this module stands alone */

static bool username_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '.' || c == '-';
}

/* Decodes the code point at s (well-formed UTF-8) and its length in bytes. */
static uint32_t decode(const unsigned char *s, size_t *len)
{
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] < 0xe0) {
        *len = 2;
        return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
    }
    if (s[0] < 0xf0) {
        *len = 3;
        return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
    }
    *len = 4;
    return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
           (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

/* Whether a mention may start right after code point cp (UINT32_MAX: the start of the
 * text). ASCII: anything but a username character or '@'. Beyond ASCII a fixed list of
 * blocks that hold no letters (Latin-1 punctuation and spaces, general punctuation
 * through dingbats, CJK punctuation, full-width punctuation, emoji): a letter of any
 * script, a combining mark or an ideograph continues a word, as in "ol\u00e1@bob". */
static bool boundary_before(uint32_t cp)
{
    if (cp == UINT32_MAX)
        return true;
    if (cp < 0x80)
        return !username_char((unsigned char)cp) && cp != '@';
    return (cp >= 0x80 && cp <= 0xbf) || cp == 0xd7 || cp == 0xf7 ||
           (cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f) ||
           (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xfe30 && cp <= 0xfe4f) ||
           (cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
           (cp >= 0x1f000 && cp <= 0x1faff);
}

static bool name_is(const char *name, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(name, word, len) == 0;
}

/* Resolves name[0..len) to a mention, or returns false when it names nobody here. */
static bool resolve(const char *name, size_t len, const struct chat_mention_member *members,
                    size_t nmembers, bool is_group, struct chat_mention *m)
{
    if (is_group && (name_is(name, len, "all") || name_is(name, len, "here"))) {
        m->kind = name_is(name, len, "all") ? CHAT_MENTION_ALL : CHAT_MENTION_HERE;
        m->user_id = 0;
        return true;
    }
    for (size_t i = 0; i < nmembers; i++) {
        if (name_is(name, len, members[i].username)) {
            m->kind = CHAT_MENTION_USER;
            m->user_id = members[i].user_id;
            return true;
        }
    }
    return false;
}

/* The mention starting at the '@' at text[at], if it is one: *end gets the byte after
 * the name. */
static bool mention_at(const char *text, size_t at, const struct chat_mention_member *members,
                       size_t nmembers, bool is_group, struct chat_mention *m, size_t *end)
{
    size_t start = at + 1, stop = start;
    while (username_char((unsigned char)text[stop]) && stop - start <= USERNAME_MAX)
        stop++;
    if (stop - start > USERNAME_MAX || text[stop] == '@')
        return false; /* longer than any username, or an address such as "@a@b.c" */
    /* Trailing '.' and '-' are tried as the sentence's punctuation once the whole run
     * names nobody: "@bob." is bob unless someone is called "bob.". */
    for (; stop > start; stop--) {
        if (resolve(text + start, stop - start, members, nmembers, is_group, m)) {
            *end = stop;
            return true;
        }
        if (text[stop - 1] != '.' && text[stop - 1] != '-')
            return false;
    }
    return false;
}

size_t chat_mentions_parse(const char *text, const struct chat_mention_member *members,
                           size_t nmembers, long long sender_id, bool is_group,
                           struct chat_mention *out, size_t max)
{
    size_t n = 0, units = 0, i = 0;
    uint32_t prev = UINT32_MAX;
    if (max > CHAT_MENTIONS_MAX)
        max = CHAT_MENTIONS_MAX;
    while (text[i] && n < max) {
        struct chat_mention m;
        size_t end = 0;
        if (text[i] == '@' && boundary_before(prev) &&
            mention_at(text, i, members, nmembers, is_group, &m, &end)) {
            /* "@" and a username are ASCII: one UTF-16 unit a byte. */
            m.offset = units;
            m.length = end - i;
            if (m.kind != CHAT_MENTION_USER || m.user_id != sender_id)
                out[n++] = m;
            units += end - i;
            prev = (unsigned char)text[end - 1];
            i = end;
            continue;
        }
        size_t len;
        prev = decode((const unsigned char *)text + i, &len);
        units += prev >= 0x10000 ? 2 : 1;
        i += len;
    }
    return n;
}

size_t chat_mentions_names(const char *text, struct chat_mention_name *out, size_t max)
{
    size_t n = 0, i = 0;
    uint32_t prev = UINT32_MAX;
    if (max > CHAT_MENTION_NAMES_MAX)
        max = CHAT_MENTION_NAMES_MAX;
    while (text[i] && n < max) {
        if (text[i] == '@' && boundary_before(prev)) {
            size_t start = i + 1, stop = start;
            while (username_char((unsigned char)text[stop]) && stop - start <= USERNAME_MAX)
                stop++;
            if (stop - start <= USERNAME_MAX && text[stop] != '@') {
                for (; stop > start && n < max; stop--) {
                    out[n++] = (struct chat_mention_name){text + start, stop - start};
                    if (text[stop - 1] != '.' && text[stop - 1] != '-')
                        break;
                }
            }
        }
        size_t len;
        prev = decode((const unsigned char *)text + i, &len);
        i += len;
    }
    return n;
}

const char *chat_mention_kind_name(enum chat_mention_kind kind)
{
    switch (kind) {
    case CHAT_MENTION_ALL:
        return "all";
    case CHAT_MENTION_HERE:
        return "here";
    default:
        return "user";
    }
}
