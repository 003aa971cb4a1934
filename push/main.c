/* chat-push: the WebSocket push daemon. It tails the events table (on a DB worker
 * thread) and fans each event out to the connections of the conversation's
 * participants. Protocol and design: docs/protocol.md. */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "config.h"
#include "i18n.h"
#include "program.h"
#include "db_worker.h"
#include "log.h"
#include "wake.h"
#include "server.h"

static struct lws_context *volatile the_context;
static volatile sig_atomic_t stop_requested;
static bool using_libev;

/* Under libev lws_service() only returns when the loop is broken, and lws watches only
 * SIGINT (its handler breaks the loop). SIGTERM is therefore forwarded as SIGINT, so
 * both signals take the one shutdown path lws already has. With the default poll loop
 * the flag plus lws_cancel_service() end the service loop. */
static void on_signal(int sig)
{
    stop_requested = 1;
    if (using_libev && sig == SIGTERM) {
        kill(getpid(), SIGINT);
        return;
    }
    if (the_context)
        lws_cancel_service(the_context);
}

static const char usage[] =
    "Usage: chat-push [--config FILE] [--help]\n"
    "\n"
    "The chat WebSocket push daemon. Serves ws://LISTEN_HOST:PUSH_PORT/ws/ and\n"
    "/ws/chat/<id>/, tails the events table and pushes each event to the\n"
    "participants' connections (docs/protocol.md). Stops cleanly on SIGTERM or SIGINT.\n"
    "\n"
    "  --config FILE  read settings from FILE (default: $CHAT_CONFIG or " CHAT_CONFIG_DEFAULT_PATH ")\n"
    "  --help         show this help\n";

/* The wake-up address this daemon binds: push_wake_bind, or the first entry of
 * push_wake_sockets. Written to text (NUL-terminated); false when there is none. */
static bool wake_bind_text(const struct chat_config *cfg, char *text, size_t size)
{
    const char *p = cfg->push_wake_bind[0] ? cfg->push_wake_bind : cfg->push_wake_sockets;
    p += strspn(p, " ");
    size_t n = strcspn(p, " ");
    if (n == 0 || n >= size)
        return false;
    memcpy(text, p, n);
    text[n] = '\0';
    return true;
}

/* Binds the wake-up datagram socket (a UNIX path, replacing a stale socket file, or a
 * UDP IP:PORT). Returns the fd or -1. */
