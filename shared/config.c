#include "config.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define INT_SETTING(n, def, lo, hi, h) \
    {#n, CHAT_SETTING_INT, offsetof(struct chat_config, n), def, lo, hi, h}
#define STR_SETTING(n, def, h) {#n, CHAT_SETTING_STR, offsetof(struct chat_config, n), def, 0, 0, h}
#define BOOL_SETTING(n, def, h) {#n, CHAT_SETTING_BOOL, offsetof(struct chat_config, n), def, 0, 1, h}

const struct chat_setting chat_settings[] = {
    STR_SETTING(listen_host, "127.0.0.1", "Address chat-httpd and chat-push listen on."),
    INT_SETTING(http_port, "8000", 1, 65535, "TCP port of the standalone HTTP server (chat-httpd)."),
    INT_SETTING(push_port, "8001", 1, 65535, "TCP port of the push daemon (chat-push)."),
    STR_SETTING(push_public_url, ":8001/ws/",
                "WebSocket URL the page connects to. ':PORT/PATH' means the page's own host on that "
                "port; '/PATH' means the page's own origin (behind nginx); otherwise a full ws:// or "
                "wss:// URL."),
    STR_SETTING(allowed_origins, "http://127.0.0.1:8000 http://localhost:8000",
                "Space-separated Origin values allowed to open a WebSocket. Requests without an "
                "Origin header (non-browser clients) are allowed."),
    STR_SETTING(push_wake_sockets, "var/run/chat-push.sock",
                "Space-separated wake-up addresses, one per push daemon: a UNIX datagram socket "
                "path (contains '/') or a UDP IP:PORT ([IPv6]:PORT). The API wakes every one "
                "after each commit."),
    STR_SETTING(push_wake_bind, "",
                "The wake-up address this chat-push binds (a UNIX socket path or a UDP IP:PORT); "
                "empty means the first entry of push_wake_sockets."),
    STR_SETTING(push_wake_secret_file, "",
                "File holding the secret (at least 32 bytes, e.g. `head -c 32 /dev/urandom`) "
                "that authenticates UDP wake-ups and typing relays (HMAC-SHA512-256 with a "
                "timestamp; replays older than 30 s are dropped). Required as soon as "
                "push_wake_bind or push_wake_sockets has a UDP address; readable by the chat "
                "programs only."),
    STR_SETTING(push_wake_allowed_users, "",
                "Users (names or numeric uids, space-separated) besides chat-push's own and "
                "root whose datagrams chat-push accepts on a UNIX wake-up socket, e.g. "
                "www-data when Apache runs chat-api as CGI; others are dropped and counted."),
    INT_SETTING(push_poll_interval_ms, "500", 20, 60000,
                "chat-push re-reads the event log this often even without a wake-up."),
    INT_SETTING(push_gap_timeout_ms, "10000", 100, 600000,
                "How long chat-push waits for a missing event id to commit before giving up on "
                "it. Must exceed the longest write transaction."),
    INT_SETTING(push_max_queue_bytes, "1048576", 4096, 1073741824,
                "Outgoing bytes queued for one WebSocket before the client is cut off (close "
                "4008) and must resume."),
    INT_SETTING(push_max_frame_bytes, "65536", 256, 16777216,
                "Largest WebSocket message accepted from a client (larger: close 1009)."),
    INT_SETTING(push_ping_interval_s, "30", 5, 3600,
                "chat-push pings idle WebSockets this often and drops them after twice this."),
    INT_SETTING(push_resume_max_events, "5000", 10, 1000000,
                "A resume that would replay more events than this gets resync_required."),
    INT_SETTING(push_rx_buffer_bytes, "512", 128, 65536,
                "libwebsockets receive buffer per connection; memory per connection grows with it."),
    INT_SETTING(push_max_connections_per_user, "20", 1, 100000,
                "Open WebSocket/SSE/long-poll connections one user may hold, counted across "
                "every chat-push (more: close 4409)."),
    INT_SETTING(push_client_frames_per_s, "20", 1, 100000,
                "Sustained rate of client frames allowed per WebSocket (token bucket)."),
    INT_SETTING(push_client_frame_burst, "60", 1, 1000000,
                "Client frames a WebSocket may send at once above the sustained rate (over: "
                "error rate_limited, then close 4429)."),
    INT_SETTING(push_presence_offline_delay_ms, "60000", 0, 3600000,
                "A user goes offline this long after their last connection closed (about one "
                "ping timeout, so a reconnect does not flap)."),
    INT_SETTING(presence_max_group_size, "100", 2, 100000,
                "Presence changes are pushed only through conversations with at most this many "
                "participants (direct chats and small groups). Larger groups would cost the "
                "square of their size in frames; their members read presence from the "
                "conversation list or GET /api/users/<id>/presence/."),
    STR_SETTING(push_metrics_allow, "127.0.0.1 ::1",
                "Space-separated client IP addresses allowed to read chat-push's /metrics and "
                "/healthz."),
    STR_SETTING(fcgi_socket, "var/run/chat-api.sock",
                "UNIX socket path chat-api listens on for FastCGI, or HOST:PORT for TCP (':PORT' "
                "alone means 127.0.0.1:PORT, never every interface)."),
    STR_SETTING(fcgi_socket_group, "",
                "Group that may connect to the UNIX fcgi_socket (created mode 0660), e.g. "
                "www-data; empty means chat-api's own group."),
    INT_SETTING(fcgi_workers, "4", 1, 256,
                "chat-api worker processes. Each mostly waits on MariaDB (a durable commit per "
                "write), so use more than the CPU count: at 500 POST/s on 2 cores, 2 workers "
                "queued to a p99 of 12 ms and 4 gave 9 ms (docs/PERFORMANCE.md)."),
    INT_SETTING(httpd_threads, "4", 1, 256,
                "chat-httpd worker threads. At most httpd_threads - 1 of them hash passwords at "
                "once (login, register); more concurrent ones get 503 server_busy."),
    INT_SETTING(httpd_max_connections, "4096", 16, 1000000,
                "Open connections chat-httpd accepts in all (epoll, so each costs memory, not "
                "a thread); its file-descriptor limit is raised to fit."),
    INT_SETTING(httpd_max_connections_per_ip, "64", 0, 1000000,
                "Open connections chat-httpd accepts from one client address (0: no limit); "
                "further ones are closed at once."),
    INT_SETTING(httpd_head_timeout_s, "10", 1, 3600,
                "chat-httpd drops a connection whose request line and headers have not all "
                "arrived this many seconds after it opened (or after its previous response), "
                "however slowly they trickle in."),
    STR_SETTING(trusted_proxies, "",
                "Space-separated addresses or CIDR blocks of proxies in front of chat-api or "
                "chat-httpd whose X-Forwarded-For is believed: the client address (rate "
                "limits) is the right-most X-Forwarded-For entry not in this list. Empty: "
                "X-Forwarded-For is ignored and the peer address is the client."),
    STR_SETTING(db_host, "", "MariaDB host; empty means connect through db_socket."),
    INT_SETTING(db_port, "3306", 1, 65535, "MariaDB TCP port, used with db_host."),
    STR_SETTING(db_socket, "var/run/mysqld.sock", "MariaDB UNIX socket, used when db_host is empty."),
    STR_SETTING(db_user, "chat", "MariaDB user."),
    STR_SETTING(db_password, "chat", "MariaDB password."),
    STR_SETTING(db_migrate_user, "",
                "MariaDB user for `chatctl migrate` only, the one with rights to change the "
                "schema; empty means db_user. The servers connect as db_user, which then needs "
                "only SELECT, INSERT, UPDATE and DELETE (docs/DEPLOY.md)."),
    STR_SETTING(db_migrate_password, "", "Password of db_migrate_user."),
    STR_SETTING(db_name, "chat", "MariaDB database."),
    INT_SETTING(db_timeout_s, "30", 1, 3600,
                "A MariaDB read or write that gets no answer for this long fails (the request "
                "answers 503), so a frozen server cannot hold workers for ever."),
    INT_SETTING(db_wsrep_sync_wait, "0", 0, 15,
                "On a Galera cluster, the wsrep_sync_wait of every connection: 1 makes each "
                "read wait until its node has applied every write committed anywhere in the "
                "cluster before the read began, so a read on one node sees a write just made "
                "through another (docs/SCALING.md). 0 (no wait) for a single server."),
    STR_SETTING(static_dir, "static", "Directory served at /static/."),
    STR_SETTING(templates_dir, "templates", "Directory of page templates."),
    STR_SETTING(i18n_dir, "i18n",
                "Directory of message catalogs, one folder per locale (en, pt-BR, es) of "
                "<area>.json files; read by chat-api and chat-httpd at start."),
    STR_SETTING(sql_dir, "sql", "Directory of numbered migrations, for chatctl migrate."),
    BOOL_SETTING(registration_enabled, "true", "Whether POST /api/auth/register creates accounts."),
    INT_SETTING(session_cache_ms, "1000", 0, 1000,
                "How long chat-api and chat-httpd may answer a session from memory after "
                "reading it from MariaDB, in ms: a revoked session (logout, password change, "
                "deactivation) is refused everywhere at most this long after the revocation. "
                "0 reads the session on every request."),
    INT_SETTING(session_ttl_hours, "720", 1, 87600, "Lifetime of a login session."),
    BOOL_SETTING(cookie_secure, "false", "Mark cookies Secure (set true when served over HTTPS)."),
    INT_SETTING(max_body_bytes, "1048576", 1024, 104857600,
                "Largest JSON request body; larger bodies get 413."),
    INT_SETTING(group_max_participants, "10000", 2, CHAT_GROUP_PARTICIPANTS_CEILING,
                "Most participants a group may have, its creator included: creating a larger "
                "one gets 422, adding to a full one 409 group_full."),
    INT_SETTING(max_message_chars, "4000", 1, 65535, "Longest message text, in characters."),
    INT_SETTING(password_memlimit_kib, "65536", 8, 4194304,
                "argon2id memory cost for new password hashes, in KiB."),
    INT_SETTING(password_opslimit, "2", 1, 64, "argon2id time cost for new password hashes."),
    INT_SETTING(event_retention_hours, "168", 1, 87600,
                "Events older than this may be purged; resuming from before them gets "
                "resync_required."),
    INT_SETTING(audit_retention_days, "365", 0, 36500,
                "Moderation audit entries (GET /api/admin/audit/) older than this many days "
                "are deleted by retention; 0 keeps them for ever."),
    INT_SETTING(retention_interval_s, "3600", 0, 86400,
                "How often the push daemons run what `chatctl gc` does (old events and audit "
                "entries, unattached uploads, idle rate-limit buckets), in seconds; one daemon runs it "
                "per interval across all hosts. 0: never (then run chatctl gc, e.g. from "
                "chat-gc.timer; either is enough)."),
    STR_SETTING(log_level, "info", "debug, info, warn or error."),
    STR_SETTING(data_dir, "var/data",
                "Directory for uploaded files (attachments/ named by SHA-256, tmp/ for uploads "
                "in progress); must be on one filesystem."),
    INT_SETTING(attachment_max_bytes, "26214400", 1024, 1073741824,
                "Largest upload to POST /api/chat/attachments/ (bytes of the request body); "
                "larger uploads get 413. nginx's client_max_body_size for that location must "
                "be above it."),
    INT_SETTING(avatar_max_bytes, "524288", 1024, 1048576,
                "Largest avatar image (PUT /api/users/me/avatar/: PNG, JPEG, GIF or WebP, "
                "checked by its first bytes) in bytes; larger ones get 413. At most 1 MiB, "
                "which keeps the upload under nginx's general body limit."),
    STR_SETTING(attachment_types,
                "image/* audio/* video/* text/plain text/csv application/pdf application/zip "
                "application/gzip application/json application/octet-stream",
                "Space-separated content types accepted for uploads ('type/*' matches a whole "
                "type, '*/*' anything); others get 415. Types a browser could run (HTML, SVG, "
                "XML, unknown) are always served as application/octet-stream downloads."),
    BOOL_SETTING(rate_limit_enabled, "true",
                 "Enforce the per-user (per-address for login and register) token buckets."),
    INT_SETTING(rate_lease_max, "25", 0, 100,
                "Most tokens a chat-api worker or chat-httpd thread takes from a read, write "
                "or upload bucket ahead of need (an eighth of its burst, at most this), so "
                "steady requests write the bucket every few requests: a client spreading "
                "requests over P processes may be refused up to (P - 1) x that many early, "
                "for at most 1 s, and is never let through beyond its limit. 0: every request "
                "takes its token from MariaDB. Login and the hourly limits never lease."),
    INT_SETTING(rate_auth_per_minute, "30", 1, 100000000,
                "Login and register: tokens added per minute to each client address's bucket."),
    INT_SETTING(rate_auth_burst, "20", 1, 100000000, "Login and register: bucket capacity."),
    INT_SETTING(rate_login_per_user_per_minute, "6", 1, 100000000,
                "Login: tokens added per minute to each username's bucket, whatever the "
                "client address, so guessing one account's password from many addresses is "
                "bounded too."),
    INT_SETTING(rate_login_per_user_burst, "20", 1, 100000000,
                "Login: capacity of each username's bucket (over it: 429 for that username "
                "only)."),
    INT_SETTING(rate_read_per_minute, "6000", 1, 100000000,
                "GET requests: tokens added per minute to each user's bucket."),
    INT_SETTING(rate_read_burst, "200", 1, 100000000, "GET requests: bucket capacity."),
    INT_SETTING(rate_write_per_minute, "1800", 1, 100000000,
                "POST, PATCH, PUT and DELETE requests: tokens added per minute per user."),
    INT_SETTING(rate_write_burst, "60", 1, 100000000, "Writes: bucket capacity."),
    INT_SETTING(rate_upload_per_minute, "60", 1, 100000000,
                "Uploads (POST /api/chat/attachments/): tokens added per minute per user."),
    INT_SETTING(rate_upload_burst, "20", 1, 100000000, "Uploads: bucket capacity."),
    INT_SETTING(rate_conversations_per_hour, "60", 1, 100000000,
                "New conversations (direct chats and groups) each user may start per hour; "
                "the allowance refills evenly over the hour (over it: 429). Opening an "
                "existing direct chat does not count."),
    INT_SETTING(rate_invitations_per_hour, "500", 1, 100000000,
                "People each user may add to groups per hour, at a group's creation too "
                "(a group of N others takes N, at most the whole allowance); refills evenly "
                "over the hour (over it: 429)."),
    INT_SETTING(notify_offline_delay_s, "60", 0, 86400,
                "chat-notify posts a message's notification to the operator's webhooks this "
                "long after the message, for each user it would notify who has had no live "
                "connection since it was sent and has not read it (docs/WEBHOOKS.md). Events "
                "are also never evaluated before push_gap_timeout_ms has passed."),
    INT_SETTING(notify_poll_interval_ms, "500", 20, 60000,
                "chat-notify re-reads the event log and its pending deliveries this often."),
    INT_SETTING(notify_http_timeout_s, "10", 1, 300,
                "A webhook POST that has not completed in this many seconds (connecting "
                "included) fails and is retried."),
    INT_SETTING(notify_max_attempts, "10", 1, 100,
                "Attempts per delivery; after the last failed one it is dropped, logged and "
                "counted (chatctl webhook list)."),
    INT_SETTING(notify_retry_base_ms, "5000", 100, 3600000,
                "Pause before the first retry of a failed delivery; each further retry waits "
                "twice as long (up to notify_retry_max_s), less a random jitter of up to half."),
    INT_SETTING(notify_retry_max_s, "3600", 1, 86400, "Longest pause between two attempts."),
    INT_SETTING(notify_max_in_flight, "32", 1, 1024,
                "Webhook POSTs chat-notify has open at once (a slow receiver holds one each)."),
    INT_SETTING(notify_preview_chars, "200", 0, 4000,
                "Characters of the message text in an offline notification's preview."),
    STR_SETTING(notify_ca_file, "",
                "PEM file of the CA certificates that verify HTTPS webhook receivers (e.g. a "
                "private CA); empty: the system's (ca-certificates). Receivers' certificates "
                "are always verified."),
};
const unsigned chat_settings_count = sizeof(chat_settings) / sizeof(chat_settings[0]);

static const struct chat_setting *find_setting(const char *name)
{
    for (unsigned i = 0; i < chat_settings_count; i++)
        if (strcmp(chat_settings[i].name, name) == 0)
            return &chat_settings[i];
    return NULL;
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0")) {
        *out = false;
        return 0;
    }
    return -1;
}

