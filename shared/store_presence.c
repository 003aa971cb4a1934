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
#include <stdlib.h>
#include <string.h>

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
#define EFFECTIVE_LAST_SEEN \
    "IF(pc.connections > 0, COALESCE(d.heartbeat_at, pc.last_seen), pc.last_seen)"

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
    char t[32];
    payload = json_object_new_object();
    json_object_object_add(payload, "user_id", json_object_new_int64(user_id));
    json_object_object_add(payload, "user", json_object_get(user));
    json_object_object_add(payload, "online", json_object_new_boolean(online));
    chat_json_add_nullable_string(payload, "last_seen",
                                  r.nrows ? chat_time_rfc3339(chat_db_cell(&r, 0, 0), t) : NULL);
    rc = chat_event_append(db, 0, "presence", payload, NULL);
out:
    chat_db_result_free(&r);
    json_object_put(payload);
    json_object_put(user);
    return rc;
}

int chat_presence_count(struct chat_db *db, const char *daemon_id, long long user_id,
                        int connections)
{
    return chat_db_exec(db,
                        "INSERT INTO presence_connections (daemon_id, user_id, connections, "
                        "last_seen) VALUES (?, ?, ?, NOW(6)) ON DUPLICATE KEY UPDATE "
                        "connections = VALUES(connections), last_seen = NOW(6)",
                        CHAT_DB_PARAMS(DB_STR(daemon_id), DB_INT(user_id), DB_INT(connections)),
                        NULL, NULL);
}

int chat_presence_connections_elsewhere(struct chat_db *db, const char *daemon_id,
                                        long long user_id, int stale_ms, long long *count)
{
    return chat_db_query_int(db,
                             "SELECT COALESCE(SUM(pc.connections), 0) FROM presence_connections pc "
                             "JOIN push_daemons d ON d.daemon_id = pc.daemon_id "
                             "WHERE pc.user_id = ? AND pc.daemon_id <> ? "
                             "AND d.heartbeat_at > DATE_SUB(NOW(6), INTERVAL ? MICROSECOND)",
                             CHAT_DB_PARAMS(DB_INT(user_id), DB_STR(daemon_id),
                                            DB_INT((long long)stale_ms * 1000)),
                             count);
}

int chat_presence_set(struct chat_db *db, const char *daemon_id, long long user_id,
                      int connections, bool *announced)
{
    *announced = false;
    int rc = chat_presence_count(db, daemon_id, user_id, connections);
    if (rc != CHAT_OK || connections == 0)
        return rc; /* going offline is the sweep's decision, after the delay */
    rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    long long online = 0;
    rc = lock_presence(db, user_id, &online);
    if (rc == CHAT_OK && !online) {
        rc = announce(db, user_id, true, NULL);
        *announced = rc == CHAT_OK;
    }
    rc = chat_db_end(db, rc);
    if (rc != CHAT_OK)
        *announced = false;
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
