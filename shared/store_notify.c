/* Layer 5 (writes) of the data layer: chat-notify's queue (docs/WEBHOOKS.md). Reading
 * the event log from a stored cursor, deciding who a message notifies at its due time
 * and storing one delivery per webhook and recipient; then claiming due deliveries
 * with a lease and recording each attempt's outcome. Calls db.c only (it reads the
 * presence, participant, mention and webhook tables directly). */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

#define STRINGIFY(x) #x
#define NUMBER(x) STRINGIFY(x)
#define JSON_BOOL(expr) "JSON_EXTRACT(IF(" expr ", 'true', 'false'), '$')"
#define JSON_TIME(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%s.%fZ')"
#define JSON_USER(a)                                                                    \
    "JSON_OBJECT('id', " a ".id, 'username', " a ".username, 'display_name', " a          \
    ".display_name, 'is_bot', " JSON_BOOL(a ".is_bot") ")"
#define JSON_CONVERSATION                                                               \
    "JSON_OBJECT('id', c.id, 'name', c.name, 'is_group', " JSON_BOOL("c.is_group") ")"

/* Who message ? notifies, at its due time (parameters: event id, preview characters,
 * message id, heartbeat staleness in microseconds): each participant but the sender who
 * is a person with an active account, not muted now, has not read it, whose effective
 * level lets it through (NULL: as chat_notify_level_effective, 'mentions' in groups of
 * more than CHAT_NOTIFY_MENTIONS_DEFAULT_OVER, else 'all'), and
 * who has had no connection on any daemon since the message was sent (a live one now,
 * or one that closed after it: they saw it arrive). A row per offline webhook. */
static const char sql_offline[] =
    "INSERT IGNORE INTO webhook_deliveries (webhook_id, event_id, user_id, message_id, body) "
    "SELECT w.id, ?, p.user_id, m.id, JSON_OBJECT('type', 'message.notification', "
    "'user', " JSON_USER("u") ", 'conversation', " JSON_CONVERSATION ", "
    "'message', JSON_OBJECT('id', m.id, 'sender', " JSON_USER("s") ", "
    "'text_preview', LEFT(m.text, ?), 'created_at', " JSON_TIME("m.created_at") "), "
    "'mentioned', " JSON_BOOL("mm.user_id IS NOT NULL") ") "
    "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
    "JOIN users s ON s.id = m.sender_id "
    "JOIN participants p ON p.conversation_id = m.conversation_id AND p.user_id <> m.sender_id "
    "JOIN users u ON u.id = p.user_id AND NOT u.is_bot AND u.deleted_at IS NULL "
    "AND u.deactivated_at IS NULL "
    "LEFT JOIN message_mentions mm ON mm.message_id = m.id AND mm.user_id = p.user_id "
    "JOIN webhooks w ON w.kind = 'offline' "
    "WHERE m.id = ? AND m.deleted_at IS NULL AND p.last_read_message_id < m.id "
    "AND (p.muted_until IS NULL OR p.muted_until <= UTC_TIMESTAMP(6)) "
    "AND CASE COALESCE(p.notify_level, IF(c.is_group AND (SELECT COUNT(*) FROM participants q "
    "WHERE q.conversation_id = c.id) > " NUMBER(CHAT_NOTIFY_MENTIONS_DEFAULT_OVER) ", 'mentions', 'all')) "
    "WHEN 'all' THEN TRUE WHEN 'mentions' THEN mm.user_id IS NOT NULL ELSE FALSE END "
    "AND NOT EXISTS (SELECT 1 FROM presence_connections pc "
    "LEFT JOIN push_daemons d ON d.daemon_id = pc.daemon_id WHERE pc.user_id = p.user_id "
    "AND ((pc.connections > 0 AND d.heartbeat_at > DATE_SUB(NOW(6), INTERVAL ? MICROSECOND)) "
    "OR " CHAT_PRESENCE_EFFECTIVE_LAST_SEEN " >= m.created_at))";

/* The bots among message ?'s participants with an outgoing URL, but its sender, and not
 * for a bot's message (two bots would answer each other for ever). Parameters: event
 * id, message id. */