int chat_config_set(struct chat_config *cfg, const char *name, const char *value, char *err,
                    size_t errlen)
{
    const struct chat_setting *s = find_setting(name);
    if (!s) {
        snprintf(err, errlen, "unknown setting '%s'", name);
        return -1;
    }
    char *field = (char *)cfg + s->offset;
    switch (s->type) {
    case CHAT_SETTING_INT: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0') {
            snprintf(err, errlen, "%s: '%s' is not an integer", name, value);
            return -1;
        }
        if (v < s->min || v > s->max) {
            snprintf(err, errlen, "%s: %ld is outside %ld..%ld", name, v, s->min, s->max);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case CHAT_SETTING_BOOL:
        if (parse_bool(value, (bool *)field) != 0) {
            snprintf(err, errlen, "%s: '%s' is not true or false", name, value);
            return -1;
        }
        return 0;
    case CHAT_SETTING_STR: {
        char *copy = chat_xstrdup(value);
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int load_file(struct chat_config *cfg, const char *path, FILE *f, char *err, size_t errlen)
{
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'name = value'", path, lineno);
            return -1;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        char inner[512];
        if (chat_config_set(cfg, name, value, inner, sizeof(inner)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, inner);
            return -1;
        }
    }
    return 0;
}

static int load_env(struct chat_config *cfg, char *err, size_t errlen)
{
    for (unsigned i = 0; i < chat_settings_count; i++) {
        char env[96] = "CHAT_";
        size_t n = strlen(env);
        for (const char *p = chat_settings[i].name; *p && n + 1 < sizeof(env); p++)
            env[n++] = (char)toupper((unsigned char)*p);
        env[n] = '\0';
        const char *v = getenv(env);
        if (v && chat_config_set(cfg, chat_settings[i].name, v, err, errlen) != 0)
            return -1;
    }
    return 0;
}

int chat_config_load(struct chat_config *cfg, const char *path, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    for (unsigned i = 0; i < chat_settings_count; i++) {
        if (chat_config_set(cfg, chat_settings[i].name, chat_settings[i].default_value, err,
                            errlen) != 0)
            goto fail;
    }
    bool explicit_path = true;
    if (!path)
        path = getenv("CHAT_CONFIG");
    if (!path) {
        path = CHAT_CONFIG_DEFAULT_PATH;
        explicit_path = false;
    }
    FILE *f = fopen(path, "r");
    if (f) {
        int rc = load_file(cfg, path, f, err, errlen);
        fclose(f);
        if (rc != 0)
            goto fail;
    } else if (explicit_path || errno != ENOENT) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (load_env(cfg, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    chat_config_free(cfg);
    return -1;
}

void chat_config_free(struct chat_config *cfg)
{
    for (unsigned i = 0; i < chat_settings_count; i++) {
        if (chat_settings[i].type == CHAT_SETTING_STR) {
            char **field = (char **)((char *)cfg + chat_settings[i].offset);
            free(*field);
            *field = NULL;
        }
    }
}

void chat_config_write_example(FILE *out)
{
    fprintf(out, "# Example configuration; generated by `chatctl config example` from the\n"
                 "# settings table in shared/config.c. Every line shows the default.\n"
                 "# Each setting can be overridden by the environment variable CHAT_<NAME>.\n");
    for (unsigned i = 0; i < chat_settings_count; i++) {
        const struct chat_setting *s = &chat_settings[i];
        fprintf(out, "\n# %s\n", s->help);
        if (s->type == CHAT_SETTING_INT)
            fprintf(out, "# (integer, %ld..%ld)\n", s->min, s->max);
        fprintf(out, "%s = %s\n", s->name, s->default_value);
    }
}

void chat_config_write_help(FILE *out)
{
    fprintf(out, "Settings (config file `name = value`, or environment CHAT_<NAME>):\n");
    for (unsigned i = 0; i < chat_settings_count; i++) {
        const struct chat_setting *s = &chat_settings[i];
        fprintf(out, "  %-24s default '%s'\n", s->name, s->default_value);
    }
}
