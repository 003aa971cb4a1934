/* chat-loadgen: command line, the run's phases and the report. See loadgen.h. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "loadgen.h"
#include "log.h"

/* After the last hello the run waits until no frame has arrived for QUIET_NS (at most
 * SETTLE_MAX_NS), then reads the daemon's RSS and starts sending: connecting users makes
 * the daemon send presence frames to everyone who shares a conversation with them, and
 * for a 2,000-member group that is millions of frames, which would otherwise be queued
 * in front of the first messages and counted as their latency. */
#define QUIET_NS 1000000000LL
#define SETTLE_MAX_NS 180000000000LL
/* Upper bound on planned messages (the tables are allocated up front). */
#define MAX_MESSAGES 2000000

static const char usage[] =
    "usage: chat-loadgen --plan FILE --push HOST:PORT --api HOST:PORT --token-prefix P\n"
    "                    --tag T [--rate MSG_PER_S] [--seconds S] [--drain S]\n"
    "                    [--http-conns N] [--connect-window N] [--connect-timeout S]\n"
    "                    [--push-pid PID] [--label NAME] [--probes N]\n"
    "                    [--probe-interval-ms MS] [--restart]\n"
    "\n"
    "Opens one WebSocket to chat-push (ws://PUSH/ws/, Authorization: Bearer P<user id>)\n"
    "for every member listed in the plan (one line per conversation: \"CONV_ID USER_ID\n"
    "...\"), waits for every hello, then POSTs RATE x S messages in total to\n"
    "http://API/api/chat/conversations/<id>/messages/, round-robin over the\n"
    "conversations and their members, with client_msg_id T-<n>. It measures the time from\n"
    "each POST's send to its message.created frame on every member's socket, and prints a\n"
    "table and one machine-readable LOADGEN line. With --rate 0 it only holds the sockets\n"
    "for S seconds (memory). --push-pid reads chat-push's VmRSS before and after.\n"
    "--probes N first opens N extra sockets (as the plan's first N users, on a thread\n"
    "of their own); they send ping in turn, each every MS (100), while every other\n"
    "socket connects, and the round trips are reported (the daemon's responsiveness\n"
    "in a connect storm); they close once the storm is over. --restart prints LOADGEN_READY once every socket is open and expects the\n"
    "daemon to be restarted while messages are sent: dropped sockets reconnect with\n"
    "?last_event_id (every 100 ms until the run ends), and the time from the first drop\n"
    "until every socket is back and has every message sent until then is reported.\n"
    "Exit status: 0, 1 when a socket could not be opened or a POST failed, 2 for usage.\n";

static int parse_host_port(const char *arg, const char **host, int *port)
{
    static char buf[2][128];
    static int used;
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(buf[0]) || used == 2)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p <= 0 || p > 65535)
        return -1;
    char *h = buf[used++];
    memcpy(h, arg, (size_t)(colon - arg));
    h[colon - arg] = '\0';
    *host = h;
    *port = (int)p;
    return 0;
}

