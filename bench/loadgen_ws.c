/* The WebSocket side of the load generator: one lws client connection per plan member,
 * authenticated with "Authorization: Bearer" on the upgrade, and the bookkeeping of every
 * message.created frame that arrives.
 *
 * The client runs lws on a libev loop of its own (a "foreign loop") and drives it with
 * ev_run(EVRUN_ONCE), so that it regains control to start connections and to stop on
 * time, which lws_service() under libev would not give (LWS-FACTS.md). A 10 ms ev_timer
 * (not an lws timer: those fire late under libev in lws 4.1.6) bounds each round. lws's
 * default poll() loop would scan all 10,000 sockets on every wake-up: with it, the
 * generator used 65% of a core just holding scenario 3's idle sockets.
 * Frames are scanned with memmem() instead of a JSON parser, because at 100,000
 * deliveries/s the generator's CPU is part of what is measured. */
#include <ev.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "log.h"

#define TICK_SECONDS 0.01
#define MAX_ATTEMPTS 3          /* per connection, while connecting */
/* A socket that was open and dropped (the daemon restarted) retries for as long as the
 * run lasts, this far apart, like a real client's backoff floor. */
#define RECONNECT_DELAY_NS 100000000LL
#define FRAME_MAX 65536         /* longest server frame kept for scanning */
#define RX_BUFFER 2048

enum conn_state { CONN_QUEUED, CONN_CONNECTING, CONN_OPEN, CONN_FAILED };
enum ws_phase { PHASE_RUNNING, PHASE_CLOSING };

struct ws_conn {
    struct lws *wsi;
    size_t index;
    enum conn_state state;
    int attempts;
    long long last_event_id; /* highest event_id received: resumes after a disconnect */
    bool reconnecting;       /* dropped after its hello: retried until the run ends */
    int64_t retry_at_ns;     /* not started again before this */
    char *frag;              /* a fragmented frame so far (NULL when none) */
    size_t frag_len;
};

struct loadgen_ws {
    struct loadgen_run *run;
    struct lws_context *context;
    struct ws_conn *conns;
    size_t nconns;
    size_t *queue;           /* connections waiting to be (re)opened: a ring of nconns */
    size_t queue_head, queue_len;
    size_t in_flight, open, failed;
    enum ws_phase phase;
    struct ev_loop *loop;
    ev_timer tick;
    struct loadgen_ws_counts counts;
    char host[128];
    int errors_logged;
    size_t down;             /* sockets that dropped and are not open again */
    int64_t first_drop_ns, last_reopen_ns;
};

static void queue_push(struct loadgen_ws *ws, struct ws_conn *c)
{
    c->state = CONN_QUEUED;
    ws->queue[(ws->queue_head + ws->queue_len) % ws->nconns] = c->index;
    ws->queue_len++;
}

static void connect_failed(struct loadgen_ws *ws, struct ws_conn *c, const char *why);

/* No lws validity timer per socket: lws 4.1.6 keeps every connection's timer in one
 * sorted list and inserts each new one by walking it from the head, so 10,000 sockets
 * cost 10,000 x 10,000 steps and the generator, not the daemon, would set the pace. */
static const lws_retry_bo_t no_validity = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};

static void start_connection(struct loadgen_ws *ws, struct ws_conn *c)
{
    const struct loadgen_options *opt = ws->run->opt;
    char path[64];
    if (c->last_event_id > 0)
        snprintf(path, sizeof(path), "/ws/?last_event_id=%lld", c->last_event_id);
    else
        snprintf(path, sizeof(path), "/ws/");
    struct lws_client_connect_info info;
    memset(&info, 0, sizeof(info));
    info.context = ws->context;
    info.address = opt->push_host;
    info.port = opt->push_port;
    info.path = path;
    info.host = ws->host;
    info.opaque_user_data = c;
    info.retry_and_idle_policy = &no_validity;
    info.pwsi = &c->wsi;
    c->state = CONN_CONNECTING;
    c->attempts++;
    ws->in_flight++;
    /* A NULL return has usually run CLIENT_CONNECTION_ERROR already, which did the
     * accounting; if it has not (a failure before lws made the wsi), do it here. */
    if (!lws_client_connect_via_info(&info) && c->state == CONN_CONNECTING)
        connect_failed(ws, c, "lws_client_connect_via_info failed");
}