static const char sql_bot[] =
    "INSERT IGNORE INTO webhook_deliveries (webhook_id, event_id, user_id, message_id, body) "
    "SELECT w.id, ?, b.id, m.id, JSON_OBJECT('type', 'message.created', "
    "'bot', " JSON_USER("b") ", 'conversation', " JSON_CONVERSATION ", "
    "'message', JSON_OBJECT('id', m.id, 'conversation_id', m.conversation_id, "
    "'sender', " JSON_USER("s") ", 'text', m.text, 'reply_to', m.reply_to_id, "
    "'created_at', " JSON_TIME("m.created_at") ")) "
    "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
    "JOIN users s ON s.id = m.sender_id AND NOT s.is_bot "
    "JOIN participants p ON p.conversation_id = m.conversation_id AND p.user_id <> m.sender_id "
    "JOIN users b ON b.id = p.user_id AND b.is_bot AND b.deactivated_at IS NULL "
    "AND b.deleted_at IS NULL "
    "JOIN webhooks w ON w.kind = 'bot' AND w.bot_user_id = b.id "
    "WHERE m.id = ? AND m.deleted_at IS NULL";

int chat_notify_evaluate(struct chat_db *db, const struct chat_notify_stream *stream,
                         int preview_chars, int *events, long long *enqueued)
{
    *events = 0;
    *enqueued = 0;
    struct chat_db_result r = {0};
    long long cursor = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    /* The row lock serialises evaluators: a second notifier (one that lost the lock
     * without noticing yet) waits here, then starts from the moved cursor. */
    rc = chat_db_query_int(db, "SELECT event_id FROM notify_cursors WHERE stream = ? FOR UPDATE",
                           CHAT_DB_PARAMS(DB_STR(stream->name)), &cursor);
    if (rc != CHAT_OK)
        goto out;
    /* Without a webhook of the stream's kind (the default installation) the events are
     * passed over without looking anyone up. */
    long long targets = 0;
    rc = chat_db_query_int(db, "SELECT EXISTS (SELECT 1 FROM webhooks WHERE kind = ?)",
                           CHAT_DB_PARAMS(DB_STR(stream->kind == CHAT_NOTIFY_OFFLINE ? "offline" : "bot")),
                           &targets);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query(db,
                       "SELECT id, type = 'message.created' AND message_id IS NOT NULL, message_id, "
                       "TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) "
                       "FROM events WHERE id > ? ORDER BY id LIMIT ?",
                       CHAT_DB_PARAMS(DB_INT(cursor), DB_INT(CHAT_NOTIFY_BATCH)), &r);
    if (rc != CHAT_OK)
        goto out;
    long long moved = cursor, expect = cursor + 1;
    for (unsigned i = 0; i < r.nrows && rc == CHAT_OK; i++) {
        long long id = chat_db_cell_int(&r, i, 0), age_us = chat_db_cell_int(&r, i, 3);
        /* An id below this one that is not visible may still commit (ids are taken at
         * INSERT, seen at COMMIT): without gaps it cannot, else only once this row is
         * older than the longest transaction. Rows are evaluated in id order, so the
         * cursor never passes one that was not. */
        if ((id != expect && age_us < stream->gap_us) || age_us < stream->delay_us)
            break;
        if (targets && chat_db_cell_int(&r, i, 1)) {
            unsigned long long added = 0;
            long long message_id = chat_db_cell_int(&r, i, 2);
            if (stream->kind == CHAT_NOTIFY_OFFLINE)
                rc = chat_db_exec(db, sql_offline,
                                  CHAT_DB_PARAMS(DB_INT(id), DB_INT(preview_chars), DB_INT(message_id),
                                                 DB_INT((long long)CHAT_PRESENCE_STALE_MS * 1000)),
                                  &added, NULL);
            else
                rc = chat_db_exec(db, sql_bot, CHAT_DB_PARAMS(DB_INT(id), DB_INT(message_id)),
                                  &added, NULL);
            *enqueued += (long long)added;
        }
        moved = id;
        expect = id + 1;
        ++*events;
    }
    if (rc == CHAT_OK && moved != cursor)
        rc = chat_db_exec(db, "UPDATE notify_cursors SET event_id = ? WHERE stream = ?",
                          CHAT_DB_PARAMS(DB_INT(moved), DB_STR(stream->name)), NULL, NULL);
out:
    chat_db_result_free(&r);
    return chat_db_end(db, rc);
}

