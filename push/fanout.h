/* Fan-out of event frames to connections, on the lws thread only.
 *
 * Indexes: conversation id -> subscribed connections, user id -> that user's
 * authenticated connections, connection id -> connection (results from the DB worker
 * name connections by id, since the connection may be gone when they arrive).
 *
 * Each connection has a queue of frame references bounded by push_max_queue_bytes; a
 * frame that would go past the bound empties the queue and marks the connection for
 * close 4008 ("too slow; resume"), so memory never grows with a slow client. While a
 * resume is running, event frames wait in a separate `held` queue and control frames
 * (pong, errors) still go out. */
#ifndef CHAT_PUSH_FANOUT_H
#define CHAT_PUSH_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"
#include "frame.h"
#include "strbuf.h"

#define PUSH_CLOSE_TOO_SLOW 4008
#define PUSH_CLOSE_NOT_AUTHENTICATED 4401
#define PUSH_CLOSE_NOT_FOUND 4404
#define PUSH_CLOSE_TOO_MANY_CONNECTIONS 4409
#define PUSH_CLOSE_RATE_LIMITED 4429

struct push_http_state;

struct push_queue {
    struct push_frame **items; /* ring of owned references */
    size_t head, count, cap;
    size_t bytes;
};

enum push_conn_state {
    PUSH_CONN_WAIT_AUTH,   /* no credentials yet: waiting for an auth frame */
    PUSH_CONN_AUTHING,     /* auth job queued */
    PUSH_CONN_READY,       /* authenticated and subscribed */
};

enum push_conn_kind {
    PUSH_KIND_WS,   /* WebSocket /ws/ or /ws/chat/<pk>/ */
    PUSH_KIND_SSE,  /* Server-Sent Events /events/stream/ */
    PUSH_KIND_POLL, /* long-poll /events/poll/ (one request) */
};

struct push_conn {
    void *wsi;                  /* struct lws *, opaque here */
    unsigned long long id;
    enum push_conn_kind kind;
    enum push_conn_state state;
    long long user_id;          /* 0 until authenticated */
    long long only_conv;        /* /ws/chat/<pk>/: pk; /ws/: 0 */
    long long resume_from;      /* resume to start after hello; -1 = none */
    bool resuming;              /* resume job running: event frames are held */
    int close_code;             /* nonzero: close with this code at the next WRITEABLE */
    const char *close_reason;   /* static string */
    long long *convs;           /* subscribed conversation ids (owned) */
    size_t nconv, capconv;
    struct push_queue out, held;
    char *token;                /* credentials from the upgrade request until the auth job
                                 * takes them (owned) */
    struct strbuf rx;           /* reassembly of a client message that came in pieces
                                 * (owned; empty between messages, see push_rx_collect) */
    bool rx_too_big;            /* discarding a message over push_max_frame_bytes */
    unsigned char ping;         /* WebSocket keepalive: PUSH_PING_NONE, _DUE or _SENT */
    unsigned char locale;       /* enum chat_locale of its error frames: the user's setting
                                 * once authenticated, else the upgrade's Accept-Language */
    char *user_json;            /* {id,username,display_name} once authenticated (owned) */
    double tokens;              /* client-frame rate limit: token bucket */
    long long tokens_ms;
    struct push_http_state *http; /* SSE and long-poll only (owned, http_state.h); NULL for
                                   * a WebSocket */
    long long session_id;       /* the session it authenticated with (session.revoked) */
    long long expires_ms;       /* CLOCK_MONOTONIC ms when that session expires */
    size_t expiry_slot;         /* its place in the server's expiry heap + 1; 0 = none */
    long long *typing_muted;    /* users whose typing it is not sent, ascending: those who
                                 * blocked its user or whom its user blocked (owned,
                                 * typing_relay.c) */
    size_t nmuted;
    long long last_rx_ms;       /* CLOCK_MONOTONIC ms of the last frame or pong it sent */
};

