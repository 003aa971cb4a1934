/* chat-notify: offline notifications through webhooks and bots' outgoing messages
 * (docs/WEBHOOKS.md). One process per host may run; exactly one of them works at a time
 * (the holder of the lease in notify_leader), the others wait to take over. The work:
 * read the event log from stored cursors, store a delivery for every webhook a due
 * message goes to, and POST the due deliveries, signed, with retries and backoff. */
#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "program.h"
#include "sender.h"
#include "store.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char usage[] =
    "Usage: chat-notify [--config FILE] [--help]\n"
    "\n"
    "The chat notifier. Posts a signed JSON notification to every webhook added with\n"
    "`chatctl webhook add URL` for each user a message would notify who stayed offline\n"
    "for notify_offline_delay_s after it, and every message in a bot's conversations to\n"
    "the bot's outgoing URL (`chatctl bot add NAME --url URL`). Deliveries are stored\n"
    "first and retried with backoff, so a restart loses none (docs/WEBHOOKS.md). Several\n"
    "may run (one per host); one works, the others stand by. Stops cleanly on SIGTERM or\n"
    "SIGINT.\n"
    "\n"
    "  --config FILE  read settings from FILE (default: $CHAT_CONFIG or " CHAT_CONFIG_DEFAULT_PATH ")\n"
    "  --help         show this help\n";

/* The lease: held this long without renewal, renewed at least this often, and tried
 * this often by a process that stands by. */
#define LEASE_MS 10000
#define LEASE_RENEW_MS 1000
#define LEASE_RETRY_MS 1000
/* After a database error, the pause before the next round. */
#define DB_ERROR_PAUSE_MS 1000
#define PURGE_EVERY_MS (3600 * 1000)
/* Batches evaluated per stream and round before deliveries get their turn again. */
#define EVALUATE_ROUNDS 16
/* How long a stop waits for POSTs already under way. */
#define STOP_GRACE_MS 3000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Evaluates each stream's due events; returns false on a database error. */
static bool evaluate(struct chat_db *db, const struct chat_config *cfg,
                     const struct chat_notify_stream *streams, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int round = 0; round < EVALUATE_ROUNDS; round++) {
            int events = 0;
            long long enqueued = 0;
            int rc = chat_notify_evaluate(db, &streams[i], cfg->notify_preview_chars, &events,
                                          &enqueued);
            if (rc != CHAT_OK) {
                log_warn("notify: %s stream: %s", streams[i].name, chat_err_code(rc));
                return false;
            }
            if (enqueued)
                log_info("notify: %s stream: %d events, %lld deliveries stored", streams[i].name,
                         events, enqueued);
            if (events < CHAT_NOTIFY_BATCH)
                break;
        }
    }
    return true;
}

static void purge(struct chat_db *db, const struct chat_config *cfg)
{
    long long removed = 0;
    int rc = chat_notify_purge(db, cfg->event_retention_hours, &removed);
    if (rc != CHAT_OK)
        log_warn("notify: purge: %s", chat_err_code(rc));
    else if (removed)
        log_info("notify: purged %lld finished deliveries", removed);
}

