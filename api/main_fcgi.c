/* chat-api: the request handlers for classic web servers, in whichever of three ways it
 * is started, told apart by itself (docs/DEPLOY.md):
 *   - its own FastCGI socket: the master opens fcgi_socket and forks --workers processes
 *     that each accept requests one at a time with their own MariaDB connection; it
 *     restarts a worker that dies and stops them all on SIGTERM or SIGINT;
 *   - a listening socket handed over on fd 0 by a process manager (Apache mod_fcgid,
 *     spawn-fcgi, lighttpd's bin-path): this one process accepts on it, and the manager
 *     decides how many such processes run;
 *   - plain CGI (GATEWAY_INTERFACE set, fd 0 not a listening socket: Apache mod_cgid,
 *     shared hosting): one request from the environment and stdin, answered on stdout.
 * All three serve through api/gateway.c, so the responses and limits are the same. */
#include <errno.h>
#include <fastcgi.h>
#include <fcgiapp.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_state.h"
#include "config.h"
#include "gateway.h"
#include "log.h"
#include "program.h"

static const char usage[] =
    "usage: chat-api [--config FILE] [--workers N] [--socket PATH|[HOST]:PORT]\n"
    "Serves /api/, /chat/ and /static/ over FastCGI on fcgi_socket (default\n"
    "var/run/chat-api.sock) with fcgi_workers processes. Started by a process manager\n"
    "with a listening socket on fd 0 (mod_fcgid, spawn-fcgi, lighttpd bin-path) it\n"
    "serves that socket in this one process; started as a CGI program\n"
    "(GATEWAY_INTERFACE set) it answers the one request and exits. In CGI mode the\n"
    "command line is ignored: set CHAT_CONFIG (and other CHAT_* variables) instead.\n";

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
        struct chat_gateway gw = chat_gateway_fcgi(&request);
        chat_gateway_serve(&app, &gw);
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

enum api_mode { API_OWN_SOCKET, API_INHERITED_SOCKET, API_CGI };

/* fd 0 that is a listening socket (not connected) means a process manager started us;
 * otherwise GATEWAY_INTERFACE, which every CGI server sets (RFC 3875), means CGI. */
static enum api_mode detect_mode(void)
{
    if (!FCGX_IsCGI())
        return API_INHERITED_SOCKET;
    return getenv("GATEWAY_INTERFACE") ? API_CGI : API_OWN_SOCKET;
}

/* One request from the environment and stdin; the status is the process's. */
static int serve_cgi(const struct chat_config *cfg)
{
    struct chat_app app;
    chat_app_init(&app, cfg);
    struct chat_gateway gw = chat_gateway_cgi();
    chat_gateway_serve(&app, &gw);
    int rc = fflush(stdout) == 0 ? 0 : 1;
    chat_app_free(&app);
    return rc;
}

/* libfcgi reads any address with a ':' as TCP HOST:PORT; a UNIX socket path has a '/'. */
static bool is_tcp_address(const char *a)
{
    return strchr(a, ':') && !strchr(a, '/');
}

/* Opens fcgi_socket. TCP ':PORT' binds 127.0.0.1 (libfcgi alone would bind every
 * interface, and FastCGI has no authentication). A UNIX socket is created 0660, never
 * reachable by others even for a moment (umask around bind), in fcgi_socket_group if set.
 * Returns the listening descriptor, or -1 (logged). */
static int open_listener(const struct chat_config *cfg, bool tcp)
{
    const char *path = cfg->fcgi_socket;
    if (tcp) {
        char addr[300];
        snprintf(addr, sizeof(addr), "%s%s", path[0] == ':' ? "127.0.0.1" : "", path);
        int sock = FCGX_OpenSocket(addr, 256);
        if (sock < 0)
            log_error("cannot listen on %s: %s", addr, strerror(errno));
        else
            log_info("FastCGI on TCP %s", addr);
        return sock;
    }
    gid_t gid = (gid_t)-1;
    if (cfg->fcgi_socket_group[0]) {
        struct group *g = getgrnam(cfg->fcgi_socket_group);
        if (!g) {
            log_error("fcgi_socket_group: no group '%s'", cfg->fcgi_socket_group);
            return -1;
        }
        gid = g->gr_gid;
    }
    unlink(path);
    mode_t old = umask(0117);
    int sock = FCGX_OpenSocket(path, 256);
    umask(old);
    if (sock < 0) {
        log_error("cannot listen on %s: %s", path, strerror(errno));
        return -1;
    }
    if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0) || chmod(path, 0660) != 0) {
        log_error("cannot set the owner group or mode of %s: %s", path, strerror(errno));
        close(sock);
        unlink(path);
        return -1;
    }
    return sock;
}

int main(int argc, char **argv)
{
    struct chat_config cfg;
    int argi;
    chat_log_set_program("chat-api");
    if (FCGX_Init() != 0) {
        fprintf(stderr, "chat-api: FCGX_Init failed\n");
        return 1;
    }
    enum api_mode mode = detect_mode();
    /* A CGI server passes a query string without '=' as command-line words (RFC 3875
     * 4.4), so in CGI mode the command line is the client's, not ours. */
    int s = chat_program_setup(mode == API_CGI ? 1 : argc, argv, usage, &cfg, &argi);
    if (s != 0)
        return s > 0 ? 0 : 2;
    if (chat_i18n_load_logged(cfg.i18n_dir) != 0) {
        chat_config_free(&cfg);
        return 1;
    }
    if (mode == API_CGI) {
        signal(SIGPIPE, SIG_IGN);
        int rc = serve_cgi(&cfg);
        chat_config_free(&cfg);
        return rc;
    }
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
    if (mode == API_INHERITED_SOCKET) {
        log_info("FastCGI on the socket passed on fd 0 (one process; the manager runs more)");
        int rc = worker_main(&cfg, FCGI_LISTENSOCK_FILENO);
        log_info("stopped");
        chat_config_free(&cfg);
        return rc;
    }
    bool tcp = is_tcp_address(cfg.fcgi_socket);
    int sock = open_listener(&cfg, tcp);
    if (sock < 0) {
        chat_config_free(&cfg);
        return 1;
    }
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
    if (!tcp)
        unlink(cfg.fcgi_socket);
    log_info("stopped");
    chat_config_free(&cfg);
    return 0;
}
