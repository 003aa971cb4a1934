/* The probes: a few WebSockets on plain blocking sockets, driven by a thread of their
 * own, that ping chat-push while the lws client opens every other socket (the connect
 * storm). Their round trips measure how long the daemon's event loop takes to answer an
 * already connected client; on the lws client's own loop they would also include the
 * generator's work for thousands of handshakes.
 *
 * The WebSocket framing is the least a client needs (RFC 6455): the upgrade with the
 * Bearer token, masked text frames out, unmasked frames in. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadgen.h"
#include "log.h"

#define PROBE_BUF 65536
#define RTT_MAX 1000000
#define IO_TIMEOUT_MS 10000

struct probe {
    int fd;
    size_t len;             /* bytes in buf not yet parsed */
    unsigned char buf[PROBE_BUF];
};

struct loadgen_probes {
    const struct loadgen_options *opt;
    struct probe *probes;
    size_t n;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    uint32_t *rtt_us;
    size_t nrtt;
};

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads more bytes into the probe's buffer, waiting at most IO_TIMEOUT_MS. */
static int read_more(struct probe *p)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    if (p->len == sizeof(p->buf) || poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
        return -1;
    ssize_t r = recv(p->fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
    if (r <= 0)
        return -1;
    p->len += (size_t)r;
    return 0;
}

/* The next complete server frame: its payload in *payload (valid until the next call),
 * its opcode returned; -1 on an error or timeout. */
static int next_frame(struct probe *p, const unsigned char **payload, size_t *plen,
                      size_t *consumed)
{
    for (;;) {
        if (p->len >= 2) {
            size_t head = 2, len = p->buf[1] & 0x7f;
            if (len == 126 && p->len >= 4) {
                len = (size_t)p->buf[2] << 8 | p->buf[3];
                head = 4;
            } else if (len == 127 && p->len >= 10) {
                len = 0;
                for (int i = 2; i < 10; i++)
                    len = len << 8 | p->buf[i];
                head = 10;
            } else if (len >= 126) {
                head = 0; /* the extended length is not in yet */
            }
            if (head && len > sizeof(p->buf) - head)
                return -1;
            if (head && p->len >= head + len) {
                *payload = p->buf + head;
                *plen = len;
                *consumed = head + len;
                return p->buf[0] & 0x0f;
            }
        }
        if (read_more(p) != 0)
            return -1;
    }
}

static void drop_frame(struct probe *p, size_t consumed)
{
    memmove(p->buf, p->buf + consumed, p->len - consumed);
    p->len -= consumed;
}

/* Reads frames until a text frame containing `want`; others (events, presence) are
 * skipped. */
static int wait_for(struct probe *p, const char *want)
{
    for (;;) {
        const unsigned char *payload;
        size_t plen, consumed;
        int op = next_frame(p, &payload, &plen, &consumed);
        if (op < 0 || op == 8) /* error, or a close frame */
            return -1;
        bool hit = op == 1 && memmem(payload, plen, want, strlen(want)) != NULL;
        drop_frame(p, consumed);
        if (hit)
            return 0;
    }
}

static int send_ping(struct probe *p)
{
    static const char text[] = "{\"type\":\"ping\"}";
    unsigned char frame[6 + sizeof(text)];
    size_t n = sizeof(text) - 1;
    unsigned char mask[4] = {(unsigned char)rand(), (unsigned char)rand(), (unsigned char)rand(),
                             (unsigned char)rand()};
    frame[0] = 0x81; /* FIN, text */
    frame[1] = 0x80 | (unsigned char)n;
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < n; i++)
        frame[6 + i] = (unsigned char)text[i] ^ mask[i % 4];
    return write_all(p->fd, frame, 6 + n);
}

