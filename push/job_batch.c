/* The DB worker's batched jobs: every auth job and presence change a round has queued is
 * answered a batch of up to CHAT_DB_BATCH at a time with a few statements each, instead
 * of several statements per connection. A connect storm (every client of a restarted
 * daemon coming back at once) is thereby bounded by statements per batch, not per
 * socket. */
#include "job_batch.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_batch.h"
#include "errors.h"
#include "event_tail.h"
#include "jobs.h"
#include "json_util.h"
#include "log.h"
#include "member_events_sql.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

/* New results for n jobs, one each, of `kind` with `status` until answered. */
static void new_results(struct push_job *const *jobs, size_t n, enum push_result_kind kind,
                        int status, struct push_result **results)
{
    for (size_t i = 0; i < n; i++) {
        struct push_result *res = chat_xcalloc(1, sizeof(*res));
        res->kind = kind;
        res->conn_id = jobs[i]->conn_id;
        res->user_id = jobs[i]->user_id;
        res->status = status;
        results[i] = res;
    }
}

/* The hello frame and the user text of an authenticated result. */
static void finish_auth(struct push_result *res, json_object *user)
{
    size_t ulen, len;
    /* Typing frames name the user by {id, username, display_name} only, as a relay from
     * another daemon rebuilds them (typing_wire.c), so they read the same everywhere. */
    static const char *const typing_keys[] = {"id", "username", "display_name"};
    json_object *who = json_object_new_object();
    for (size_t k = 0; k < sizeof(typing_keys) / sizeof(typing_keys[0]); k++)
        json_object_object_add(who, typing_keys[k],
                               json_object_get(json_object_object_get(user, typing_keys[k])));
    const char *utext = chat_json_to_string(who, &ulen);
    res->user_json = chat_xstrndup(utext, ulen);
    json_object_put(who);
    json_object *hello = json_object_new_object();
    json_object_object_add(hello, "type", json_object_new_string("hello"));
    json_object_object_add(hello, "user", json_object_get(user));
    json_object_object_add(hello, "last_event_id", json_object_new_int64(res->high));
    const char *text = chat_json_to_string(hello, &len);
    res->hello = push_frame_new(text, len, 0);
    json_object_put(hello);
}

/* One job's answer from the batch's rows. Takes *convs when the connection gets every
 * conversation. */
static int answer_auth(const struct push_job *job, struct push_result *res, json_object *user,
                       long long **convs, size_t nconv)
{
    if (!user) /* the session's user row is gone */
        return CHAT_E_NOT_AUTHENTICATED;
    if (job->conversation_id > 0) { /* /ws/chat/<pk>/: pk only, and only as a participant */
        if (!*convs || !bsearch(&job->conversation_id, *convs, nconv, sizeof(**convs),
                                chat_id_cmp))
            return CHAT_E_NOT_FOUND;
        res->conv_ids = chat_xmalloc(sizeof(long long));
        res->conv_ids[0] = job->conversation_id;
        res->nconv = 1;
    } else {
        res->conv_ids = *convs;
        res->nconv = nconv;
        *convs = NULL;
    }
    finish_auth(res, user);
    return CHAT_OK;
}

