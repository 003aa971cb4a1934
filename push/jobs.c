/* The DB worker's job runners: each turns one queued job (auth, resume, message.send,
 * read/delivered, presence count, long-poll) into its result, on the worker thread. */
#include "jobs.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "event_tail.h"
#include "job_batch.h"
#include "json_util.h"
#include "log.h"
#include "member_events_sql.h"
#include "store.h"
#include "strbuf.h"
#include "xalloc.h"

/* Events one long-poll response carries at most. */
#define POLL_MAX_EVENTS 500

/* Long-poll: the events a user may read from the log in (n, h], those of the
 * conversations they take part in now (MEMBER_EVENTS_JOIN over events_conversation, its
 * bounds in a one-row JSON_TABLE: 0.2 ms per poll for a member of a group of 300,000
 * events, against 30 ms for MariaDB's ref) and their own participant.removed events of
 * conversations they no longer take part in. */
static const char SQL_POLL[] =
    "SELECT e.id, e.conversation_id, e.type, e.payload, 0 FROM JSON_TABLE(?, '$[*]' "
    "COLUMNS (u BIGINT PATH '$[0]', n BIGINT PATH '$[1]', h BIGINT PATH '$[2]')) q "
    MEMBER_EVENTS_JOIN("FORCE INDEX (events_conversation)", "e.id > q.n AND e.id <= q.h")
    " UNION ALL "
    REMOVED_EVENTS("e.id, e.conversation_id, e.type, e.payload, 0", "PRIMARY",
                   "e.id > ? AND e.id <= ? AND JSON_VALUE(e.payload, '$.user_id') = ?")
    " ORDER BY 1 LIMIT ?";
/* A conflict (error 1213: a deadlock, or on Galera a certification failure against a
 * write through another node) rolled the job's transaction back: counted, and run again
 * while nothing of it was written. The connection is fine, so it is not a reason to
 * reconnect (CHAT_E_DB is). */
bool push_worker_retry_conflict(struct push_worker *w, int rc, unsigned long long mark,
                                int attempt)
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
        if (!push_worker_retry_conflict(w, res->status, mark, attempt))
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
        if (!push_worker_retry_conflict(w, res->status, mark, attempt))
            break;
    }
    if (res->status == CHAT_E_NOT_FOUND)
        snprintf(res->detail, sizeof(res->detail), CHAT_DETAIL_CONVERSATION_NOT_FOUND);
    else if (res->status == CHAT_E_VALIDATION)
        snprintf(res->detail, sizeof(res->detail),
                 "error.receipt.message_unknown");
    w->wrote_events |= res->status == CHAT_OK && moved;
    json_object_put(out);
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
    char range[80];
    int len = snprintf(range, sizeof(range), "[[%lld,%lld,%lld]]", job->user_id,
                       job->last_event_id, safe);
    res->status = chat_db_query(&w->db, SQL_POLL,
                                CHAT_DB_PARAMS(DB_BYTES(range, (size_t)len),
                                               DB_INT(job->last_event_id), DB_INT(safe),
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
    if (job->kind == PUSH_JOB_AUTH || job->kind == PUSH_JOB_PRESENCE ||
        job->kind == PUSH_JOB_RESUME) /* the resume batch checks its sessions itself */
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
    case PUSH_JOB_AUTH: /* the worker batches these; one alone is a batch of one */
        free(res);
        push_run_auth_batch(w, &job, 1, &res);
        return res;
    case PUSH_JOB_RESUME: /* batched too */
        free(res);
        push_run_resume_batch(w, &job, 1, &res);
        return res;
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
    case PUSH_JOB_PRESENCE: /* likewise batched; nothing to report */
        push_run_presence_batch(w, &job, 1);
        free(res);
        return NULL;
    }
    if (res->status == CHAT_E_DB && w->connected)
        push_worker_disconnect(w, "query failed");
    return res;
}