/* Starts queued connections while fewer than connect_window handshakes are in flight. */
static void start_more(struct loadgen_ws *ws)
{
    size_t window = (size_t)ws->run->opt->connect_window;
    int64_t now = loadgen_now_ns();
    while (ws->queue_len > 0 && ws->in_flight < window && ws->phase == PHASE_RUNNING) {
        struct ws_conn *c = &ws->conns[ws->queue[ws->queue_head]];
        /* The queue is in the order connections became due, so the head decides. */
        if (c->retry_at_ns > now)
            break;
        ws->queue_head = (ws->queue_head + 1) % ws->nconns;
        ws->queue_len--;
        start_connection(ws, c);
    }
}

/* A connection that was connecting failed or closed: retry it, or give up on it. */
static void connect_failed(struct loadgen_ws *ws, struct ws_conn *c, const char *why)
{
    ws->in_flight--;
    c->wsi = NULL;
    if (ws->errors_logged < 5) {
        ws->errors_logged++;
        log_warn("connection %zu (user %lld), attempt %d: %s", c->index,
                 ws->run->plan.conn_user[c->index], c->attempts, why);
    }
    if ((c->reconnecting || c->attempts < MAX_ATTEMPTS) && ws->phase == PHASE_RUNNING) {
        if (c->reconnecting)
            c->retry_at_ns = loadgen_now_ns() + RECONNECT_DELAY_NS;
        queue_push(ws, c);
    } else {
        c->state = CONN_FAILED;
        ws->failed++;
    }
}

/* ---- frames ---- */

/* Finds "key": (key given with its quotes and colon) and returns what follows, skipping
 * spaces, or NULL. */
static const char *find_value(const char *s, size_t len, const char *key)
{
    size_t klen = strlen(key);
    const char *p = memmem(s, len, key, klen);
    if (!p)
        return NULL;
    p += klen;
    const char *end = s + len;
    while (p < end && *p == ' ')
        p++;
    return p < end ? p : NULL;
}

static long long parse_digits(const char *p, const char *end)
{
    long long v = 0;
    int n = 0;
    while (p < end && *p >= '0' && *p <= '9' && n < 18) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    return n ? v : -1;
}

static bool type_is(const char *type, const char *end, const char *want)
{
    size_t n = strlen(want);
    return type && (size_t)(end - type) > n + 1 && type[0] == '"' &&
           memcmp(type + 1, want, n) == 0 && type[n + 1] == '"';
}

/* Counts one message.created frame of this run: first delivery, duplicate, or a frame
 * on a socket that should not have had it. */