void push_run_auth_batch(struct push_worker *w, struct push_job *const *jobs, size_t n,
                         struct push_result **results)
{
    const char *tokens[CHAT_DB_BATCH];
    struct chat_session_info sessions[CHAT_DB_BATCH];
    int status[CHAT_DB_BATCH];
    long long users[CHAT_DB_BATCH], elsewhere[CHAT_DB_BATCH];
    json_object *user_json[CHAT_DB_BATCH] = {0};
    long long *convs[CHAT_DB_BATCH] = {0};
    size_t nconv[CHAT_DB_BATCH] = {0};
    bool have_users = false, have_convs = false;
    new_results(jobs, n, PUSH_RESULT_AUTH, CHAT_E_DB, results);
    for (size_t i = 0; i < n; i++)
        tokens[i] = jobs[i]->token;
    if (!w->connected)
        return;
    /* The four reads of every connect, each once for the whole batch: sessions by token
     * hash, then for the users they name their user rows, their conversations and their
     * connections on the other live daemons (connections_per_user across daemons; two
     * daemons admitting at the same moment can each let one more through). */
    int rc = chat_sessions_find_many(&w->db, tokens, n, sessions, status);
    if (rc == CHAT_OK) {
        for (size_t i = 0; i < n; i++)
            users[i] = status[i] == CHAT_OK ? sessions[i].user_id : 0; /* 0 is never an id */
        rc = chat_users_get_json_many(&w->db, users, n, user_json);
        have_users = rc == CHAT_OK;
    }
    if (rc == CHAT_OK) {
        rc = chat_conv_ids_for_users(&w->db, users, n, convs, nconv);
        have_convs = rc == CHAT_OK;
    }
    if (rc == CHAT_OK)
        rc = chat_presence_connections_elsewhere_many(&w->db, w->daemon_id, users, n,
                                                      HEARTBEAT_STALE_MS, elsewhere);
    for (size_t i = 0; rc == CHAT_OK && i < n; i++) {
        struct push_result *res = results[i];
        res->status = status[i];
        if (status[i] != CHAT_OK)
            continue;
        res->user_id = users[i];
        res->session_id = sessions[i].session_id;
        res->expires_in_ms = sessions[i].expires_in_ms;
        memcpy(res->locale, sessions[i].locale, sizeof(res->locale));
        res->conns_elsewhere = elsewhere[i];
        res->high = w->gaps.high;
        res->status = answer_auth(jobs[i], res, user_json[i], &convs[i], nconv[i]);
        /* The typing filter: read after the subscriptions and before any later
         * block.changed event reaches the loop, so no change falls between the two. */
        if (res->status == CHAT_OK)
            rc = chat_block_peers(&w->db, users[i], &res->block_peers, &res->nblock_peers);
        if (rc != CHAT_OK)
            res->status = rc;
    }
    for (size_t i = 0; i < n; i++) {
        if (have_users)
            json_object_put(user_json[i]);
        if (have_convs)
            free(convs[i]);
    }
    if (rc == CHAT_E_DB)
        push_worker_disconnect(w, "auth query failed");
}

void push_run_presence_batch(struct push_worker *w, struct push_job *const *jobs, size_t n)
{
    struct chat_presence_change changes[CHAT_DB_BATCH];
    size_t nchanges = 0;
    if (!w->connected || n == 0)
        return; /* a change lost while MariaDB is down is repaired by the sweep and the
                 * user's next connection */
    /* One change per user, in the order the jobs came: the last count holds, and a
     * 0 -> 1 anywhere in the batch still announces the user online. */
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < nchanges && changes[k].user_id != jobs[i]->user_id)
            k++;
        if (k == nchanges)
            changes[nchanges++] = (struct chat_presence_change){.user_id = jobs[i]->user_id};
        changes[k].connections = jobs[i]->connections;
        changes[k].came_online |= !jobs[i]->count_only && jobs[i]->connections > 0;
    }
    int announced = 0, rc;
    unsigned long long mark = w->db.writes;
    for (int attempt = 0;; attempt++) {
        rc = chat_presence_set_many(&w->db, w->daemon_id, changes, nchanges, &announced);
        if (!push_worker_retry_conflict(w, rc, mark, attempt))
            break;
    }
    w->wrote_events |= announced > 0;
    if (rc == CHAT_E_DB)
        push_worker_disconnect(w, "presence update failed");
    else if (rc != CHAT_OK)
        log_warn("presence of %zu users not recorded (%s)", nchanges, chat_err_code(rc));
}

/* ---- resume ---- */

static const char SQL_MIN_ID[] = "SELECT MIN(id) FROM events";
/* The resume window's start for clients at N: created_at of event N (the client had it)
 * minus the gap timeout, for every N of the batch that is an event id. */
static const char SQL_CUTOFFS[] =
    "SELECT id, DATE_SUB(created_at, INTERVAL ? MICROSECOND) FROM events WHERE id IN "
    CHAT_DB_IN_LIST;
/* The same for an N that is not an event id (deleted by retention, or a gap): the latest
 * event below it. */
static const char SQL_CUTOFF[] =
    "SELECT DATE_SUB(created_at, INTERVAL ? MICROSECOND) FROM events WHERE id <= ? "
    "ORDER BY id DESC LIMIT 1";
