/* The event tail, on the DB worker thread: reconnecting to MariaDB with backoff,
 * turning `events` rows into events (classification: who receives what) and tailing the
 * log with gap tracking (ids that become visible out of order are re-read until they
 * commit or time out). */
#include "event_tail.h"

#include <limits.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "db_batch.h"
#include "errors.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"

/* Rows read per tail query; a full batch makes the worker read again at once. */
#define TAIL_BATCH 500
/* Gap ids re-read per statement (a fixed placeholder list, prepared once) and at most
 * this many statements per round; a larger gap set is walked round-robin. */
#define GAP_CHUNK 64
#define GAP_CHUNKS_PER_ROUND 16
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* Ids below the starting MAX(id) that may belong to transactions still open at start. */
#define STARTUP_SPAN 1000

/* Columns of every event query: id, conversation_id, type, payload, created_at in Unix
 * seconds with microseconds (for the commit-to-send metric). */
#define EVENT_COLUMNS "SELECT id, conversation_id, type, payload, UNIX_TIMESTAMP(created_at) FROM events "
static const char SQL_MAX_ID[] = "SELECT COALESCE(MAX(id), 0) FROM events";
static const char SQL_TAIL[] = EVENT_COLUMNS "WHERE id > ? ORDER BY id LIMIT ?";
#define P8 "?,?,?,?,?,?,?,?"
#define GAP_LIST "(" P8 "," P8 "," P8 "," P8 "," P8 "," P8 "," P8 "," P8 ")"
static const char SQL_GAPS[] = EVENT_COLUMNS "WHERE id IN " GAP_LIST " ORDER BY id";
/* The tail and the first chunk of due gaps in one statement (one round trip per round
 * while at most GAP_CHUNK gaps are due, as on a busy Galera cluster, where every event
 * leaves a gap). */
static const char SQL_TAIL_AND_GAPS[] =
    EVENT_COLUMNS "WHERE id > ? OR id IN " GAP_LIST " ORDER BY id LIMIT ?";
static const char SQL_RECENT_IDS[] = "SELECT id FROM events WHERE id > ? AND id <= ? ORDER BY id";

void push_event_clear(struct push_event *e)
{
    free(e->users);
    free(e->sessions);
    push_frame_unref(e->frame);
    memset(e, 0, sizeof(*e));
}

/* ---- turning rows into events ---- */

static void add_id(long long **ids, size_t *n, long long id)
{
    if (id <= 0)
        return;
    *ids = chat_xreallocarray(*ids, *n + 1, sizeof(**ids));
    (*ids)[(*n)++] = id;
}

static void add_user(struct push_event *e, long long id)
{
    add_id(&e->users, &e->nusers, id);
}

/* session.revoked {"user_id","session_ids"?}: whatever its conversation column says, it
 * is never delivered. Without a usable user_id it ends nothing. */
static void classify_revocation(struct push_event *e, json_object *obj)
{
    json_object *v;
    e->kind = PUSH_EVENT_REVOKE;
    if (!obj)
        return;
    if (json_object_object_get_ex(obj, "user_id", &v) && json_object_is_type(v, json_type_int))
        add_user(e, json_object_get_int64(v));
    if (json_object_object_get_ex(obj, "session_ids", &v)) {
        if (!json_object_is_type(v, json_type_array)) {
            free(e->users); /* malformed: end nothing rather than everything */
            e->users = NULL;
            e->nusers = 0;
            return;
        }
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++)
            add_id(&e->sessions, &e->nsessions,
                   json_object_get_int64(json_object_array_get_idx(v, i)));
        if (e->nsessions == 0) { /* an empty list names no session */
            free(e->users);
            e->users = NULL;
            e->nusers = 0;
        }
    }
}

/* block.changed {"user_id","blocked_user_id","blocked"}: for the blocker's devices, and
 * the typing filter of both. Without both ids it is delivered to nobody. */
static void classify_block(struct push_event *e, json_object *obj)
{
    json_object *v, *other, *flag;
    e->kind = PUSH_EVENT_BLOCK;
    if (json_object_object_get_ex(obj, "user_id", &v) && json_object_is_type(v, json_type_int) &&
        json_object_object_get_ex(obj, "blocked_user_id", &other) &&
        json_object_is_type(other, json_type_int) &&
        json_object_object_get_ex(obj, "blocked", &flag) &&
        json_object_is_type(flag, json_type_boolean)) {
        add_user(e, json_object_get_int64(v));
        e->block_user = json_object_get_int64(other);
        e->blocked = json_object_get_boolean(flag);
    }
}