int chat_notify_lead(struct chat_db *db, const char *holder, int lease_ms, bool *leading)
{
    unsigned long long changed = 0;
    /* Taken when free or expired, renewed by its holder; expires_at always moves, so a
     * renewal changes the row and counts as affected. */
    int rc = chat_db_exec(db,
                          "UPDATE notify_leader SET holder = ?, "
                          "expires_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND "
                          "WHERE name = 'chat_notify' AND (holder = ? OR expires_at < UTC_TIMESTAMP(6))",
                          CHAT_DB_PARAMS(DB_STR(holder), DB_INT((long long)lease_ms * 1000),
                                         DB_STR(holder)),
                          &changed, NULL);
    *leading = rc == CHAT_OK && changed == 1;
    return rc;
}

int chat_notify_resign(struct chat_db *db, const char *holder)
{
    return chat_db_exec(db,
                        "UPDATE notify_leader SET holder = '', expires_at = '1970-01-01' "
                        "WHERE name = 'chat_notify' AND holder = ?",
                        CHAT_DB_PARAMS(DB_STR(holder)), NULL, NULL);
}

int chat_notify_claim(struct chat_db *db, int limit, int lease_s, struct chat_db_result *out)
{
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query(db,
                       "SELECT d.id, w.url, w.secret, d.body, d.attempts, d.webhook_id, "
                       "m.id IS NULL OR m.deleted_at IS NOT NULL "
                       "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
                       "LEFT JOIN messages m ON m.id = d.message_id "
                       "WHERE d.state = 'pending' AND d.next_attempt_at <= UTC_TIMESTAMP(6) "
                       "ORDER BY d.next_attempt_at, d.id LIMIT ? FOR UPDATE SKIP LOCKED",
                       CHAT_DB_PARAMS(DB_INT(limit)), out);
    /* The lease: a claimed delivery is not due again until its attempt must have ended,
     * so it is never sent twice at once, and one a crash interrupted is tried again. */
    for (unsigned i = 0; rc == CHAT_OK && i < out->nrows; i++)
        rc = chat_db_exec(db,
                          "UPDATE webhook_deliveries SET next_attempt_at = UTC_TIMESTAMP(6) + "
                          "INTERVAL ? SECOND WHERE id = ?",
                          CHAT_DB_PARAMS(DB_INT(lease_s), DB_INT(chat_db_cell_int(out, i, 0))),
                          NULL, NULL);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        chat_db_result_free(out);
    return rc;
}

int chat_notify_record(struct chat_db *db, long long delivery_id, bool delivered, bool drop,
                       long long retry_ms, const char *error)
{
    char err[256];
    snprintf(err, sizeof(err), "%s", error ? error : "");
    if (delivered)
        return chat_db_exec(db,
                            "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, "
                            "finished_at = UTC_TIMESTAMP(6), last_error = NULL WHERE id = ?",
                            CHAT_DB_PARAMS(DB_INT(delivery_id)), NULL, NULL);
    if (drop)
        return chat_db_exec(db,
                            "UPDATE webhook_deliveries SET state = 'dropped', attempts = attempts + 1, "
                            "finished_at = UTC_TIMESTAMP(6), last_error = ? WHERE id = ?",
                            CHAT_DB_PARAMS(DB_STR(err), DB_INT(delivery_id)), NULL, NULL);
    return chat_db_exec(db,
                        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?, "
                        "next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE id = ?",
                        CHAT_DB_PARAMS(DB_STR(err), DB_INT(retry_ms * 1000), DB_INT(delivery_id)),
                        NULL, NULL);
}

int chat_notify_purge(struct chat_db *db, int retention_hours, long long *removed)
{
    unsigned long long n = 0;
    int rc = chat_db_exec(db,
                          "DELETE FROM webhook_deliveries WHERE state <> 'pending' AND finished_at < "
                          "UTC_TIMESTAMP(6) - INTERVAL ? HOUR LIMIT 10000",
                          CHAT_DB_PARAMS(DB_INT(retention_hours)), &n, NULL);
    *removed = (long long)n;
    return rc;
}