/* Every connection's backlog of the conversations it takes part in now (only o when
 * o > 0) in one statement. q holds one row per connection (k its slot, u its user, n its
 * position, c its window start, o its /ws/chat/<pk>/ or 0, h the tail position), from one
 * JSON parameter through JSON_TABLE: a derived table of 32 `SELECT ? ...` joined by UNION
 * ALL cost MariaDB 23-32 ms per execution, prepared, against 1-2 ms for JSON_TABLE. Each
 * connection gets the events after n, and those at or below it created after c, up to h;
 * its first `limit` rows in id order.
 *
 * Each conversation's events are read per participant row (MEMBER_EVENTS_JOIN): one
 * range over events_conversation (id in (n, h]) and one over events_conversation_created
 * (created_at >= c, id <= n; sql/014). Measured per batch of 256: 5-9 ms whatever the
 * history (the range analysis per row, about 20 us), against 1.4 ms for MariaDB's ref
 * with 1 to 2,000 events per conversation and 0.7 s with 2,000 events in a group of those
 * users. The second half names no index: forcing the one of sql/014 saved 1-2 ms per
 * batch, but a daemon started before that migration (chat-push starts before chat-api,
 * which migrates) would then fail every resume instead of running them slowly. */
#define BACKLOG_HALF(INDEX_HINT, RANGE)                                                    \
    " SELECT q.k, e.id, e.conversation_id, e.type, e.payload FROM q "                    \
    MEMBER_EVENTS_JOIN(INDEX_HINT, RANGE) " WHERE q.o = 0 OR e.conversation_id = q.o "
static const char SQL_BACKLOG[] =
    "WITH q AS (SELECT * FROM JSON_TABLE(?, '$[*]' COLUMNS (k INT PATH '$[0]', "
    "u BIGINT PATH '$[1]', n BIGINT PATH '$[2]', c VARCHAR(32) PATH '$[3]', "
    "o BIGINT PATH '$[4]', h BIGINT PATH '$[5]')) t) "
    "SELECT id, conversation_id, type, payload, 0, k FROM ("
    " SELECT k, id, conversation_id, type, payload, "
    " ROW_NUMBER() OVER (PARTITION BY k ORDER BY id) AS rn FROM ("
    BACKLOG_HALF("FORCE INDEX (events_conversation)", "e.id > q.n AND e.id <= q.h")
    " UNION ALL " BACKLOG_HALF("", "e.created_at >= q.c AND e.id <= q.n")
    ") b) w WHERE rn <= ? ORDER BY k, id";
/* On /ws/, a user also reads their own participant.removed events of conversations they
 * no longer take part in. These are read once per batch, over the batch's widest window
 * (after its smallest n, or after its earliest c), and matched to connections here:
 * joined with q, MariaDB compared every event of the window with every row of q (87 ms
 * for 256 connections over a window of 10,000 presence events, against 14 ms for the
 * window alone). The window's two halves are two statements of one UNION ALL. */
#define REMOVAL_COLUMNS                                                                     \
    "e.id, e.conversation_id, e.type, e.payload, 0, "                                     \
    "CAST(JSON_VALUE(e.payload, '$.user_id') AS SIGNED), e.created_at"
static const char SQL_REMOVALS[] =
    REMOVED_EVENTS(REMOVAL_COLUMNS, "PRIMARY", "e.id > ? AND e.id <= ?") " UNION ALL "
    REMOVED_EVENTS(REMOVAL_COLUMNS, "events_created", "e.created_at >= ? AND e.id <= ?")
    " ORDER BY 1";

/* A resume answered without its backlog: drops what it holds and takes status. */
static void resume_without_backlog(struct push_result *res, int status)
{
    for (size_t e = 0; e < res->nevents; e++)
        push_event_clear(&res->events[e]);
    free(res->events);
    res->events = NULL;
    res->nevents = 0;
    res->status = status;
}

/* Where each connection's window starts (cut[i], "9999-..." when no event is at or below
 * its position, so the window is empty), for up to CHAT_DB_BATCH jobs. */
static int resume_cutoffs(struct push_worker *w, struct push_job *const *jobs, size_t n,
                          char (*cut)[40])
{
    long long positions[CHAT_DB_BATCH];
    struct chat_db_param params[CHAT_DB_BATCH + 1];
    struct chat_db_result r;
    long long gap_us = (long long)w->cfg->push_gap_timeout_ms * 1000;
    bool found[CHAT_DB_BATCH] = {false};
    for (size_t i = 0; i < n; i++)
        positions[i] = jobs[i]->last_event_id;
    params[0] = DB_INT(gap_us);
    chat_db_bind_id_list(params + 1, positions, n);
    int rc = chat_db_query(&w->db, SQL_CUTOFFS, params, CHAT_DB_BATCH + 1, &r);
    if (rc != CHAT_OK)
        return rc;
    for (unsigned row = 0; row < r.nrows; row++)
        for (size_t i = 0; i < n; i++)
            if (positions[i] == chat_db_cell_int(&r, row, 0) && chat_db_cell(&r, row, 1)) {
                snprintf(cut[i], sizeof(cut[i]), "%s", chat_db_cell(&r, row, 1));
                found[i] = true;
            }
    chat_db_result_free(&r);
    for (size_t i = 0; i < n && rc == CHAT_OK; i++) {
        if (found[i])
            continue;
        snprintf(cut[i], sizeof(cut[i]), "9999-12-31 23:59:59");
        rc = chat_db_query(&w->db, SQL_CUTOFF, CHAT_DB_PARAMS(DB_INT(gap_us), DB_INT(positions[i])),
                           &r);
        if (rc == CHAT_OK && r.nrows > 0 && chat_db_cell(&r, 0, 0))
            snprintf(cut[i], sizeof(cut[i]), "%s", chat_db_cell(&r, 0, 0));
        if (rc == CHAT_OK)
            chat_db_result_free(&r);
    }
    return rc;
}