/* Reads who the event is about from its payload. A payload that does not parse leaves
 * the event PLAIN (delivered to the conversation's current subscribers). */
static void classify(struct push_event *e, const char *type, const char *payload, size_t len)
{
    bool created = strcmp(type, "conversation.created") == 0;
    bool added = strcmp(type, "participant.added") == 0;
    bool removed = strcmp(type, "participant.removed") == 0;
    bool presence = strcmp(type, "presence") == 0;
    bool user_updated = strcmp(type, "user.updated") == 0;
    bool revoked = strcmp(type, "session.revoked") == 0;
    bool block = strcmp(type, "block.changed") == 0;
    e->kind = PUSH_EVENT_PLAIN;
    if (!created && !added && !removed && !revoked && !block && e->conversation_id > 0)
        return;
    json_tokener *tok = json_tokener_new();
    json_object *obj = tok ? json_tokener_parse_ex(tok, payload, (int)len) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (revoked) {
        classify_revocation(e, obj && json_object_is_type(obj, json_type_object) ? obj : NULL);
        goto out;
    }
    if (!obj || !json_object_is_type(obj, json_type_object))
        goto out;
    json_object *v;
    if (block) {
        classify_block(e, obj);
        goto out;
    }
    if (presence || user_updated) {
        /* The recipients are looked up by the caller (take_rows): never in the payload,
         * which every recipient sees. A block's presence event names its one recipient
         * (to_user_id: the user blocked or unblocked, store_block_changes.c). */
        if (presence && json_object_object_get_ex(obj, "to_user_id", &v)) {
            e->kind = PUSH_EVENT_USERS;
            if (json_object_is_type(v, json_type_int))
                add_user(e, json_object_get_int64(v));
            goto out;
        }
        e->kind = presence ? PUSH_EVENT_PRESENCE : PUSH_EVENT_USER_UPDATED;
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

bool push_event_from_row(const struct chat_db_result *r, unsigned row, bool classify_it,
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

struct push_event *push_event_list_add(struct push_event_list *l)
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
    w->next_connect_ms = chat_now_ms() + w->backoff_ms;
}

void push_worker_disconnect(struct push_worker *w, const char *why)
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
    long long now = chat_now_ms();
    for (unsigned i = 0; i < r.nrows; i++)
        push_gap_observe(&w->gaps, chat_db_cell_int(&r, i, 0), now);
    if (w->gaps.high < high) /* MAX(id) was deleted meanwhile */
        push_gap_observe(&w->gaps, high, now);
    chat_db_result_free(&r);
    return CHAT_OK;
}

void push_worker_connect(struct push_worker *w)
{
    if (chat_db_open(&w->db, w->cfg) != CHAT_OK) { /* chat_db_open logged why */
        schedule_retry(w);
        return;
    }
    if (!w->have_high) {
        struct chat_db_result r;
        if (chat_db_query(&w->db, SQL_MAX_ID, NULL, 0, &r) != CHAT_OK) {
            push_worker_disconnect(w, "reading MAX(id)");
            return;
        }
        long long high = chat_db_cell_int(&r, 0, 0);
        chat_db_result_free(&r);
        if (start_tracking(w, high) != CHAT_OK) {
            push_worker_disconnect(w, "reading the latest event ids");
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

/* A presence or user.updated event names its subject as its only user; this takes the
 * subject out and leaves the event addressed to nobody yet (PUSH_EVENT_USERS). */
static long long take_subject(struct push_event *e)
{
    long long subject = e->nusers ? e->users[0] : 0;
    free(e->users);
    e->users = NULL;
    e->nusers = 0;
    e->kind = PUSH_EVENT_USERS;
    return subject;
}

/* A user.updated event goes to the subject (their other tabs) and to everyone sharing
 * any conversation with them, whatever its size: one frame per change, not one per
 * member pair as presence would be. Looked up as the event is delivered, so the "only
 * participants receive it" rule holds for who takes part now. */
static int address_user_event(struct push_worker *w, struct push_event *e)
{
    long long subject = take_subject(e);
    if (subject <= 0)
        return CHAT_OK;
    int rc = chat_presence_recipients(&w->db, subject, INT_MAX, &e->users, &e->nusers);
    if (rc == CHAT_OK)
        add_user(e, subject);
    return rc;
}

/* An unblock lifts the typing filter only when the other user has not blocked back,
 * which the payload (seen by the blocker) must not tell: looked up here, on the worker. */
static int check_unblock(struct push_worker *w, struct push_event *e)
{
    bool a_blocks_b = false, b_blocks_a = false;
    if (e->blocked || e->nusers != 1)
        return CHAT_OK;
    int rc = chat_block_state(&w->db, e->users[0], e->block_user, &a_blocks_b, &b_blocks_a);
    e->blocked = rc != CHAT_OK || a_blocks_b || b_blocks_a;
    return rc;
}

/* A presence event goes to the users who share a direct chat or a small group with its
 * subject (presence_max_group_size). The presence events of out from `first` on are
 * addressed CHAT_DB_BATCH subjects a statement: a connect storm writes one per user. */
static int address_presence(struct push_worker *w, struct push_event_list *out, size_t first)
{
    size_t at[CHAT_DB_BATCH];
    long long subjects[CHAT_DB_BATCH], *ids[CHAT_DB_BATCH];
    size_t n = 0, counts[CHAT_DB_BATCH];
    int rc = CHAT_OK;
    for (size_t i = first; i <= out->count && rc == CHAT_OK; i++) {
        if (i < out->count) {
            struct push_event *e = &out->items[i];
            if (e->kind != PUSH_EVENT_PRESENCE)
                continue;
            long long subject = take_subject(e);
            if (subject <= 0)
                continue;
            at[n] = i;
            subjects[n++] = subject;
            if (n < CHAT_DB_BATCH)
                continue;
        }
        if (n == 0)
            continue;
        rc = chat_presence_recipients_many(&w->db, subjects, n, w->cfg->presence_max_group_size,
                                           ids, counts);
        for (size_t k = 0; rc == CHAT_OK && k < n; k++) {
            out->items[at[k]].users = ids[k];
            out->items[at[k]].nusers = counts[k];
        }
        n = 0;
    }
    return rc;
}

/* Adds the rows of r that the tracker has not delivered yet. */
static int take_rows(struct push_worker *w, const struct chat_db_result *r, long long now,
                     struct push_event_list *out)
{
    size_t first = out->count;
    int rc = CHAT_OK;
    for (unsigned i = 0; i < r->nrows; i++) {
        long long id = chat_db_cell_int(r, i, 0);
        if (!push_gap_observe(&w->gaps, id, now))
            continue;
        struct push_event *e = push_event_list_add(out);
        if (!push_event_from_row(r, i, true, e)) {
            out->count--;
            continue;
        }
        if (e->kind == PUSH_EVENT_USER_UPDATED && rc == CHAT_OK)
            rc = address_user_event(w, e);
        if (e->kind == PUSH_EVENT_BLOCK && rc == CHAT_OK)
            rc = check_unblock(w, e);
    }
    /* Always: it turns every presence event into an addressed one (to nobody when the
     * lookup fails), so none goes out with its subject as the recipient list. */
    int prc = address_presence(w, out, first);
    return rc != CHAT_OK ? rc : prc;
}

/* Binds a chunk of n gap ids to params[0 .. GAP_CHUNK); the unused slots get 0, which
 * is never an id. */
static void bind_gaps(struct chat_db_param *params, const long long *ids, size_t n)
{
    for (size_t i = 0; i < GAP_CHUNK; i++)
        params[i] = DB_INT(i < n ? ids[i] : 0);
}

/* Re-reads the due gaps beyond the first chunk (which the tail query carried). */
static int reread_more_gaps(struct push_worker *w, long long now, struct push_event_list *out)
{
    for (int chunk = 1; chunk < GAP_CHUNKS_PER_ROUND; chunk++) {
        long long ids[GAP_CHUNK];
        size_t n = push_gap_collect(&w->gaps, now, ids, GAP_CHUNK);
        if (n == 0)
            break;
        struct chat_db_param params[GAP_CHUNK];
        bind_gaps(params, ids, n);
        struct chat_db_result r;
        int rc = chat_db_query(&w->db, SQL_GAPS, params, GAP_CHUNK, &r);
        if (rc != CHAT_OK)
            return rc;
        w->round_gap_rereads++;
        w->round_gap_ids += n;
        rc = take_rows(w, &r, now, out);
        chat_db_result_free(&r);
        if (rc != CHAT_OK || n < GAP_CHUNK)
            return rc;
    }
    return CHAT_OK;
}

/* One statement: the events above high, and the first chunk of due gaps if any. */
static int read_tail(struct push_worker *w, long long now, struct push_event_list *out,
                     bool *more, size_t *gaps_asked)
{
    long long ids[GAP_CHUNK];
    size_t n = push_gap_collect(&w->gaps, now, ids, GAP_CHUNK);
    struct chat_db_param params[GAP_CHUNK + 2];
    struct chat_db_result r;
    int rc;
    *gaps_asked = n;
    if (n > 0) {
        params[0] = DB_INT(w->gaps.high);
        bind_gaps(params + 1, ids, n);
        params[GAP_CHUNK + 1] = DB_INT(TAIL_BATCH);
        rc = chat_db_query(&w->db, SQL_TAIL_AND_GAPS, params, GAP_CHUNK + 2, &r);
        w->round_gap_ids += n;
    } else {
        rc = chat_db_query(&w->db, SQL_TAIL,
                           CHAT_DB_PARAMS(DB_INT(w->gaps.high), DB_INT(TAIL_BATCH)), &r);
    }
    if (rc != CHAT_OK)
        return rc;
    *more = r.nrows == TAIL_BATCH;
    unsigned long long dropped = w->gaps.dropped;
    rc = take_rows(w, &r, now, out);
    chat_db_result_free(&r);
    if (w->gaps.dropped != dropped)
        log_warn("gap set full (%d): dropped %llu oldest gaps (%llu in total)", GAP_MAX,
                 w->gaps.dropped - dropped, w->gaps.dropped);
    return rc;
}

bool push_tail_round(struct push_worker *w, struct push_result **out)
{
    struct push_event_list events = {0};
    long long now = chat_now_ms();
    bool more = false;
    size_t gaps_asked = 0;

    int rc = read_tail(w, now, &events, &more, &gaps_asked);
    w->round_statements++;
    if (rc == CHAT_OK && gaps_asked == GAP_CHUNK)
        rc = reread_more_gaps(w, now, &events);
    long long expired[8];
    size_t n = push_gap_expire(&w->gaps, now, w->cfg->push_gap_timeout_ms, expired, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        log_info("event id %lld never committed within %d ms; gap abandoned (%llu abandoned "
                 "in total)", expired[i], w->cfg->push_gap_timeout_ms, w->gaps.abandoned);
    if (n > 8)
        log_info("%zu more gaps abandoned", n - 8);
    if (rc == CHAT_E_DB)
        push_worker_disconnect(w, "tail query failed");
    pthread_mutex_lock(&w->lock);
    if (rc == CHAT_OK)
        w->stats.last_tail_ms = chat_now_ms();
    w->stats.connected = w->connected;
    w->stats.high = w->gaps.high;
    w->stats.events_read += events.count;
    w->stats.gaps_open = push_gap_count(&w->gaps);
    w->stats.gaps_abandoned = w->gaps.abandoned;
    w->stats.gaps_dropped = w->gaps.dropped;
    w->stats.tail_statements += w->round_statements + w->round_gap_rereads;
    w->stats.gap_rereads += w->round_gap_rereads;
    w->stats.gap_ids_reread += w->round_gap_ids;
    pthread_mutex_unlock(&w->lock);
    w->round_statements = w->round_gap_rereads = w->round_gap_ids = 0;

    *out = NULL;
    if (events.count > 0) {
        struct push_result *res = chat_xcalloc(1, sizeof(*res));
        res->kind = PUSH_RESULT_EVENTS;
        res->events = events.items;
        res->nevents = events.count;
        *out = res;
    } else {
        free(events.items);
    }
    return more && rc == CHAT_OK;
}
