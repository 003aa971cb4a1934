/* Layer 4 (views built on message views) of the data layer: message search, InnoDB
 * FULLTEXT or a substring match for very short queries. Calls message views
 * (store_messages.c: decoration), store_rows.c and store_membership.c. */
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "store.h"
#include "store_internal.h"
#include "strbuf.h"

/* InnoDB's innodb_ft_min_token_size default: shorter words are not in the index. */
#define FT_MIN_WORD_CHARS 3
#define MAX_WORDS 16

/* Word characters as InnoDB's tokenizer sees them, close enough: ASCII letters, digits,
 * '_' and every byte of a multi-byte UTF-8 character. */
static bool word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c >= 0x80;
}

/* InnoDB's default stopwords of 3+ letters (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD).
 * A required stopword ("+the*") matches nothing, so they are left out of the query. A
 * server with its own innodb_ft_server_stopword_table should keep this list in step. */
static bool stopword(const char *w, size_t n)
{
    static const char *const words[] = {"about", "are", "com", "for", "from", "how",
                                        "that", "the", "this", "was", "what", "when",
                                        "where", "who", "will", "with", "und", "www"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i]) == n && strncasecmp(words[i], w, n) == 0)
            return true;
    return false;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    return chars;
}

/* Turns the user's words into a boolean-mode query in which every word of 3+
 * characters is required as a prefix ("+word*"); no operator of the user's reaches
 * MATCH; stopwords are skipped. Returns the number of words used; *any_word says whether
 * q had a word at all. */
static int fulltext_query(const char *q, struct strbuf *out, bool *any_word)
{
    int words = 0;
    *any_word = false;
    const char *p = q;
    while (*p && words < MAX_WORDS) {
        while (*p && !word_byte((unsigned char)*p))
            p++;
        const char *start = p;
        while (*p && word_byte((unsigned char)*p))
            p++;
        if (p == start)
            break;
        *any_word = true;
        if (utf8_chars(start, (size_t)(p - start)) < FT_MIN_WORD_CHARS ||
            stopword(start, (size_t)(p - start)))
            continue;
        strbuf_printf(out, "%s+%.*s*", words ? " " : "", (int)(p - start), start);
        words++;
    }
    return words;
}

/* "%q%" for LIKE ... ESCAPE '!', with the wildcards in q escaped. */
static void like_pattern(const char *q, struct strbuf *out)
{
    strbuf_puts(out, "%");
    for (const char *p = q; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '!')
            strbuf_puts(out, "!");
        strbuf_append(out, p, 1);
    }
    strbuf_puts(out, "%");
}

/* The participants join keeps every other conversation out; tombstones are skipped. The
 * text predicate goes between the two halves. */
#define SEARCH_HEAD                                                                          \
    "SELECT " CHAT_MESSAGE_COLUMNS " FROM messages m "                                      \
    "JOIN participants p ON p.conversation_id = m.conversation_id AND p.user_id = ? "       \
    "JOIN users u ON u.id = m.sender_id WHERE "
#define SEARCH_TAIL                                                                          \
    " AND m.deleted_at IS NULL AND (? = 0 OR m.conversation_id = ?) "                       \
    "AND (? = 0 OR m.sender_id = ?) AND m.id < ? "                                           \
    "ORDER BY m.id DESC LIMIT ?"

int chat_message_search_json(struct chat_db *db, long long viewer_id, const char *q,
                             long long conv_id, long long sender_id, long long before, int limit,
                             json_object **out)
{
    struct strbuf expr = {0};
    struct chat_db_result r;
    bool any_word;
    int rc;
    *out = NULL;
    if (conv_id && (rc = chat_conv_check_participant(db, conv_id, viewer_id)) != CHAT_OK)
        return rc;
    int words = fulltext_query(q, &expr, &any_word);
    if (!any_word) {
        strbuf_free(&expr);
        return CHAT_E_BAD_REQUEST;
    }
    if (words == 0)
        like_pattern(q, &expr);
    if (before <= 0)
        before = LLONG_MAX;
    /* Literals, not built strings: the statement cache keys on their address. */
    const char *sql =
        words > 0 ? SEARCH_HEAD "MATCH (m.text) AGAINST (? IN BOOLEAN MODE)" SEARCH_TAIL
                  : SEARCH_HEAD "m.text LIKE ? ESCAPE '!'" SEARCH_TAIL;
    rc = chat_db_query(db, sql,
                       CHAT_DB_PARAMS(DB_INT(viewer_id), DB_STR(expr.data), DB_INT(conv_id),
                                      DB_INT(conv_id), DB_INT(sender_id), DB_INT(sender_id),
                                      DB_INT(before), DB_INT(limit + 1)),
                       &r);
    strbuf_free(&expr);
    if (rc != CHAT_OK)
        return rc;
    bool has_more = r.nrows > (unsigned)limit;
    unsigned n = has_more ? (unsigned)limit : r.nrows;
    json_object *results = json_object_new_array_ext((int)n);
    for (unsigned i = 0; i < n; i++)
        json_object_array_add(results, chat_message_json_from_row(&r, i));
    chat_db_result_free(&r);
    rc = chat_messages_decorate(db, results, viewer_id);
    if (rc != CHAT_OK) {
        json_object_put(results);
        return rc;
    }
    *out = json_object_new_object();
    json_object_object_add(*out, "results", results);
    json_object_object_add(*out, "has_more", json_object_new_boolean(has_more));
    return CHAT_OK;
}