enum { PUSH_PING_NONE, PUSH_PING_DUE, PUSH_PING_SENT };

struct push_index_entry;

struct push_index {
    struct push_index_entry **buckets;
    size_t nbuckets, count;
};

struct push_fanout {
    struct push_index by_conv, by_user, by_id;
    size_t max_queue_bytes;
    /* Called when a connection has something new to write (or must close). */
    void (*want_write)(struct push_conn *conn);
    unsigned long long delivered, dropped_slow;
};

void push_fanout_init(struct push_fanout *f, size_t max_queue_bytes,
                      void (*want_write)(struct push_conn *conn));
/* Frees the indexes (not the connections, which belong to their sessions). */
void push_fanout_free(struct push_fanout *f);

/* A new connection: adds it to the id index. */
void push_fanout_register(struct push_fanout *f, struct push_conn *conn);
/* The connection is going away: removes it from every index and frees its queues,
 * subscriptions and rx buffer (not conn itself, nor its HTTP state). */
void push_fanout_unregister(struct push_fanout *f, struct push_conn *conn);
struct push_conn *push_fanout_find(struct push_fanout *f, unsigned long long conn_id);
/* Calls fn(conn, arg) for every registered connection; fn must not register or
 * unregister any. */
void push_fanout_for_each(struct push_fanout *f, void (*fn)(struct push_conn *conn, void *arg),
                          void *arg);
/* The authenticated connections of user_id (count in *n), or NULL. Valid until the
 * next attach or unregister. */
struct push_conn *const *push_fanout_user_conns(struct push_fanout *f, long long user_id,
                                                size_t *n);
/* The connections subscribed to conversation conv (count in *n), or NULL. */
struct push_conn *const *push_fanout_conv_conns(struct push_fanout *f, long long conv, size_t *n);
/* True when conn is subscribed to conv. */
bool push_conn_subscribed(const struct push_conn *conn, long long conv);

/* Authentication succeeded: indexes conn under user_id and subscribes it to convs. */
void push_fanout_attach(struct push_fanout *f, struct push_conn *conn, long long user_id,
                        const long long *convs, size_t nconv);

/* Applies the event's membership change and queues its frame for every recipient. */
void push_fanout_event(struct push_fanout *f, const struct push_event *e);

/* Queues a reference to frame on conn (the held queue when `event` and a resume is
 * running). Returns false when conn is over its bound and is now marked to close 4008. */
bool push_conn_send(struct push_fanout *f, struct push_conn *conn, struct push_frame *frame,
                    bool event);

/* A resume finished: queues the backlog (in id order), then the held live frames that
 * are not in the backlog, and stops holding. */
void push_conn_resume_done(struct push_fanout *f, struct push_conn *conn,
                           const struct push_event *backlog, size_t n);

/* Marks conn to close with code once what it has queued is written (held event frames
 * are never sent). A connection already closing keeps its code. */
void push_conn_close_after(struct push_fanout *f, struct push_conn *conn, int code,
                           const char *reason);
/* Marks conn to close with code at its next WRITEABLE and drops what it had queued. */
void push_conn_close(struct push_fanout *f, struct push_conn *conn, int code, const char *reason);

/* Collects a client message that lws delivers in pieces (`final`: the last piece). Returns
 * the whole message (*len bytes, not NUL-terminated) once the final piece is in, else
 * NULL. A message that comes in one piece is returned in place, without a copy; a longer
 * one is reassembled in conn->rx. The caller bounds the message size and
 * calls push_rx_reset after each message, so an idle connection holds no buffer. */
const char *push_rx_collect(struct push_conn *conn, const char *in, size_t len, bool final,
                            size_t *out_len);
/* Drops the message being collected and frees its buffer. */
void push_rx_reset(struct push_conn *conn);

/* The next frame to write, or NULL; push_queue_pop removes it (caller owns the ref). */
struct push_frame *push_queue_peek(const struct push_queue *q);
struct push_frame *push_queue_pop(struct push_queue *q);

#endif
