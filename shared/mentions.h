/* Finding the mentions in a message's text: "@username" of a participant, and "@all" and
 * "@here" in groups. Pure (no database): the caller passes the participants and stores
 * what comes back (store_mentions.c). Offsets and lengths are in UTF-16 code units, the
 * unit JavaScript strings and the mobile platforms index by. */
#ifndef CHAT_MENTIONS_H
#define CHAT_MENTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define CHAT_MENTIONS_MAX 100 /* entities kept per message; later ones stay plain text */

enum chat_mention_kind {
    CHAT_MENTION_USER,
    CHAT_MENTION_ALL,  /* every participant but the sender */
    CHAT_MENTION_HERE, /* the participants online at send */
};

struct chat_mention {
    enum chat_mention_kind kind;
    long long user_id; /* CHAT_MENTION_USER only, else 0 */
    size_t offset;     /* of the '@', in UTF-16 code units from the start of the text */
    size_t length;     /* of "@name", in UTF-16 code units */
};

/* One participant a mention may name. */
struct chat_mention_member {
    long long user_id;
    const char *username;
};

/* Finds the mentions in the well-formed UTF-8 text, in text order, into out (up to max,
 * at most CHAT_MENTIONS_MAX); returns their number. A mention is '@' at the start of the
 * text or after a character that cannot end a word (white space, ASCII punctuation other
 * than the username characters, or a non-ASCII space, punctuation, symbol or emoji; so
 * "mail@example.com" and "ol\u00e1@bob" mention nobody), followed by a username
 * (compared case-insensitively; trailing '.' and '-' that make no username are sentence
 * punctuation) and then by anything that is not a username character or '@'. Only the
 * members are mentioned (another name is plain text) and never sender_id; "@all" and
 * "@here" are kinds of their own in a group (is_group) and plain names elsewhere. A name
 * repeated gives one entity per occurrence. */
size_t chat_mentions_parse(const char *text, const struct chat_mention_member *members,
                           size_t nmembers, long long sender_id, bool is_group,
                           struct chat_mention *out, size_t max);

/* The names text could mention, for looking up only those participants: for each '@'
 * at a word boundary (as chat_mentions_parse), the username characters after it and,
 * when they end in '.' or '-', each shorter run without those. Writes up to max names
 * as (start, length) pairs into text (not NUL-terminated) and returns their number
 * (at most 2 * CHAT_MENTIONS_MAX, so a text full of '@' stays bounded); repeats stay. */
#define CHAT_MENTION_NAMES_MAX (2 * CHAT_MENTIONS_MAX)
struct chat_mention_name {
    const char *start;
    size_t length;
};
size_t chat_mentions_names(const char *text, struct chat_mention_name *out, size_t max);

/* The name of a kind as the message JSON spells it: "user", "all" or "here". */
const char *chat_mention_kind_name(enum chat_mention_kind kind);

#endif
