/* The sender thread: POSTs the run's messages to the REST API at a fixed rate over a few
 * keep-alive HTTP/1.1 connections (plain sockets; one request in flight per connection).
 *
 * Message k is due at start + k / rate. It goes out on the first idle connection; when
 * every connection is busy it waits, and if it leaves more than LATE_NS after its due
 * time it is counted as late, so a server (or a generator) that cannot keep the rate
 * shows in the table rather than silently lowering the load. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loadgen.h"
#include "log.h"

#define LATE_NS 10000000LL   /* 10 ms */
#define RESPONSE_MAX 16384   /* our responses are one message object */
#define REQUEST_MAX 1024

struct http_conn {
    int fd;
    long long msg;     /* the message in flight, or -1 when idle */
    size_t len;        /* bytes of the response read so far */
    char buf[RESPONSE_MAX];
};

struct sender {
    struct loadgen_run *run;
    const struct loadgen_options *opt;
    struct http_conn *conns;
    struct pollfd *pfds;
    int nconns;
    pthread_t thread;
};

static struct sender the_sender;

int loadgen_connect_tcp(const char *host, int port_number)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", port_number);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        log_error("cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        log_error("cannot connect to %s:%d: %s", host, port_number, strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Connects to the API, blocking (loopback); returns the socket or -1 (logged). */
static int connect_api(const struct loadgen_options *opt)
{
    return loadgen_connect_tcp(opt->api_host, opt->api_port);
}

/* Parses the response in buf[0..len). Returns 1 when it is complete (status, body start
 * and whether the server will close are set), 0 when more bytes are needed, -1 when it
 * is malformed or uses a framing this client does not read. */
static int parse_response(const char *buf, size_t len, int *status, const char **body,
                          bool *will_close)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return len >= RESPONSE_MAX ? -1 : 0;
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        return -1;
    long long content_length = -1;
    bool chunked = false;
    *will_close = false;
    for (const char *p = memchr(buf, '\n', (size_t)(end - buf)); p && p < end;
         p = memchr(p, '\n', (size_t)(end - p))) {
        p++;
        if (strncasecmp(p, "content-length:", 15) == 0)
            content_length = strtoll(p + 15, NULL, 10);
        else if (strncasecmp(p, "transfer-encoding:", 18) == 0)
            chunked = strncasecmp(p + 18 + strspn(p + 18, " "), "chunked", 7) == 0;
        else if (strncasecmp(p, "connection:", 11) == 0)
            *will_close = strncasecmp(p + 11 + strspn(p + 11, " "), "close", 5) == 0;
    }
    *body = end + 4;
    size_t have = len - (size_t)(*body - buf);
    if (*status == 204 || *status == 304)
        return 1;
    if (chunked) {
        /* Walk the chunks; complete at the zero-size chunk and its final CRLF. */
        const char *p = *body, *stop = buf + len;
        for (;;) {
            const char *eol = memmem(p, (size_t)(stop - p), "\r\n", 2);
            if (!eol)
                return 0;
            char *num_end;
            unsigned long size = strtoul(p, &num_end, 16);
            if (num_end == p)
                return -1;
            p = eol + 2;
            if ((size_t)(stop - p) < size + 2)
                return 0;
            p += size + 2;
            if (size == 0)
                return 1;
        }
    }
    if (content_length < 0)
        return -1;
    return have >= (size_t)content_length ? 1 : 0;
}

