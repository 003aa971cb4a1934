/* chat-api: the request handlers behind a FastCGI socket (libfcgi), for nginx or Apache.
 * The master opens the socket and forks --workers processes that each accept requests
 * one at a time with their own MariaDB connection; it restarts a worker that dies and
 * stops them all on SIGTERM or SIGINT. */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
    "usage: chat-api [--config FILE] [--workers N] [--socket PATH|:PORT]\n"
    "Serves /api/, /chat/ and /static/ over FastCGI on fcgi_socket (default\n"
    "var/run/chat-api.sock) with fcgi_workers processes.\n";

static volatile sig_atomic_t stopping;

static void on_stop_signal(int sig)
{
    (void)sig;
    stopping = 1;
    FCGX_ShutdownPending();
}

static void install_handlers(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: accept() must return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static const char *param(FCGX_Request *r, const char *name)
{
    return FCGX_GetParam(name, r->envp);
}

/* Reads the body into a malloc'ed buffer; sets too_large instead of reading more than
 * the limit. The caller frees *body. */
static void read_body(FCGX_Request *r, const struct chat_config *cfg, struct chat_request *req,
                      char **body)
{
    *body = NULL;
    const char *cl = param(r, "CONTENT_LENGTH");
    long long announced = cl && *cl ? atoll(cl) : 0;
    if (announced > cfg->max_body_bytes) {
        req->body_too_large = true;
        return;
    }
    if (announced <= 0)
        return;
    char *buf = chat_xmalloc((size_t)announced + 1); /* at most max_body_bytes */
    int got = FCGX_GetStr(buf, (int)announced, r->in);
    buf[got > 0 ? got : 0] = '\0';
    req->body = buf;
    req->body_len = got > 0 ? (size_t)got : 0;
    *body = buf;
}

/* Upload routes: streams the body into a spool file instead (see api/spool.h). */
static void spool_body(FCGX_Request *r, const struct chat_config *cfg, struct chat_request *req,
                       struct chat_spool *sp)
{
    const char *cl = param(r, "CONTENT_LENGTH");
    long long left = cl && *cl ? atoll(cl) : 0;
    chat_spool_open(sp, cfg);
    if (left > cfg->attachment_max_bytes) {
        sp->too_large = true; /* refused unread */
    } else {
        char chunk[65536];
        while (left > 0 && !sp->failed) {
            int got = FCGX_GetStr(chunk, left > (long long)sizeof(chunk) ? (int)sizeof(chunk) : (int)left,
                                  r->in);
            if (got <= 0)
                break;
            chat_spool_write(sp, chunk, (size_t)got);
            left -= got;
        }
        req->body_incomplete = left > 0 && !sp->failed;
    }
    chat_spool_to_request(sp, req);
}

/* Formats the headers with the C library (libfcgi's own printf lacks %zu and %lld) and
 * writes them in one call. */
static void write_response(FCGX_Request *r, const struct chat_response *res)
{
    struct strbuf head = {0};
    strbuf_printf(&head, "Status: %d %s\r\n", res->status, chat_status_reason(res->status));
    if (res->content_type)
        strbuf_printf(&head, "Content-Type: %s\r\n", res->content_type);
    for (unsigned i = 0; i < res->nheaders; i++)
        strbuf_printf(&head, "%s: %s\r\n", res->headers[i].name, res->headers[i].value);
    FILE *f = NULL;
    if (res->file_path) {
        f = fopen(res->file_path, "rb");
        if (!f)
            log_error("cannot open %s: %s", res->file_path, strerror(errno));
    }
    long long length = res->file_path ? (f ? res->file_size : 0) : (long long)res->body.len;
    strbuf_printf(&head, "Content-Length: %lld\r\n\r\n", length);
    FCGX_PutStr(head.data, (int)head.len, r->out);
    strbuf_free(&head);
    if (f) {
        char chunk[16384];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            FCGX_PutStr(chunk, (int)n, r->out);
        fclose(f);
    } else if (!res->file_path && res->body.len) {
        FCGX_PutStr(res->body.data, (int)res->body.len, r->out);
    }
}

static void handle_one(struct chat_app *app, FCGX_Request *r)
{
    struct chat_request req = {0};
    struct chat_response res;
    chat_response_init(&res);

    /* REQUEST_URI is the raw URI as the client sent it; split off the query. */
    const char *uri = param(r, "REQUEST_URI");
    if (!uri)
        uri = param(r, "DOCUMENT_URI");
    if (!uri)
        uri = "/";
    size_t plen = strcspn(uri, "?");
    char *path = chat_xstrndup(uri, plen);
    char *body = NULL;
    req.method = param(r, "REQUEST_METHOD") ? param(r, "REQUEST_METHOD") : "GET";
    req.path = path;
    req.query = param(r, "QUERY_STRING") ? param(r, "QUERY_STRING") : "";
    req.content_type = param(r, "CONTENT_TYPE");
    req.cookie = param(r, "HTTP_COOKIE");
    req.authorization = param(r, "HTTP_AUTHORIZATION");
    req.csrf_header = param(r, "HTTP_X_CSRFTOKEN");
    req.origin = param(r, "HTTP_ORIGIN");
    req.remote_addr = param(r, "REMOTE_ADDR");
    if (req.content_type && !*req.content_type)
        req.content_type = NULL;
    struct chat_spool spool = {.fd = -1};
    if (chat_spool_wanted(req.method, path))
        spool_body(r, app->cfg, &req, &spool);
    else
        read_body(r, app->cfg, &req, &body);

    chat_app_handle(app, &req, &res);
    write_response(r, &res);

    chat_spool_discard(&spool);
    chat_response_free(&res);
    free(body);
    free(path);
}

static int worker_main(const struct chat_config *cfg, int sock)
{
    struct chat_app app;
    FCGX_Request request;
    chat_app_init(&app, cfg);
    if (FCGX_InitRequest(&request, sock, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        log_error("FCGX_InitRequest failed");
        chat_app_free(&app);
        return 1;
    }
    while (!stopping) {
        if (FCGX_Accept_r(&request) < 0)
            break;
        handle_one(&app, &request);
        FCGX_Finish_r(&request);
    }
    FCGX_Free(&request, 1);
    chat_app_free(&app);
    return 0;
}

static pid_t spawn_worker(const struct chat_config *cfg, int sock)
{
    pid_t pid = fork();
    if (pid == 0) {
        int rc = worker_main(cfg, sock);
        struct chat_config copy = *cfg;
        chat_config_free(&copy);
        _exit(rc);
    }
    if (pid < 0)
        log_error("fork: %s", strerror(errno));
    return pid;
}

int main(int argc, char **argv)
{
    struct chat_config cfg;
    int argi;
    chat_log_set_program("chat-api");
    int s = chat_program_setup(argc, argv, usage, &cfg, &argi);
    if (s != 0)
        return s > 0 ? 0 : 2;
    for (; argi < argc; argi++) {
        char err[256];
        if (!strcmp(argv[argi], "--workers") && argi + 1 < argc) {
            if (chat_config_set(&cfg, "fcgi_workers", argv[++argi], err, sizeof(err)) != 0) {
                fprintf(stderr, "chat-api: %s\n", err);
                chat_config_free(&cfg);
                return 2;
            }
        } else if (!strcmp(argv[argi], "--socket") && argi + 1 < argc) {
            chat_config_set(&cfg, "fcgi_socket", argv[++argi], err, sizeof(err));
        } else {
            fprintf(stderr, "chat-api: unknown argument '%s'\n%s", argv[argi], usage);
            chat_config_free(&cfg);
            return 2;
        }
    }
    install_handlers();
    if (FCGX_Init() != 0) {
        log_error("FCGX_Init failed");
        chat_config_free(&cfg);
        return 1;
    }
    if (cfg.fcgi_socket[0] != ':')
        unlink(cfg.fcgi_socket);
    int sock = FCGX_OpenSocket(cfg.fcgi_socket, 256);
    if (sock < 0) {
        log_error("cannot listen on %s: %s", cfg.fcgi_socket, strerror(errno));
        chat_config_free(&cfg);
        return 1;
    }
    /* The web server runs as another user; restrict access with the socket's directory. */
    if (cfg.fcgi_socket[0] != ':')
        chmod(cfg.fcgi_socket, 0666);
    log_info("FastCGI on %s with %d workers", cfg.fcgi_socket, cfg.fcgi_workers);

    pid_t workers[256];
    int n = cfg.fcgi_workers;
    for (int i = 0; i < n; i++)
        workers[i] = spawn_worker(&cfg, sock);
    while (!stopping) {
        int status;
        pid_t dead = waitpid(-1, &status, 0);
        if (dead < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < n && !stopping; i++) {
            if (workers[i] == dead) {
                log_error("worker %d exited (status %d); restarting", (int)dead, status);
                sleep(1);
                workers[i] = spawn_worker(&cfg, sock);
            }
        }
    }
    for (int i = 0; i < n; i++)
        if (workers[i] > 0)
            kill(workers[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    close(sock);
    if (cfg.fcgi_socket[0] != ':')
        unlink(cfg.fcgi_socket);
    log_info("stopped");
    chat_config_free(&cfg);
    return 0;
}
