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
#include <sys/stat.h>
#include <unistd.h>

#include "app.h"
#include "app_state.h"
#include "config.h"
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

/* Per-connection upload state, owned by MHD's con_cls and freed in request_completed. */
struct upload {
    struct strbuf body;
    bool too_large;
    bool answered;
    bool spooled;            /* an upload route: the body goes to spool, not body */
    struct chat_spool spool;
};

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

static enum MHD_Result answer(struct MHD_Connection *conn, const char *url, const char *method,
                              struct upload *up)
{
    struct chat_request req = {0};
    struct chat_response res;
    struct strbuf query = {0};
    chat_response_init(&res);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_arg, &query);

    char addr[INET6_ADDRSTRLEN] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, addr,
                  sizeof(addr));

    req.method = method;
    req.path = url;
    req.query = query.data ? query.data : "";
    req.body = up->body.data;
    req.body_len = up->body.len;
    req.body_too_large = up->too_large;
    if (up->spooled)
        chat_spool_to_request(&up->spool, &req);
    req.content_type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    req.cookie = header(conn, MHD_HTTP_HEADER_COOKIE);
    req.authorization = header(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    req.csrf_header = header(conn, "X-CSRFToken");
    req.origin = header(conn, "Origin");
    req.remote_addr = addr;

    chat_app_handle(thread_app(), &req, &res);
    enum MHD_Result ret = send_response(conn, &res);
    chat_response_free(&res);
    strbuf_free(&query);
    up->answered = true;
    return ret;
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
        up = chat_xcalloc(1, sizeof(*up));
        up->spool.fd = -1;
        *con_cls = up;
        const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (chat_spool_wanted(method, url)) {
            up->spooled = true;
            chat_spool_open(&up->spool, config);
            if (cl && atoll(cl) > config->attachment_max_bytes) {
                up->spool.too_large = true;
                return answer(conn, url, method, up);
            }
            return MHD_YES;
        }
        if (cl && atoll(cl) > config->max_body_bytes) {
            /* Refuse before reading: MHD closes the connection instead of draining it. */
            up->too_large = true;
            return answer(conn, url, method, up);
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
    return answer(conn, url, method, up);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct upload *up = *con_cls;
    if (up) {
        /* Also after an interrupted upload: its temp file goes with the request. */
        chat_spool_discard(&up->spool);
        strbuf_free(&up->body);
        free(up);
        *con_cls = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    buf[strcspn(buf, "\n")] = '\0';
    log_warn("libmicrohttpd: %s", buf);
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

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
        (uint16_t)cfg.http_port, NULL, NULL, on_request, NULL,
        /* The logger first, so MHD reports problems with the options that follow. */
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg.httpd_threads, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_CONNECTION_LIMIT,
        1000u, MHD_OPTION_UNESCAPE_CALLBACK,
        no_unescape, NULL, MHD_OPTION_END);
    if (!d) {
        log_error("cannot listen on %s:%d", cfg.listen_host, cfg.http_port);
        chat_config_free(&cfg);
        return 1;
    }
    log_info("HTTP on http://%s:%d/ with %d threads", cfg.listen_host, cfg.http_port,
             cfg.httpd_threads);
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("signal %d: stopping", sig);
    MHD_stop_daemon(d);
    pthread_key_delete(app_key);
    chat_config_free(&cfg);
    return 0;
}
