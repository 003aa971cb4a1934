#include "db_worker.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "errors.h"
#include "gap_tracker.h"
#include "json_util.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "wake.h"
#include "xalloc.h"

/* Rows read per tail query; a full batch makes the worker read again at once. */
#define TAIL_BATCH 500
/* Bound on remembered gaps. Past it the oldest gaps are dropped (counted and logged);
 * an event that commits after its gap was dropped is not delivered live, and clients
 * recover it by resume (its created_at is within the resume window). 100k gaps cost
 * 1.6 MB. */
#define GAP_MAX 100000
/* Gap ids re-read per statement (a fixed placeholder list, prepared once) and at most
 * this many statements per round; a larger gap set is walked round-robin. */
#define GAP_CHUNK 64
#define GAP_CHUNKS_PER_ROUND 16
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* The loop's clock: the worker wakes the lws thread at least this often, whatever
 * push_poll_interval_ms is (auth deadlines, typing expiry, long-poll timeouts). */
#define CLOCK_TICK_MS 500
/* Presence: the heartbeat period, and how old a heartbeat may be before the daemon's
 * connections stop counting (it crashed). */
#define HEARTBEAT_MS 5000
#define HEARTBEAT_STALE_MS 15000
/* Ids below the starting MAX(id) that may belong to transactions still open at start. */
#define STARTUP_SPAN 1000
/* Events one long-poll response carries at most. */
#define POLL_MAX_EVENTS 500

/* Columns of every event query: id, conversation_id, type, payload, created_at in Unix
 * seconds with microseconds (for the commit-to-send metric). */
#define EVENT_COLUMNS "SELECT id, conversation_id, type, payload, UNIX_TIMESTAMP(created_at) FROM events "
static const char SQL_MAX_ID[] = "SELECT COALESCE(MAX(id), 0) FROM events";
static const char SQL_TAIL[] = EVENT_COLUMNS "WHERE id > ? ORDER BY id LIMIT ?";
#define P8 "?,?,?,?,?,?,?,?"
static const char SQL_GAPS[] =
    EVENT_COLUMNS "WHERE id IN (" P8 "," P8 "," P8 "," P8 "," P8 "," P8 "," P8 "," P8 ") ORDER BY id";
static const char SQL_MIN_ID[] = "SELECT MIN(id) FROM events";
static const char SQL_RECENT_IDS[] = "SELECT id FROM events WHERE id > ? AND id <= ? ORDER BY id";
static const char SQL_CUTOFF[] =
    "SELECT DATE_SUB(created_at, INTERVAL ? MICROSECOND) FROM events WHERE id <= ? "
    "ORDER BY id DESC LIMIT 1";