static void record_delivery(struct loadgen_ws *ws, struct ws_conn *c, const char *frame,
                            size_t len, int64_t now)
{
    struct loadgen_run *run = ws->run;
    const char *end = frame + len;
    const char *id = find_value(frame, len, "\"client_msg_id\":");
    size_t tag_len = strlen(run->opt->tag);
    if (!id || (size_t)(end - id) < tag_len + 3 || id[0] != '"' ||
        memcmp(id + 1, run->opt->tag, tag_len) != 0 || id[tag_len + 1] != '-')
        return; /* not one of ours (another run, or another client) */
    long long k = parse_digits(id + tag_len + 2, end);
    if (k < 0 || (size_t)k >= run->nmessages)
        return;
    struct loadgen_message *m = &run->messages[k];
    run->deliveries++;
    if (!run->first_delivery_ns)
        run->first_delivery_ns = now;
    run->last_delivery_ns = now;
    if (run->plan.conn_conv[c->index] != m->conv) {
        run->foreign++;
        return;
    }
    size_t member = run->plan.conn_member[c->index];
    uint64_t bit = (uint64_t)1 << (member % 64);
    if (m->seen[member / 64] & bit) {
        run->duplicates++;
        return;
    }
    m->seen[member / 64] |= bit;
    m->received++;
    m->last_ns = now;
    run->received++;
    int64_t sent = atomic_load(&m->sent_ns);
    int64_t us = sent > 0 && now > sent ? (now - sent) / 1000 : 0;
    if (run->nlatency < run->latency_cap)
        run->latency_us[run->nlatency++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void handle_frame(struct loadgen_ws *ws, struct ws_conn *c, const char *frame,
                         size_t len)
{
    int64_t now = loadgen_now_ns();
    const char *end = frame + len;
    const char *type = find_value(frame, len, "\"type\":");
    ws->run->last_frame_ns = now;
    if (!type_is(type, end, "message.created"))
        ws->run->other_frames++;
    const char *eid = find_value(frame, len, "\"event_id\":");
    if (eid) {
        long long id = parse_digits(eid, end);
        if (id > c->last_event_id)
            c->last_event_id = id;
    }
    if (type_is(type, end, "message.created")) {
        record_delivery(ws, c, frame, len, now);
    } else if (type_is(type, end, "hello")) {
        /* Every event after hello's position reaches this socket: a reconnect resumes
         * from it even when no event arrived before the drop. */
        const char *pos = find_value(frame, len, "\"last_event_id\":");
        long long at = pos ? parse_digits(pos, end) : -1;
        if (at > c->last_event_id)
            c->last_event_id = at;
        if (c->state == CONN_CONNECTING) {
            c->state = CONN_OPEN;
            ws->in_flight--;
            ws->open++;
            if (c->reconnecting) {
                c->reconnecting = false;
                if (--ws->down == 0)
                    ws->last_reopen_ns = now;
            }
        }

    } else if (type_is(type, end, "resync_required")) {
        ws->counts.resyncs++;
    } else if (type_is(type, end, "error")) {
        ws->counts.errors++;
        if (ws->errors_logged < 5) {
            ws->errors_logged++;
            log_warn("error frame on connection %zu: %.*s", c->index, (int)(len > 200 ? 200 : len),
                     frame);
        }
    }
}

static void receive(struct loadgen_ws *ws, struct ws_conn *c, struct lws *wsi, const char *in,
                    size_t len)
{
    bool final = lws_is_final_fragment(wsi);
    if (!c->frag && final) {
        handle_frame(ws, c, in, len);
        return;
    }
    if (!c->frag) {
        c->frag = malloc(FRAME_MAX);
        c->frag_len = 0;
        if (!c->frag)
            return;
    }
    if (c->frag_len + len <= FRAME_MAX) {
        memcpy(c->frag + c->frag_len, in, len);
        c->frag_len += len;
    } else {
        c->frag_len = FRAME_MAX + 1; /* too long: dropped when complete */
    }
    if (final) {
        if (c->frag_len <= FRAME_MAX)
            handle_frame(ws, c, c->frag, c->frag_len);
        free(c->frag);
        c->frag = NULL;
        c->frag_len = 0;
    }
}

/* The socket went away: before hello it is a failed attempt; after, a disconnect that
 * the client answers like a real one, by reconnecting with ?last_event_id. */
static void closed(struct loadgen_ws *ws, struct ws_conn *c, const char *why)
{
    free(c->frag);
    c->frag = NULL;
    c->frag_len = 0;
    if (c->state == CONN_CONNECTING) {
        connect_failed(ws, c, why);
    } else if (c->state == CONN_OPEN) {
        c->wsi = NULL;
        ws->open--;
        if (ws->phase == PHASE_RUNNING) {
            ws->counts.disconnects++;
            c->attempts = 0;
            c->reconnecting = true;
            if (ws->down++ == 0 && !ws->first_drop_ns)
                ws->first_drop_ns = loadgen_now_ns();
            queue_push(ws, c);
        }
    }
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    struct lws_context *context = lws_get_context(wsi);
    struct loadgen_ws *ws = context ? lws_context_user(context) : NULL;
    struct ws_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!ws || !c)
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
        unsigned char **p = (unsigned char **)in, *end = *p + len;
        char auth[LOADGEN_TOKEN_PREFIX_MAX + 40];
        int n = snprintf(auth, sizeof(auth), "Bearer %s%lld", ws->run->opt->token_prefix,
                         ws->run->plan.conn_user[c->index]);
        if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
                                         (const unsigned char *)auth, n, p, end))
            return -1;
        break;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
        receive(ws, c, wsi, in, len);
        break;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (len >= 2) {
            const unsigned char *b = in;
            ws->counts.last_close_code = b[0] << 8 | b[1];
        }
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c->state == CONN_CONNECTING)
            connect_failed(ws, c, in && len ? (const char *)in : "connection error");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        closed(ws, c, "closed before hello");
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {.name = "chat-loadgen", .callback = callback, .rx_buffer_size = RX_BUFFER},
    {0},
};

