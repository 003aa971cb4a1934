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

/* Whether a user mention of user_id is among m[0..n). */
static bool names_user(const struct chat_mention *m, size_t n, long long user_id)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].kind == CHAT_MENTION_USER && m[i].user_id == user_id)
            return true;
    return false;
}

/* participants: rows (user_id, username, is admin, online, conversation is a group). */
static int store_found(struct chat_db *db, long long conv_id, long long message_id,
                       long long sender_id, const struct chat_db_result *participants,
                       const struct chat_mention *m, size_t n, char **entities_out)
{
    bool all = false, here = false, sender_admin = false;
    for (size_t i = 0; i < n; i++) {
        all |= m[i].kind == CHAT_MENTION_ALL;
        here |= m[i].kind == CHAT_MENTION_HERE;
    }
    for (unsigned i = 0; i < participants->nrows; i++)
        if (chat_db_cell_int(participants, i, 0) == sender_id)
            sender_admin = chat_db_cell_int(participants, i, 2) != 0;
    if ((all || here) && participants->nrows > CHAT_MENTION_ALL_ADMIN_ONLY && !sender_admin)
        return CHAT_E_MENTION_NOT_ALLOWED;
    /* Each participant reached once, whatever the number of ways (PRIMARY KEY). */
    struct strbuf ids = {0};
    size_t reached = 0;
    strbuf_puts(&ids, "[");
    for (unsigned i = 0; i < participants->nrows; i++) {
        long long id = chat_db_cell_int(participants, i, 0);
        bool online = chat_db_cell_int(participants, i, 3) != 0;
        if (id != sender_id && (all || (here && online) || names_user(m, n, id)))
            strbuf_printf(&ids, "%s%lld", reached++ ? "," : "", id);
    }
    strbuf_puts(&ids, "]");
    char *list = strbuf_detach(&ids, NULL);
    char *entities = n ? entities_json(m, n) : NULL;
    int rc = chat_db_exec(db, "UPDATE messages SET mentions_json = ? WHERE id = ?",
                          CHAT_DB_PARAMS(DB_STR_OR_NULL(entities), DB_INT(message_id)), NULL,
                          NULL);
    if (rc == CHAT_OK && reached)
        rc = chat_db_exec(db,
                          "INSERT INTO message_mentions (message_id, conversation_id, user_id) "
                          "SELECT ?, ?, j.id FROM JSON_TABLE(?, '$[*]' COLUMNS "
                          "(id BIGINT UNSIGNED PATH '$')) j",
                          CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(conv_id), DB_STR(list)),
                          NULL, NULL);
    if (rc == CHAT_OK && entities_out) {
        *entities_out = entities;
        entities = NULL;
    }
    free(entities);
    free(list);
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
    struct chat_db_result r;
    rc = chat_db_query(db,
                       "SELECT p.user_id, u.username, p.role = 'admin', COALESCE(up.online, 0), "
                       "c.is_group FROM participants p "
                       "JOIN conversations c ON c.id = p.conversation_id "
                       "JOIN users u ON u.id = p.user_id "
                       "LEFT JOIN user_presence up ON up.user_id = p.user_id "
                       "WHERE p.conversation_id = ?",
                       CHAT_DB_PARAMS(DB_INT(conv_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    struct chat_mention_member *members = chat_xreallocarray(NULL, r.nrows ? r.nrows : 1,
                                                             sizeof(*members));
    for (unsigned i = 0; i < r.nrows; i++)
        members[i] = (struct chat_mention_member){chat_db_cell_int(&r, i, 0),
                                                  chat_db_cell(&r, i, 1)};
    bool is_group = r.nrows && chat_db_cell_int(&r, 0, 4) != 0;
    struct chat_mention found[CHAT_MENTIONS_MAX];
    size_t n = chat_mentions_parse(text, members, r.nrows, sender_id, is_group, found,
                                   CHAT_MENTIONS_MAX);
    if (n)
        rc = store_found(db, conv_id, message_id, sender_id, &r, found, n, entities_out);
    free(members);
    chat_db_result_free(&r);
    return rc;
}
