/* Counters of the lws thread and their Prometheus text rendering (GET /metrics). Only
 * the lws thread touches struct push_metrics; the worker's counters are copied in with
 * push_worker_stats when the page is rendered. */
#ifndef CHAT_PUSH_METRICS_H
#define CHAT_PUSH_METRICS_H

#include <stddef.h>

#include "db_worker.h"
#include "strbuf.h"

/* Upper bounds (ms) of the commit-to-send histogram buckets; +Inf is implied. */
#define PUSH_LATENCY_BUCKETS 12

struct push_metrics {
    unsigned long long connections_total;    /* accepted (WebSocket, SSE, long-poll) */
    unsigned long long frames_sent;          /* written to sockets, every kind */
    unsigned long long client_frames;        /* complete client messages received */
    unsigned long long closed_rate_limited;  /* 4429 */
    unsigned long long closed_too_many;      /* 4409 / HTTP 429 */
    unsigned long long closed_too_big;       /* 1009 */
    unsigned long long messages_sent;        /* message.send that stored a message */
    unsigned long long typing_relays;
    unsigned long long polls_answered;
    unsigned long long sessions_ended;       /* 4401 / 401: revoked or expired session */
    /* Event-loop lag: from the worker's wake-up call to the loop running. */
    long long lag_last_ms, lag_max_ms;
    /* Commit-to-send: events.created_at to the lws_write of each delivery. */
    unsigned long long latency_buckets[PUSH_LATENCY_BUCKETS + 1];
    unsigned long long latency_count;
    double latency_sum_s;
};

extern const double push_latency_bounds_ms[PUSH_LATENCY_BUCKETS];

void push_metrics_observe_lag(struct push_metrics *m, long long lag_ms);
void push_metrics_observe_latency(struct push_metrics *m, double ms);

/* Gauges and counters owned by others, gathered at render time. */
struct push_metrics_snapshot {
    unsigned long long connections_ws, connections_sse, connections_poll;
    unsigned long long users;                 /* distinct authenticated users */
    unsigned long long delivered, dropped_slow;
    struct push_worker_stats worker;
    long long now_ms;
};

/* Appends the Prometheus text exposition of m and snap to out. Resets lag_max_ms (the
 * maximum is per scrape). */
void push_metrics_render(struct push_metrics *m, const struct push_metrics_snapshot *snap,
                         struct strbuf *out);

#endif