static void record_bad(struct loadgen_run *run, int status, const char *body)
{
    if (run->first_bad[0])
        return;
    snprintf(run->first_bad, sizeof(run->first_bad), "%d %.160s", status, body ? body : "");
    for (char *p = run->first_bad; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
}

static void finish_message(struct sender *s, struct http_conn *c, int status, const char *body)
{
    struct loadgen_run *run = s->run;
    struct loadgen_message *m = &run->messages[c->msg];
    int64_t sent = atomic_load(&m->sent_ns);
    if (status == 201) {
        atomic_store(&m->post_state, LOADGEN_POST_CREATED);
        run->posts_created++;
        run->post_us[run->npost++] = (uint32_t)((loadgen_now_ns() - sent) / 1000);
    } else {
        atomic_store(&m->post_state, LOADGEN_POST_FAILED);
        run->posts_failed++;
        record_bad(run, status, body);
    }
    c->msg = -1;
    c->len = 0;
}

/* Closes a connection after an error or a server close and opens a new one. The message
 * in flight, if any, counts as failed. Returns 0, or -1 when the API is unreachable. */
static int reconnect(struct sender *s, struct http_conn *c, const char *why)
{
    if (c->msg >= 0)
        finish_message(s, c, 0, why);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = connect_api(s->opt);
    c->len = 0;
    return c->fd < 0 ? -1 : 0;
}

static int send_message(struct sender *s, struct http_conn *c, size_t k)
{
    struct loadgen_run *run = s->run;
    const struct loadgen_options *opt = s->opt;
    struct loadgen_message *m = &run->messages[k];
    const struct loadgen_conv *conv = &run->plan.convs[m->conv];
    char body[256], req[REQUEST_MAX];
    int blen = snprintf(body, sizeof(body),
                        "{\"text\":\"Load generator message %zu of run %s.\","
                        "\"client_msg_id\":\"%s-%zu\"}",
                        k, opt->tag, opt->tag, k);
    int rlen = snprintf(req, sizeof(req),
                        "POST /api/chat/conversations/%lld/messages/ HTTP/1.1\r\n"
                        "Host: %s:%d\r\n"
                        "Authorization: Bearer %s%lld\r\n"
                        "Content-Type: application/json\r\n"
                        "Accept: application/json\r\n"
                        "Content-Length: %d\r\n\r\n%s",
                        conv->id, opt->api_host, opt->api_port, opt->token_prefix,
                        conv->user_ids[m->sender], blen, body);
    if (blen <= 0 || (size_t)blen >= sizeof(body) || rlen <= 0 || (size_t)rlen >= sizeof(req))
        return -1;
    c->msg = (long long)k;
    c->len = 0;
    atomic_store(&m->sent_ns, loadgen_now_ns());
    ssize_t n = send(c->fd, req, (size_t)rlen, MSG_NOSIGNAL);
    if (n != rlen)
        return reconnect(s, c, "send failed");
    return 0;
}

/* Reads what is available on a busy connection; finishes its message when complete. */
static int read_response(struct sender *s, struct http_conn *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return reconnect(s, c, n == 0 ? "connection closed by the server" : "recv failed");
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    int status = 0;
    const char *body = NULL;
    bool will_close = false;
    int rc = parse_response(c->buf, c->len, &status, &body, &will_close);
    if (rc < 0)
        return reconnect(s, c, "unreadable response");
    if (rc == 0)
        return 0;
    finish_message(s, c, status, body);
    return will_close ? reconnect(s, c, NULL) : 0;
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    struct loadgen_run *run = s->run;
    const int64_t interval = (int64_t)(1e9 / s->opt->rate);
    const int64_t start = loadgen_now_ns();
    size_t next = 0;
    run->send_start_ns = start;
    for (;;) {
        int64_t now = loadgen_now_ns();
        /* Send everything that is due, as far as idle connections allow. */
        for (int i = 0; i < s->nconns && next < run->nmessages; i++) {
            struct http_conn *c = &s->conns[i];
            if (c->msg >= 0 || c->fd < 0)
                continue;
            int64_t due = start + (int64_t)next * interval;
            if (due > now)
                break;
            if (now - due > LATE_NS)
                run->posts_late++;
            if (send_message(s, c, next) != 0)
                goto out;
            run->send_end_ns = now;
            next++;
        }
        int nbusy = 0;
        for (int i = 0; i < s->nconns; i++) {
            if (s->conns[i].msg >= 0) {
                s->pfds[nbusy].fd = s->conns[i].fd;
                s->pfds[nbusy].events = POLLIN;
                s->pfds[nbusy].revents = 0;
                nbusy++;
            }
        }
        if (next == run->nmessages && nbusy == 0)
            break;
        struct timespec timeout, *tp = NULL;
        if (next < run->nmessages && nbusy < s->nconns) {
            int64_t wait = start + (int64_t)next * interval - loadgen_now_ns();
            if (wait < 0)
                wait = 0;
            timeout.tv_sec = wait / 1000000000;
            timeout.tv_nsec = wait % 1000000000;
            tp = &timeout;
        }
        if (ppoll(s->pfds, (nfds_t)nbusy, tp, NULL) < 0 && errno != EINTR) {
            log_error("ppoll: %s", strerror(errno));
            goto out;
        }
        for (int i = 0, j = 0; i < s->nconns; i++) {
            struct http_conn *c = &s->conns[i];
            if (c->msg < 0)
                continue;
            short rev = s->pfds[j++].revents;
            if (rev && read_response(s, c) != 0)
                goto out;
        }
    }
out:
    /* Messages never sent (the API went away) count as failed POSTs. */
    for (; next < run->nmessages; next++) {
        atomic_store(&run->messages[next].post_state, LOADGEN_POST_FAILED);
        run->posts_failed++;
    }
    for (int i = 0; i < s->nconns; i++) {
        if (s->conns[i].msg >= 0)
            finish_message(s, &s->conns[i], 0, "unanswered at exit");
    }
    atomic_store(&run->sender_done, true);
    return NULL;
}

int loadgen_http_start(struct loadgen_run *run)
{
    struct sender *s = &the_sender;
    memset(s, 0, sizeof(*s));
    s->run = run;
    s->opt = run->opt;
    s->nconns = run->opt->http_conns;
    s->conns = calloc((size_t)s->nconns, sizeof(*s->conns));
    s->pfds = calloc((size_t)s->nconns, sizeof(*s->pfds));
    run->post_us = calloc(run->nmessages ? run->nmessages : 1, sizeof(*run->post_us));
    if (!s->conns || !s->pfds || !run->post_us)
        goto fail;
    for (int i = 0; i < s->nconns; i++) {
        s->conns[i].msg = -1;
        s->conns[i].fd = -1;
    }
    for (int i = 0; i < s->nconns; i++) {
        s->conns[i].fd = connect_api(s->opt);
        if (s->conns[i].fd < 0)
            goto fail;
    }
    if (pthread_create(&s->thread, NULL, sender_main, s) != 0) {
        log_error("cannot start the sender thread");
        goto fail;
    }
    return 0;
fail:
    for (int i = 0; s->conns && i < s->nconns; i++)
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    free(s->conns);
    free(s->pfds);
    s->conns = NULL;
    s->pfds = NULL;
    return -1;
}

void loadgen_http_join(struct loadgen_run *run)
{
    struct sender *s = &the_sender;
    (void)run;
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->nconns; i++)
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    free(s->conns);
    free(s->pfds);
    memset(s, 0, sizeof(*s));
}
