/* Layer 5 (writes) of the data layer: presence shared by every chat-push daemon (tables
 * from sql/004_presence.sql). Calls store_users.c, store_rows.c and the event log.
 *
 * Each daemon keeps a heartbeat row and one row per user it holds connections for. A
 * user is online while some row is "live": it has connections on a daemon whose
 * heartbeat is fresh, or its effective last_seen (the moment its count dropped to 0, or
 * the last heartbeat of a daemon that died holding connections) is within the offline
 * delay. user_presence holds what was last announced; it is locked FOR UPDATE while a
 * change is decided, so concurrent daemons announce every change exactly once. Every
 * change writes its presence event (conversation_id NULL) in the same transaction. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "db_batch.h"
#include "errors.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

/* The liveness test of a presence_connections row pc joined (LEFT) with its daemon d.
 * Parameters: the heartbeat staleness and the offline delay, both in microseconds. */
#define LIVE_ROW                                                                         \
    "((pc.connections > 0 AND d.heartbeat_at > DATE_SUB(NOW(6), INTERVAL ? MICROSECOND)) " \
    " OR IF(pc.connections > 0, COALESCE(d.heartbeat_at, pc.last_seen), pc.last_seen) "     \
    "    > DATE_SUB(NOW(6), INTERVAL ? MICROSECOND))"
#define EFFECTIVE_LAST_SEEN CHAT_PRESENCE_EFFECTIVE_LAST_SEEN

int chat_presence_heartbeat(struct chat_db *db, const char *daemon_id)
{
    return chat_db_exec(db,
                        "INSERT INTO push_daemons (daemon_id) VALUES (?) "
                        "ON DUPLICATE KEY UPDATE heartbeat_at = NOW(6)",
                        CHAT_DB_PARAMS(DB_STR(daemon_id)), NULL, NULL);
}

