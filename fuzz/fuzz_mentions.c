/* libFuzzer target: the mention parser (shared/mentions.c), which reads every message
 * text, and the RFC 3339 reader of muted_until (shared/time_parse.c). The first byte
 * chooses a group or a direct chat and the sender; the rest is the text, skipped unless
 * it is well-formed UTF-8 (what the JSON parser lets through). Every entity must lie in
 * the text, in order, start at an '@' and name a member or be @all/@here in a group. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mentions.h"
#include "time_parse.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct chat_mention_member members[] = {
    {1, "alice"}, {2, "bob"}, {3, "bob.smith"}, {4, "x-y"}, {5, "all"},
};

/* The UTF-16 length of text[0..len), and the byte at UTF-16 offset `at` (0 if none). */
static size_t units(const char *text, size_t len, size_t at, char *byte_at)
{
    size_t u = 0;
    *byte_at = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        if (u == at)
            *byte_at = text[i];
        u += n == 4 ? 2 : 1;
        i += n;
    }
    return u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool is_group = data[0] & 1;
    long long sender = (data[0] >> 1) % 6;
    size_t len = size - 1;
    char *text = malloc(len + 1);
    memcpy(text, data + 1, len);
    text[len] = '\0';
    char out[27];
    (void)chat_time_parse_rfc3339(text, out);
    if (!chat_utf8_valid(text, len)) {
        free(text);
        return 0;
    }
    struct chat_mention found[CHAT_MENTIONS_MAX];
    size_t n = chat_mentions_parse(text, members, sizeof(members) / sizeof(members[0]), sender,
                                   is_group, found, CHAT_MENTIONS_MAX);
    size_t end = 0;
    for (size_t i = 0; i < n; i++) {
        char at;
        size_t total = units(text, len, found[i].offset, &at);
        if (found[i].offset < end || found[i].offset + found[i].length > total || at != '@' ||
            found[i].length < 2)
            __builtin_trap();
        if (found[i].kind == CHAT_MENTION_USER ? found[i].user_id == sender || found[i].user_id < 1
                                               : !is_group)
            __builtin_trap();
        end = found[i].offset + found[i].length;
    }
    free(text);
    return 0;
}