static int parse_number(const char *arg, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

static int copy_word(const char *arg, char *out, size_t size)
{
    size_t n = strlen(arg);
    if (n == 0 || n >= size || strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789_.:-") != n)
        return -1;
    memcpy(out, arg, n + 1);
    return 0;
}

static int parse_options(int argc, char **argv, struct loadgen_options *opt)
{
    static const struct option longs[] = {
        {"plan", required_argument, NULL, 'p'},          {"push", required_argument, NULL, 'w'},
        {"api", required_argument, NULL, 'a'},           {"token-prefix", required_argument, NULL, 't'},
        {"tag", required_argument, NULL, 'g'},           {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},       {"drain", required_argument, NULL, 'd'},
        {"http-conns", required_argument, NULL, 'c'},    {"connect-window", required_argument, NULL, 'W'},
        {"connect-timeout", required_argument, NULL, 'T'}, {"push-pid", required_argument, NULL, 'P'},
        {"label", required_argument, NULL, 'l'},         {"help", no_argument, NULL, 'h'},
        {"probes", required_argument, NULL, 'n'},        {"probe-interval-ms", required_argument, NULL, 'i'},
        {"restart", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    memset(opt, 0, sizeof(*opt));
    opt->seconds = 10;
    opt->drain_seconds = 30;
    opt->connect_timeout = 120;
    opt->http_conns = 32;
    opt->connect_window = 200;
    opt->label = "run";
    opt->probe_interval_ms = 100;
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'p': opt->plan_path = optarg; break;
        case 'w': if (parse_host_port(optarg, &opt->push_host, &opt->push_port)) return -1; break;
        case 'a': if (parse_host_port(optarg, &opt->api_host, &opt->api_port)) return -1; break;
        case 't':
            if (copy_word(optarg, opt->token_prefix, sizeof(opt->token_prefix))) return -1;
            break;
        case 'g': if (copy_word(optarg, opt->tag, sizeof(opt->tag))) return -1; break;
        case 'r': if (parse_number(optarg, 0, 100000, &opt->rate)) return -1; break;
        case 's': if (parse_number(optarg, 0, 3600, &opt->seconds)) return -1; break;
        case 'd': if (parse_number(optarg, 0, 600, &opt->drain_seconds)) return -1; break;
        case 'T': if (parse_number(optarg, 1, 3600, &opt->connect_timeout)) return -1; break;
        case 'c': if (parse_number(optarg, 1, 256, &v)) return -1; opt->http_conns = (int)v; break;
        case 'W': if (parse_number(optarg, 1, 10000, &v)) return -1; opt->connect_window = (int)v; break;
        case 'P': if (parse_number(optarg, 1, 1e9, &v)) return -1; opt->push_pid = (long)v; break;
        case 'l': opt->label = optarg; break;
        case 'n': if (parse_number(optarg, 0, 1000, &v)) return -1; opt->probes = (int)v; break;
        case 'i': if (parse_number(optarg, 50, 10000, &v)) return -1; opt->probe_interval_ms = (int)v; break;
        case 'R': opt->restart = true; break;
        default: return -1;
        }
    }
    if (optind != argc || !opt->plan_path || !opt->push_host || !opt->token_prefix[0] ||
        !opt->tag[0] || (opt->rate > 0 && !opt->api_host) || (opt->restart && opt->rate <= 0))
        return -1;
    return 0;
}

/* Sets the soft file limit to need (at most the hard one); fails when it cannot cover
 * need. Not higher: lws 4.1.6 sizes its fd table by the limit and scans all of it for
 * every new socket (wsi_from_fd), about 30% of the generator's CPU while it reconnects
 * 10,000 sockets after a restart. */
static int raise_file_limit(size_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur != need && need <= rl.rlim_max) {
        rl.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        log_error("%zu sockets need a file limit of %zu, but it is %llu (hard %llu); split the "
                  "plan across processes",
                  need, need, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
        return -1;
    }
    return 0;
}

/* Plans every message: conversation k mod M, senders rotating through its members. */
static int plan_messages(struct loadgen_run *run)
{
    const struct loadgen_plan *plan = &run->plan;
    double n = floor(run->opt->rate * run->opt->seconds + 0.5);
    if (n > MAX_MESSAGES) {
        log_error("rate x seconds = %.0f messages; at most %d", n, MAX_MESSAGES);
        return -1;
    }
    run->nmessages = (size_t)n;
    size_t words = 0, samples = 0;
    for (size_t k = 0; k < run->nmessages; k++) {
        const struct loadgen_conv *conv = &plan->convs[k % plan->nconvs];
        words += (conv->nmembers + 63) / 64;
        samples += conv->nmembers;
    }
    run->messages = calloc(run->nmessages ? run->nmessages : 1, sizeof(*run->messages));
    run->seen_words = calloc(words ? words : 1, sizeof(*run->seen_words));
    run->latency_us = calloc(samples ? samples : 1, sizeof(*run->latency_us));
    if (!run->messages || !run->seen_words || !run->latency_us)
        return -1;
    run->latency_cap = samples;
    size_t w = 0;
    for (size_t k = 0; k < run->nmessages; k++) {
        struct loadgen_message *m = &run->messages[k];
        size_t c = k % plan->nconvs;
        m->conv = (uint32_t)c;
        m->sender = (uint32_t)((k / plan->nconvs) % plan->convs[c].nmembers);
        m->seen = run->seen_words + w;
        w += (plan->convs[c].nmembers + 63) / 64;
    }
    return 0;
}

static int64_t settle_start_ns;

static bool quiet(struct loadgen_run *run)
{
    int64_t now = loadgen_now_ns();
    return now - settle_start_ns >= QUIET_NS && now - run->last_frame_ns >= QUIET_NS;
}

static bool sender_finished(struct loadgen_run *run)
{
    return atomic_load(&run->sender_done);
}

/* The sockets, for the drain's end after a restart (the main thread only). */
static const struct loadgen_ws *the_ws;

/* Everything arrived, and after a restart every socket is back too: a socket whose
 * conversation got no message after the drop would otherwise still be reconnecting. */
static bool all_received(struct loadgen_run *run)
{
    struct loadgen_ws_counts c;
    if (run->received < run->expected)
        return false;
    if (!run->opt->restart)
        return true;
    loadgen_ws_counts(the_ws, &c);
    return c.first_drop_ns && c.down == 0;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

struct report {
    size_t conns, failed_conns;
    size_t nrtt;
    const uint32_t *rtt_us;   /* sorted */
    double reconnect_seconds; /* -1: no restart seen, or not every socket came back */
    double recovered_seconds;
    long rss_before, rss_connected, rss_end;
    double gen_cpu_pct, push_cpu_pct, window_seconds, settle_seconds;
    uint64_t settle_frames;
    struct loadgen_ws_counts counts;
};

static double ms(uint32_t us)
{
    return us / 1000.0;
}

static void print_report(const struct loadgen_run *run, const struct report *r)
{
    const struct loadgen_options *opt = run->opt;
    uint64_t lost = run->expected > run->received ? run->expected - run->received : 0;
    double span = (double)(run->last_delivery_ns - run->first_delivery_ns) / 1e9;
    double dps = span > 0 ? (double)run->received / span : 0;
    long rss_delta = r->rss_before >= 0 && r->rss_connected >= 0 ? r->rss_connected - r->rss_before : -1;
    double rss_per_conn = rss_delta >= 0 && r->conns ? rss_delta * 1024.0 / (double)r->conns : -1;
    const uint32_t *lat = run->latency_us;
    size_t n = run->nlatency;
    double p50 = ms(loadgen_quantile(lat, n, 0.5)), p99 = ms(loadgen_quantile(lat, n, 0.99));
    double p999 = ms(loadgen_quantile(lat, n, 0.999)), max = ms(n ? lat[n - 1] : 0);
    double post50 = ms(loadgen_quantile(run->post_us, run->npost, 0.5));
    double post99 = ms(loadgen_quantile(run->post_us, run->npost, 0.99));

    printf("== chat-loadgen %s: %zu sockets over %zu conversations, %.0f msg/s for %.0f s\n",
           opt->label, r->conns, run->plan.nconvs, opt->rate, opt->seconds);
    printf("  connections            %zu authenticated, %zu failed, in %.2f s; then %llu other "
           "frames (hello, presence) until 1 s of quiet, %.1f s\n",
           r->conns - r->failed_conns, r->failed_conns, r->counts.connect_seconds,
           (unsigned long long)r->settle_frames, r->settle_seconds);
    if (r->nrtt > 0)
        printf("  ping during the storm  %zu round trips from %d probes: p50 %.2f ms, p99 %.2f ms, "
               "max %.2f ms\n",
               r->nrtt, opt->probes, ms(loadgen_quantile(r->rtt_us, r->nrtt, 0.5)),
               ms(loadgen_quantile(r->rtt_us, r->nrtt, 0.99)), ms(r->rtt_us[r->nrtt - 1]));
    if (opt->restart)
        printf("  daemon restart         every socket back in %.2f s after the first drop; every "
               "message sent until then delivered %.2f s after it (-1: never)\n",
               r->reconnect_seconds, r->recovered_seconds);
    if (run->nmessages > 0) {
        printf("  messages               %zu planned, %llu created (201), %llu failed, %llu sent >10 ms late\n",
               run->nmessages, (unsigned long long)run->posts_created,
               (unsigned long long)run->posts_failed, (unsigned long long)run->posts_late);
        printf("  POST response          p50 %.2f ms, p99 %.2f ms\n", post50, post99);
        printf("  deliveries             %llu expected, %llu received, %llu lost, %llu duplicated, "
               "%llu on wrong sockets\n",
               (unsigned long long)run->expected, (unsigned long long)run->received,
               (unsigned long long)lost, (unsigned long long)run->duplicates,
               (unsigned long long)run->foreign);
        printf("  POST -> delivery       p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n", p50,
               p99, p999, max);
        printf("  delivery rate          %.0f deliveries/s (first to last delivery, %.2f s)\n", dps,
               span);
    }
    printf("  sockets                %llu disconnects (resumed), %llu resync_required, %llu "
           "error frames, last close code %d\n",
           (unsigned long long)r->counts.disconnects, (unsigned long long)r->counts.resyncs,
           (unsigned long long)r->counts.errors, r->counts.last_close_code);
    if (rss_per_conn >= 0)
        printf("  chat-push RSS          %ld KiB before, %ld KiB with the sockets open, %ld KiB at "
               "the end: %.2f KiB per connection\n",
               r->rss_before, r->rss_connected, r->rss_end, rss_per_conn / 1024.0);
    printf("  CPU                    generator %.0f%% of one core (both threads), chat-push %.0f%%, "
           "over %.1f s\n",
           r->gen_cpu_pct, r->push_cpu_pct, r->window_seconds);
    printf("LOADGEN label=%s conns=%zu failed_conns=%zu convs=%zu rate=%.0f messages=%zu "
           "created=%llu post_failed=%llu late=%llu expected=%llu received=%llu lost=%llu "
           "dup=%llu foreign=%llu p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f dps=%.0f "
           "rss_before_kib=%ld rss_conn_kib=%ld rss_end_kib=%ld rss_per_conn_kib=%.2f "
           "gen_cpu_pct=%.0f push_cpu_pct=%.0f connect_s=%.2f settle_s=%.1f settle_frames=%llu "
           "disconnects=%llu resyncs=%llu post_p50_ms=%.2f "
           "post_p99_ms=%.2f ping_n=%zu ping_p50_ms=%.2f ping_p99_ms=%.2f "
           "ping_max_ms=%.2f reconnect_s=%.2f recovered_s=%.2f\n",
           opt->label, r->conns, r->failed_conns, run->plan.nconvs, opt->rate, run->nmessages,
           (unsigned long long)run->posts_created, (unsigned long long)run->posts_failed,
           (unsigned long long)run->posts_late, (unsigned long long)run->expected,
           (unsigned long long)run->received, (unsigned long long)lost,
           (unsigned long long)run->duplicates, (unsigned long long)run->foreign, p50, p99, p999,
           max, dps, r->rss_before, r->rss_connected, r->rss_end,
           rss_per_conn >= 0 ? rss_per_conn / 1024.0 : -1.0, r->gen_cpu_pct, r->push_cpu_pct,
           r->counts.connect_seconds, r->settle_seconds, (unsigned long long)r->settle_frames,
           (unsigned long long)r->counts.disconnects,
           (unsigned long long)r->counts.resyncs, post50, post99, r->nrtt, ms(loadgen_quantile(r->rtt_us, r->nrtt, 0.5)),
           ms(loadgen_quantile(r->rtt_us, r->nrtt, 0.99)), ms(r->nrtt ? r->rtt_us[r->nrtt - 1] : 0),
           r->reconnect_seconds, r->recovered_seconds);
    if (run->first_bad[0])
        printf("  first failed POST      %s\n", run->first_bad);
    fflush(stdout);
}

/* After a restart: from the first socket that dropped until every socket was back, and
 * until every message sent by then had reached every recipient (-1 when that never
 * happened). */
static void restart_times(const struct loadgen_run *run, const struct loadgen_ws_counts *c,
                          struct report *r)
{
    r->reconnect_seconds = r->recovered_seconds = -1;
    if (!c->first_drop_ns || c->down > 0 || c->last_reopen_ns < c->first_drop_ns)
        return;
    r->reconnect_seconds = (double)(c->last_reopen_ns - c->first_drop_ns) / 1e9;
    int64_t done = c->last_reopen_ns;
    for (size_t k = 0; k < run->nmessages; k++) {
        const struct loadgen_message *m = &run->messages[k];
        int64_t sent = atomic_load(&m->sent_ns);
        if (!sent || sent > c->last_reopen_ns ||
            atomic_load(&m->post_state) != LOADGEN_POST_CREATED)
            continue;
        if (m->received < run->plan.convs[m->conv].nmembers)
            return; /* lost: never recovered */
        if (m->last_ns > done)
            done = m->last_ns;
    }
    r->recovered_seconds = (double)(done - c->first_drop_ns) / 1e9;
}

static uint64_t expected_deliveries(const struct loadgen_run *run)
{
    uint64_t n = 0;
    for (size_t k = 0; k < run->nmessages; k++) {
        if (atomic_load(&run->messages[k].post_state) == LOADGEN_POST_CREATED)
            n += run->plan.convs[run->messages[k].conv].nmembers;
    }
    return n;
}

int main(int argc, char **argv)
{
    struct loadgen_options opt;
    struct loadgen_run run;
    struct loadgen_ws *ws = NULL;
    struct loadgen_probes *probes = NULL;
    struct report rep;
    int rc = 1;
    memset(&run, 0, sizeof(run));
    memset(&rep, 0, sizeof(rep));
    chat_log_set_program("chat-loadgen");
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (parse_options(argc, argv, &opt) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    run.opt = &opt;
    if (loadgen_plan_read(opt.plan_path, &run.plan) != 0)
        return 1;
    if (raise_file_limit(run.plan.nconns + (size_t)opt.http_conns + (size_t)opt.probes + 256) != 0 ||
        plan_messages(&run) != 0)
        goto out;
    rep.conns = run.plan.nconns;
    rep.rss_before = opt.push_pid ? loadgen_rss_kib(opt.push_pid) : -1;

    ws = loadgen_ws_new(&run);
    if (!ws)
        goto out;
    if (opt.probes > 0) {
        size_t n = (size_t)opt.probes < run.plan.nconns ? (size_t)opt.probes : run.plan.nconns;
        probes = loadgen_probes_open(&opt, run.plan.conn_user, n);
        if (!probes || loadgen_probes_start(probes) != 0)
            goto out;
    }
    rep.failed_conns = loadgen_ws_connect_all(ws);
    loadgen_probes_stop(probes); /* the storm is over */
    rep.rtt_us = loadgen_probes_samples(probes, &rep.nrtt);
    settle_start_ns = loadgen_now_ns();
    loadgen_ws_service_until(ws, settle_start_ns + SETTLE_MAX_NS, quiet);
    rep.settle_seconds = (double)(loadgen_now_ns() - settle_start_ns) / 1e9;
    rep.settle_frames = run.other_frames;
    rep.rss_connected = opt.push_pid ? loadgen_rss_kib(opt.push_pid) : -1;
    if (opt.restart && rep.failed_conns == 0) {
        printf("LOADGEN_READY\n"); /* scripts/bench.sh restarts the daemon now */
        fflush(stdout);
    }

    int64_t t0 = loadgen_now_ns();
    double cpu0 = cpu_seconds();
    double push_cpu0 = opt.push_pid ? loadgen_process_cpu_seconds(opt.push_pid) : -1;
    if (rep.failed_conns == 0 && run.nmessages > 0) {
        if (loadgen_http_start(&run) != 0)
            goto out;
        loadgen_ws_service_until(ws, INT64_MAX, sender_finished);
        loadgen_http_join(&run);
        run.expected = expected_deliveries(&run);
        int64_t drain = loadgen_now_ns() + (int64_t)(opt.drain_seconds * 1e9);
        the_ws = ws;
        loadgen_ws_service_until(ws, drain, all_received);
    } else if (rep.failed_conns == 0) {
        loadgen_ws_service_until(ws, t0 + (int64_t)(opt.seconds * 1e9), NULL);
    }
    rep.window_seconds = (double)(loadgen_now_ns() - t0) / 1e9;
    rep.gen_cpu_pct = rep.window_seconds > 0 ? 100 * (cpu_seconds() - cpu0) / rep.window_seconds : 0;
    double push_cpu1 = opt.push_pid ? loadgen_process_cpu_seconds(opt.push_pid) : -1;
    rep.push_cpu_pct = push_cpu0 >= 0 && push_cpu1 >= 0 && rep.window_seconds > 0
                           ? 100 * (push_cpu1 - push_cpu0) / rep.window_seconds
                           : -1;
    rep.rss_end = opt.push_pid ? loadgen_rss_kib(opt.push_pid) : -1;
    if (run.nmessages == 0)
        rep.rss_connected = rep.rss_end; /* idle: memory after the hold */
    loadgen_ws_counts(ws, &rep.counts);
    restart_times(&run, &rep.counts, &rep);

    loadgen_sort_u32(run.latency_us, run.nlatency);
    loadgen_sort_u32(run.post_us, run.npost);
    print_report(&run, &rep);
    rc = rep.failed_conns == 0 && run.posts_failed == 0 &&
                 (!opt.restart || rep.recovered_seconds >= 0)
             ? 0
             : 1;
out:
    loadgen_ws_free(ws);
    loadgen_probes_free(probes);
    free(run.messages);
    free(run.seen_words);
    free(run.latency_us);
    free(run.post_us);
    loadgen_plan_free(&run.plan);
    return rc;
}