/* Inside a transaction: the user's presence row, created if missing and locked. */
static int lock_presence(struct chat_db *db, long long user_id, long long *online)
{
    int rc = chat_db_exec(db, "INSERT IGNORE INTO user_presence (user_id) VALUES (?)",
                          CHAT_DB_PARAMS(DB_INT(user_id)), NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    return chat_db_query_int(db, "SELECT online FROM user_presence WHERE user_id = ? FOR UPDATE",
                             CHAT_DB_PARAMS(DB_INT(user_id)), online);
}

/* A presence event's payload {user_id, user{...}, online, last_seen}: takes a reference
 * to user; last_seen is the stored DATETIME text or NULL. The caller puts the result. */
static json_object *presence_payload(long long user_id, json_object *user, bool online,
                                     const char *last_seen)
{
    char t[32];
    json_object *payload = json_object_new_object();
    json_object_object_add(payload, "user_id", json_object_new_int64(user_id));
    json_object_object_add(payload, "user", json_object_get(user));
    json_object_object_add(payload, "online", json_object_new_boolean(online));
    chat_json_add_nullable_string(payload, "last_seen",
                                  last_seen ? chat_time_rfc3339(last_seen, t) : NULL);
    return payload;
}

/* Inside a transaction, with the presence row locked: records the new state and writes
 * its presence event {user_id, user{...}, online, last_seen}. last_seen NULL = now. */
static int announce(struct chat_db *db, long long user_id, bool online, const char *last_seen)
{
    json_object *user = NULL, *payload = NULL;
    struct chat_db_result r = {0};
    int rc = chat_db_exec(db,
                          "UPDATE user_presence SET online = ?, last_seen = COALESCE(?, NOW(6)) "
                          "WHERE user_id = ?",
                          CHAT_DB_PARAMS(DB_INT(online), DB_STR_OR_NULL(last_seen),
                                         DB_INT(user_id)),
                          NULL, NULL);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_query(db, "SELECT last_seen FROM user_presence WHERE user_id = ?",
                       CHAT_DB_PARAMS(DB_INT(user_id)), &r);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_user_get_json(db, user_id, &user);
    if (rc != CHAT_OK)
        goto out;
    payload = presence_payload(user_id, user, online, r.nrows ? chat_db_cell(&r, 0, 0) : NULL);
    rc = chat_event_append(db, 0, "presence", payload, NULL);
out:
    chat_db_result_free(&r);
    json_object_put(payload);
    json_object_put(user);
    return rc;
}

/* Marks user_id offline if, with its presence row locked, no live row is left. */
static int sweep_user(struct chat_db *db, long long user_id, long long stale_us,
                      long long delay_us, bool *announced)
{
    struct chat_db_result r = {0};
    long long online = 0;
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = lock_presence(db, user_id, &online);
    if (rc != CHAT_OK || !online)
        goto out;
    rc = chat_db_query(db,
                       "SELECT COALESCE(SUM(" LIVE_ROW "), 0), MAX(" EFFECTIVE_LAST_SEEN ") "
                       "FROM presence_connections pc "
                       "LEFT JOIN push_daemons d ON d.daemon_id = pc.daemon_id WHERE pc.user_id = ?",
                       CHAT_DB_PARAMS(DB_INT(stale_us), DB_INT(delay_us), DB_INT(user_id)), &r);
    if (rc != CHAT_OK || chat_db_cell_int(&r, 0, 0) > 0)
        goto out;
    rc = announce(db, user_id, false, chat_db_cell(&r, 0, 1));
    *announced = rc == CHAT_OK;
out:
    chat_db_result_free(&r);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *announced = false;
    return rc;
}

int chat_presence_sweep(struct chat_db *db, int offline_delay_ms, int stale_ms, int *announced)
{
    long long delay_us = (long long)offline_delay_ms * 1000, stale_us = (long long)stale_ms * 1000;
    struct chat_db_result r = {0};
    *announced = 0;
    int rc = chat_db_query(db,
                           "SELECT up.user_id FROM user_presence up WHERE up.online = 1 "
                           "AND NOT EXISTS (SELECT 1 FROM presence_connections pc "
                           "  LEFT JOIN push_daemons d ON d.daemon_id = pc.daemon_id "
                           "  WHERE pc.user_id = up.user_id AND " LIVE_ROW ") LIMIT 500",
                           CHAT_DB_PARAMS(DB_INT(stale_us), DB_INT(delay_us)), &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned i = 0; i < r.nrows && rc == CHAT_OK; i++) {
        bool one = false;
        rc = sweep_user(db, chat_db_cell_int(&r, i, 0), stale_us, delay_us, &one);
        *announced += one;
    }
    chat_db_result_free(&r);
    if (rc != CHAT_OK)
        return rc;
    /* Rows nobody needs any more: closed long ago, or of a daemon long dead. */
    long long keep_us = delay_us + 60LL * 1000000;
    rc = chat_db_exec(db,
                      "DELETE FROM presence_connections WHERE connections = 0 "
                      "AND last_seen < DATE_SUB(NOW(6), INTERVAL ? MICROSECOND)",
                      CHAT_DB_PARAMS(DB_INT(keep_us)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db,
                          "DELETE d, pc FROM push_daemons d "
                          "LEFT JOIN presence_connections pc ON pc.daemon_id = d.daemon_id "
                          "WHERE d.heartbeat_at < DATE_SUB(NOW(6), INTERVAL ? MICROSECOND)",
                          CHAT_DB_PARAMS(DB_INT(keep_us + stale_us)), NULL, NULL);
    return rc;
}

int chat_presence_daemon_stop(struct chat_db *db, const char *daemon_id)
{
    int rc = chat_db_exec(db,
                          "UPDATE presence_connections SET connections = 0, last_seen = NOW(6) "
                          "WHERE daemon_id = ? AND connections > 0",
                          CHAT_DB_PARAMS(DB_STR(daemon_id)), NULL, NULL);
    if (rc == CHAT_OK)
        rc = chat_db_exec(db, "DELETE FROM push_daemons WHERE daemon_id = ?",
                          CHAT_DB_PARAMS(DB_STR(daemon_id)), NULL, NULL);
    return rc;
}

int chat_presence_recipients(struct chat_db *db, long long user_id, int max_group_size,
                             long long **ids, size_t *count)
{
    return chat_query_ids(db,
                           "SELECT DISTINCT p2.user_id FROM participants p1 "
                           "JOIN participants p2 ON p2.conversation_id = p1.conversation_id "
                           "WHERE p1.user_id = ? AND p2.user_id <> ? "
                           "AND (SELECT COUNT(*) FROM participants p3 "
                           "     WHERE p3.conversation_id = p1.conversation_id) <= ? "
                           "AND NOT EXISTS (SELECT 1 FROM user_blocks b "
                           "     WHERE b.blocker_id = ? AND b.blocked_id = p2.user_id)",
                           CHAT_DB_PARAMS(DB_INT(user_id), DB_INT(user_id),
                                          DB_INT(max_group_size), DB_INT(user_id)),
                          ids, count);
}

int chat_presence_get_json(struct chat_db *db, long long viewer_id, long long user_id,
                           json_object **out)
{
    struct chat_db_result r = {0};
    /* 404 first: someone who shares nothing learns nothing; then a block's 403. */
    int rc = chat_user_check_visible(db, viewer_id, user_id);
    if (rc == CHAT_OK && viewer_id != user_id)
        rc = chat_block_check_by(db, user_id, viewer_id);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query(db,
                       "SELECT online, IF(online, NOW(6), last_seen) FROM user_presence "
                       "WHERE user_id = ?",
                       CHAT_DB_PARAMS(DB_INT(user_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    char t[32];
    bool online = r.nrows > 0 && chat_db_cell_int(&r, 0, 0) != 0;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "user_id", json_object_new_int64(user_id));
    json_object_object_add(o, "online", json_object_new_boolean(online));
    chat_json_add_nullable_string(o, "last_seen",
                                  r.nrows ? chat_time_rfc3339(chat_db_cell(&r, 0, 1), t) : NULL);
    chat_db_result_free(&r);
    *out = o;
    return CHAT_OK;
}

/* ---- batches (the push daemon's connect path: up to CHAT_DB_BATCH users a statement) ---- */

int chat_presence_connections_elsewhere_many(struct chat_db *db, const char *daemon_id,
                                             const long long *user_ids, size_t n, int stale_ms,
                                             long long *counts)
{
    static const char sql[] =
        "SELECT pc.user_id, SUM(pc.connections) FROM presence_connections pc "
        "JOIN push_daemons d ON d.daemon_id = pc.daemon_id "
        "WHERE pc.user_id IN " CHAT_DB_IN_LIST " AND pc.daemon_id <> ? "
        "AND d.heartbeat_at > DATE_SUB(NOW(6), INTERVAL ? MICROSECOND) GROUP BY pc.user_id";
    struct chat_db_result r;
    int rc = chat_db_query_ids(db, sql, user_ids, n,
                               CHAT_DB_PARAMS(DB_STR(daemon_id), DB_INT((long long)stale_ms * 1000)),
                               &r);
    if (rc != CHAT_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        counts[i] = 0;
        for (unsigned row = 0; row < r.nrows; row++)
            if (chat_db_cell_int(&r, row, 0) == user_ids[i])
                counts[i] = chat_db_cell_int(&r, row, 1);
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}

/* The counts of a batch as one upsert; the rows after the last change repeat it (a row
 * written twice with the same values changes nothing). */
static int record_counts(struct chat_db *db, const char *daemon_id,
                         const struct chat_presence_change *changes, size_t n)
{
    static const char sql[] =
        "INSERT INTO presence_connections (daemon_id, user_id, connections, last_seen) "
        "VALUES " CHAT_DB_REP64("(?, ?, ?, NOW(6))", ", ")
        " ON DUPLICATE KEY UPDATE connections = VALUES(connections), last_seen = NOW(6)";
    struct chat_db_param params[CHAT_DB_BATCH * 3];
    for (size_t i = 0; i < CHAT_DB_BATCH; i++) {
        const struct chat_presence_change *c = &changes[i < n ? i : n - 1];
        params[3 * i] = DB_STR(daemon_id);
        params[3 * i + 1] = DB_INT(c->user_id);
        params[3 * i + 2] = DB_INT(c->connections);
    }
    return chat_db_exec(db, sql, params, CHAT_DB_BATCH * 3, NULL, NULL);
}

/* Inside a transaction: the presence rows of ids (sorted, distinct, n > 0) created if
 * missing and locked, in id order like every other batch, so two daemons' batches
 * cannot deadlock on them. The ids found offline are left in offline[0 .. *noffline). */
static int lock_presence_many(struct chat_db *db, const long long *ids, size_t n,
                              long long *offline, size_t *noffline)
{
    static const char sql_create[] =
        "INSERT IGNORE INTO user_presence (user_id) VALUES " CHAT_DB_REP64("(?)", ", ");
    static const char sql_lock[] =
        "SELECT user_id, online FROM user_presence WHERE user_id IN " CHAT_DB_IN_LIST
        " ORDER BY user_id FOR UPDATE";
    struct chat_db_param params[CHAT_DB_BATCH];
    struct chat_db_result r;
    *noffline = 0;
    for (size_t i = 0; i < CHAT_DB_BATCH; i++)
        params[i] = DB_INT(ids[i < n ? i : n - 1]);
    int rc = chat_db_exec(db, sql_create, params, CHAT_DB_BATCH, NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_ids(db, sql_lock, ids, n, NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned row = 0; row < r.nrows; row++)
        if (chat_db_cell_int(&r, row, 1) == 0)
            offline[(*noffline)++] = chat_db_cell_int(&r, row, 0);
    chat_db_result_free(&r);
    return CHAT_OK;
}

/* Inside a transaction, with their rows locked: marks the offline users online and
 * writes one presence event each, in one statement. */
static int announce_online_many(struct chat_db *db, const long long *ids, size_t n,
                                int *announced)
{
    static const char sql_mark[] =
        "UPDATE user_presence SET online = 1, last_seen = NOW(6) WHERE user_id IN " CHAT_DB_IN_LIST;
    static const char sql_read[] =
        "SELECT up.last_seen, " CHAT_USER_COLUMNS("u") " FROM user_presence up "
        "JOIN users u ON u.id = up.user_id WHERE up.user_id IN " CHAT_DB_IN_LIST;
    struct chat_db_param params[CHAT_DB_BATCH];
    struct chat_db_result r;
    json_object *payloads[CHAT_DB_BATCH];
    chat_db_bind_id_list(params, ids, n);
    int rc = chat_db_exec(db, sql_mark, params, CHAT_DB_BATCH, NULL, NULL);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query_ids(db, sql_read, ids, n, NULL, 0, &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned row = 0; row < r.nrows; row++) {
        json_object *user = chat_user_json_from_row(&r, row, 1);
        payloads[row] = presence_payload(chat_db_cell_int(&r, row, 1), user, true,
                                         chat_db_cell(&r, row, 0));
        json_object_put(user);
    }
    rc = r.nrows ? chat_events_append_many(db, 0, "presence", payloads, r.nrows) : CHAT_OK;
    for (unsigned row = 0; row < r.nrows; row++)
        json_object_put(payloads[row]);
    if (rc == CHAT_OK)
        *announced = (int)r.nrows;
    chat_db_result_free(&r);
    return rc;
}

int chat_presence_set_many(struct chat_db *db, const char *daemon_id,
                           const struct chat_presence_change *changes, size_t n, int *announced)
{
    long long online[CHAT_DB_BATCH], offline[CHAT_DB_BATCH];
    size_t nonline = 0, noffline = 0;
    *announced = 0;
    assert(n <= CHAT_DB_BATCH);
    if (n == 0)
        return CHAT_OK;
    for (size_t i = 0; i < n; i++)
        if (changes[i].came_online)
            online[nonline++] = changes[i].user_id;
    qsort(online, nonline, sizeof(*online), chat_id_cmp);
    size_t distinct = nonline ? 1 : 0;
    for (size_t i = 1; i < nonline; i++)
        if (online[i] != online[distinct - 1])
            online[distinct++] = online[i];
    /* One transaction, so a conflict leaves nothing written and the whole batch can run
     * again (chat_db_retry_conflict). Going offline is the sweep's decision, after the
     * delay: only the count is written for it. */
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    rc = record_counts(db, daemon_id, changes, n);
    if (rc == CHAT_OK && distinct > 0)
        rc = lock_presence_many(db, online, distinct, offline, &noffline);
    if (rc == CHAT_OK && noffline > 0)
        rc = announce_online_many(db, offline, noffline, announced);
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *announced = 0;
    return rc;
}

int chat_presence_recipients_many(struct chat_db *db, const long long *user_ids, size_t n,
                                  int max_group_size, long long **ids, size_t *counts)
{
    static const char sql[] =
        "SELECT DISTINCT p1.user_id, p2.user_id FROM participants p1 "
        "JOIN participants p2 ON p2.conversation_id = p1.conversation_id "
        "WHERE p1.user_id IN " CHAT_DB_IN_LIST " AND p2.user_id <> p1.user_id "
        "AND (SELECT COUNT(*) FROM participants p3 "
        "     WHERE p3.conversation_id = p1.conversation_id) <= ? "
        "AND NOT EXISTS (SELECT 1 FROM user_blocks b "
        "     WHERE b.blocker_id = p1.user_id AND b.blocked_id = p2.user_id) "
        "ORDER BY p1.user_id";
    struct chat_db_result r;
    int rc = chat_db_query_ids(db, sql, user_ids, n, CHAT_DB_PARAMS(DB_INT(max_group_size)), &r);
    if (rc != CHAT_OK)
        return rc;
    chat_rows_group_by_key(&r, user_ids, n, ids, counts);
    chat_db_result_free(&r);
    return CHAT_OK;
}
