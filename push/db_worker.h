/* The DB worker: the only thread that talks to MariaDB, so the lws event loop never
 * blocks on it. It waits (poll) on the API's wake-up datagram socket, on its job queue
 * and on a timeout of push_poll_interval_ms; each round it runs the queued jobs in FIFO
 * order and then tails the event log with gap tracking. Results go back through a
 * mutex-protected FIFO, and the lws thread is woken with lws_cancel_service().
 *
 * Ordering guarantee: jobs and tailing share this thread and the result FIFO, so an auth
 * result (the user's conversations read at time T) reaches the loop before any event
 * that committed after T. The loop relies on it to subscribe without races.
 *
 * If MariaDB is down the worker retries with exponential backoff (up to 5 s); jobs that
 * arrive meanwhile fail with CHAT_E_DB, and tailing resumes from where it was. */
#ifndef CHAT_PUSH_DB_WORKER_H
#define CHAT_PUSH_DB_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "i18n.h"
#include "event.h"
#include "frame.h"

enum push_job_kind {
    PUSH_JOB_AUTH,     /* token -> user and conversations, hello frame */
    PUSH_JOB_RESUME,   /* backlog after last_event_id */
    PUSH_JOB_SEND,     /* message.send: chat_message_submit */
    PUSH_JOB_RECEIPT,  /* read / delivered: chat_receipt_mark */
    PUSH_JOB_PRESENCE, /* user_id holds `connections` connections here (no result) */
    PUSH_JOB_POLL,     /* long-poll: events after last_event_id up to the safe position */
    PUSH_JOB_TYPING,   /* typing: the session is still alive (then relayed by the loop) */
};

struct push_job {
    struct push_job *next;
    enum push_job_kind kind;
    unsigned long long conn_id;
    long long conversation_id; /* auth/resume: 0 = every conversation; send/receipt: target */
    char *token;               /* auth: owned */
    long long user_id;         /* everything but auth */
    long long session_id;      /* everything but auth and presence: re-checked first, so a
                                * frame racing a revocation is refused */
    bool typing;               /* typing: is_typing */
    long long last_event_id;   /* resume, poll */
    char *text;                /* send: owned */
    char *client_msg_id;       /* send: owned */
    long long reply_to;        /* send (has_reply_to says whether it was given) */
    bool has_reply_to;
    long long *attachment_ids; /* send: owned, at most CHAT_ATTACHMENTS_MAX */
    size_t attachment_count;
    long long message_id;      /* receipt */
    bool read;                 /* receipt: read (true) or delivered */
    int connections;           /* presence */
    bool count_only;           /* presence: the count changed but not online/offline */
};

/* GONE: on /ws/chat/<pk>/, the user no longer takes part in pk (close 4404). */
enum push_resume_status {
    PUSH_RESUME_OK,
    PUSH_RESUME_RESYNC,
    PUSH_RESUME_FAILED,
    PUSH_RESUME_GONE,
    PUSH_RESUME_REVOKED, /* the connection's session is gone (close 4401) */
};

enum push_result_kind {
    PUSH_RESULT_EVENTS,
    PUSH_RESULT_AUTH,
    PUSH_RESULT_RESUME,
    PUSH_RESULT_SEND,
    PUSH_RESULT_RECEIPT,
    PUSH_RESULT_POLL,
    PUSH_RESULT_TYPING, /* a typing relay from another daemon (wake-up socket) */
    PUSH_RESULT_TYPING_CHECKED, /* this connection's typing frame: status says whether the
                                 * session still lives */
};

struct push_result {
    struct push_result *next;
    enum push_result_kind kind;
    unsigned long long conn_id;
    /* auth: CHAT_OK, CHAT_E_NOT_AUTHENTICATED, CHAT_E_NOT_FOUND (not a participant of the
     * requested conversation) or CHAT_E_DB. resume: enum push_resume_status. Every job of
     * a connection: CHAT_E_NOT_AUTHENTICATED (PUSH_RESUME_REVOKED) once its session is
     * gone. */
    int status;
    long long user_id;
    long long session_id;      /* auth */
    long long expires_in_ms;   /* auth: the session's remaining lifetime */
    char locale[CHAT_LOCALE_CHARS]; /* auth: the user's language setting, "" for none */
    bool typing;               /* typing checked: is_typing */
    long long conns_elsewhere; /* auth: the user's connections on other live daemons */
    long long high;            /* auth: the tail position when the job ran */
    struct push_frame *hello;  /* auth: the hello frame, one reference owned */
    long long *conv_ids;       /* auth: owned */
    size_t nconv;
    long long *block_peers;    /* auth: who blocked the user or was blocked by them,
                                * ascending (chat_block_peers); owned */
    size_t nblock_peers;
    struct push_event *events; /* events, or a resume backlog in id order; owned */
    size_t nevents;
    char *user_json;           /* auth: {id,username,display_name} as JSON text; owned */
    long long message_id;      /* send */
    char *client_msg_id;       /* send: owned */
    char detail[160];          /* send/receipt errors: the client's message, or "" */
    struct push_frame *body;   /* poll: the JSON body {events, last_event_id}; typing:
                                * the relay frame; one reference owned */
    size_t poll_count;         /* poll: events in body */
    long long conversation_id; /* typing, typing checked */
};