static const char SQL_BACKLOG_ALL[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM events e "
    "JOIN participants p ON p.conversation_id = e.conversation_id AND p.user_id = ? "
    "WHERE (e.id > ? OR e.created_at >= ?) AND e.id <= ? ORDER BY e.id LIMIT ?";
static const char SQL_POLL[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM events e "
    "JOIN participants p ON p.conversation_id = e.conversation_id AND p.user_id = ? "
    "WHERE e.id > ? AND e.id <= ? ORDER BY e.id LIMIT ?";
static const char SQL_BACKLOG_ONE[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM events e "
    "WHERE e.conversation_id = ? AND (e.id > ? OR e.created_at >= ?) AND e.id <= ? "
    "ORDER BY e.id LIMIT ?";

struct push_worker {
    const struct chat_config *cfg;
    int wake_fd, job_fd;
    int wake_send_fd; /* unbound datagram socket for waking the other daemons */
    char daemon_id[100];
    void (*notify)(void *);
    void *notify_arg;
    pthread_t thread;
    atomic_bool stop;
    atomic_llong notified_ms; /* see push_worker_take_notify_time */

    pthread_mutex_t lock; /* guards the two queues and `stats` below */
    struct push_job *jobs, **jobs_tail;
    struct push_result *results, **results_tail;
    struct push_worker_stats stats;

    /* Worker thread only. */
    struct chat_db db;
    bool connected, have_high;
    long long next_connect_ms;
    int backoff_ms;
    struct push_gap_tracker gaps;
    long long next_heartbeat_ms, next_sweep_ms;
    bool wrote_events; /* a job committed events: wake the other daemons */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void push_event_clear(struct push_event *e)
{
    free(e->users);
    push_frame_unref(e->frame);
    memset(e, 0, sizeof(*e));
}

void push_job_free(struct push_job *job)
{
    if (!job)
        return;
    if (job->token) {
        memset(job->token, 0, strlen(job->token));
        free(job->token);
    }
    free(job->text);
    free(job->client_msg_id);
    free(job->attachment_ids);
    free(job);
}

void push_result_free(struct push_result *r)
{
    if (!r)
        return;
    push_frame_unref(r->hello);
    push_frame_unref(r->body);
    free(r->user_json);
    free(r->client_msg_id);
    free(r->conv_ids);
    for (size_t i = 0; i < r->nevents; i++)
        push_event_clear(&r->events[i]);
    free(r->events);
    free(r);
}

static void notify_loop(struct push_worker *w)
{
    long long expected = 0;
    atomic_compare_exchange_strong(&w->notified_ms, &expected, now_ms());
    w->notify(w->notify_arg);
}

static void post_result(struct push_worker *w, struct push_result *r)
{
    pthread_mutex_lock(&w->lock);
    r->next = NULL;
    *w->results_tail = r;
    w->results_tail = &r->next;
    pthread_mutex_unlock(&w->lock);
    notify_loop(w);
}

/* ---- turning rows into events ---- */

static void add_user(struct push_event *e, long long id)
{
    if (id <= 0)
        return;
    e->users = chat_xreallocarray(e->users, e->nusers + 1, sizeof(*e->users));
    e->users[e->nusers++] = id;
}

/* Reads who the event is about from its payload. A payload that does not parse leaves
 * the event PLAIN (delivered to the conversation's current subscribers). */
static void classify(struct push_event *e, const char *type, const char *payload, size_t len)
{
    bool created = strcmp(type, "conversation.created") == 0;
    bool added = strcmp(type, "participant.added") == 0;
    bool removed = strcmp(type, "participant.removed") == 0;
    bool presence = strcmp(type, "presence") == 0;
    e->kind = PUSH_EVENT_PLAIN;
    if (!created && !added && !removed && e->conversation_id > 0)
        return;
    json_tokener *tok = json_tokener_new();
    json_object *obj = tok ? json_tokener_parse_ex(tok, payload, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (!obj || !json_object_is_type(obj, json_type_object))
        goto out;
    json_object *v;
    if (presence) {
        /* The recipients are looked up by the caller (take_rows): never in the payload,
         * which every recipient sees. */
        e->kind = PUSH_EVENT_PRESENCE;
        if (json_object_object_get_ex(obj, "user_id", &v))
            add_user(e, json_object_get_int64(v));
        goto out;
    }
    if (created) {
        e->kind = PUSH_EVENT_CONV_CREATED;
        if (json_object_object_get_ex(obj, "participants", &v) &&
            json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            for (size_t i = 0; i < n; i++) {
                json_object *p = json_object_array_get_idx(v, i), *id;
                if (json_object_is_type(p, json_type_object) &&
                    json_object_object_get_ex(p, "id", &id))
                    add_user(e, json_object_get_int64(id));
            }
        }
    } else if (added || removed) {
        e->kind = added ? PUSH_EVENT_PARTICIPANT_ADDED : PUSH_EVENT_PARTICIPANT_REMOVED;
        if (json_object_object_get_ex(obj, "user_id", &v))
            add_user(e, json_object_get_int64(v));
        if (e->conversation_id <= 0 && json_object_object_get_ex(obj, "conversation_id", &v))
            e->conversation_id = json_object_get_int64(v);
    } else {
        /* No conversation: addressed to "user_id" or "user_ids" in the payload. */
        e->kind = PUSH_EVENT_USERS;
        if (json_object_object_get_ex(obj, "user_id", &v))
            add_user(e, json_object_get_int64(v));
        if (json_object_object_get_ex(obj, "user_ids", &v) &&
            json_object_is_type(v, json_type_array)) {
            size_t n = json_object_array_length(v);
            for (size_t i = 0; i < n; i++)
                add_user(e, json_object_get_int64(json_object_array_get_idx(v, i)));
        }
    }
    if (e->nusers == 0 && e->kind != PUSH_EVENT_CONV_CREATED)
        e->kind = e->conversation_id > 0 ? PUSH_EVENT_PLAIN : PUSH_EVENT_USERS;
out:
    json_object_put(obj);
}

/* Builds the event for row `row` of r (columns id, conversation_id, type, payload).
 * Returns false (and logs) for a row that cannot be framed. */
static bool event_from_row(const struct chat_db_result *r, unsigned row, bool classify_it,
                           struct push_event *e)
{
    memset(e, 0, sizeof(*e));
    e->id = chat_db_cell_int(r, row, 0);
    e->conversation_id = chat_db_cell_int(r, row, 1);
    const char *created = chat_db_cell(r, row, 4);
    e->created_us = created ? (long long)(strtod(created, NULL) * 1e6) : 0;
    const char *type = chat_db_cell(r, row, 2);
    const char *payload = chat_db_cell(r, row, 3);
    size_t len = payload ? r->lens[(size_t)row * r->ncols + 3] : 0;
    e->frame = push_frame_event(e->id, e->conversation_id, type, payload ? payload : "", len);
    if (!e->frame) {
        log_warn("event %lld has an unusable type; not delivered", e->id);
        return false;
    }
    e->frame->created_us = e->created_us;
    if (classify_it)
        classify(e, type, payload ? payload : "", len);
    return true;
}

struct event_list {
    struct push_event *items;
    size_t count, cap;
};

static struct push_event *event_list_add(struct event_list *l)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = chat_xreallocarray(l->items, l->cap, sizeof(*l->items));
    }
    return &l->items[l->count++];
}

/* ---- connection management ---- */

static void schedule_retry(struct push_worker *w)
{
    w->connected = false;
    w->backoff_ms = w->backoff_ms ? w->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (w->backoff_ms > BACKOFF_MAX_MS)
        w->backoff_ms = BACKOFF_MAX_MS;
    w->next_connect_ms = now_ms() + w->backoff_ms;
}

static void disconnect(struct push_worker *w, const char *why)
{
    if (w->connected)
        log_warn("MariaDB unavailable (%s); retrying with backoff", why);
    pthread_mutex_lock(&w->lock);
    w->stats.connected = false;
    pthread_mutex_unlock(&w->lock);
    chat_db_close(&w->db);
    schedule_retry(w);
}

/* Starts the tracker at MAX(id) = high. Transactions still open at this moment hold ids
 * below high that are not visible yet, so the ids of the last STARTUP_SPAN that are
 * missing start as gaps: re-read until they commit or the gap timeout passes, like any
 * other gap. */
static int start_tracking(struct push_worker *w, long long high)
{
    long long from = high > STARTUP_SPAN ? high - STARTUP_SPAN : 0;
    struct chat_db_result r;
    int rc = chat_db_query(&w->db, SQL_RECENT_IDS, CHAT_DB_PARAMS(DB_INT(from), DB_INT(high)),
                           &r);
    if (rc != CHAT_OK)
        return rc;
    push_gap_init(&w->gaps, from, GAP_MAX);
    long long now = now_ms();
    for (unsigned i = 0; i < r.nrows; i++)
        push_gap_observe(&w->gaps, chat_db_cell_int(&r, i, 0), now);
    if (w->gaps.high < high) /* MAX(id) was deleted meanwhile */
        push_gap_observe(&w->gaps, high, now);
    chat_db_result_free(&r);
    return CHAT_OK;
}

static void try_connect(struct push_worker *w)
{
    if (chat_db_open(&w->db, w->cfg) != CHAT_OK) { /* chat_db_open logged why */
        schedule_retry(w);
        return;
    }
    if (!w->have_high) {
        struct chat_db_result r;
        if (chat_db_query(&w->db, SQL_MAX_ID, NULL, 0, &r) != CHAT_OK) {
            disconnect(w, "reading MAX(id)");
            return;
        }
        long long high = chat_db_cell_int(&r, 0, 0);
        chat_db_result_free(&r);
        if (start_tracking(w, high) != CHAT_OK) {
            disconnect(w, "reading the latest event ids");
            return;
        }
        w->have_high = true;
        log_info("tailing the event log after id %lld (%zu recent ids not visible yet)", high,
                 push_gap_count(&w->gaps));
    } else {
        log_info("MariaDB connection restored; tailing after id %lld", w->gaps.high);
    }
    w->connected = true;
    w->backoff_ms = 0;
    w->next_heartbeat_ms = 0; /* at once: the heartbeat row may have expired meanwhile */
    pthread_mutex_lock(&w->lock);
    w->stats.connected = true;
    w->stats.db_connects++;
    pthread_mutex_unlock(&w->lock);
}

/* ---- tailing ---- */

/* A presence event goes to the users who share a direct chat or a small group with its
 * subject (presence_max_group_size). */
static int address_presence(struct push_worker *w, struct push_event *e)
{
    long long subject = e->nusers ? e->users[0] : 0;
    free(e->users);
    e->users = NULL;
    e->nusers = 0;
    e->kind = PUSH_EVENT_USERS;
    if (subject <= 0)
        return CHAT_OK;
    return chat_presence_recipients(&w->db, subject, w->cfg->presence_max_group_size, &e->users,
                                    &e->nusers);
}

/* Adds the rows of r that the tracker has not delivered yet. */
static int take_rows(struct push_worker *w, const struct chat_db_result *r, long long now,
                     struct event_list *out)
{
    int rc = CHAT_OK;
    for (unsigned i = 0; i < r->nrows; i++) {
        long long id = chat_db_cell_int(r, i, 0);
        if (!push_gap_observe(&w->gaps, id, now))
            continue;
        struct push_event *e = event_list_add(out);
        if (!event_from_row(r, i, true, e)) {
            out->count--;
            continue;
        }
        if (e->kind == PUSH_EVENT_PRESENCE && rc == CHAT_OK)
            rc = address_presence(w, e);
    }
    return rc;
}

static int reread_gaps(struct push_worker *w, long long now, struct event_list *out)
{
    for (int chunk = 0; chunk < GAP_CHUNKS_PER_ROUND && push_gap_count(&w->gaps) > 0; chunk++) {
        long long ids[GAP_CHUNK];
        size_t n = push_gap_collect(&w->gaps, ids, GAP_CHUNK);
        struct chat_db_param params[GAP_CHUNK];
        for (size_t i = 0; i < GAP_CHUNK; i++)
            params[i] = DB_INT(i < n ? ids[i] : 0); /* id 0 never exists */
        struct chat_db_result r;
        int rc = chat_db_query(&w->db, SQL_GAPS, params, GAP_CHUNK, &r);
        if (rc != CHAT_OK)
            return rc;
        rc = take_rows(w, &r, now, out);
        chat_db_result_free(&r);
        if (rc != CHAT_OK)
            return rc;
        if (n < GAP_CHUNK || push_gap_count(&w->gaps) <= GAP_CHUNK * (size_t)(chunk + 1))
            break;
    }
    return CHAT_OK;
}

/* One tail round. Returns true when a full batch was read (more may be waiting). */
static bool tail(struct push_worker *w)
{
    struct event_list events = {0};
    long long now = now_ms();
    bool more = false;
    int rc = CHAT_OK;

    if (push_gap_count(&w->gaps) > 0)
        rc = reread_gaps(w, now, &events);
    if (rc == CHAT_OK) {
        struct chat_db_result r;
        rc = chat_db_query(&w->db, SQL_TAIL,
                           CHAT_DB_PARAMS(DB_INT(w->gaps.high), DB_INT(TAIL_BATCH)), &r);
        if (rc == CHAT_OK) {
            more = r.nrows == TAIL_BATCH;
            unsigned long long dropped = w->gaps.dropped;
            rc = take_rows(w, &r, now, &events);
            chat_db_result_free(&r);
            if (w->gaps.dropped != dropped)
                log_warn("gap set full (%d): dropped %llu oldest gaps (%llu in total)", GAP_MAX,
                         w->gaps.dropped - dropped, w->gaps.dropped);
        }
    }
    long long expired[8];
    size_t n = push_gap_expire(&w->gaps, now, w->cfg->push_gap_timeout_ms, expired, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        log_info("event id %lld never committed within %d ms; gap abandoned (%llu abandoned "
                 "in total)", expired[i], w->cfg->push_gap_timeout_ms, w->gaps.abandoned);
    if (n > 8)
        log_info("%zu more gaps abandoned", n - 8);
    if (rc == CHAT_E_DB)
        disconnect(w, "tail query failed");
    pthread_mutex_lock(&w->lock);
    if (rc == CHAT_OK)
        w->stats.last_tail_ms = now_ms();
    w->stats.connected = w->connected;
    w->stats.high = w->gaps.high;
    w->stats.events_read += events.count;
    w->stats.gaps_open = push_gap_count(&w->gaps);
    w->stats.gaps_abandoned = w->gaps.abandoned;
    w->stats.gaps_dropped = w->gaps.dropped;
    pthread_mutex_unlock(&w->lock);

    if (events.count > 0) {
        struct push_result *res = chat_xcalloc(1, sizeof(*res));
        res->kind = PUSH_RESULT_EVENTS;
        res->events = events.items;
        res->nevents = events.count;
        post_result(w, res);
    } else {
        free(events.items);
    }
    return more && rc == CHAT_OK;
}

/* ---- jobs ---- */

static void run_auth(struct push_worker *w, struct push_job *job, struct push_result *res)
{
    json_object *user = NULL, *hello = NULL;
    long long user_id = 0;
    int rc = chat_session_lookup(&w->db, job->token, &user_id, NULL);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_user_get_json(&w->db, user_id, &user);
    if (rc == CHAT_E_NOT_FOUND)
        rc = CHAT_E_NOT_AUTHENTICATED;
    if (rc != CHAT_OK)
        goto out;
    if (job->conversation_id > 0) {
        rc = chat_conv_check_participant(&w->db, job->conversation_id, user_id);
        if (rc != CHAT_OK)
            goto out;
        res->conv_ids = chat_xmalloc(sizeof(long long));
        res->conv_ids[0] = job->conversation_id;
        res->nconv = 1;
    } else {
        rc = chat_conv_ids_for_user(&w->db, user_id, &res->conv_ids, &res->nconv);
        if (rc != CHAT_OK)
            goto out;
    }
    /* connections_per_user holds across daemons: count the user's live ones elsewhere.
     * Two daemons admitting at the same moment can each let one more through. */
    rc = chat_presence_connections_elsewhere(&w->db, w->daemon_id, user_id, HEARTBEAT_STALE_MS,
                                             &res->conns_elsewhere);
    if (rc != CHAT_OK)
        goto out;
    res->user_id = user_id;
    res->high = w->gaps.high;
    size_t ulen;
    const char *utext = chat_json_to_string(user, &ulen);
    res->user_json = chat_xstrndup(utext, ulen);
    hello = json_object_new_object();
    json_object_object_add(hello, "type", json_object_new_string("hello"));
    json_object_object_add(hello, "user", json_object_get(user));
    json_object_object_add(hello, "last_event_id", json_object_new_int64(res->high));
    size_t len;
    const char *text = chat_json_to_string(hello, &len);
    res->hello = push_frame_new(text, len, 0);
out:
    json_object_put(hello);
    json_object_put(user);
    res->status = rc;
}

static void run_resume(struct push_worker *w, struct push_job *job, struct push_result *res)
{
    struct chat_db_result r = {0};
    struct event_list backlog = {0};
    long long n = job->last_event_id;
    int rc;
    res->status = PUSH_RESUME_FAILED;

    rc = chat_db_query(&w->db, SQL_MIN_ID, NULL, 0, &r);
    if (rc != CHAT_OK)
        goto out;
    /* Not n + 1 < MIN(id): n comes from the client and may be 2^63-1. */
    if (!chat_db_cell_is_null(&r, 0, 0) && n < chat_db_cell_int(&r, 0, 0) - 1) {
        res->status = PUSH_RESUME_RESYNC;
        goto out;
    }
    chat_db_result_free(&r);

    /* Events at or below N that committed late: created_at within the gap timeout before
     * event N's. Without any event <= N the window is empty. */
    rc = chat_db_query(&w->db, SQL_CUTOFF,
                       CHAT_DB_PARAMS(DB_INT((long long)w->cfg->push_gap_timeout_ms * 1000),
                                      DB_INT(n)),
                       &r);
    if (rc != CHAT_OK)
        goto out;
    char cutoff[40] = "9999-12-31 23:59:59";
    if (r.nrows > 0 && chat_db_cell(&r, 0, 0))
        snprintf(cutoff, sizeof(cutoff), "%s", chat_db_cell(&r, 0, 0));
    chat_db_result_free(&r);

    long long limit = w->cfg->push_resume_max_events + 1;
    if (job->conversation_id > 0)
        rc = chat_db_query(&w->db, SQL_BACKLOG_ONE,
                           CHAT_DB_PARAMS(DB_INT(job->conversation_id), DB_INT(n), DB_STR(cutoff),
                                          DB_INT(w->gaps.high), DB_INT(limit)),
                           &r);
    else
        rc = chat_db_query(&w->db, SQL_BACKLOG_ALL,
                           CHAT_DB_PARAMS(DB_INT(job->user_id), DB_INT(n), DB_STR(cutoff),
                                          DB_INT(w->gaps.high), DB_INT(limit)),
                           &r);
    if (rc != CHAT_OK)
        goto out;
    if (r.nrows >= limit) {
        res->status = PUSH_RESUME_RESYNC;
        goto out;
    }
    size_t bytes = 0;
    for (unsigned i = 0; i < r.nrows; i++) {
        struct push_event *e = event_list_add(&backlog);
        if (!event_from_row(&r, i, false, e)) {
            backlog.count--;
            continue;
        }
        bytes += e->frame->len;
    }
    if (bytes > (size_t)w->cfg->push_max_queue_bytes) {
        res->status = PUSH_RESUME_RESYNC;
        goto out;
    }
    res->status = PUSH_RESUME_OK;
    res->events = backlog.items;
    res->nevents = backlog.count;
    backlog.items = NULL;
    backlog.count = 0;
out:
    for (size_t i = 0; i < backlog.count; i++)
        push_event_clear(&backlog.items[i]);
    free(backlog.items);
    chat_db_result_free(&r);
    if (rc == CHAT_E_DB)
        disconnect(w, "resume query failed");
}

/* message.send: exactly what the REST POST does (chat_message_submit). */
static void run_send(struct push_worker *w, struct push_job *job, struct push_result *res)
{
    struct chat_message_input in = {
        .conversation_id = job->conversation_id,
        .sender_id = job->user_id,
        .text = job->text,
        .client_msg_id = job->client_msg_id,
        .reply_to = job->reply_to,
        .attachment_ids = job->attachment_ids,
        .attachment_count = job->attachment_count,
    };
    json_object *msg = NULL;
    bool created = false;
    res->client_msg_id = job->client_msg_id;
    job->client_msg_id = NULL;
    res->status = chat_message_submit(&w->db, w->cfg, &in, job->has_reply_to, &msg, &created,
                                      res->detail, sizeof(res->detail));
    if (res->status == CHAT_OK) {
        json_object *id;
        if (json_object_object_get_ex(msg, "id", &id))
            res->message_id = json_object_get_int64(id);
        w->wrote_events |= created;
    }
    json_object_put(msg);
}

/* read / delivered: the store code behind POST .../read/ and .../delivered/. */
static void run_receipt(struct push_worker *w, struct push_job *job, struct push_result *res)
{
    json_object *out = NULL;
    bool moved = false;
    res->status = chat_receipt_mark(&w->db, job->conversation_id, job->user_id,
                                    job->read ? CHAT_RECEIPT_READ : CHAT_RECEIPT_DELIVERED,
                                    job->message_id, &out, &moved);
    if (res->status == CHAT_E_NOT_FOUND)
        snprintf(res->detail, sizeof(res->detail), "Conversation not found.");
    else if (res->status == CHAT_E_VALIDATION)
        snprintf(res->detail, sizeof(res->detail),
                 "message_id must be a message of this conversation.");
    w->wrote_events |= res->status == CHAT_OK && moved;
    json_object_put(out);
}

static int run_presence(struct push_worker *w, struct push_job *job)
{
    bool announced = false;
    int rc = job->count_only
                 ? chat_presence_count(&w->db, w->daemon_id, job->user_id, job->connections)
                 : chat_presence_set(&w->db, w->daemon_id, job->user_id, job->connections,
                                     &announced);
    w->wrote_events |= announced;
    if (rc != CHAT_OK)
        log_warn("presence of user %lld not recorded (%s)", job->user_id, chat_err_code(rc));
    return rc;
}

/* The highest id below which every event has been seen (or given up): the long-poll
 * cursor never passes an id that may still commit. */
static long long safe_position(const struct push_gap_tracker *t)
{
    for (size_t i = t->head; i < t->head + t->count; i++)
        if (t->gaps[i].noticed_ms >= 0)
            return t->gaps[i].id - 1;
    return t->high;
}

/* Long-poll: the user's events after last_event_id, up to the safe position, as the JSON
 * body {"events":[<event frames>],"last_event_id":N}. */
static void run_poll(struct push_worker *w, struct push_job *job, struct push_result *res)
{
    struct chat_db_result r = {0};
    struct strbuf b = {0};
    long long safe = safe_position(&w->gaps);
    long long last = job->last_event_id > safe ? job->last_event_id : safe;
    if (job->last_event_id < 0) { /* no cursor yet: just the starting position */
        char text[64];
        int n = snprintf(text, sizeof(text), "{\"events\":[],\"last_event_id\":%lld}", safe);
        res->status = CHAT_OK;
        res->body = push_frame_new(text, (size_t)n, 0);
        return;
    }
    res->status = chat_db_query(&w->db, SQL_POLL,
                                CHAT_DB_PARAMS(DB_INT(job->user_id), DB_INT(job->last_event_id),
                                               DB_INT(safe), DB_INT(POLL_MAX_EVENTS)),
                                &r);
    if (res->status != CHAT_OK)
        goto out;
    strbuf_puts(&b, "{\"events\":[");
    for (unsigned i = 0; i < r.nrows; i++) {
        struct push_event e;
        if (!event_from_row(&r, i, false, &e))
            continue;
        if (res->poll_count++)
            strbuf_puts(&b, ",");
        strbuf_append(&b, (const char *)push_frame_text(e.frame), e.frame->len);
        push_event_clear(&e);
    }
    if (r.nrows == POLL_MAX_EVENTS)
        last = chat_db_cell_int(&r, r.nrows - 1, 0); /* more to come: continue from here */
    strbuf_printf(&b, "],\"last_event_id\":%lld}", last);
    res->body = push_frame_new(b.data, b.len, 0);
out:
    strbuf_free(&b);
    chat_db_result_free(&r);
}

static void run_job(struct push_worker *w, struct push_job *job)
{
    struct push_result *res = chat_xcalloc(1, sizeof(*res));
    res->conn_id = job->conn_id;
    res->user_id = job->user_id;
    switch (job->kind) {
    case PUSH_JOB_AUTH:
        res->kind = PUSH_RESULT_AUTH;
        res->status = CHAT_E_DB;
        if (w->connected)
            run_auth(w, job, res);
        break;
    case PUSH_JOB_RESUME:
        res->kind = PUSH_RESULT_RESUME;
        res->status = PUSH_RESUME_FAILED;
        if (w->connected)
            run_resume(w, job, res);
        break;
    case PUSH_JOB_SEND:
        res->kind = PUSH_RESULT_SEND;
        res->status = CHAT_E_DB;
        if (w->connected)
            run_send(w, job, res);
        else
            res->client_msg_id = chat_xstrdup(job->client_msg_id);
        break;
    case PUSH_JOB_RECEIPT:
        res->kind = PUSH_RESULT_RECEIPT;
        res->status = CHAT_E_DB;
        if (w->connected)
            run_receipt(w, job, res);
        break;
    case PUSH_JOB_POLL:
        res->kind = PUSH_RESULT_POLL;
        res->status = CHAT_E_DB;
        if (w->connected)
            run_poll(w, job, res);
        break;
    case PUSH_JOB_PRESENCE:
        /* Nothing to report; the presence event, if any, comes through the log. A change
         * lost while MariaDB is down is repaired by the sweep and the next connection. */
        if (w->connected && run_presence(w, job) == CHAT_E_DB)
            disconnect(w, "presence update failed");
        free(res);
        return;
    }
    if (res->status == CHAT_E_DB && w->connected)
        disconnect(w, "query failed");
    pthread_mutex_lock(&w->lock);
    w->stats.jobs_done++;
    pthread_mutex_unlock(&w->lock);
    post_result(w, res);
}

/* Presence upkeep: the heartbeat that keeps this daemon's connections counting, and the
 * sweep that takes users offline once the delay has passed (any daemon may do it). */
static void presence_upkeep(struct push_worker *w, long long now)
{
    int rc = CHAT_OK;
    if (now >= w->next_heartbeat_ms) {
        rc = chat_presence_heartbeat(&w->db, w->daemon_id);
        w->next_heartbeat_ms = now + HEARTBEAT_MS;
    }
    if (rc == CHAT_OK && now >= w->next_sweep_ms) {
        int announced = 0;
        rc = chat_presence_sweep(&w->db, w->cfg->push_presence_offline_delay_ms,
                                 HEARTBEAT_STALE_MS, &announced);
        w->wrote_events |= announced > 0;
        int every = w->cfg->push_presence_offline_delay_ms / 4;
        w->next_sweep_ms = now + (every < 250 ? 250 : every > HEARTBEAT_MS ? HEARTBEAT_MS : every);
    }
    if (rc == CHAT_E_DB)
        disconnect(w, "presence upkeep failed");
    else if (rc != CHAT_OK)
        log_warn("presence upkeep: %s", chat_err_code(rc));
}

/* ---- the thread ---- */

/* Reads every pending datagram of the wake-up socket. A plain wake-up needs nothing
 * more (the round that follows tails the log); a typing relay from another daemon
 * ("T<conversation_id> <user_id> <frame>") goes to the loop for its local subscribers. */
static void drain(struct push_worker *w)
{
    char buf[PUSH_PEER_TYPING_MAX + 1];
    for (;;) {
        ssize_t n = recv(w->wake_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: drained */
        buf[n] = '\0';
        long long conv, user;
        int used = 0;
        if (n < 2 || buf[0] != 'T' || sscanf(buf + 1, "%lld %lld %n", &conv, &user, &used) != 2 ||
            used <= 0 || conv <= 0 || user <= 0)
            continue;
        const char *frame = buf + 1 + used;
        if (*frame != '{')
            continue;
        struct push_result *res = chat_xcalloc(1, sizeof(*res));
        res->kind = PUSH_RESULT_TYPING;
        res->conversation_id = conv;
        res->user_id = user;
        res->body = push_frame_new(frame, strlen(frame), 0);
        post_result(w, res);
    }
}

static void *worker_main(void *arg)
{
    struct push_worker *w = arg;
    bool more = false;
    long long next_tail_ms = 0;
    chat_log_set_request_id("db-worker");
    while (!atomic_load(&w->stop)) {
        long long now = now_ms();
        if (!w->connected && now >= w->next_connect_ms)
            try_connect(w);
        long long until = w->connected ? next_tail_ms : w->next_connect_ms;
        if (w->connected && w->next_heartbeat_ms < until)
            until = w->next_heartbeat_ms;
        if (w->connected && w->next_sweep_ms < until)
            until = w->next_sweep_ms;
        int timeout = until > now ? (int)(until - now) : 0;
        if (timeout > CLOCK_TICK_MS)
            timeout = CLOCK_TICK_MS;
        if (more)
            timeout = 0;
        struct pollfd fds[2] = {{.fd = w->wake_fd, .events = POLLIN},
                                {.fd = w->job_fd, .events = POLLIN}};
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        bool woken = more || (fds[0].revents & POLLIN) || (fds[1].revents & POLLIN);
        if (fds[0].revents & POLLIN)
            drain(w);
        if (fds[1].revents & POLLIN) {
            uint64_t v;
            if (read(w->job_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("eventfd read: %s", strerror(errno));
        }
        if (atomic_load(&w->stop))
            break;

        pthread_mutex_lock(&w->lock);
        struct push_job *jobs = w->jobs;
        w->jobs = NULL;
        w->jobs_tail = &w->jobs;
        pthread_mutex_unlock(&w->lock);
        while (jobs) {
            struct push_job *next = jobs->next;
            run_job(w, jobs);
            push_job_free(jobs);
            jobs = next;
        }
        if (w->connected)
            presence_upkeep(w, now_ms());
        if (w->wrote_events) {
            chat_wake_push_daemons(w->wake_send_fd, w->cfg);
            w->wrote_events = false;
        }
        more = false;
        if (w->connected && (woken || now_ms() >= next_tail_ms)) {
            more = tail(w);
            next_tail_ms = now_ms() + w->cfg->push_poll_interval_ms;
        }
        notify_loop(w); /* the loop's clock, see push_worker_start */
    }
    if (w->connected && chat_presence_daemon_stop(&w->db, w->daemon_id) != CHAT_OK)
        log_warn("could not clear this daemon's presence rows; they expire by heartbeat");
    chat_db_close(&w->db);
    return NULL;
}

struct push_worker *push_worker_start(const struct chat_config *cfg, int wake_fd,
                                      const char *daemon_id, void (*notify)(void *arg),
                                      void *arg)
{
    struct push_worker *w = chat_xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->wake_fd = wake_fd;
    w->wake_send_fd = chat_wake_open();
    snprintf(w->daemon_id, sizeof(w->daemon_id), "%s", daemon_id);
    w->notify = notify;
    w->notify_arg = arg;
    w->jobs_tail = &w->jobs;
    w->results_tail = &w->results;
    atomic_init(&w->stop, false);
    atomic_init(&w->notified_ms, 0);
    pthread_mutex_init(&w->lock, NULL);
    push_gap_init(&w->gaps, 0, GAP_MAX);
    w->job_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->job_fd < 0) {
        log_error("eventfd: %s", strerror(errno));
        goto fail;
    }
    /* The worker never handles signals: SIGTERM and SIGINT belong to the lws thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int err = pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        log_error("pthread_create: %s", strerror(err));
        close(w->job_fd);
        goto fail;
    }
    return w;
fail:
    if (w->wake_send_fd >= 0)
        close(w->wake_send_fd);
    pthread_mutex_destroy(&w->lock);
    push_gap_free(&w->gaps);
    free(w);
    return NULL;
}

void push_worker_submit(struct push_worker *w, struct push_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    *w->jobs_tail = job;
    w->jobs_tail = &job->next;
    pthread_mutex_unlock(&w->lock);
    uint64_t one = 1;
    if (write(w->job_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("eventfd write: %s", strerror(errno));
}

void push_worker_stats(struct push_worker *w, struct push_worker_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
}

long long push_worker_take_notify_time(struct push_worker *w)
{
    return atomic_exchange(&w->notified_ms, 0);
}

struct push_result *push_worker_take_results(struct push_worker *w)
{
    pthread_mutex_lock(&w->lock);
    struct push_result *r = w->results;
    w->results = NULL;
    w->results_tail = &w->results;
    pthread_mutex_unlock(&w->lock);
    return r;
}

void push_worker_stop(struct push_worker *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    uint64_t one = 1;
    if (write(w->job_fd, &one, sizeof(one)) < 0)
        log_warn("eventfd write: %s", strerror(errno));
    pthread_join(w->thread, NULL);
    close(w->job_fd);
    if (w->wake_send_fd >= 0)
        close(w->wake_send_fd);
    for (struct push_job *j = w->jobs, *next; j; j = next) {
        next = j->next;
        push_job_free(j);
    }
    for (struct push_result *r = w->results, *next; r; r = next) {
        next = r->next;
        push_result_free(r);
    }
    log_info("event tail stopped at id %lld; %llu gaps abandoned, %llu dropped, %zu open",
             w->gaps.high, w->gaps.abandoned, w->gaps.dropped, push_gap_count(&w->gaps));
    push_gap_free(&w->gaps);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
