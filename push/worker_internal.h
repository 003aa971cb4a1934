/* The DB worker's state, shared by the files that run on its thread: db_worker.c (the
 * thread and the queues), event_tail.c (reconnect, events, tailing), jobs.c (the job
 * runners) and presence_upkeep.c. Nothing here is for the lws thread. */
#ifndef CHAT_PUSH_WORKER_INTERNAL_H
#define CHAT_PUSH_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "db_worker.h"
#include "gap_tracker.h"

/* Bound on remembered gaps. Past it the oldest gaps are dropped (counted and logged);
 * an event that commits after its gap was dropped is not delivered live, and clients
 * recover it by resume (its created_at is within the resume window). 100k gaps cost
 * 1.6 MB. */
#define GAP_MAX 100000
/* Presence: the heartbeat period, and how old a heartbeat may be before the daemon's
 * connections stop counting (it crashed). */
#define HEARTBEAT_MS 5000
#define HEARTBEAT_STALE_MS CHAT_PRESENCE_STALE_MS

struct push_worker {
    const struct chat_config *cfg;
    int wake_fd, job_fd;
    int wake_send_fd; /* unbound datagram socket for waking the other daemons */
    struct push_wake_policy wake_policy;
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
    /* This tail round's statements (tail, extra gap chunks) and gap ids, for stats. */
    unsigned long long round_statements, round_gap_rereads, round_gap_ids;
};

#endif