/* The upgrade and the hello. */
static int open_probe(const struct loadgen_options *opt, long long user_id, struct probe *p)
{
    char req[512];
    p->len = 0;
    p->fd = loadgen_connect_tcp(opt->push_host, opt->push_port);
    if (p->fd < 0)
        return -1;
    int n = snprintf(req, sizeof(req),
                     "GET /ws/ HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s%lld\r\n\r\n",
                     opt->push_host, opt->push_port, opt->token_prefix, user_id);
    if (write_all(p->fd, req, (size_t)n) != 0)
        return -1;
    char *end;
    while (!(end = memmem(p->buf, p->len, "\r\n\r\n", 4)))
        if (read_more(p) != 0)
            return -1;
    if (p->len < 12 || memcmp(p->buf, "HTTP/1.1 101", 12) != 0) {
        log_error("probe for user %lld: the upgrade was refused: %.40s", user_id, p->buf);
        return -1;
    }
    drop_frame(p, (size_t)((unsigned char *)end + 4 - p->buf));
    return wait_for(p, "\"hello\"");
}

struct loadgen_probes *loadgen_probes_open(const struct loadgen_options *opt,
                                           const long long *user_ids, size_t n)
{
    struct loadgen_probes *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    ps->opt = opt;
    ps->probes = calloc(n, sizeof(*ps->probes));
    ps->rtt_us = calloc(RTT_MAX, sizeof(*ps->rtt_us));
    atomic_init(&ps->stop, false);
    if (!ps->probes || !ps->rtt_us) {
        loadgen_probes_free(ps);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        ps->probes[i].fd = -1;
    ps->n = n;
    for (size_t i = 0; i < n; i++) {
        if (open_probe(opt, user_ids[i], &ps->probes[i]) != 0) {
            log_error("probe %zu (user %lld) could not connect", i, user_ids[i]);
            loadgen_probes_free(ps);
            return NULL;
        }
    }
    return ps;
}

static void *probe_main(void *arg)
{
    struct loadgen_probes *ps = arg;
    /* One ping at a time, round-robin: each probe pings every interval. */
    int64_t step_ns = (int64_t)ps->opt->probe_interval_ms * 1000000 / (int64_t)ps->n;
    int64_t next = loadgen_now_ns();
    for (size_t i = 0; !atomic_load(&ps->stop); i = (i + 1) % ps->n) {
        int64_t now = loadgen_now_ns();
        if (next > now) {
            struct timespec ts = {.tv_sec = (next - now) / 1000000000,
                                  .tv_nsec = (next - now) % 1000000000};
            nanosleep(&ts, NULL);
        }
        next += step_ns;
        struct probe *p = &ps->probes[i];
        int64_t sent = loadgen_now_ns();
        if (send_ping(p) != 0 || wait_for(p, "\"pong\"") != 0) {
            log_warn("probe %zu: no pong; probes stopped", i);
            break;
        }
        int64_t us = (loadgen_now_ns() - sent) / 1000;
        if (ps->nrtt < RTT_MAX)
            ps->rtt_us[ps->nrtt++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    }
    return NULL;
}

int loadgen_probes_start(struct loadgen_probes *ps)
{
    if (pthread_create(&ps->thread, NULL, probe_main, ps) != 0) {
        log_error("cannot start the probe thread");
        return -1;
    }
    ps->running = true;
    return 0;
}

void loadgen_probes_stop(struct loadgen_probes *ps)
{
    if (!ps)
        return;
    atomic_store(&ps->stop, true);
    if (ps->running)
        pthread_join(ps->thread, NULL);
    ps->running = false;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->probes[i].fd >= 0)
            close(ps->probes[i].fd);
        ps->probes[i].fd = -1;
    }
    if (ps->nrtt)
        loadgen_sort_u32(ps->rtt_us, ps->nrtt);
}

const uint32_t *loadgen_probes_samples(struct loadgen_probes *ps, size_t *n)
{
    *n = ps ? ps->nrtt : 0;
    return ps ? ps->rtt_us : NULL;
}

void loadgen_probes_free(struct loadgen_probes *ps)
{
    if (!ps)
        return;
    loadgen_probes_stop(ps);
    free(ps->probes);
    free(ps->rtt_us);
    free(ps);
}