/* Only ends the ev_run() round; the caller's loop does the work. */
static void on_tick(struct ev_loop *loop, ev_timer *timer, int revents)
{
    (void)loop;
    (void)timer;
    (void)revents;
}

struct loadgen_ws *loadgen_ws_new(struct loadgen_run *run)
{
    struct loadgen_ws *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    ws->run = run;
    ws->nconns = run->plan.nconns;
    ws->conns = calloc(ws->nconns, sizeof(*ws->conns));
    ws->queue = calloc(ws->nconns, sizeof(*ws->queue));
    if (!ws->conns || !ws->queue)
        goto fail;
    snprintf(ws->host, sizeof(ws->host), "%s:%d", run->opt->push_host, run->opt->push_port);
    lws_set_log_level(LLL_ERR, NULL);
    ws->loop = ev_loop_new(EVFLAG_AUTO);
    if (!ws->loop) {
        log_error("cannot create a libev loop");
        goto fail;
    }
    void *loops[1] = {ws->loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    info.user = ws;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_LIBEV;
    info.foreign_loops = loops;
    ws->context = lws_create_context(&info);
    if (!ws->context) {
        log_error("cannot create the libwebsockets client context on libev (is "
                  "libwebsockets-evlib-ev installed?)");
        goto fail;
    }
    for (size_t i = 0; i < ws->nconns; i++) {
        ws->conns[i].index = i;
        queue_push(ws, &ws->conns[i]);
    }
    ev_timer_init(&ws->tick, on_tick, TICK_SECONDS, TICK_SECONDS);
    ev_timer_start(ws->loop, &ws->tick);
    return ws;
fail:
    if (ws->loop)
        ev_loop_destroy(ws->loop);
    free(ws->conns);
    free(ws->queue);
    free(ws);
    return NULL;
}

void loadgen_ws_free(struct loadgen_ws *ws)
{
    if (!ws)
        return;
    ws->phase = PHASE_CLOSING;
    ev_timer_stop(ws->loop, &ws->tick);
    if (ws->context)
        lws_context_destroy(ws->context); /* closes every socket */
    ev_loop_destroy(ws->loop);
    for (size_t i = 0; i < ws->nconns; i++)
        free(ws->conns[i].frag);
    free(ws->conns);
    free(ws->queue);
    free(ws);
}

size_t loadgen_ws_connect_all(struct loadgen_ws *ws)
{
    int64_t start = loadgen_now_ns();
    int64_t deadline = start + (int64_t)(ws->run->opt->connect_timeout * 1e9);
    while (ws->open + ws->failed < ws->nconns && loadgen_now_ns() < deadline) {
        start_more(ws);
        ev_run(ws->loop, EVRUN_ONCE);
    }
    ws->counts.connect_seconds = (double)(loadgen_now_ns() - start) / 1e9;
    return ws->nconns - ws->open;
}

void loadgen_ws_service_until(struct loadgen_ws *ws, int64_t deadline_ns,
                              bool (*done)(struct loadgen_run *run))
{
    while (loadgen_now_ns() < deadline_ns && !(done && done(ws->run))) {
        start_more(ws);
        ev_run(ws->loop, EVRUN_ONCE);
    }
}


void loadgen_ws_counts(const struct loadgen_ws *ws, struct loadgen_ws_counts *out)
{
    *out = ws->counts;
    out->open = ws->open;
    out->down = ws->down;
    out->first_drop_ns = ws->first_drop_ns;
    out->last_reopen_ns = ws->last_reopen_ns;
}