static int bind_wake_socket(const char *text)
{
    struct sockaddr_storage addr;
    socklen_t len;
    if (!chat_wake_parse(text, strlen(text), &addr, &len)) {
        log_error("wake-up address '%s' is neither a UNIX socket path (with '/') nor an "
                  "IP:PORT", text);
        return -1;
    }
    int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("wake socket: %s", strerror(errno));
        return -1;
    }
    if (addr.ss_family == AF_UNIX && unlink(text) < 0 && errno != ENOENT)
        log_warn("cannot remove stale %s: %s", text, strerror(errno));
    /* The kernel then attaches every sender's credentials; the worker checks the uid. */
    int on = 1;
    if (addr.ss_family == AF_UNIX &&
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0) {
        log_error("SO_PASSCRED on %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, len) < 0) {
        log_error("bind %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    log_info("wake-up socket %s (%s)", text, addr.ss_family == AF_UNIX ? "UNIX" : "UDP");
    return fd;
}

/* Who may send to the wake-up socket: for UDP the key from push_wake_secret_file (which
 * any UDP address in the configuration requires: a startup error without it); for UNIX
 * the uids of push_wake_allowed_users. Returns false after logging why. */
static bool wake_policy(const struct chat_config *cfg, const char *bind_text,
                        struct push_wake_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->udp = !strchr(bind_text, '/');
    if (chat_wake_uses_udp(cfg)) {
        char why[200];
        if (!cfg->push_wake_secret_file[0]) {
            log_error("UDP wake-up addresses (push_wake_bind / push_wake_sockets) need "
                      "push_wake_secret_file: anyone who can reach the port could fake "
                      "typing relays and wake-ups");
            return false;
        }
        if (!chat_wake_key_load(cfg->push_wake_secret_file, p->key, why, sizeof(why))) {
            log_error("push_wake_secret_file: %s", why);
            return false;
        }
    }
    for (const char *s = cfg->push_wake_allowed_users; *s;) {
        while (*s == ' ')
            s++;
        size_t n = strcspn(s, " ");
        if (n == 0)
            break;
        char name[64], *end;
        if (n >= sizeof(name) || p->nuids == PUSH_WAKE_MAX_UIDS) {
            log_error("push_wake_allowed_users: at most %d names of under 64 characters",
                      PUSH_WAKE_MAX_UIDS);
            return false;
        }
        memcpy(name, s, n);
        name[n] = '\0';
        s += n;
        errno = 0;
        unsigned long uid = strtoul(name, &end, 10);
        struct passwd *pw = NULL;
        if (*end || errno || end == name)
            pw = getpwnam(name);
        if (pw)
            uid = pw->pw_uid;
        else if (*end || errno || end == name) {
            log_error("push_wake_allowed_users: no user '%s'", name);
            return false;
        }
        p->uids[p->nuids++] = (uid_t)uid;
    }
    return true;
}

/* A name for this daemon in the presence tables, unique across hosts and restarts. */
static void make_daemon_id(const struct chat_config *cfg, char *out, size_t size)
{
    char host[64] = "localhost";
    unsigned char rnd[4] = {0};
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, rnd, sizeof(rnd)) < 0)
            memset(rnd, 0, sizeof(rnd));
        close(fd);
    }
    snprintf(out, size, "%.60s:%d:%d:%02x%02x%02x%02x", host, cfg->push_port, (int)getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3]);
}

/* lws's rlimit_nofile fails silently, so raise the soft limit here and log the result. */
static void check_file_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        log_warn("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            log_warn("cannot raise the open-file limit from %llu: %s", (unsigned long long)old,
                     strerror(errno));
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    log_info("open-file limit %llu (hard %llu): at most about %llu connections",
             (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
             (unsigned long long)(rl.rlim_cur > 32 ? rl.rlim_cur - 32 : 0));
}

static void lws_log_to_ours(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    if (level & LLL_ERR)
        log_error("lws: %.*s", (int)n, line);
    else if (level & LLL_WARN)
        log_warn("lws: %.*s", (int)n, line);
    else
        log_info("lws: %.*s", (int)n, line);
}

static struct lws_context *create_context(struct push_server *srv, const struct chat_config *cfg,
                                          const struct lws_protocols *protocols,
                                          const lws_retry_bo_t *retry, bool libev)
{
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->push_port;
    info.iface = cfg->listen_host;
    info.protocols = protocols;
    info.user = srv;
    info.retry_and_idle_policy = retry;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_DISABLE_IPV6;
    if (libev)
        info.options |= LWS_SERVER_OPTION_LIBEV;
    info.gid = -1;
    info.uid = -1;
    info.server_string = "chat-push";
    return lws_create_context(&info);
}

/* Checks that listen_host:push_port can be bound, before lws is asked to. A failed
 * lws_create_context() in lws 4.1.6 leaks some of what it allocated, and its message
 * would otherwise be followed by a misleading retry without libev. Returns 0 or -1. */
