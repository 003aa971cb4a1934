/* Layer 2 (records) of the data layer: a message's mentions, stored at send and at each
 * edit (store_message_submit.c, store_message_edits.c) and cleared by a delete. The
 * text is parsed by mentions.c against the conversation's participants; the entities go
 * to messages.mentions_json, the users they reach to message_mentions (which the unread
 * mention counts and the offline notifier read). Calls only shared/db.c. */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "mentions.h"
#include "store.h"
#include "store_internal.h"
#include "strbuf.h"
#include "xalloc.h"

int chat_mentions_clear(struct chat_db *db, long long message_id)
{
    int rc = chat_db_exec(db, "DELETE FROM message_mentions WHERE message_id = ?",
                          CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "UPDATE messages SET mentions_json = NULL WHERE id = ?",
                          CHAT_DB_PARAMS(DB_INT(message_id)), NULL, NULL);
    return rc;
}

/* The entities as the message JSON carries them. Caller frees. */
static char *entities_json(const struct chat_mention *m, size_t n)
{
    struct strbuf b = {0};
    strbuf_puts(&b, "[");
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(&b, "%s{\"kind\":\"%s\",\"user_id\":", i ? "," : "",
                      chat_mention_kind_name(m[i].kind));
        if (m[i].kind == CHAT_MENTION_USER)
            strbuf_printf(&b, "%lld", m[i].user_id);
        else
            strbuf_puts(&b, "null");
        strbuf_printf(&b, ",\"offset\":%zu,\"length\":%zu}", m[i].offset, m[i].length);
    }
    strbuf_puts(&b, "]");
    return strbuf_detach(&b, NULL);
}

/* The entities' user ids as a JSON array text. Caller frees. */
static char *user_ids_json(const struct chat_mention *m, size_t n)
{
    long long ids[CHAT_MENTIONS_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n && k < CHAT_MENTIONS_MAX; i++)
        if (m[i].kind == CHAT_MENTION_USER)
            ids[k++] = m[i].user_id;
    return chat_ids_json(ids, k);
}

/* The participants the candidate names of text could be, and the conversation's shape:
 * *members (malloc'ed, caller frees; usernames point into *r, which the caller frees),
 * whether it is a group, its size, and whether the sender is its admin. Two statements
 * whatever the group's size. */
static int load_members(struct chat_db *db, long long conv_id, long long sender_id,
                        const char *text, struct chat_db_result *r,
                        struct chat_mention_member **members, bool *is_group,
                        long long *size, bool *sender_admin)
{
    struct chat_mention_name names[CHAT_MENTION_NAMES_MAX];
    size_t n = chat_mentions_names(text, names, CHAT_MENTION_NAMES_MAX);
    struct chat_db_result shape;
    int rc = chat_db_query_row(db,
                               "SELECT c.is_group, (SELECT COUNT(*) FROM participants x "
                               "WHERE x.conversation_id = c.id), COALESCE((SELECT p.role = 'admin' "
                               "FROM participants p WHERE p.conversation_id = c.id AND "
                               "p.user_id = ?), 0) FROM conversations c WHERE c.id = ?",
                               CHAT_DB_PARAMS(DB_INT(sender_id), DB_INT(conv_id)), &shape);
    if (rc != CHAT_OK)
        return rc;
    *is_group = chat_db_cell_int(&shape, 0, 0) != 0;
    *size = chat_db_cell_int(&shape, 0, 1);
    *sender_admin = chat_db_cell_int(&shape, 0, 2) != 0;
    chat_db_result_free(&shape);
    /* Usernames are [A-Za-z0-9_.-] (the parser's names are too): no escaping needed. */
    struct strbuf b = {0};
    strbuf_puts(&b, "[");
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&b, "%s\"%.*s\"", i ? "," : "", (int)names[i].length, names[i].start);
    strbuf_puts(&b, "]");
    char *list = strbuf_detach(&b, NULL);
    rc = chat_db_query(db,
                       "SELECT DISTINCT p.user_id, u.username FROM JSON_TABLE(?, '$[*]' COLUMNS "
                       "(name VARCHAR(64) PATH '$')) AS j "
                       "JOIN users u ON u.username = CONVERT(j.name USING ascii) "
                       "JOIN participants p ON p.conversation_id = ? AND p.user_id = u.id",
                       CHAT_DB_PARAMS(DB_STR(list), DB_INT(conv_id)), r);
    free(list);
    if (rc != CHAT_OK)
        return rc;
    *members = chat_xreallocarray(NULL, r->nrows ? r->nrows : 1, sizeof(**members));
    for (unsigned i = 0; i < r->nrows; i++)
        (*members)[i] = (struct chat_mention_member){chat_db_cell_int(r, i, 0),
                                                     chat_db_cell(r, i, 1)};
    return CHAT_OK;
}

