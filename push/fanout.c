/* Fan-out on the lws thread: the conversation/user/id indexes and the bounded
 * per-connection frame queues (see fanout.h). */
#include "fanout.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

/* ---- index: long long key -> set of connections (chained hash) ---- */

struct push_index_entry {
    struct push_index_entry *next;
    long long key;
    struct push_conn **conns; /* owned array; the connections are not owned */
    size_t n, cap;
};

static size_t hash_key(long long key, size_t nbuckets)
{
    unsigned long long x = (unsigned long long)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x & (nbuckets - 1));
}

static void index_grow(struct push_index *idx)
{
    size_t nb = idx->nbuckets ? idx->nbuckets * 2 : 64;
    struct push_index_entry **b = chat_xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < idx->nbuckets; i++) {
        for (struct push_index_entry *e = idx->buckets[i], *next; e; e = next) {
            next = e->next;
            size_t h = hash_key(e->key, nb);
            e->next = b[h];
            b[h] = e;
        }
    }
    free(idx->buckets);
    idx->buckets = b;
    idx->nbuckets = nb;
}

static struct push_index_entry *index_entry(const struct push_index *idx, long long key)
{
    if (!idx->nbuckets)
        return NULL;
    for (struct push_index_entry *e = idx->buckets[hash_key(key, idx->nbuckets)]; e; e = e->next)
        if (e->key == key)
            return e;
    return NULL;
}

/* Adds conn under key unless it is there already. */
static void index_add(struct push_index *idx, long long key, struct push_conn *conn)
{
    struct push_index_entry *e = index_entry(idx, key);
    if (!e) {
        if (idx->count + 1 > idx->nbuckets)
            index_grow(idx);
        e = chat_xcalloc(1, sizeof(*e));
        e->key = key;
        size_t h = hash_key(key, idx->nbuckets);
        e->next = idx->buckets[h];
        idx->buckets[h] = e;
        idx->count++;
    }
    for (size_t i = 0; i < e->n; i++)
        if (e->conns[i] == conn)
            return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 4;
        e->conns = chat_xreallocarray(e->conns, e->cap, sizeof(*e->conns));
    }
    e->conns[e->n++] = conn;
}

static void index_remove(struct push_index *idx, long long key, struct push_conn *conn)
{
    if (!idx->nbuckets)
        return;
    size_t h = hash_key(key, idx->nbuckets);
    for (struct push_index_entry **pe = &idx->buckets[h]; *pe; pe = &(*pe)->next) {
        struct push_index_entry *e = *pe;
        if (e->key != key)
            continue;
        for (size_t i = 0; i < e->n; i++) {
            if (e->conns[i] == conn) {
                e->conns[i] = e->conns[--e->n];
                break;
            }
        }
        if (e->n == 0) {
            *pe = e->next;
            free(e->conns);
            free(e);
            idx->count--;
        }
        return;
    }
}

static void index_free(struct push_index *idx)
{
    for (size_t i = 0; i < idx->nbuckets; i++) {
        for (struct push_index_entry *e = idx->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e->conns);
            free(e);
        }
    }
    free(idx->buckets);
    memset(idx, 0, sizeof(*idx));
}

/* ---- queues ---- */

static void queue_push(struct push_queue *q, struct push_frame *f)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        struct push_frame **items = chat_xmalloc(cap * sizeof(*items));
        for (size_t i = 0; i < q->count; i++)
            items[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = items;
        q->head = 0;
        q->cap = cap;
    }
    q->items[(q->head + q->count) % q->cap] = f;
    q->count++;
    q->bytes += f->len;
}

struct push_frame *push_queue_peek(const struct push_queue *q)
{
    return q->count ? q->items[q->head] : NULL;
}

struct push_frame *push_queue_pop(struct push_queue *q)
{
    if (!q->count)
        return NULL;
    struct push_frame *f = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= f->len;
    if (q->count == 0) { /* an idle connection keeps no ring: 80 bytes each at 10,000 */
        free(q->items);
        memset(q, 0, sizeof(*q));
    }
    return f;
}

static void queue_clear(struct push_queue *q)
{
    struct push_frame *f;
    while ((f = push_queue_pop(q)))
        push_frame_unref(f);
    free(q->items);
    memset(q, 0, sizeof(*q));
}

/* ---- connections ---- */

void push_fanout_init(struct push_fanout *f, size_t max_queue_bytes,
                      void (*want_write)(struct push_conn *conn))
{
    memset(f, 0, sizeof(*f));
    f->max_queue_bytes = max_queue_bytes;
    f->want_write = want_write;
}

