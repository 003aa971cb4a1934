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

#define EVENT_COLUMNS "SELECT id, conversation_id, type, payload FROM events "
static const char SQL_MAX_ID[] = "SELECT COALESCE(MAX(id), 0) FROM events";
static const char SQL_TAIL[] = EVENT_COLUMNS "WHERE id > ? ORDER BY id LIMIT ?";
#define P8 "?,?,?,?,?,?,?,?"
static const char SQL_GAPS[] =
    EVENT_COLUMNS "WHERE id IN (" P8 "," P8 "," P8 "," P8 "," P8 "," P8 "," P8 "," P8 ") ORDER BY id";
static const char SQL_MIN_ID[] = "SELECT MIN(id) FROM events";
static const char SQL_CUTOFF[] =
    "SELECT DATE_SUB(created_at, INTERVAL ? MICROSECOND) FROM events WHERE id <= ? "
    "ORDER BY id DESC LIMIT 1";
static const char SQL_BACKLOG_ALL[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload FROM events e "
    "JOIN participants p ON p.conversation_id = e.conversation_id AND p.user_id = ? "
    "WHERE (e.id > ? OR e.created_at >= ?) AND e.id <= ? ORDER BY e.id LIMIT ?";
static const char SQL_BACKLOG_ONE[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload FROM events e "
    "WHERE e.conversation_id = ? AND (e.id > ? OR e.created_at >= ?) AND e.id <= ? "
    "ORDER BY e.id LIMIT ?";

struct push_worker {
    const struct chat_config *cfg;
    int wake_fd, job_fd;
    void (*notify)(void *);
    void *notify_arg;
    pthread_t thread;
    atomic_bool stop;
    atomic_bool ticks;

    pthread_mutex_t lock; /* guards the two queues below */
    struct push_job *jobs, **jobs_tail;
    struct push_result *results, **results_tail;

    /* Worker thread only. */
    struct chat_db db;
    bool connected, have_high;
    long long next_connect_ms;
    int backoff_ms;
    struct push_gap_tracker gaps;
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
    free(job);
}

void push_result_free(struct push_result *r)
{
    if (!r)
        return;
    push_frame_unref(r->hello);
    free(r->conv_ids);
    for (size_t i = 0; i < r->nevents; i++)
        push_event_clear(&r->events[i]);
    free(r->events);
    free(r);
}

static void post_result(struct push_worker *w, struct push_result *r)
{
    pthread_mutex_lock(&w->lock);
    r->next = NULL;
    *w->results_tail = r;
    w->results_tail = &r->next;
    pthread_mutex_unlock(&w->lock);
    w->notify(w->notify_arg);
}

/* ---- turning rows into events ---- */

static void add_user(struct push_event *e, long long id)
{
    if (id <= 0)
        return;
    long long *u = realloc(e->users, (e->nusers + 1) * sizeof(*u));
    if (!u)
        abort();
    e->users = u;
    e->users[e->nusers++] = id;
}

/* Reads who the event is about from its payload. A payload that does not parse leaves
 * the event PLAIN (delivered to the conversation's current subscribers). */
static void classify(struct push_event *e, const char *type, const char *payload, size_t len)
{
    bool created = strcmp(type, "conversation.created") == 0;
    bool added = strcmp(type, "participant.added") == 0;
    bool removed = strcmp(type, "participant.removed") == 0;
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
    const char *type = chat_db_cell(r, row, 2);
    const char *payload = chat_db_cell(r, row, 3);
    size_t len = payload ? r->lens[(size_t)row * r->ncols + 3] : 0;
    e->frame = push_frame_event(e->id, e->conversation_id, type, payload ? payload : "", len);
    if (!e->frame) {
        log_warn("event %lld has an unusable type; not delivered", e->id);
        return false;
    }
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
        l->items = realloc(l->items, l->cap * sizeof(*l->items));
        if (!l->items)
            abort();
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
    chat_db_close(&w->db);
    schedule_retry(w);
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
        push_gap_init(&w->gaps, high, GAP_MAX);
        w->have_high = true;
        log_info("tailing the event log after id %lld", high);
    } else {
        log_info("MariaDB connection restored; tailing after id %lld", w->gaps.high);
    }
    w->connected = true;
    w->backoff_ms = 0;
}

/* ---- tailing ---- */

/* Adds the rows of r that the tracker has not delivered yet. */
static void take_rows(struct push_worker *w, const struct chat_db_result *r, long long now,
                      struct event_list *out)
{
    for (unsigned i = 0; i < r->nrows; i++) {
        long long id = chat_db_cell_int(r, i, 0);
        if (!push_gap_observe(&w->gaps, id, now))
            continue;
        struct push_event *e = event_list_add(out);
        if (!event_from_row(r, i, true, e))
            out->count--;
    }
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
        take_rows(w, &r, now, out);
        chat_db_result_free(&r);
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
            take_rows(w, &r, now, &events);
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
    res->user_id = user_id;
    res->high = w->gaps.high;
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
    if (!chat_db_cell_is_null(&r, 0, 0) && n + 1 < chat_db_cell_int(&r, 0, 0)) {
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

static void run_job(struct push_worker *w, struct push_job *job)
{
    struct push_result *res = chat_xcalloc(1, sizeof(*res));
    res->conn_id = job->conn_id;
    res->user_id = job->user_id;
    if (job->kind == PUSH_JOB_AUTH) {
        res->kind = PUSH_RESULT_AUTH;
        if (w->connected) {
            run_auth(w, job, res);
            if (res->status == CHAT_E_DB)
                disconnect(w, "auth query failed");
        } else {
            res->status = CHAT_E_DB;
        }
    } else {
        res->kind = PUSH_RESULT_RESUME;
        if (w->connected)
            run_resume(w, job, res);
        else
            res->status = PUSH_RESUME_FAILED;
    }
    post_result(w, res);
}

/* ---- the thread ---- */

static void drain(int fd)
{
    char buf[64];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return; /* EAGAIN: drained */
    }
}

static void *worker_main(void *arg)
{
    struct push_worker *w = arg;
    bool more = false;
    chat_log_set_request_id("db-worker");
    while (!atomic_load(&w->stop)) {
        long long now = now_ms();
        if (!w->connected && now >= w->next_connect_ms)
            try_connect(w);
        int timeout = w->cfg->push_poll_interval_ms;
        if (!w->connected)
            timeout = (int)(w->next_connect_ms > now ? w->next_connect_ms - now : 0);
        if (more)
            timeout = 0;
        struct pollfd fds[2] = {{.fd = w->wake_fd, .events = POLLIN},
                                {.fd = w->job_fd, .events = POLLIN}};
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
        if (fds[0].revents & POLLIN)
            drain(w->wake_fd);
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
        more = w->connected ? tail(w) : false;
        if (atomic_load(&w->ticks))
            w->notify(w->notify_arg);
    }
    chat_db_close(&w->db);
    return NULL;
}

struct push_worker *push_worker_start(const struct chat_config *cfg, int wake_fd,
                                      void (*notify)(void *arg), void *arg)
{
    struct push_worker *w = chat_xcalloc(1, sizeof(*w));
    w->cfg = cfg;
    w->wake_fd = wake_fd;
    w->notify = notify;
    w->notify_arg = arg;
    w->jobs_tail = &w->jobs;
    w->results_tail = &w->results;
    atomic_init(&w->stop, false);
    atomic_init(&w->ticks, false);
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

void push_worker_want_ticks(struct push_worker *w, bool on)
{
    atomic_store(&w->ticks, on);
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