/* Writes the entities m[0..n) of message_id and a row for each user they reach: those
 * named, every participant for @all, those online now for @here (never the sender; each
 * once). A fixed number of statements: a group's size changes only the rows. */
static int store_found(struct chat_db *db, long long conv_id, long long message_id,
                       long long sender_id, const struct chat_mention *m, size_t n,
                       char **entities_out)
{
    bool all = false, here = false;
    for (size_t i = 0; i < n; i++) {
        all |= m[i].kind == CHAT_MENTION_ALL;
        here |= m[i].kind == CHAT_MENTION_HERE;
    }
    char *entities = entities_json(m, n), *ids = user_ids_json(m, n);
    int rc = chat_db_exec(db, "UPDATE messages SET mentions_json = ? WHERE id = ?",
                          CHAT_DB_PARAMS(DB_STR(entities), DB_INT(message_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db,
                          "INSERT INTO message_mentions (message_id, conversation_id, user_id) "
                          "SELECT ?, ?, j.id FROM JSON_TABLE(?, '$[*]' COLUMNS "
                          "(id BIGINT UNSIGNED PATH '$')) j "
                          "ON DUPLICATE KEY UPDATE user_id = message_mentions.user_id",
                          CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id), DB_STR(ids)),
                          NULL, NULL);
    if (rc == CHAT_OK && (all || here))
        rc = chat_db_exec(db,
                          "INSERT INTO message_mentions (message_id, conversation_id, user_id) "
                          "SELECT ?, p.conversation_id, p.user_id FROM participants p "
                          "LEFT JOIN user_presence up ON up.user_id = p.user_id "
                          "WHERE p.conversation_id = ? AND p.user_id <> ? "
                          "AND (? OR COALESCE(up.online, 0) = 1) "
                          "ON DUPLICATE KEY UPDATE user_id = message_mentions.user_id",
                          CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id), DB_INT(sender_id),
                                         DB_INT(all ? 1 : 0)),
                          NULL, NULL);
    if (rc == CHAT_OK && entities_out) {
        *entities_out = entities;
        entities = NULL;
    }
    free(entities);
    free(ids);
    return rc;
}

int chat_mentions_store(struct chat_db *db, long long conv_id, long long message_id,
                        long long sender_id, const char *text, bool replace,
                        char **entities_out)
{
    int rc = CHAT_OK;
    if (entities_out)
        *entities_out = NULL;
    if (replace && (rc = chat_mentions_clear(db, message_id)) != CHAT_OK)
        return rc;
    if (!strchr(text, '@'))
        return CHAT_OK; /* most messages: no query at all */
    struct chat_db_result r = {0};
    struct chat_mention_member *members = NULL;
    bool is_group = false, sender_admin = false;
    long long size = 0;
    rc = load_members(db, conv_id, sender_id, text, &r, &members, &is_group, &size,
                      &sender_admin);
    if (rc != CHAT_OK)
        goto out;
    struct chat_mention found[CHAT_MENTIONS_MAX];
    size_t n = chat_mentions_parse(text, members, r.nrows, sender_id, is_group, found,
                                   CHAT_MENTIONS_MAX);
    bool everyone = false;
    for (size_t i = 0; i < n; i++)
        everyone |= found[i].kind != CHAT_MENTION_USER;
    if (everyone && size > CHAT_MENTION_ALL_ADMIN_ONLY && !sender_admin)
        rc = CHAT_E_MENTION_NOT_ALLOWED;
    else if (n)
        rc = store_found(db, conv_id, message_id, sender_id, found, n, entities_out);
out:
    free(members);
    chat_db_result_free(&r);
    return rc;
}
