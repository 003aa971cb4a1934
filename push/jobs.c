/* The DB worker's job runners: each turns one queued job (auth, resume, message.send,
 * read/delivered, presence count, long-poll) into its result, on the worker thread. */
#include "jobs.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "event_tail.h"
#include "json_util.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

/* Events one long-poll response carries at most. */
#define POLL_MAX_EVENTS 500

static const char SQL_MIN_ID[] = "SELECT MIN(id) FROM events";
static const char SQL_CUTOFF[] =
    "SELECT DATE_SUB(created_at, INTERVAL ? MICROSECOND) FROM events WHERE id <= ? "
    "ORDER BY id DESC LIMIT 1";
/* Events a user may read from the log: those of the conversations they take part in now,
 * and their own participant.removed events of conversations they no longer take part in
 * (so a client that was away learns that it left). Both halves take the same id range:
 * RANGE is spliced in twice, its parameters bound twice. */
#define MEMBER_EVENTS(RANGE)                                                                 \
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM events e "                    \
    "JOIN participants p ON p.conversation_id = e.conversation_id AND p.user_id = ? "        \
    "WHERE " RANGE " UNION ALL "                                                             \
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM events e "                    \
    "WHERE e.type = 'participant.removed' AND " RANGE                                        \
    " AND JSON_VALUE(e.payload, '$.user_id') = ? AND NOT EXISTS (SELECT 1 FROM participants " \
    "q WHERE q.conversation_id = e.conversation_id AND q.user_id = ?) ORDER BY 1 LIMIT ?"
static const char SQL_BACKLOG_ALL[] = MEMBER_EVENTS("(e.id > ? OR e.created_at >= ?) AND e.id <= ?");
static const char SQL_POLL[] = MEMBER_EVENTS("e.id > ? AND e.id <= ?");
/* /ws/chat/<pk>/: only pk, and only while the user takes part in it (checked again after
 * the query: a user who left gets PUSH_RESUME_GONE). */