void push_fanout_free(struct push_fanout *f)
{
    index_free(&f->by_conv);
    index_free(&f->by_user);
    index_free(&f->by_id);
}

void push_fanout_register(struct push_fanout *f, struct push_conn *conn)
{
    index_add(&f->by_id, (long long)conn->id, conn);
}

struct push_conn *push_fanout_find(struct push_fanout *f, unsigned long long conn_id)
{
    struct push_index_entry *e = index_entry(&f->by_id, (long long)conn_id);
    return e && e->n ? e->conns[0] : NULL;
}

void push_fanout_for_each(struct push_fanout *f, void (*fn)(struct push_conn *conn, void *arg),
                          void *arg)
{
    for (size_t i = 0; i < f->by_id.nbuckets; i++)
        for (struct push_index_entry *e = f->by_id.buckets[i]; e; e = e->next)
            if (e->n)
                fn(e->conns[0], arg);
}

bool push_conn_subscribed(const struct push_conn *conn, long long conv)
{
    for (size_t i = 0; i < conn->nconv; i++)
        if (conn->convs[i] == conv)
            return true;
    return false;
}

struct push_conn *const *push_fanout_user_conns(struct push_fanout *f, long long user_id,
                                                size_t *n)
{
    struct push_index_entry *e = index_entry(&f->by_user, user_id);
    *n = e ? e->n : 0;
    return e ? e->conns : NULL;
}

struct push_conn *const *push_fanout_conv_conns(struct push_fanout *f, long long conv, size_t *n)
{
    struct push_index_entry *e = index_entry(&f->by_conv, conv);
    *n = e ? e->n : 0;
    return e ? e->conns : NULL;
}

static void subscribe(struct push_fanout *f, struct push_conn *conn, long long conv)
{
    if (conv <= 0 || push_conn_subscribed(conn, conv))
        return;
    if (conn->only_conv && conn->only_conv != conv)
        return;
    if (conn->nconv == conn->capconv) {
        conn->capconv = conn->capconv ? conn->capconv * 2 : 8;
        conn->convs = chat_xreallocarray(conn->convs, conn->capconv, sizeof(*conn->convs));
    }
    conn->convs[conn->nconv++] = conv;
    index_add(&f->by_conv, conv, conn);
}

static void unsubscribe(struct push_fanout *f, struct push_conn *conn, long long conv)
{
    for (size_t i = 0; i < conn->nconv; i++) {
        if (conn->convs[i] == conv) {
            conn->convs[i] = conn->convs[--conn->nconv];
            index_remove(&f->by_conv, conv, conn);
            return;
        }
    }
}

void push_fanout_unregister(struct push_fanout *f, struct push_conn *conn)
{
    for (size_t i = 0; i < conn->nconv; i++)
        index_remove(&f->by_conv, conn->convs[i], conn);
    if (conn->user_id)
        index_remove(&f->by_user, conn->user_id, conn);
    index_remove(&f->by_id, (long long)conn->id, conn);
    free(conn->convs);
    conn->convs = NULL;
    conn->nconv = conn->capconv = 0;
    queue_clear(&conn->out);
    queue_clear(&conn->held);
    free(conn->token);
    conn->token = NULL;
    push_rx_reset(conn);
    free(conn->user_json);
    conn->user_json = NULL;
    free(conn->typing_muted);
    conn->typing_muted = NULL;
    conn->nmuted = 0;
}

const char *push_rx_collect(struct push_conn *conn, const char *in, size_t len, bool final,
                            size_t *out_len)
{
    if (len == 0)
        in = ""; /* lws may pass NULL for an empty piece */
    if (final && conn->rx.len == 0) {
        *out_len = len;
        return in;
    }
    strbuf_append(&conn->rx, in, len);
    if (!final)
        return NULL;
    *out_len = conn->rx.len;
    return conn->rx.data;
}

void push_rx_reset(struct push_conn *conn)
{
    strbuf_free(&conn->rx);
}

void push_fanout_attach(struct push_fanout *f, struct push_conn *conn, long long user_id,
                        const long long *convs, size_t nconv)
{
    conn->user_id = user_id;
    conn->state = PUSH_CONN_READY;
    index_add(&f->by_user, user_id, conn);
    for (size_t i = 0; i < nconv; i++)
        subscribe(f, conn, convs[i]);
}

void push_conn_close(struct push_fanout *f, struct push_conn *conn, int code, const char *reason)
{
    if (conn->close_code)
        return;
    conn->close_code = code;
    conn->close_reason = reason;
    queue_clear(&conn->out);
    queue_clear(&conn->held);
    f->want_write(conn);
}

