/* chat-loadgen: the WebSocket load generator behind `make bench` (scripts/bench.sh).
 *
 * It opens one authenticated WebSocket to chat-push per user of a plan (conversations
 * and their members), POSTs messages through the REST API at a set rate on keep-alive
 * HTTP connections, and records, for every recipient socket, when each message arrived.
 *
 * Threads: the main thread runs the lws client loop (loadgen_ws.c) and owns every
 * connection; one sender thread (loadgen_http.c) owns the HTTP connections. They share
 * only the message table: the sender stores a message's send time and POST outcome
 * (atomically) before and after its request; the main thread reads the send time when a
 * delivery arrives and owns the delivery bitmaps and the latency samples. */
#ifndef CHAT_LOADGEN_H
#define CHAT_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest client_msg_id tag (the run-unique prefix). */
#define LOADGEN_TAG_MAX 24
#define LOADGEN_TOKEN_PREFIX_MAX 64

/* POST outcome of one message. */
enum loadgen_post_state {
    LOADGEN_POST_PENDING = 0, /* not sent yet, or no answer yet */
    LOADGEN_POST_CREATED,     /* 201 */
    LOADGEN_POST_FAILED,      /* another status, or the connection failed */
};

struct loadgen_conv {
    long long id;
    size_t nmembers;
    long long *user_ids; /* nmembers; owned by the plan */
    size_t *conn_index;  /* nmembers: the connection of each member */
};

struct loadgen_message {
    _Atomic int64_t sent_ns;     /* monotonic; 0 until the request is written */
    _Atomic int post_state;      /* enum loadgen_post_state */
    uint32_t conv;               /* index into plan.convs */
    uint32_t sender;             /* member index of the sender */
    uint32_t received;           /* distinct recipients that got it (main thread) */
    int64_t last_ns;             /* its last first-delivery to a recipient (main thread) */
    uint64_t *seen;              /* bitmap over members (main thread); into seen_words */
};

struct loadgen_options {
    const char *plan_path;
    const char *push_host;
    int push_port;
    const char *api_host;
    int api_port;
    char token_prefix[LOADGEN_TOKEN_PREFIX_MAX];
    char tag[LOADGEN_TAG_MAX];
    const char *label;
    double rate;            /* messages per second over all conversations; 0 = idle */
    double seconds;         /* how long to send (or, when idle, to hold the sockets) */
    double drain_seconds;   /* how long to wait for missing deliveries after the last POST */
    double connect_timeout; /* for opening every socket */
    int http_conns;         /* keep-alive connections to the API */
    int connect_window;     /* WebSocket handshakes in flight at once */
    long push_pid;          /* chat-push, for VmRSS; 0 = not measured */
    int probes;             /* extra sockets, connected first, that ping during the
                             * storm (0 = none; loadgen_probe.c) */
    int probe_interval_ms;  /* between a probe's pong and its next ping */
    bool restart;           /* print LOADGEN_READY once connected; the daemon is expected
                             * to restart while messages are sent */
};

struct loadgen_plan {
    struct loadgen_conv *convs;
    size_t nconvs;
    size_t nconns; /* one connection per distinct user */
    long long *conn_user;  /* nconns: the user of each connection */
    size_t *conn_conv;     /* nconns: the conversation of each connection */
    size_t *conn_member;   /* nconns: its member index in that conversation */
};

/* Everything one run measures. Written by the main thread except where noted. */
struct loadgen_run {
    const struct loadgen_options *opt;
    struct loadgen_plan plan;
    struct loadgen_message *messages; /* nmessages, planned up front */
    size_t nmessages;
    uint64_t *seen_words;             /* backing store of every message's bitmap */

    uint32_t *latency_us;             /* one sample per first delivery */
    size_t nlatency, latency_cap;
    uint64_t deliveries;              /* every message.created of this run, dups included */
    uint64_t received;                /* first deliveries: sum of messages[].received */
    uint64_t expected;                /* set once the sender is done: created x members */
    uint64_t duplicates;
    uint64_t foreign;                 /* arrived on a socket that is not a recipient */
    int64_t first_delivery_ns, last_delivery_ns;
    int64_t last_frame_ns;            /* any frame on any socket */
    uint64_t other_frames;            /* frames that are not this run's messages */