static const char SQL_BACKLOG_ONE[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM events e "
    "JOIN participants p ON p.conversation_id = e.conversation_id AND p.user_id = ? "
    "WHERE e.conversation_id = ? AND (e.id > ? OR e.created_at >= ?) AND e.id <= ? "
    "ORDER BY e.id LIMIT ?";

static void run_auth(struct push_worker *w, struct push_job *job, struct push_result *res)
{
    json_object *user = NULL, *hello = NULL;
    struct chat_session_info session;
    int rc = chat_session_find(&w->db, job->token, &session);
    if (rc != CHAT_OK)
        goto out;
    long long user_id = session.user_id;
    res->session_id = session.session_id;
    res->expires_in_ms = session.expires_in_ms;
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
    /* The typing filter: read after the subscriptions and before any later block.changed
     * event reaches the loop, so no change falls between the two. */
    rc = chat_block_peers(&w->db, user_id, &res->block_peers, &res->nblock_peers);
    if (rc != CHAT_OK)
        goto out;
    /* connections_per_user holds across daemons: count the user's live ones elsewhere.
     * Two daemons admitting at the same moment can each let one more through. */
    rc = chat_presence_connections_elsewhere(&w->db, w->daemon_id, user_id, HEARTBEAT_STALE_MS,
                                             &res->conns_elsewhere);
    if (rc != CHAT_OK)
        goto out;
    res->user_id = user_id;
    res->high = w->gaps.high;
    /* Typing frames name the user by {id, username, display_name} only, as a relay from
     * another daemon rebuilds them (typing_wire.c), so they read the same everywhere. */
    static const char *const typing_keys[] = {"id", "username", "display_name"};
    json_object *who = json_object_new_object();
    for (size_t k = 0; k < sizeof(typing_keys) / sizeof(typing_keys[0]); k++)
        json_object_object_add(who, typing_keys[k],
                               json_object_get(json_object_object_get(user, typing_keys[k])));
    size_t ulen;
    const char *utext = chat_json_to_string(who, &ulen);
    res->user_json = chat_xstrndup(utext, ulen);
    json_object_put(who);
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
    struct push_event_list backlog = {0};
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
    long long uid = job->user_id, high = w->gaps.high;
    if (job->conversation_id > 0)
        rc = chat_db_query(&w->db, SQL_BACKLOG_ONE,
                           CHAT_DB_PARAMS(DB_INT(uid), DB_INT(job->conversation_id), DB_INT(n),
                                          DB_STR(cutoff), DB_INT(high), DB_INT(limit)),
                           &r);
    else
        rc = chat_db_query(&w->db, SQL_BACKLOG_ALL,
                           CHAT_DB_PARAMS(DB_INT(uid), DB_INT(n), DB_STR(cutoff), DB_INT(high),
                                          DB_INT(n), DB_STR(cutoff), DB_INT(high), DB_INT(uid),
                                          DB_INT(uid), DB_INT(limit)),
                           &r);
    if (rc == CHAT_OK && job->conversation_id > 0) {
        rc = chat_conv_check_participant(&w->db, job->conversation_id, uid);
        if (rc == CHAT_E_NOT_FOUND) {
            res->status = PUSH_RESUME_GONE;
            rc = CHAT_OK;
            goto out;
        }
    }
    if (rc != CHAT_OK)
        goto out;
    if (r.nrows >= limit) {
        res->status = PUSH_RESUME_RESYNC;
        goto out;
    }
    size_t bytes = 0;
    for (unsigned i = 0; i < r.nrows; i++) {
        struct push_event *e = push_event_list_add(&backlog);
        if (!push_event_from_row(&r, i, false, e)) {
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
        push_worker_disconnect(w, "resume query failed");
}

/* A conflict (error 1213: a deadlock, or on Galera a certification failure against a
 * write through another node) rolled the job's transaction back: counted, and run again
 * while nothing of it was written. The connection is fine, so it is not a reason to
 * reconnect (CHAT_E_DB is). */
static bool retry_conflict(struct push_worker *w, int rc, unsigned long long mark, int attempt)
{
    if (rc != CHAT_E_DB_CONFLICT)
        return false;
    pthread_mutex_lock(&w->lock);
    w->stats.db_conflicts++;
    pthread_mutex_unlock(&w->lock);
    return chat_db_retry_conflict(&w->db, rc, mark, attempt);
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
    unsigned long long mark = w->db.writes;
    for (int attempt = 0;; attempt++) {
        res->status = chat_message_submit(&w->db, w->cfg, &in, job->has_reply_to, &msg,
                                          &created, res->detail, sizeof(res->detail));
        if (!retry_conflict(w, res->status, mark, attempt))
            break;
    }
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
    unsigned long long mark = w->db.writes;
    for (int attempt = 0;; attempt++) {
        res->status = chat_receipt_mark(&w->db, job->conversation_id, job->user_id,
                                        job->read ? CHAT_RECEIPT_READ : CHAT_RECEIPT_DELIVERED,
                                        job->message_id, &out, &moved);
        if (!retry_conflict(w, res->status, mark, attempt))
            break;
    }
    if (res->status == CHAT_E_NOT_FOUND)
        snprintf(res->detail, sizeof(res->detail), CHAT_DETAIL_CONVERSATION_NOT_FOUND);
    else if (res->status == CHAT_E_VALIDATION)
        snprintf(res->detail, sizeof(res->detail),
                 "message_id must be a message of this conversation.");
    w->wrote_events |= res->status == CHAT_OK && moved;
    json_object_put(out);
}

static int run_presence(struct push_worker *w, struct push_job *job)
{
    bool announced = false;
    unsigned long long mark = w->db.writes;
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = job->count_only
                 ? chat_presence_count(&w->db, w->daemon_id, job->user_id, job->connections)
                 : chat_presence_set(&w->db, w->daemon_id, job->user_id, job->connections,
                                     &announced);
        if (!retry_conflict(w, rc, mark, attempt))
            break;
    }
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
                                               DB_INT(safe), DB_INT(job->last_event_id),
                                               DB_INT(safe), DB_INT(job->user_id),
                                               DB_INT(job->user_id), DB_INT(POLL_MAX_EVENTS)),
                                &r);
    if (res->status != CHAT_OK)
        goto out;
    strbuf_puts(&b, "{\"events\":[");
    for (unsigned i = 0; i < r.nrows; i++) {
        struct push_event e;
        if (!push_event_from_row(&r, i, false, &e))
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

/* Every job of an authenticated connection first checks that its session still lives
 * (one primary-key read): a frame that raced its logout, password change or expiry is
 * refused here even before the daemon has read the session.revoked event. */
static int check_session(struct push_worker *w, const struct push_job *job)
{
    if (job->kind == PUSH_JOB_AUTH || job->kind == PUSH_JOB_PRESENCE)
        return CHAT_OK;
    return chat_session_alive(&w->db, job->session_id);
}

struct push_result *push_job_run(struct push_worker *w, struct push_job *job)
{
    struct push_result *res = chat_xcalloc(1, sizeof(*res));
    res->conn_id = job->conn_id;
    res->user_id = job->user_id;
    int alive = w->connected ? check_session(w, job) : CHAT_E_DB;
    if (alive != CHAT_OK && job->kind != PUSH_JOB_PRESENCE && job->kind != PUSH_JOB_AUTH) {
        static const enum push_result_kind kinds[] = {
            [PUSH_JOB_RESUME] = PUSH_RESULT_RESUME, [PUSH_JOB_SEND] = PUSH_RESULT_SEND,
            [PUSH_JOB_RECEIPT] = PUSH_RESULT_RECEIPT, [PUSH_JOB_POLL] = PUSH_RESULT_POLL,
            [PUSH_JOB_TYPING] = PUSH_RESULT_TYPING_CHECKED,
        };
        res->kind = kinds[job->kind];
        res->status = alive;
        if (job->kind == PUSH_JOB_RESUME)
            res->status = alive == CHAT_E_NOT_AUTHENTICATED ? PUSH_RESUME_REVOKED
                                                            : PUSH_RESUME_FAILED;
        if (job->kind == PUSH_JOB_SEND) {
            res->client_msg_id = job->client_msg_id;
            job->client_msg_id = NULL;
        }
        if (alive == CHAT_E_DB && w->connected)
            push_worker_disconnect(w, "session check failed");
        return res;
    }
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
    case PUSH_JOB_TYPING:
        res->kind = PUSH_RESULT_TYPING_CHECKED;
        res->status = CHAT_OK; /* the session lives: the loop relays it */
        res->conversation_id = job->conversation_id;
        res->typing = job->typing;
        break;
    case PUSH_JOB_PRESENCE:
        /* Nothing to report; the presence event, if any, comes through the log. A change
         * lost while MariaDB is down is repaired by the sweep and the next connection. */
        if (w->connected && run_presence(w, job) == CHAT_E_DB)
            push_worker_disconnect(w, "presence update failed");
        free(res);
        return NULL;
    }
    if (res->status == CHAT_E_DB && w->connected)
        push_worker_disconnect(w, "query failed");
    return res;
}