static int check_listen_address(const struct chat_config *cfg)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->push_port)};
    if (inet_pton(AF_INET, cfg->listen_host, &addr.sin_addr) != 1) {
        log_error("listen_host '%s' is not an IPv4 address", cfg->listen_host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = -1;
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        rc = 0;
    else
        log_error("cannot listen on %s:%d: %s", cfg->listen_host, cfg->push_port,
                  strerror(errno));
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 1, wake_fd = -1, argi;
    struct chat_config cfg;
    struct push_server srv;
    char wake_text[256] = "", daemon_id[100];

    chat_log_set_program("chat-push");
    int setup = chat_program_setup(argc, argv, usage, &cfg, &argi);
    if (setup != 0)
        return setup > 0 ? 0 : 1;
    if (argi < argc) {
        fprintf(stderr, "chat-push: unexpected argument '%s'\n%s", argv[argi], usage);
        chat_config_free(&cfg);
        return 2;
    }
    /* Error frames carry the English text of their detail keys. */
    if (chat_i18n_load_logged(cfg.i18n_dir) != 0) {
        chat_config_free(&cfg);
        return 1;
    }
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);
    check_file_limit();
    signal(SIGPIPE, SIG_IGN);

    if (check_listen_address(&cfg) != 0)
        goto out;
    if (!wake_bind_text(&cfg, wake_text, sizeof(wake_text))) {
        log_error("no wake-up address: set push_wake_bind or push_wake_sockets");
        goto out;
    }
    struct push_wake_policy policy;
    if (!wake_policy(&cfg, wake_text, &policy))
        goto out;
    wake_fd = bind_wake_socket(wake_text);
    if (wake_fd < 0)
        goto out;
    make_daemon_id(&cfg, daemon_id, sizeof(daemon_id));

    push_server_init(&srv, &cfg, wake_text);
    const struct lws_protocols protocols[] = {
        {
            .name = "chat",
            .callback = push_ws_callback,
            .per_session_data_size = sizeof(struct push_session),
            .rx_buffer_size = (size_t)cfg.push_rx_buffer_bytes,
            /* Without this lws caps each send() at rx_buffer_size and copies the rest. */
            .tx_packet_size = 65536,
        },
        {0},
    };
    /* No lws validity timer: the daemon's own keepalive sweep pings a connection idle
     * for push_ping_interval_s and drops it when nothing (a pong or any frame) arrived
     * for twice that (push_ws_keepalive, where the reason is). Zeros rather than no
     * policy, which would be lws's default of 300 s / 310 s. */
    const lws_retry_bo_t retry = {.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL); /* replaced by lws's own watcher under libev */

    using_libev = true;
    struct lws_context *context = create_context(&srv, &cfg, protocols, &retry, true);
    if (!context) {
        log_warn("libwebsockets could not start with libev (is libwebsockets-evlib-ev "
                 "installed?); falling back to the default poll loop, which scans every "
                 "connection on each wake-up");
        using_libev = false;
        sigaction(SIGINT, &sa, NULL);
        context = create_context(&srv, &cfg, protocols, &retry, false);
    }
    if (!context) {
        log_error("cannot start libwebsockets on %s:%d", cfg.listen_host, cfg.push_port);
        push_server_free(&srv);
        goto out;
    }
    srv.context = context;
    the_context = context;

    srv.worker = push_worker_start(&cfg, wake_fd, &policy, daemon_id, push_server_notify, &srv);
    if (!srv.worker) {
        lws_context_destroy(context);
        push_server_free(&srv);
        goto out;
    }
    log_info("listening on ws://%s:%d/ws/ as daemon %s (%s loop, rx buffer %d bytes, ping "
             "every %d s)", cfg.listen_host, cfg.push_port, daemon_id,
             using_libev ? "libev" : "poll", cfg.push_rx_buffer_bytes, cfg.push_ping_interval_s);

    while (!stop_requested) {
        if (lws_service(context, 0) < 0)
            break;
        if (using_libev)
            break; /* ev_run returned: the loop was broken by SIGINT */
    }
    log_info("shutting down (%llu connections open)", srv.connections);

    /* The worker goes first: afterwards nothing calls lws_cancel_service(). */
    push_worker_stop(srv.worker);
    srv.worker = NULL;
    the_context = NULL;
    lws_context_destroy(context);
    push_server_free(&srv);
    rc = 0;
out:
    if (wake_fd >= 0) {
        close(wake_fd);
        if (strchr(wake_text, '/'))
            unlink(wake_text);
    }
    chat_config_free(&cfg);
    return rc;
}
