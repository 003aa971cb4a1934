/* chatctl: the admin command line — migrations, users (and site admins), bots and
 * webhooks, moderation (message delete, the audit log), demo data, config example. */
#include <dirent.h>
#include <errno.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "program.h"
#include "retention.h"
#include "store.h"
#include "strbuf.h"
#include "wake.h"
#include "xalloc.h"

static const char usage[] =
    "usage: chatctl [--config FILE] COMMAND\n"
    "Commands:\n"
    "  migrate                       apply the migrations in sql_dir that are not applied yet\n"
    "  user add USERNAME [--password P] [--display-name NAME] [--admin]\n"
    "                                create a user (asks for the password when not given;\n"
    "                                CHAT_PASSWORD in the environment also works); --admin\n"
    "                                makes them a site admin (how the first one is made)\n"
    "  user passwd USERNAME [--password P]\n"
    "                                set a password and end the user's sessions\n"
    "  user deactivate USERNAME      refuse the user's logins and end every session and\n"
    "                                connection at once\n"
    "  user reactivate USERNAME      let a deactivated user log in again\n"
    "  user admin USERNAME           make the user a site admin (/api/admin/)\n"
    "  user unadmin USERNAME         take site administration away from the user\n"
    "  user list [QUERY]             list users (whose username or display name contains\n"
    "                                QUERY), with their admin, bot and deactivation state\n"
    "  bot add NAME [--display-name NAME] [--url URL]\n"
    "                                create a bot account and print its API token (once);\n"
    "                                with --url, also its outgoing URL and signing secret\n"
    "  bot token NAME                print a new API token for the bot (the old one stops)\n"
    "  bot url NAME URL              set (or replace) the bot's outgoing URL; prints the\n"
    "                                new signing secret once\n"
    "  webhook add URL               add an offline-notification webhook; prints its\n"
    "                                signing secret once (docs/WEBHOOKS.md)\n"
    "  webhook list                  list webhooks and bots' URLs with their pending,\n"
    "                                delivered and dropped deliveries\n"
    "  webhook remove ID             remove a webhook and its deliveries\n"
    "  message delete ID             delete any message (a tombstone, as its author's delete)\n"
    "  audit [--limit N] [--before ID] [--user USERNAME]\n"
    "                                print the moderation audit log, newest first\n"
    "                                (every action above is in it, by \"operator\")\n"
    "  demo                          create alice, bob and carol (password 'password123'),\n"
    "                                a direct chat alice-bob and a group with all three\n"
    "  config example                print an example config file with every setting\n"
    "  gc                            remove uploads never attached after 24 h (and their\n"
    "                                files once no row names them), abandoned temp files,\n"
    "                                events older than event_retention_hours, idle\n"
    "                                rate-limit buckets and audit entries older than\n"
    "                                audit_retention_days; chat-gc.timer runs it hourly,\n"
    "                                and the push daemons also do every\n"
    "                                retention_interval_s (either is enough, see\n"
    "                                docs/DEPLOY.md)\n";

#define DEMO_PASSWORD "password123"

/* ---- migrate ---- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct strbuf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        strbuf_append(&b, chunk, n);
    fclose(f);
    if (!b.data)
        strbuf_puts(&b, "");
    return strbuf_detach(&b, NULL);
}

/* Runs a migration file, which may hold several statements. Migration files are part of
 * the release, never user input, so they go through the multi-statement text protocol. */
static int run_script(MYSQL *m, const char *sql)
{
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return -1;
    do {
        MYSQL_RES *r = mysql_store_result(m);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(m) != 0)
            return -1;
    } while (mysql_next_result(m) == 0);
    return mysql_errno(m) ? -1 : 0;
}