/* Whether removal row `row` of rm belongs in the backlog of job (whose window starts at
 * cut): its user's, on /ws/, after the position or created in the window. */
static bool removal_for(const struct chat_db_result *rm, unsigned row, const struct push_job *job,
                        const char *cut)
{
    const char *created = chat_db_cell(rm, row, 6);
    return job->conversation_id == 0 && chat_db_cell_int(rm, row, 5) == job->user_id &&
           (chat_db_cell_int(rm, row, 0) > job->last_event_id ||
            (created && strcmp(created, cut) >= 0)); /* DATETIME(6) text sorts in time */
}

/* Hands res the backlog of job: rows [start, end) of r merged in id order with its rows
 * of the removals rm (the two never share an event: one is of conversations the user
 * is in, the other of those it left). */
static void take_backlog(struct push_worker *w, const struct chat_db_result *r, unsigned start,
                         unsigned end, const struct chat_db_result *rm,
                         const struct push_job *job, const char *cut, struct push_result *res)
{
    struct push_event_list backlog = {0};
    size_t bytes = 0, limit = (size_t)w->cfg->push_resume_max_events;
    unsigned a = start, b = 0;
    res->status = PUSH_RESUME_OK;
    while (a < end || b < rm->nrows) {
        if (b < rm->nrows && !removal_for(rm, b, job, cut)) {
            b++;
            continue;
        }
        bool from_r = b >= rm->nrows ||
                      (a < end && chat_db_cell_int(r, a, 0) < chat_db_cell_int(rm, b, 0));
        const struct chat_db_result *src = from_r ? r : rm;
        unsigned row = from_r ? a++ : b++;
        if (backlog.count >= limit) {
            res->status = PUSH_RESUME_RESYNC; /* more than push_resume_max_events */
            break;
        }
        struct push_event *e = push_event_list_add(&backlog);
        if (!push_event_from_row(src, row, false, e)) {
            backlog.count--;
            continue;
        }
        bytes += e->frame->len;
    }
    res->events = backlog.items;
    res->nevents = backlog.count;
    if (res->status != PUSH_RESUME_OK || bytes > (size_t)w->cfg->push_max_queue_bytes)
        resume_without_backlog(res, PUSH_RESUME_RESYNC);
}