    /* Written by the sender thread; read by the main thread after it has finished. */
    int64_t send_start_ns, send_end_ns;
    uint64_t posts_created, posts_failed, posts_late;
    uint32_t *post_us;                /* POST response times, one per answered POST */
    size_t npost;
    char first_bad[200];              /* the first failed POST: status and body start */
    _Atomic bool sender_done;
};

/* ---- loadgen_plan.c ---- */

/* Reads the plan: one conversation per line, "CONV_ID USER_ID USER_ID ...". Each user may
 * appear in one conversation only (it gets one connection). Returns 0, or -1 with a
 * message on stderr. Free with loadgen_plan_free(). */
int loadgen_plan_read(const char *path, struct loadgen_plan *plan);
void loadgen_plan_free(struct loadgen_plan *plan);

/* ---- loadgen_ws.c ---- */

struct loadgen_ws;

/* Creates the lws client context for plan.nconns connections. Returns NULL (message
 * logged) on failure. Free with loadgen_ws_free(). */
struct loadgen_ws *loadgen_ws_new(struct loadgen_run *run);
void loadgen_ws_free(struct loadgen_ws *ws);

/* Opens every connection and waits until each has received its hello frame. Returns the
 * number of connections that failed (0 = all authenticated). */
size_t loadgen_ws_connect_all(struct loadgen_ws *ws);

/* Services the sockets until deadline_ns (monotonic), or earlier when done() returns
 * true (checked after each service round). */
void loadgen_ws_service_until(struct loadgen_ws *ws, int64_t deadline_ns,
                              bool (*done)(struct loadgen_run *run));

struct loadgen_ws_counts {
    size_t open;          /* authenticated connections now */
    uint64_t disconnects; /* closes while the run was going (each one resumes) */
    uint64_t resyncs;     /* resync_required frames */
    uint64_t errors;      /* error frames */
    int last_close_code;
    double connect_seconds; /* to open and authenticate every socket */
    size_t down;            /* dropped and not open again */
    int64_t first_drop_ns;  /* the first socket that dropped after its hello (0 = none) */
    int64_t last_reopen_ns; /* the moment the last dropped socket had its hello again */
};
void loadgen_ws_counts(const struct loadgen_ws *ws, struct loadgen_ws_counts *out);


/* ---- loadgen_http.c ---- */

/* A blocking TCP connection to host:port with TCP_NODELAY; the socket, or -1 (logged). */
int loadgen_connect_tcp(const char *host, int port);

/* Starts the sender thread: POSTs run->nmessages messages at opt->rate. Returns 0, or -1
 * (message logged). loadgen_http_join() waits for it; run->sender_done turns true first. */
int loadgen_http_start(struct loadgen_run *run);
void loadgen_http_join(struct loadgen_run *run);

/* ---- loadgen_probe.c ---- */

struct loadgen_probes;

/* Opens n extra WebSockets as the users user_ids[0 .. n) (plain blocking sockets on a
 * thread of their own, so that the lws client's work in a storm does not delay what
 * they measure) and waits for each hello. Returns NULL (logged) on failure. */
struct loadgen_probes *loadgen_probes_open(const struct loadgen_options *opt,
                                           const long long *user_ids, size_t n);
/* Starts the thread: it sends {"type":"ping"} on each probe in turn, every
 * opt->probe_interval_ms per socket, and records each pong's round trip. */
int loadgen_probes_start(struct loadgen_probes *p);
/* Stops the thread and closes the probes; the round trips (µs, sorted) stay readable
 * through loadgen_probes_samples until loadgen_probes_free. */
void loadgen_probes_stop(struct loadgen_probes *p);
const uint32_t *loadgen_probes_samples(struct loadgen_probes *p, size_t *n);
void loadgen_probes_free(struct loadgen_probes *p);

/* ---- loadgen_stats.c ---- */

int64_t loadgen_now_ns(void);
/* VmRSS of a process in KiB, or -1 when it cannot be read. */
long loadgen_rss_kib(long pid);
/* CPU time (user + system) a process has used so far, in seconds; -1 when unreadable. */
double loadgen_process_cpu_seconds(long pid);
/* The value at quantile q (0..1) of n sorted samples; 0 when n is 0. */
uint32_t loadgen_quantile(const uint32_t *sorted, size_t n, double q);
void loadgen_sort_u32(uint32_t *v, size_t n);

#endif