static int cmd_migrate(const struct chat_config *cfg)
{
    int rc = 1;
    DIR *dir = NULL;
    char **names = NULL;
    size_t count = 0;
    MYSQL *m = mysql_init(NULL);
    const char *host = cfg->db_host[0] ? cfg->db_host : "localhost";
    /* Only migrations change the schema, so only they use the schema owner's login. */
    bool owner = cfg->db_migrate_user[0] != '\0';
    const char *user = owner ? cfg->db_migrate_user : cfg->db_user;
    const char *password = owner ? cfg->db_migrate_password : cfg->db_password;
    if (!m || !mysql_real_connect(m, host, user, password, cfg->db_name,
                                  (unsigned)cfg->db_port, cfg->db_host[0] ? NULL : cfg->db_socket,
                                  CLIENT_MULTI_STATEMENTS)) {
        fprintf(stderr, "chatctl: cannot connect to MariaDB: %s\n", m ? mysql_error(m) : "oom");
        goto out;
    }
    if (run_script(m, "SET time_zone = '+00:00'; CREATE TABLE IF NOT EXISTS schema_migrations ("
                      "version INT UNSIGNED NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL, "
                      "applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB") != 0) {
        fprintf(stderr, "chatctl: %s\n", mysql_error(m));
        goto out;
    }
    dir = opendir(cfg->sql_dir);
    if (!dir) {
        fprintf(stderr, "chatctl: %s: %s\n", cfg->sql_dir, strerror(errno));
        goto out;
    }
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".sql") != 0 || de->d_name[0] < '0' ||
            de->d_name[0] > '9')
            continue;
        names = chat_xreallocarray(names, count + 1, sizeof(*names));
        names[count++] = chat_xstrdup(de->d_name);
    }
    qsort(names, count, sizeof(*names), name_cmp);
    int applied = 0;
    for (size_t i = 0; i < count; i++) {
        unsigned version = (unsigned)strtoul(names[i], NULL, 10);
        char check[128];
        snprintf(check, sizeof(check), "SELECT 1 FROM schema_migrations WHERE version = %u", version);
        if (mysql_query(m, check) != 0) {
            fprintf(stderr, "chatctl: %s\n", mysql_error(m));
            goto out;
        }
        MYSQL_RES *r = mysql_store_result(m);
        bool done = r && mysql_num_rows(r) > 0;
        mysql_free_result(r);
        if (done)
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", cfg->sql_dir, names[i]);
        char *sql = read_file(path);
        if (!sql) {
            fprintf(stderr, "chatctl: %s: %s\n", path, strerror(errno));
            goto out;
        }
        int script_rc = run_script(m, sql);
        free(sql);
        if (script_rc != 0) {
            fprintf(stderr, "chatctl: migration %s failed: %s\n", names[i], mysql_error(m));
            goto out;
        }
        MYSQL_STMT *st = mysql_stmt_init(m);
        const char *ins = "INSERT INTO schema_migrations (version, name) VALUES (?, ?)";
        MYSQL_BIND b[2];
        memset(b, 0, sizeof(b));
        b[0].buffer_type = MYSQL_TYPE_LONG;
        b[0].buffer = &version;
        b[0].is_unsigned = 1;
        b[1].buffer_type = MYSQL_TYPE_STRING;
        b[1].buffer = names[i];
        b[1].buffer_length = strlen(names[i]);
        bool ok = st && mysql_stmt_prepare(st, ins, strlen(ins)) == 0 &&
                  mysql_stmt_bind_param(st, b) == 0 && mysql_stmt_execute(st) == 0;
        if (!ok)
            fprintf(stderr, "chatctl: cannot record %s: %s\n", names[i], st ? mysql_stmt_error(st) : "oom");
        if (st)
            mysql_stmt_close(st);
        if (!ok)
            goto out;
        printf("applied %s\n", names[i]);
        applied++;
    }
    printf("migrations up to date (%d applied now, %zu known)\n", applied, count);
    rc = 0;
out:
    if (dir)
        closedir(dir);
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (m)
        mysql_close(m);
    return rc;
}

/* ---- users ---- */