/* Who may talk to this daemon's wake-up socket (docs/protocol.md, "Several daemons"). */
#define PUSH_WAKE_MAX_UIDS 16
struct push_wake_policy {
    bool udp;                       /* UDP: every datagram must be sealed with key */
    unsigned char key[32];          /* CHAT_WAKE_KEY_BYTES */
    uid_t uids[PUSH_WAKE_MAX_UIDS]; /* UNIX: accepted senders besides our euid and root */
    size_t nuids;
};

/* Why a wake-up datagram was dropped (chat_push_wake_rejected_total{reason}). */
enum push_wake_reject {
    PUSH_WAKE_REJECT_UID,       /* UNIX: from a uid not allowed, or without credentials */
    PUSH_WAKE_REJECT_MAC,       /* UDP: not sealed, or a wrong MAC */
    PUSH_WAKE_REJECT_STALE,     /* UDP: authentic but outside the replay window */
    PUSH_WAKE_REJECT_MALFORMED, /* accepted sender, but truncated or a bad typing relay */
    PUSH_WAKE_REJECT_COUNT
};

/* Counters the worker keeps for /metrics and /healthz (read with push_worker_stats). */
struct push_worker_stats {
    bool connected;
    long long last_tail_ms;    /* CLOCK_MONOTONIC ms of the last successful tail round */
    long long high;            /* highest event id seen */
    unsigned long long events_read, gaps_open, gaps_abandoned, gaps_dropped, db_connects;
    unsigned long long tail_statements; /* statements of the live tail, gap re-reads included */
    unsigned long long gap_rereads;     /* extra statements for more than 64 due gaps */
    unsigned long long gap_ids_reread;  /* gap ids asked for again */
    unsigned long long db_conflicts;   /* jobs' transactions rolled back by a conflict */
    unsigned long long jobs_done;
    unsigned long long wake_rejected[PUSH_WAKE_REJECT_COUNT];
};

struct push_worker;

/* Starts the worker thread. wake_fd is the bound wake-up socket (the worker drains it,
 * dropping what policy refuses; the caller closes it after push_worker_stop; policy is
 * copied). notify(arg) is called from the worker
 * after results were queued. Returns NULL on failure. cfg must outlive the worker. */
struct push_worker *push_worker_start(const struct chat_config *cfg, int wake_fd,
                                      const struct push_wake_policy *policy,
                                      const char *daemon_id, void (*notify)(void *arg),
                                      void *arg);

/* A consistent copy of the worker's counters. Thread-safe. */
void push_worker_stats(struct push_worker *w, struct push_worker_stats *out);

/* When the worker last woke the loop (CLOCK_MONOTONIC ms), and resets it: the loop's
 * lag is the time from then to the moment it runs. 0 = no wake-up pending. */
long long push_worker_take_notify_time(struct push_worker *w);

/* Queues a job; the worker takes ownership of it and of its strings. Thread-safe. */
void push_worker_submit(struct push_worker *w, struct push_job *job);

/* Takes every queued result, oldest first. The caller frees each with push_result_free. */
struct push_result *push_worker_take_results(struct push_worker *w);

/* The worker calls notify() at least once per round (every push_poll_interval_ms), which
 * gives the lws thread a clock that does not depend on lws timers (deadlines, typing
 * expiry, long-poll timeouts, SSE keep-alives). */

/* Stops and joins the thread and frees the worker with its pending jobs and results. */
void push_worker_stop(struct push_worker *w);

void push_job_free(struct push_job *job);
void push_result_free(struct push_result *r);

#endif