/* The backlog statement for the live slots (live[i]); fills their results. */
static int resume_backlogs(struct push_worker *w, struct push_job *const *jobs, size_t n,
                           const bool *live, char (*cut)[40], struct push_result **results)
{
    struct chat_db_result r;
    struct strbuf q = {0};
    long long high = w->gaps.high, min_n = -1;
    size_t earliest = 0;
    for (size_t i = 0; i < n; i++) {
        if (!live[i])
            continue;
        if (min_n < 0 || jobs[i]->last_event_id < min_n)
            min_n = jobs[i]->last_event_id;
        if (strcmp(cut[i], cut[earliest]) < 0 || !live[earliest])
            earliest = i; /* "YYYY-MM-DD HH:MM:SS.ffffff" sorts as text */
    }
    /* [[k,u,n,"c",o,h],...]: numbers, and c is MariaDB's DATETIME text (digits, '-',
     * ':', '.', ' '), which needs no JSON escaping. */
    strbuf_puts(&q, "[");
    for (size_t i = 0; i < n; i++)
        if (live[i])
            strbuf_printf(&q, "%s[%zu,%lld,%lld,\"%s\",%lld,%lld]", q.len > 1 ? "," : "", i,
                          jobs[i]->user_id, jobs[i]->last_event_id, cut[i],
                          jobs[i]->conversation_id, high);
    strbuf_puts(&q, "]");
    struct chat_db_result rm = {0};
    int rc = chat_db_query(&w->db, SQL_BACKLOG,
                           CHAT_DB_PARAMS(DB_BYTES(q.data, q.len),
                                          DB_INT(w->cfg->push_resume_max_events + 1)),
                           &r);
    strbuf_free(&q);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_db_query(&w->db, SQL_REMOVALS,
                       CHAT_DB_PARAMS(DB_INT(min_n), DB_INT(high), DB_STR(cut[earliest]),
                                      DB_INT(min_n)),
                       &rm);
    if (rc != CHAT_OK) {
        chat_db_result_free(&r);
        return rc;
    }
    /* r is ordered by slot: each live slot's rows are one run of it. */
    for (size_t i = 0, row = 0; i < n; i++) {
        while (row < r.nrows && chat_db_cell_int(&r, (unsigned)row, 5) < (long long)i)
            row++;
        size_t start = row;
        while (row < r.nrows && chat_db_cell_int(&r, (unsigned)row, 5) == (long long)i)
            row++;
        if (live[i])
            take_backlog(w, &r, (unsigned)start, (unsigned)row, &rm, jobs[i], cut[i], results[i]);
    }
    chat_db_result_free(&r);
    chat_db_result_free(&rm);
    /* /ws/chat/<pk>/: a user who no longer takes part in pk gets nothing of it (checked
     * after the query, so a removal that raced it is seen). */
    for (size_t i = 0; i < n && rc == CHAT_OK; i++) {
        if (!live[i] || jobs[i]->conversation_id <= 0)
            continue;
        rc = chat_conv_check_participant(&w->db, jobs[i]->conversation_id, jobs[i]->user_id);
        if (rc == CHAT_E_NOT_FOUND) {
            rc = CHAT_OK;
            resume_without_backlog(results[i], PUSH_RESUME_GONE);
        }
    }
    return rc;
}

void push_run_resume_batch(struct push_worker *w, struct push_job *const *jobs, size_t n,
                           struct push_result **results)
{
    long long sessions[PUSH_RESUME_BATCH];
    bool alive[PUSH_RESUME_BATCH], live[PUSH_RESUME_BATCH];
    char cut[PUSH_RESUME_BATCH][40];
    struct chat_db_result r = {0};
    new_results(jobs, n, PUSH_RESULT_RESUME, PUSH_RESUME_FAILED, results);
    for (size_t i = 0; i < n; i++)
        sessions[i] = jobs[i]->session_id;
    if (!w->connected)
        return;
    /* A resume racing its session's end is refused, as every job of a connection is. */
    int rc = CHAT_OK;
    for (size_t at = 0; at < n && rc == CHAT_OK; at += CHAT_DB_BATCH)
        rc = chat_sessions_alive_many(&w->db, sessions + at,
                                      n - at < CHAT_DB_BATCH ? n - at : CHAT_DB_BATCH, alive + at);
    long long min_id = 0;
    if (rc == CHAT_OK)
        rc = chat_db_query(&w->db, SQL_MIN_ID, NULL, 0, &r);
    if (rc == CHAT_OK) {
        min_id = chat_db_cell_is_null(&r, 0, 0) ? 0 : chat_db_cell_int(&r, 0, 0);
        chat_db_result_free(&r);
    }
    size_t nlive = 0;
    for (size_t i = 0; rc == CHAT_OK && i < n; i++) {
        /* Retention deleted events the client never saw. Not n + 1 < MIN(id): the
         * position comes from the client and may be 2^63-1. */
        live[i] = false;
        if (!alive[i])
            results[i]->status = PUSH_RESUME_REVOKED;
        else if (min_id && jobs[i]->last_event_id < min_id - 1)
            results[i]->status = PUSH_RESUME_RESYNC;
        else {
            live[i] = true;
            nlive++;
        }
    }
    for (size_t at = 0; at < n && rc == CHAT_OK && nlive > 0; at += CHAT_DB_BATCH)
        rc = resume_cutoffs(w, jobs + at, n - at < CHAT_DB_BATCH ? n - at : CHAT_DB_BATCH,
                            cut + at);
    if (rc == CHAT_OK && nlive > 0)
        rc = resume_backlogs(w, jobs, n, live, cut, results);
    for (size_t i = 0; rc != CHAT_OK && i < n; i++)
        resume_without_backlog(results[i], PUSH_RESUME_FAILED);
    if (rc == CHAT_E_DB)
        push_worker_disconnect(w, "resume query failed");
}