static int read_password(const char *given, char *out, size_t outlen)
{
    if (given) {
        snprintf(out, outlen, "%s", given);
        return 0;
    }
    const char *env = getenv("CHAT_PASSWORD");
    if (env) {
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    if (!isatty(STDIN_FILENO)) {
        if (!fgets(out, (int)outlen, stdin))
            return -1;
        out[strcspn(out, "\r\n")] = '\0';
        return 0;
    }
    struct termios old, quiet;
    fprintf(stderr, "Password: ");
    tcgetattr(STDIN_FILENO, &old);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    char *got = fgets(out, (int)outlen, stdin);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fprintf(stderr, "\n");
    if (!got)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

static int report(int rc, const char *what)
{
    if (rc == CHAT_OK)
        return 0;
    if (rc == CHAT_E_DUPLICATE)
        fprintf(stderr, "chatctl: %s: already exists\n", what);
    else if (rc == CHAT_E_VALIDATION)
        fprintf(stderr, "chatctl: %s: invalid (username: 1-32 of [A-Za-z0-9_.-]; password: %d-%d characters)\n",
                what, CHAT_PASSWORD_MIN, CHAT_PASSWORD_MAX);
    else if (rc == CHAT_E_NOT_FOUND)
        fprintf(stderr, "chatctl: %s: no such user\n", what);
    else
        fprintf(stderr, "chatctl: %s: %s\n", what, chat_err_message(rc));
    return 1;
}

static void wake_push_daemons(const struct chat_config *cfg)
{
    int fd = chat_wake_open();
    chat_wake_push_daemons(fd, cfg);
    if (fd >= 0)
        close(fd);
}

/* user deactivate | reactivate | admin | unadmin USERNAME, by the operator (audited). */
static int cmd_user_flag(const struct chat_config *cfg, struct chat_db *db, const char *sub,
                         const char *username)
{
    long long id = 0;
    bool changed = false;
    int rc = chat_user_find_by_username(db, username, &id);
    if (rc != CHAT_OK)
        return report(rc, username);
    if (!strcmp(sub, "deactivate") || !strcmp(sub, "reactivate")) {
        bool active = !strcmp(sub, "reactivate");
        rc = chat_user_set_active(db, 0, id, active, &changed);
        if (rc == CHAT_OK) {
            if (!active) /* the daemons end the connections when they read the event */
                wake_push_daemons(cfg);
            printf("%s %s\n", username,
                   active ? "reactivated" : "deactivated; their sessions were ended");
        }
        return report(rc, username);
    }
    bool admin = !strcmp(sub, "admin");
    rc = chat_user_set_admin(db, 0, id, admin, &changed);
    if (rc == CHAT_OK)
        printf("%s %s a site admin%s\n", username, admin ? "is" : "is not",
               changed ? "" : " (unchanged)");
    return report(rc, username);
}

/* A JSON value of an object as text for a listing: "-" for null or absent. */
static const char *field(json_object *o, const char *key)
{
    json_object *v = json_object_object_get(o, key);
    return v ? json_object_get_string(v) : "-";
}

/* user list [QUERY]: every matching user, a page at a time. */
static int cmd_user_list(struct chat_db *db, const char *q)
{
    long long after = 0;
    bool more = true;
    printf("%-8s %-32s %-5s %-3s %-27s %s\n", "id", "username", "admin", "bot", "deactivated",
           "display name");
    while (more) {
        json_object *page = NULL;
        int rc = chat_admin_users_page_json(db, q, after, CHAT_PAGE_MAX, &page);
        if (rc != CHAT_OK)
            return report(rc, "user list");
        json_object *results = json_object_object_get(page, "results");
        for (size_t i = 0; i < json_object_array_length(results); i++) {
            json_object *u = json_object_array_get_idx(results, i);
            after = json_object_get_int64(json_object_object_get(u, "id"));
            printf("%-8lld %-32s %-5s %-3s %-27s %s\n", after, field(u, "username"),
                   json_object_get_boolean(json_object_object_get(u, "is_admin")) ? "yes" : "no",
                   json_object_get_boolean(json_object_object_get(u, "is_bot")) ? "yes" : "no",
                   field(u, "deactivated_at"), field(u, "display_name"));
        }
        more = json_object_get_boolean(json_object_object_get(page, "has_more"));
        json_object_put(page);
    }
    return 0;
}

static int cmd_user(const struct chat_config *cfg, struct chat_db *db, int argc, char **argv)
{
    if (argc >= 1 && argc <= 2 && !strcmp(argv[0], "list"))
        return cmd_user_list(db, argc == 2 ? argv[1] : "");
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *sub = argv[0], *username = argv[1], *password = NULL, *display = NULL;
    bool make_admin = false;
    if (!strcmp(sub, "deactivate") || !strcmp(sub, "reactivate") || !strcmp(sub, "admin") ||
        !strcmp(sub, "unadmin")) {
        if (argc != 2) {
            fputs(usage, stderr);
            return 2;
        }
        return cmd_user_flag(cfg, db, sub, username);
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--password") && i + 1 < argc)
            password = argv[++i];
        else if (!strcmp(argv[i], "--display-name") && i + 1 < argc && !strcmp(sub, "add"))
            display = argv[++i];
        else if (!strcmp(argv[i], "--admin") && !strcmp(sub, "add"))
            make_admin = true;
        else {
            fprintf(stderr, "chatctl: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char pw[CHAT_PASSWORD_MAX * 4 + 2];
    if (read_password(password, pw, sizeof(pw)) != 0) {
        fprintf(stderr, "chatctl: no password given\n");
        return 2;
    }
    if (!strcmp(sub, "add")) {
        long long id = 0;
        bool changed = false;
        int rc = chat_user_create(db, cfg, username, display, pw, &id);
        if (rc == CHAT_OK && make_admin)
            rc = chat_user_set_admin(db, 0, id, true, &changed);
        if (rc == CHAT_OK)
            printf("created %suser %s (id %lld)\n", make_admin ? "site admin " : "", username, id);
        return report(rc, username);
    }
    if (!strcmp(sub, "passwd")) {
        int rc = chat_user_set_password(db, cfg, username, pw);
        if (rc == CHAT_OK) {
            /* The push daemons end the sessions' connections when they read the event. */
            wake_push_daemons(cfg);
            printf("password changed for %s; their sessions were ended\n", username);
        }
        return report(rc, username);
    }
    fputs(usage, stderr);
    return 2;
}

static int demo_user(const struct chat_config *cfg, struct chat_db *db, const char *name,
                     const char *display, long long *id)
{
    if (chat_user_find_by_username(db, name, id) == CHAT_OK)
        return CHAT_OK;
    return chat_user_create(db, cfg, name, display, DEMO_PASSWORD, id);
}

static int cmd_demo(const struct chat_config *cfg, struct chat_db *db)
{
    long long alice, bob, carol, conv;
    bool existed;
    int rc;
    if ((rc = demo_user(cfg, db, "alice", "Alice", &alice)) != CHAT_OK ||
        (rc = demo_user(cfg, db, "bob", "Bob", &bob)) != CHAT_OK ||
        (rc = demo_user(cfg, db, "carol", "Carol", &carol)) != CHAT_OK)
        return report(rc, "demo users");
    rc = chat_conv_create(db, alice, &bob, 1, NULL, false, cfg->group_max_participants, &conv,
                          &existed);
    if (rc != CHAT_OK)
        return report(rc, "demo direct conversation");
    struct chat_db_result r;
    rc = chat_db_query(db, "SELECT 1 FROM conversations WHERE is_group AND name = 'Demo group'",
                       NULL, 0, &r);
    if (rc != CHAT_OK)
        return report(rc, "demo group");
    bool have_group = r.nrows > 0;
    chat_db_result_free(&r);
    if (!have_group) {
        long long others[2] = {bob, carol};
        rc = chat_conv_create(db, alice, others, 2, "Demo group", true,
                              cfg->group_max_participants, &conv, &existed);
        if (rc != CHAT_OK)
            return report(rc, "demo group");
    }
    printf("demo users: alice, bob, carol (password '%s'); a direct chat alice-bob and "
           "'Demo group'\n", DEMO_PASSWORD);
    return 0;
}

/* ---- bots and webhooks ---- */

static long long parse_id(const char *s);

static int print_secret(int rc, long long webhook_id, const char *url, const char *secret)
{
    if (rc == CHAT_E_VALIDATION) {
        fprintf(stderr, "chatctl: %s: not an http:// or https:// URL (at most %d bytes)\n", url,
                CHAT_WEBHOOK_URL_MAX);
        return 1;
    }
    if (rc != CHAT_OK)
        return report(rc, "webhook");
    printf("webhook %lld: %s\nsecret: %s\n(the secret is shown only now; it signs every body, "
           "see docs/WEBHOOKS.md)\n", webhook_id, url, secret);
    return 0;
}

static int cmd_bot(struct chat_db *db, int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *sub = argv[0], *name = argv[1];
    char token[CHAT_BOT_TOKEN_CHARS + 1], secret[CHAT_TOKEN_CHARS + 1];
    long long id = 0, webhook_id = 0;
    if (!strcmp(sub, "add")) {
        const char *display = NULL, *url = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--display-name") && i + 1 < argc)
                display = argv[++i];
            else if (!strcmp(argv[i], "--url") && i + 1 < argc)
                url = argv[++i];
            else {
                fprintf(stderr, "chatctl: unknown argument '%s'\n", argv[i]);
                return 2;
            }
        }
        if (url && !chat_webhook_url_valid(url))
            return print_secret(CHAT_E_VALIDATION, 0, url, NULL);
        int rc = chat_bot_create(db, name, display, &id, token);
        if (rc != CHAT_OK)
            return report(rc, name);
        printf("created bot %s (id %lld)\ntoken: %s\n(the token is shown only now: send it as "
               "Authorization: Bearer <token>)\n", name, id, token);
        if (!url)
            return 0;
        rc = chat_webhook_add(db, "bot", url, id, secret, &webhook_id);
        return print_secret(rc, webhook_id, url, secret);
    }
    int rc = chat_bot_find(db, name, &id);
    if (rc == CHAT_E_NOT_FOUND) {
        fprintf(stderr, "chatctl: %s: no such bot\n", name);
        return 1;
    }
    if (rc != CHAT_OK)
        return report(rc, name);
    if (!strcmp(sub, "token") && argc == 2) {
        rc = chat_bot_token_set(db, id, token);
        if (rc == CHAT_OK)
            printf("token: %s\n(the previous token no longer works)\n", token);
        return report(rc, name);
    }
    if (!strcmp(sub, "url") && argc == 3) {
        rc = chat_webhook_add(db, "bot", argv[2], id, secret, &webhook_id);
        return print_secret(rc, webhook_id, argv[2], secret);
    }
    fputs(usage, stderr);
    return 2;
}

static int cmd_webhook(struct chat_db *db, int argc, char **argv)
{
    char secret[CHAT_TOKEN_CHARS + 1];
    long long id = 0;
    if (argc == 2 && !strcmp(argv[0], "add")) {
        int rc = chat_webhook_add(db, "offline", argv[1], 0, secret, &id);
        return print_secret(rc, id, argv[1], secret);
    }
    if (argc == 2 && !strcmp(argv[0], "remove") && (id = parse_id(argv[1])) > 0) {
        int rc = chat_webhook_remove(db, id);
        if (rc == CHAT_E_NOT_FOUND) {
            fprintf(stderr, "chatctl: webhook %lld: no such webhook\n", id);
            return 1;
        }
        if (rc == CHAT_OK)
            printf("webhook %lld removed\n", id);
        return report(rc, "webhook remove");
    }
    if (argc == 1 && !strcmp(argv[0], "list")) {
        json_object *arr = NULL;
        int rc = chat_webhooks_list_json(db, &arr);
        if (rc != CHAT_OK)
            return report(rc, "webhook list");
        printf("%-6s %-8s %-16s %8s %10s %8s %s\n", "id", "kind", "bot", "pending", "delivered",
               "dropped", "url");
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            json_object *w = json_object_array_get_idx(arr, i);
            printf("%-6s %-8s %-16s %8s %10s %8s %s\n", field(w, "id"), field(w, "kind"),
                   field(w, "bot"), field(w, "pending"), field(w, "delivered"), field(w, "dropped"),
                   field(w, "url"));
        }
        json_object_put(arr);
        return 0;
    }
    fputs(usage, stderr);
    return 2;
}

/* ---- moderation: message delete, audit ---- */

/* A positive id from the command line, or 0. */
static long long parse_id(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return *s >= '0' && *s <= '9' && !*end && !errno && v > 0 ? v : 0;
}

static int cmd_message(const struct chat_config *cfg, struct chat_db *db, int argc, char **argv)
{
    long long id = argc == 2 && !strcmp(argv[0], "delete") ? parse_id(argv[1]) : 0;
    if (!id) {
        fputs(usage, stderr);
        return 2;
    }
    bool changed = false;
    int rc = chat_message_moderate_delete(db, 0, id, &changed);
    if (rc == CHAT_E_NOT_FOUND) {
        fprintf(stderr, "chatctl: message %lld: no such message\n", id);
        return 1;
    }
    if (rc == CHAT_OK) {
        wake_push_daemons(cfg);
        printf("message %lld %s\n", id, changed ? "deleted" : "was deleted already");
    }
    return report(rc, "message delete");
}

static int cmd_audit(struct chat_db *db, int argc, char **argv)
{
    long long limit = CHAT_PAGE_DEFAULT, before = 0, user_id = 0;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (!strcmp(argv[i], "--limit") && has_value)
            limit = parse_id(argv[++i]);
        else if (!strcmp(argv[i], "--before") && has_value)
            before = parse_id(argv[++i]);
        else if (!strcmp(argv[i], "--user") && has_value) {
            int rc = chat_user_find_by_username(db, argv[++i], &user_id);
            if (rc != CHAT_OK)
                return report(rc, argv[i]);
        } else {
            fprintf(stderr, "chatctl: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (limit < 1 || limit > CHAT_PAGE_MAX) {
        fprintf(stderr, "chatctl: --limit takes 1 to %d\n", CHAT_PAGE_MAX);
        return 2;
    }
    json_object *page = NULL;
    int rc = chat_audit_page_json(db, user_id, before, (int)limit, &page);
    if (rc != CHAT_OK)
        return report(rc, "audit");
    json_object *results = json_object_object_get(page, "results");
    for (size_t i = 0; i < json_object_array_length(results); i++) {
        json_object *e = json_object_array_get_idx(results, i);
        printf("%s %s %s %s target=%s conversation=%s message=%s detail=%s\n", field(e, "id"),
               field(e, "created_at"), field(e, "actor"), field(e, "action"), field(e, "target"),
               field(e, "conversation_id"), field(e, "message_id"), field(e, "detail"));
    }
    if (json_object_get_boolean(json_object_object_get(page, "has_more")))
        printf("(more: --before %s)\n",
               field(json_object_array_get_idx(results, json_object_array_length(results) - 1), "id"));
    json_object_put(page);
    return 0;
}

/* ---- gc ---- */

#define GC_LOCK_WAIT_S 300

static int cmd_gc(const struct chat_config *cfg, struct chat_db *db)
{
    struct chat_gc_stats st;
    bool ran = false;
    /* Waits for a push daemon's scheduled run to finish rather than skipping: whoever
     * asked for gc gets one. */
    int rc = chat_retention_run(db, cfg, GC_LOCK_WAIT_S, &st, &ran);
    if (rc == CHAT_OK && !ran) {
        fprintf(stderr, "chatctl: gc skipped: another host held the retention lock for %d s\n",
                GC_LOCK_WAIT_S);
        return 1;
    }
    printf("gc: removed %lld attachment rows, %lld files, %lld temp files, %lld events, "
           "%lld rate-limit buckets, %lld audit entries; purged %lld deleted accounts\n",
           st.attachments, st.files, st.tmp_files, st.events, st.rate_buckets, st.audit,
           st.accounts);
    if (rc != CHAT_OK) {
        fprintf(stderr, "chatctl: gc stopped: %s\n", chat_err_message(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct chat_config cfg;
    int argi;
    chat_log_set_program("chatctl");
    int s = chat_program_setup(argc, argv, usage, &cfg, &argi);
    if (s != 0)
        return s > 0 ? 0 : 2;
    int rc = 2;
    if (argi >= argc) {
        fputs(usage, stderr);
        goto out;
    }
    const char *cmd = argv[argi];
    if (!strcmp(cmd, "config") && argi + 1 < argc && !strcmp(argv[argi + 1], "example")) {
        chat_config_write_example(stdout);
        rc = 0;
        goto out;
    }
    if (!strcmp(cmd, "migrate")) {
        rc = cmd_migrate(&cfg);
        goto out;
    }
    if (strcmp(cmd, "user") != 0 && strcmp(cmd, "demo") != 0 && strcmp(cmd, "gc") != 0 &&
        strcmp(cmd, "message") != 0 && strcmp(cmd, "audit") != 0 && strcmp(cmd, "bot") != 0 &&
        strcmp(cmd, "webhook") != 0) {
        fprintf(stderr, "chatctl: unknown command '%s'\n%s", cmd, usage);
        goto out;
    }
    struct chat_db db;
    if (chat_db_open(&db, &cfg) != CHAT_OK) {
        fprintf(stderr, "chatctl: cannot connect to MariaDB (see the log above)\n");
        rc = 1;
        goto out;
    }
    if (!strcmp(cmd, "user"))
        rc = cmd_user(&cfg, &db, argc - argi - 1, argv + argi + 1);
    else if (!strcmp(cmd, "gc"))
        rc = cmd_gc(&cfg, &db);
    else if (!strcmp(cmd, "message"))
        rc = cmd_message(&cfg, &db, argc - argi - 1, argv + argi + 1);
    else if (!strcmp(cmd, "audit"))
        rc = cmd_audit(&db, argc - argi - 1, argv + argi + 1);
    else if (!strcmp(cmd, "bot"))
        rc = cmd_bot(&db, argc - argi - 1, argv + argi + 1);
    else if (!strcmp(cmd, "webhook"))
        rc = cmd_webhook(&db, argc - argi - 1, argv + argi + 1);
    else
        rc = cmd_demo(&cfg, &db);
    chat_db_close(&db);
out:
    chat_config_free(&cfg);
    return rc;
}
