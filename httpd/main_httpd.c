/* chat-httpd: the same request handlers inside a libmicrohttpd server, so the app runs
 * with no web server in front. A pool of httpd_threads threads handles requests; each
 * thread owns one struct chat_app (and so one MariaDB connection). */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "app_state.h"
#include "config.h"
#include "crypto.h"
#include "http.h"
#include "log.h"
#include "program.h"
#include "response.h"
#include "spool.h"
#include "strbuf.h"
#include "transport.h"
#include "xalloc.h"

static const char usage[] =
    "usage: chat-httpd [--config FILE]\n"
    "Serves /chat/, /api/ and /static/ over HTTP on listen_host:http_port.\n";

static const struct chat_config *config;
static pthread_key_t app_key;

/* Per-request state, owned by MHD's con_cls and freed in on_completed. The request and
 * response live here rather than on the stack because an upload is admitted (credentials,
 * rate limit) on the first call, before its body, and answered on the last. */
struct upload {
    struct strbuf body;
    bool too_large;
    bool answered;
    bool spooled;            /* an upload route: the body goes to spool, not body */
    struct chat_spool spool;
    struct chat_request req;
    struct chat_response res;
    struct strbuf query, forwarded;
    char addr[INET6_ADDRSTRLEN];
};

/* The request-head deadline (httpd_head_timeout_s). MHD's own timeout is an idle one, so a
 * client trickling a byte now and then would hold its connection for ever; every
 * connection is listed here with the time its head must be complete by, and a watchdog
 * thread shuts down the sockets that miss it (MHD then sees the end of the stream and
 * closes the connection itself). The deadline is cleared while a request is handled and
 * set again after its response, for the next request on a kept-alive connection. A socket
 * with bytes waiting that MHD has not read yet is spared (its thread is busy, the client
 * is not the slow one). MHD
 * reports the close (NOTIFY_CLOSED) before it closes the socket, and the entry leaves the
 * list under the same lock the watchdog holds, so the watchdog never touches a reused
 * descriptor. */
struct watched_conn {
    struct watched_conn *prev, *next;
    int fd;
    double deadline; /* monotonic seconds; 0: a request is in progress */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct watched_conn list; /* circular, list itself is the sentinel */
    bool stopping;
} watch = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {&watch.list, &watch.list, -1, 0},
           false};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct watched_conn *w = chat_xcalloc(1, sizeof(*w));
        w->fd = ci ? ci->connect_fd : -1;
        w->deadline = mono_s() + config->httpd_head_timeout_s;
        pthread_mutex_lock(&watch.lock);
        w->next = watch.list.next;
        w->prev = &watch.list;
        watch.list.next->prev = w;
        watch.list.next = w;
        pthread_mutex_unlock(&watch.lock);
        *socket_context = w;
    } else if (*socket_context) {
        struct watched_conn *w = *socket_context;
        pthread_mutex_lock(&watch.lock);
        w->prev->next = w->next;
        w->next->prev = w->prev;
        pthread_mutex_unlock(&watch.lock);
        free(w);
        *socket_context = NULL;
    }
}

/* Clears (request head complete) or restarts (response done) conn's head deadline. */
static void set_head_deadline(struct MHD_Connection *conn, bool restart)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct watched_conn *w = ci ? ci->socket_context : NULL;
    if (!w)
        return;
    pthread_mutex_lock(&watch.lock);
    w->deadline = restart ? mono_s() + config->httpd_head_timeout_s : 0;
    pthread_mutex_unlock(&watch.lock);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&watch.lock);
    while (!watch.stopping) {
        double now = mono_s();
        for (struct watched_conn *w = watch.list.next; w != &watch.list; w = w->next) {
            if (w->deadline > 0 && now > w->deadline && w->fd >= 0) {
                /* Bytes waiting unread mean this server's thread is behind (busy with
                 * another request), not that the client is slow: look again later. */
                int pending = 0;
                if (ioctl(w->fd, FIONREAD, &pending) == 0 && pending > 0)
                    continue;
                shutdown(w->fd, SHUT_RDWR);
                w->deadline = 0;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&watch.wake, &watch.lock, &until);
    }
    pthread_mutex_unlock(&watch.lock);
    return NULL;
}