void push_conn_close_after(struct push_fanout *f, struct push_conn *conn, int code,
                           const char *reason)
{
    if (conn->close_code)
        return;
    conn->close_code = code;
    conn->close_reason = reason;
    f->want_write(conn);
}

bool push_conn_send(struct push_fanout *f, struct push_conn *conn, struct push_frame *frame,
                    bool event)
{
    if (conn->close_code)
        return false;
    if (conn->out.bytes + conn->held.bytes + frame->len > f->max_queue_bytes) {
        f->dropped_slow++;
        log_info("connection %llu (user %lld) is too slow: %zu bytes queued; closing 4008",
                 conn->id, conn->user_id, conn->out.bytes + conn->held.bytes);
        push_conn_close(f, conn, PUSH_CLOSE_TOO_SLOW, "too slow; resume");
        return false;
    }
    struct push_queue *q = event && conn->resuming ? &conn->held : &conn->out;
    bool was_empty = conn->out.count == 0;
    queue_push(q, push_frame_ref(frame));
    if (q == &conn->out && was_empty)
        f->want_write(conn);
    return true;
}

/* True when id is among the backlog's event ids (sorted ascending). */
static bool in_backlog(const struct push_event *backlog, size_t n, long long id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (backlog[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && backlog[lo].id == id;
}

void push_conn_resume_done(struct push_fanout *f, struct push_conn *conn,
                           const struct push_event *backlog, size_t n)
{
    conn->resuming = false;
    for (size_t i = 0; i < n; i++)
        if (!push_conn_send(f, conn, backlog[i].frame, true))
            return;
    struct push_frame *fr;
    while ((fr = push_queue_pop(&conn->held))) {
        if (!in_backlog(backlog, n, fr->event_id)) {
            /* Re-queue without counting it twice: it leaves `held` first. */
            if (!push_conn_send(f, conn, fr, true)) {
                push_frame_unref(fr);
                return;
            }
        }
        push_frame_unref(fr);
    }
}

static void deliver_conv(struct push_fanout *f, long long conv, struct push_frame *frame)
{
    struct push_index_entry *e = index_entry(&f->by_conv, conv);
    if (!e)
        return;
    /* Sending may close (never unregister) a connection, so the array stays valid. */
    for (size_t i = 0; i < e->n; i++)
        if (push_conn_send(f, e->conns[i], frame, true))
            f->delivered++;
}

void push_fanout_event(struct push_fanout *f, const struct push_event *ev)
{
    switch (ev->kind) {
    case PUSH_EVENT_CONV_CREATED:
    case PUSH_EVENT_PARTICIPANT_ADDED:
        /* Subscribe first, so the new members receive this event too. */
        for (size_t u = 0; u < ev->nusers; u++) {
            struct push_index_entry *e = index_entry(&f->by_user, ev->users[u]);
            for (size_t i = 0; e && i < e->n; i++)
                subscribe(f, e->conns[i], ev->conversation_id);
        }
        deliver_conv(f, ev->conversation_id, ev->frame);
        break;
    case PUSH_EVENT_PARTICIPANT_REMOVED:
        /* The removed user's connections are still subscribed: they get it, then leave;
         * one opened for this conversation alone (/ws/chat/<pk>/) closes 4404 after it. */
        deliver_conv(f, ev->conversation_id, ev->frame);
        for (size_t u = 0; u < ev->nusers; u++) {
            struct push_index_entry *e = index_entry(&f->by_user, ev->users[u]);
            for (size_t i = 0; e && i < e->n; i++) {
                unsubscribe(f, e->conns[i], ev->conversation_id);
                if (e->conns[i]->only_conv == ev->conversation_id)
                    push_conn_close_after(f, e->conns[i], PUSH_CLOSE_NOT_FOUND, "not found");
            }
        }
        break;
    case PUSH_EVENT_USERS:
    case PUSH_EVENT_BLOCK: /* dispatch.c updated the typing filters first */
    case PUSH_EVENT_PRESENCE: /* turned into USERS by the worker */
    case PUSH_EVENT_USER_UPDATED:
        for (size_t u = 0; u < ev->nusers; u++) {
            struct push_index_entry *e = index_entry(&f->by_user, ev->users[u]);
            for (size_t i = 0; e && i < e->n; i++)
                if (push_conn_send(f, e->conns[i], ev->frame, true))
                    f->delivered++;
        }
        break;
    case PUSH_EVENT_PLAIN:
        deliver_conv(f, ev->conversation_id, ev->frame);
        break;
    case PUSH_EVENT_REVOKE: /* never delivered; dispatch.c ends the connections */
        break;
    }
}
