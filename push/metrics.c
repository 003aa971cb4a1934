/* The lws thread's counters and latency histograms, rendered as Prometheus text for
 * GET /metrics (see metrics.h). */
#include "metrics.h"

const double push_latency_bounds_ms[PUSH_LATENCY_BUCKETS] = {1,   2,   5,    10,   25,   50,
                                                            100, 250, 500, 1000, 2500, 10000};

void push_metrics_observe_lag(struct push_metrics *m, long long lag_ms)
{
    if (lag_ms < 0)
        lag_ms = 0;
    m->lag_last_ms = lag_ms;
    if (lag_ms > m->lag_max_ms)
        m->lag_max_ms = lag_ms;
}

void push_metrics_observe_latency(struct push_metrics *m, double ms)
{
    if (ms < 0)
        ms = 0; /* clocks of the database host and this host differ slightly */
    size_t i = 0;
    while (i < PUSH_LATENCY_BUCKETS && ms > push_latency_bounds_ms[i])
        i++;
    m->latency_buckets[i]++;
    m->latency_count++;
    m->latency_sum_s += ms / 1000.0;
}

static void metric(struct strbuf *out, const char *name, const char *type, const char *help,
                   unsigned long long value)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                  value);
}

void push_metrics_render(struct push_metrics *m, const struct push_metrics_snapshot *snap,
                         struct strbuf *out)
{
    strbuf_puts(out, "# HELP chat_push_connections Open connections by kind.\n"
                     "# TYPE chat_push_connections gauge\n");
    strbuf_printf(out, "chat_push_connections{kind=\"websocket\"} %llu\n", snap->connections_ws);
    strbuf_printf(out, "chat_push_connections{kind=\"sse\"} %llu\n", snap->connections_sse);
    strbuf_printf(out, "chat_push_connections{kind=\"longpoll\"} %llu\n", snap->connections_poll);
    metric(out, "chat_push_users", "gauge", "Distinct authenticated users connected.", snap->users);
    metric(out, "chat_push_connections_total", "counter", "Connections accepted.",
           m->connections_total);
    metric(out, "chat_push_events_read_total", "counter",
           "Events read from the event log (live tail).", snap->worker.events_read);
    metric(out, "chat_push_event_deliveries_total", "counter",
           "Event frames queued for a recipient connection.", snap->delivered);
    metric(out, "chat_push_frames_sent_total", "counter", "Frames written to sockets.",
           m->frames_sent);
    metric(out, "chat_push_queue_cutoffs_total", "counter",
           "Connections cut off because their queue passed push_max_queue_bytes (4008).",
           snap->dropped_slow);
    metric(out, "chat_push_client_frames_total", "counter", "Client frames received.",
           m->client_frames);
    metric(out, "chat_push_rate_limited_total", "counter",
           "Connections closed for sending frames too fast (4429).", m->closed_rate_limited);
    metric(out, "chat_push_too_many_connections_total", "counter",
           "Connections refused over push_max_connections_per_user (4409).", m->closed_too_many);
    metric(out, "chat_push_oversized_frames_total", "counter",
           "Connections closed for a frame over push_max_frame_bytes (1009).", m->closed_too_big);
    metric(out, "chat_push_messages_sent_total", "counter",
           "Messages stored through message.send.", m->messages_sent);
    metric(out, "chat_push_typing_relays_total", "counter", "Typing relays sent out.",
           m->typing_relays);
    metric(out, "chat_push_polls_answered_total", "counter", "Long-poll responses.",
           m->polls_answered);
    metric(out, "chat_push_sessions_ended_total", "counter",
           "Connections ended because their session was revoked or expired (4401).",
           m->sessions_ended);
    static const char *const reasons[PUSH_WAKE_REJECT_COUNT] = {"uid", "mac", "stale",
                                                                 "malformed"};
    strbuf_puts(out, "# HELP chat_push_wake_rejected_total Wake-up datagrams dropped: from a "
                     "uid not allowed (UNIX), unsealed or a wrong MAC or outside the replay "
                     "window (UDP), or a bad typing relay.\n"
                     "# TYPE chat_push_wake_rejected_total counter\n");
    for (int i = 0; i < PUSH_WAKE_REJECT_COUNT; i++)
        strbuf_printf(out, "chat_push_wake_rejected_total{reason=\"%s\"} %llu\n", reasons[i],
                      snap->worker.wake_rejected[i]);
    metric(out, "chat_push_gaps_open", "gauge", "Event ids below the tail not yet seen.",
           snap->worker.gaps_open);
    metric(out, "chat_push_gaps_abandoned_total", "counter",
           "Gaps given up after push_gap_timeout_ms.", snap->worker.gaps_abandoned);
    metric(out, "chat_push_gaps_dropped_total", "counter", "Gaps dropped because the set was full.",
           snap->worker.gaps_dropped);
    metric(out, "chat_push_tail_statements_total", "counter",
           "Statements of the live tail (its round trips to MariaDB), gap re-reads included.",
           snap->worker.tail_statements);
    metric(out, "chat_push_gap_rereads_total", "counter",
           "Statements only for gap ids: a round with more than 64 gaps due.",
           snap->worker.gap_rereads);
    metric(out, "chat_push_gap_ids_reread_total", "counter", "Gap ids asked for again.",
           snap->worker.gap_ids_reread);
    metric(out, "chat_push_db_conflicts_total", "counter",
           "Writes of the DB worker rolled back by a conflict (error 1213); each is run "
           "again up to 3 times.",
           snap->worker.db_conflicts);
    metric(out, "chat_push_db_connects_total", "counter", "Successful MariaDB (re)connections.",
           snap->worker.db_connects);
    metric(out, "chat_push_db_up", "gauge", "1 while the DB worker is connected.",
           snap->worker.connected);
    metric(out, "chat_push_tail_position", "gauge", "Highest event id seen.",
           (unsigned long long)(snap->worker.high > 0 ? snap->worker.high : 0));
    long long age = snap->worker.last_tail_ms ? snap->now_ms - snap->worker.last_tail_ms : -1;
    strbuf_printf(out, "# HELP chat_push_tail_age_seconds Time since the last successful tail "
                       "query (-1: none yet).\n# TYPE chat_push_tail_age_seconds gauge\n"
                       "chat_push_tail_age_seconds %.3f\n",
                  age < 0 ? -1.0 : (double)age / 1000.0);
    strbuf_printf(out, "# HELP chat_push_loop_lag_seconds Event-loop lag: from the DB worker's "
                       "wake-up to the loop running (last and maximum since the last scrape).\n"
                       "# TYPE chat_push_loop_lag_seconds gauge\n"
                       "chat_push_loop_lag_seconds{stat=\"last\"} %.3f\n"
                       "chat_push_loop_lag_seconds{stat=\"max\"} %.3f\n",
                  (double)m->lag_last_ms / 1000.0, (double)m->lag_max_ms / 1000.0);
    m->lag_max_ms = m->lag_last_ms;
    strbuf_puts(out, "# HELP chat_push_commit_to_send_seconds Time from an event's created_at "
                     "to its write on a recipient's socket, per delivery.\n"
                     "# TYPE chat_push_commit_to_send_seconds histogram\n");
    unsigned long long cumulative = 0;
    for (size_t i = 0; i < PUSH_LATENCY_BUCKETS; i++) {
        cumulative += m->latency_buckets[i];
        strbuf_printf(out, "chat_push_commit_to_send_seconds_bucket{le=\"%g\"} %llu\n",
                      push_latency_bounds_ms[i] / 1000.0, cumulative);
    }
    cumulative += m->latency_buckets[PUSH_LATENCY_BUCKETS];
    strbuf_printf(out, "chat_push_commit_to_send_seconds_bucket{le=\"+Inf\"} %llu\n"
                       "chat_push_commit_to_send_seconds_sum %.6f\n"
                       "chat_push_commit_to_send_seconds_count %llu\n",
                  cumulative, m->latency_sum_s, m->latency_count);
}