static void free_thread_app(void *p)
{
    struct chat_app *app = p;
    chat_app_free(app);
    free(app);
}

static struct chat_app *thread_app(void)
{
    struct chat_app *app = pthread_getspecific(app_key);
    if (!app) {
        app = chat_xmalloc(sizeof(*app));
        chat_app_init(app, config);
        pthread_setspecific(app_key, app);
    }
    return app;
}

static const char *header(struct MHD_Connection *c, const char *name)
{
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The query as the client sent it (MHD is told not to unescape, see no_unescape), so
 * handlers parse the same bytes under both transports. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct strbuf *q = cls;
    if (q->len)
        strbuf_puts(q, "&");
    strbuf_puts(q, key);
    if (value) {
        strbuf_puts(q, "=");
        strbuf_puts(q, value);
    }
    return MHD_YES;
}

/* Keeps the URL path and query raw, as FastCGI's REQUEST_URI is: the router matches
 * literal bytes and percent-decoding belongs to the query parser alone. */
static size_t no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    return strlen(s);
}

static enum MHD_Result send_response(struct MHD_Connection *conn, const struct chat_response *res)
{
    struct MHD_Response *r;
    if (res->file_path) {
        int fd = open(res->file_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            log_error("cannot open %s: %s", res->file_path, strerror(errno));
            return MHD_NO;
        }
        r = MHD_create_response_from_fd((uint64_t)res->file_size, fd);
    } else {
        r = MHD_create_response_from_buffer(res->body.len, res->body.data, MHD_RESPMEM_MUST_COPY);
    }
    if (!r)
        return MHD_NO;
    if (res->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (unsigned i = 0; i < res->nheaders; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Every X-Forwarded-For header of the request, joined with ',' (as one header would be). */
static enum MHD_Result collect_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                         const char *value)
{
    (void)kind;
    struct strbuf *f = cls;
    if (value && strcasecmp(key, "X-Forwarded-For") == 0) {
        if (f->len)
            strbuf_puts(f, ",");
        strbuf_puts(f, value);
    }
    return MHD_YES;
}

/* Fills up->req from the request head; MHD keeps url, method and the header values until
 * the request completes. */
static void fill_request(struct MHD_Connection *conn, const char *url, const char *method,
                         struct upload *up)
{
    struct chat_request *req = &up->req;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &up->query);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_forwarded, &up->forwarded);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, up->addr,
                  sizeof(up->addr));
    req->method = method;
    req->path = url;
    req->query = up->query.data ? up->query.data : "";
    req->content_type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    req->cookie = header(conn, MHD_HTTP_HEADER_COOKIE);
    req->authorization = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    req->csrf_header = header(conn, "X-CSRFToken");
    req->origin = header(conn, "Origin");
    req->user_agent = header(conn, "User-Agent");
    req->if_none_match = header(conn, "If-None-Match");
    req->accept_language = header(conn, "Accept-Language");
    req->host = header(conn, MHD_HTTP_HEADER_HOST);
    req->remote_addr = up->addr;
    req->forwarded_for = up->forwarded.data;
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, struct upload *up)
{
    up->answered = true;
    return send_response(conn, &up->res);
}