static int run(const struct chat_config *cfg)
{
    struct chat_db db;
    struct notify_sender sender;
    if (notify_sender_init(&sender, cfg) != CHAT_OK) {
        log_error("notify: libcurl's multi interface did not initialise");
        return 1;
    }
    /* The open() retries until MariaDB answers, as the push daemon's worker does. */
    while (!stop_requested && chat_db_open(&db, cfg) != CHAT_OK) {
        struct timespec pause = {1, 0};
        nanosleep(&pause, NULL);
    }
    if (stop_requested) {
        notify_sender_free(&sender);
        return 0;
    }
    const long long gap_us = (long long)cfg->push_gap_timeout_ms * 1000;
    const struct chat_notify_stream streams[] = {
        {"offline", CHAT_NOTIFY_OFFLINE, (long long)cfg->notify_offline_delay_s * 1000000, gap_us},
        {"bot", CHAT_NOTIFY_BOT, 0, gap_us},
    };
    /* Who holds the lease: this host and process, and a random part so a restarted
     * process with a reused pid is not taken for its predecessor. */
    char holder[100], host[64] = "";
    gethostname(host, sizeof(host) - 1);
    snprintf(holder, sizeof(holder), "%.60s:%ld:%08x", host, (long)getpid(), randombytes_random());
    bool leader = false, said_standby = false;
    long long next_tick = 0, next_lease_try = 0, next_purge = 0, renewed_at = 0;
    log_info("notify: started (offline delay %d s, %d in flight at most)",
             cfg->notify_offline_delay_s, cfg->notify_max_in_flight);
    while (!stop_requested) {
        long long now = now_ms();
        if (!leader && now >= next_lease_try) {
            chat_notify_lead(&db, holder, LEASE_MS, &leader);
            next_lease_try = now + LEASE_RETRY_MS;
            if (leader) {
                log_info("notify: active (holds the lease 'chat_notify' as %s)", holder);
                said_standby = false;
                next_tick = renewed_at = now;
            } else if (!said_standby) {
                log_info("notify: standby: another chat-notify holds the lease 'chat_notify'");
                said_standby = true;
            }
        }
        if (leader && now >= next_tick) {
            next_tick = now + cfg->notify_poll_interval_ms;
            bool still = true;
            int rc = CHAT_OK;
            if (now - renewed_at >= LEASE_RENEW_MS) {
                rc = chat_notify_lead(&db, holder, LEASE_MS, &still);
                if (still)
                    renewed_at = now;
            }
            if (!still && (rc == CHAT_OK || now - renewed_at >= LEASE_MS - LEASE_RENEW_MS)) {
                /* Taken by another (it had expired), or about to expire unrenewed. */
                log_warn("notify: lost the lease 'chat_notify'; standing by");
                leader = false;
            } else if (!still) {
                /* A database error while the lease still runs: try again shortly. */
                next_tick = now + DB_ERROR_PAUSE_MS;
            } else if (!evaluate(&db, cfg, streams, sizeof(streams) / sizeof(streams[0]))) {
                next_tick = now + DB_ERROR_PAUSE_MS; /* one warning a second, not a flood */
            } else {
                rc = notify_sender_start(&sender, &db);
                if (rc != CHAT_OK) {
                    log_warn("notify: claiming deliveries: %s", chat_err_code(rc));
                    next_tick = now + DB_ERROR_PAUSE_MS;
                }
                if (now >= next_purge) {
                    purge(&db, cfg);
                    next_purge = now + PURGE_EVERY_MS;
                }
            }
        }
        long long wait = (leader ? next_tick : next_lease_try) - now_ms();
        if (wait < 1)
            wait = 1;
        if (wait > cfg->notify_poll_interval_ms)
            wait = cfg->notify_poll_interval_ms;
        /* A finished POST frees a slot: claim again at once rather than a tick later. */
        if (notify_sender_run(&sender, &db, (int)wait) > 0 && leader)
            next_tick = now_ms();
    }
    /* POSTs under way get a moment to finish and be recorded; the rest are sent again
     * when their leases end. */
    long long deadline = now_ms() + STOP_GRACE_MS;
    while (sender.active > 0 && now_ms() < deadline)
        notify_sender_run(&sender, &db, 100);
    log_info("notify: stopping (%lld delivered, %lld retried, %lld dropped since start; %d "
             "left to their leases)",
             sender.delivered, sender.retried, sender.dropped, sender.active);
    notify_sender_free(&sender);
    if (leader && chat_notify_resign(&db, holder) != CHAT_OK)
        log_warn("notify: could not give the lease up; a standby takes over when it expires");
    chat_db_close(&db);
    return 0;
}

int main(int argc, char **argv)
{
    struct chat_config cfg;
    int argi;
    chat_log_set_program("chat-notify");
    int s = chat_program_setup(argc, argv, usage, &cfg, &argi);
    if (s != 0)
        return s > 0 ? 0 : 2;
    if (argi < argc) {
        fprintf(stderr, "chat-notify: unknown argument '%s'\n%s", argv[argi], usage);
        chat_config_free(&cfg);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        log_error("notify: libcurl did not initialise");
    else {
        rc = run(&cfg);
        curl_global_cleanup();
    }
    chat_config_free(&cfg);
    return rc;
}