static enum MHD_Result answer(struct MHD_Connection *conn, struct upload *up)
{
    struct chat_request *req = &up->req;
    req->body = up->body.data;
    req->body_len = up->body.len;
    req->body_too_large = up->too_large;
    if (up->spooled)
        chat_spool_to_request(&up->spool, req);
    chat_app_handle(thread_app(), req, &up->res);
    return send_answer(conn, up);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)cls;
    (void)version;
    struct upload *up = *con_cls;
    if (!up) {
        set_head_deadline(conn, false);
        up = chat_xcalloc(1, sizeof(*up));
        up->spool.fd = -1;
        chat_response_init(&up->res);
        *con_cls = up;
        fill_request(conn, url, method, up);
        const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (chat_spool_wanted(method, url)) {
            /* Credentials and the upload token before the body: a refused upload is
             * answered at once and never touches the disk. */
            up->spooled = true;
            up->req.body_too_large = cl && atoll(cl) > config->attachment_max_bytes;
            if (chat_app_admit_upload(thread_app(), &up->req, &up->res))
                return send_answer(conn, up);
            chat_spool_open(&up->spool, config);
            return MHD_YES;
        }
        if (cl && atoll(cl) > config->max_body_bytes) {
            /* Refuse before reading: MHD closes the connection instead of draining it. */
            up->too_large = true;
            return answer(conn, up);
        }
        return MHD_YES;
    }
    if (up->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size && up->spooled) {
        chat_spool_write(&up->spool, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (up->body.len + *upload_data_size > (size_t)config->max_body_bytes) {
            up->too_large = true;
            strbuf_free(&up->body);
        } else if (!up->too_large) {
            strbuf_append(&up->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    return answer(conn, up);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)toe;
    struct upload *up = *con_cls;
    if (up) {
        /* Also after an interrupted upload: its temp file goes with the request. */
        chat_spool_discard(&up->spool);
        strbuf_free(&up->body);
        strbuf_free(&up->query);
        strbuf_free(&up->forwarded);
        chat_response_free(&up->res);
        free(up);
        *con_cls = NULL;
    }
    set_head_deadline(conn, true);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_warn("libmicrohttpd: %s", buf);
}

static void stop_watchdog(pthread_t t)
{
    pthread_mutex_lock(&watch.lock);
    watch.stopping = true;
    pthread_cond_signal(&watch.wake);
    pthread_mutex_unlock(&watch.lock);
    pthread_join(t, NULL);
}

/* Every connection is a descriptor: raise the soft limit towards the hard one so that
 * httpd_max_connections fit, with room for the database connections, spools and files. */
static void raise_fd_limit(const struct chat_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)cfg->httpd_max_connections + 64u * (rlim_t)cfg->httpd_threads + 256u;
    if (rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log_warn("open-file limit %llu is below the %llu that httpd_max_connections needs",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int main(int argc, char **argv)
{
    struct chat_config cfg;
    int argi;
    chat_log_set_program("chat-httpd");
    int s = chat_program_setup(argc, argv, usage, &cfg, &argi);
    if (s != 0)
        return s > 0 ? 0 : 2;
    if (argi < argc) {
        fprintf(stderr, "chat-httpd: unknown argument '%s'\n%s", argv[argi], usage);
        chat_config_free(&cfg);
        return 2;
    }
    if (chat_i18n_load_logged(cfg.i18n_dir) != 0) {
        chat_config_free(&cfg);
        return 1;
    }
    config = &cfg;
    signal(SIGPIPE, SIG_IGN);
    pthread_key_create(&app_key, free_thread_app);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.http_port)};
    if (inet_pton(AF_INET, cfg.listen_host, &addr.sin_addr) != 1) {
        log_error("listen_host '%s' is not an IPv4 address", cfg.listen_host);
        chat_config_free(&cfg);
        return 2;
    }
    /* Block the stop signals in every thread MHD creates; main waits for them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    raise_fd_limit(&cfg);
    /* Argon2id takes a thread for its whole run: leave one thread that never hashes. */
    chat_password_gate_init(cfg.httpd_threads > 1 ? cfg.httpd_threads - 1 : 1);
    pthread_t watchdog;
    if (pthread_create(&watchdog, NULL, watchdog_main, NULL) != 0) {
        log_error("cannot start the request-head watchdog");
        chat_config_free(&cfg);
        return 1;
    }

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
        (uint16_t)cfg.http_port, NULL, NULL, on_request, NULL,
        /* The logger first, so MHD reports problems with the options that follow. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg.httpd_threads, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg.httpd_max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)cfg.httpd_max_connections_per_ip, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_END);
    if (!d) {
        log_error("cannot listen on %s:%d", cfg.listen_host, cfg.http_port);
        stop_watchdog(watchdog);
        chat_config_free(&cfg);
        return 1;
    }
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("signal %d: stopping", sig);
    MHD_stop_daemon(d);
    stop_watchdog(watchdog);
    pthread_key_delete(app_key);
    chat_config_free(&cfg);
    return 0;
}
