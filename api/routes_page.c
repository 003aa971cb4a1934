/* The browser-facing routes: the redirect from /, the server-rendered chat page
 * (/chat/ and /chat/<pk>/), its no-JavaScript send form (POST /chat/<pk>/send) and the
 * static files. The page carries everything the script needs in a JSON bootstrap
 * element, so the script never has to guess the user or the push URL. */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "app_state.h"
#include "auth.h"
#include "crypto.h"
#include "errors.h"
#include "form.h"
#include "handlers.h"
#include "log.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "template.h"
#include "xalloc.h"

/* Longest decoded form field values accepted from the no-JavaScript send form. */
#define FORM_TOKEN_MAX 64

/* Code points of a last message shown in the conversation list, and of a quoted reply. */
#define PREVIEW_CHARS 80

/* Longest path below /static/ we serve. */
#define STATIC_PATH_MAX 200

/* Versioned asset URLs (/static/v/<version>/chat.js) never change content, so they may be
 * cached for a year; unversioned ones for an hour. */
#define STATIC_CACHE_VERSIONED "public, max-age=31536000, immutable"
#define STATIC_CACHE_PLAIN "public, max-age=3600"

CHAT_HANDLER(chat_handle_root)
{
    (void)app;
    (void)req;
    (void)args;
    res->status = 302;
    res->content_type = "text/html; charset=utf-8";
    chat_response_header(res, "Location", "/chat/");
    strbuf_puts(&res->body, "<!doctype html><a href=\"/chat/\">/chat/</a>\n");
    return CHAT_OK;
}

/* ---- the asset version ----
 *
 * A hash of every file directly in static_dir, computed once per process on first use
 * (each program starts with the files it serves). Pages refer to /static/v/<version>/...,
 * so a changed file gets a new URL and old copies in caches are never used again. Module
 * imports in the scripts are relative ("./chat-client.js"), so they carry the version
 * without knowing it. */

static pthread_mutex_t version_lock = PTHREAD_MUTEX_INITIALIZER;
static char asset_version_hex[17];

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds name and content of each regular file of dir, sorted by name, into the hash. */
static void hash_static_dir(const char *dir, crypto_generichash_state *st)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) {
        log_error("static_dir %s: %m", dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = chat_xreallocarray(names, cap, sizeof(*names));
        }
        names[n++] = chat_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), compare_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], buf[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got;
            crypto_generichash_update(st, (const unsigned char *)names[i], strlen(names[i]) + 1);
            while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
                crypto_generichash_update(st, (const unsigned char *)buf, got);
            fclose(f);
        }
        free(names[i]);
    }
    free(names);
}

/* The version string of the static files (16 hex digits); static storage. */
static const char *asset_version(const struct chat_config *cfg)
{
    pthread_mutex_lock(&version_lock);
    if (!asset_version_hex[0]) {
        unsigned char digest[8];
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, sizeof(digest));
        hash_static_dir(cfg->static_dir, &st);
        crypto_generichash_final(&st, digest, sizeof(digest));
        sodium_bin2hex(asset_version_hex, sizeof(asset_version_hex), digest, sizeof(digest));
    }
    pthread_mutex_unlock(&version_lock);
    return asset_version_hex;
}

/* ---- security headers ---- */

/* The Content-Security-Policy of the page, into out. Scripts, styles and images only from
 * our origin, no inline scripts or styles. connect-src adds exactly the push daemon's
 * origin: push_public_url ":8001/ws/" is this host on another port, which 'self' does not
 * cover, so it becomes "*:8001" for ws, wss, http and https (the SSE and long-poll
 * fallbacks are plain HTTP on the same daemon); an absolute URL adds its own origin. */
static void page_csp(const struct chat_config *cfg, char *out, size_t outlen)
{
    const char *url = cfg->push_public_url;
    char push[512] = "";
    if (url[0] == ':') {
        int port = atoi(url + 1);
        if (port > 0 && port < 65536)
            snprintf(push, sizeof(push), " ws://*:%d wss://*:%d http://*:%d https://*:%d", port,
                     port, port, port);
    } else if (strstr(url, "://")) {
        const char *host = strstr(url, "://") + 3;
        size_t hlen = strcspn(host, "/?#");
        bool secure = strncmp(url, "wss:", 4) == 0 || strncmp(url, "https:", 6) == 0;
        snprintf(push, sizeof(push), " %s://%.*s %s://%.*s", secure ? "wss" : "ws", (int)hlen,
                 host, secure ? "https" : "http", (int)hlen, host);
    }
    snprintf(out, outlen,
             "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'%s; "
             "img-src 'self' data: blob:; frame-ancestors 'none'; base-uri 'none'; "
             "form-action 'self'; object-src 'none'",
             push);
}

static void page_headers(const struct chat_config *cfg, struct chat_response *res)
{
    char csp[768];
    page_csp(cfg, csp, sizeof(csp));
    res->content_type = "text/html; charset=utf-8";
    chat_response_header(res, "Cache-Control", "no-store");
    chat_response_header(res, "Content-Security-Policy", csp);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    chat_response_header(res, "Referrer-Policy", "same-origin");
}

/* ---- the chat page ---- */

/* The name the viewer sees for conv: the group's name, or the other participant's
 * display name (username when that is empty) for a direct chat. Borrowed from conv. */
static const char *conversation_title(json_object *conv, long long viewer_id)
{
    json_object *participants, *p;
    if (chat_json_get_bool(conv, "is_group", false)) {
        const char *name = chat_json_get_string(conv, "name", "");
        return *name ? name : "Group";
    }
    if (json_object_object_get_ex(conv, "participants", &participants)) {
        size_t n = json_object_array_length(participants);
        for (size_t i = 0; i < n; i++) {
            p = json_object_array_get_idx(participants, i);
            if (chat_json_get_int(p, "id", 0) == viewer_id)
                continue;
            const char *display = chat_json_get_string(p, "display_name", "");
            return *display ? display : chat_json_get_string(p, "username", "");
        }
    }
    return "Just you";
}

/* True when a participant other than the viewer is online. */
static bool conversation_online(json_object *conv, long long viewer_id)
{
    json_object *participants;
    if (!json_object_object_get_ex(conv, "participants", &participants))
        return false;
    size_t n = json_object_array_length(participants);
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(participants, i);
        if (chat_json_get_int(p, "id", 0) != viewer_id && chat_json_get_bool(p, "online", false))
            return true;
    }
    return false;
}

/* A new string with the first PREVIEW_CHARS code points of text, "…" when cut. */
static json_object *shortened(const char *text)
{
    size_t len = strlen(text), cut = 0, chars = 0;
    /* The store only holds valid UTF-8, so stepping over continuation bytes suffices. */
    while (cut < len && chars < PREVIEW_CHARS) {
        cut++;
        while (cut < len && ((unsigned char)text[cut] & 0xC0) == 0x80)
            cut++;
        chars++;
    }
    if (cut == len)
        return json_object_new_string_len(text, (int)len);
    struct strbuf b = {0};
    strbuf_append(&b, text, cut);
    strbuf_puts(&b, "\xE2\x80\xA6"); /* … */
    json_object *out = json_object_new_string_len(b.data, (int)b.len);
    strbuf_free(&b);
    return out;
}

/* The preview of a message: its shortened text, or a word for what it is. */
static json_object *message_preview(json_object *msg)
{
    json_object *atts;
    if (!msg)
        return json_object_new_string("");
    if (chat_json_get_bool(msg, "deleted", false))
        return json_object_new_string("Message deleted");
    const char *text = chat_json_get_string(msg, "text", "");
    if (!*text && json_object_object_get_ex(msg, "attachments", &atts) &&
        json_object_array_length(atts) > 0)
        return json_object_new_string("Attachment");
    return shortened(text);
}

/* The list rows the template prints: {id, title, preview, unread_count, online, active}. */
static json_object *conversation_rows(json_object *convs, long long viewer_id, long long open_id)
{
    json_object *rows = json_object_new_array();
    size_t n = json_object_array_length(convs);
    for (size_t i = 0; i < n; i++) {
        json_object *conv = json_object_array_get_idx(convs, i);
        json_object *row = json_object_new_object(), *last = NULL;
        long long id = chat_json_get_int(conv, "id", 0);
        json_object_object_get_ex(conv, "last_message", &last);
        json_object_object_add(row, "id", json_object_new_int64(id));
        json_object_object_add(row, "title",
                               json_object_new_string(conversation_title(conv, viewer_id)));
        json_object_object_add(row, "preview", message_preview(last));
        json_object_object_add(row, "unread_count",
                               json_object_new_int64(chat_json_get_int(conv, "unread_count", 0)));
        json_object_object_add(row, "online",
                               json_object_new_boolean(conversation_online(conv, viewer_id)));
        json_object_object_add(row, "active", json_object_new_boolean(id == open_id));
        json_object_array_add(rows, row);
    }
    return rows;
}

/* "2026-11-21" and "20:52" of an RFC 3339 UTC time, into day and clock. */
static void split_time(const char *iso, char day[11], char clock[6])
{
    snprintf(day, 11, "%.10s", strlen(iso) >= 10 ? iso : "");
    snprintf(clock, 6, "%.5s", strlen(iso) >= 16 ? iso + 11 : "");
}

/* The message rows the template prints, for the page's messages (oldest first):
 * {id, sender, mine, text, deleted, edited, iso, clock, day (set on the first message of
 * each UTC day), reply {sender, text} or null, attachments [{filename, url}],
 * reactions [{emoji, count}]}. The script re-renders them in the viewer's time zone. */
static json_object *message_rows(json_object *messages, long long viewer_id)
{
    json_object *rows = json_object_new_array();
    size_t n = json_object_array_length(messages);
    char prev_day[11] = "";
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(messages, i);
        json_object *row = json_object_new_object(), *sender = NULL, *v;
        char day[11], clock[6];
        const char *iso = chat_json_get_string(m, "created_at", "");
        json_object_object_get_ex(m, "sender", &sender);
        const char *display = chat_json_get_string(sender, "display_name", "");
        split_time(iso, day, clock);
        json_object_object_add(row, "id", json_object_new_int64(chat_json_get_int(m, "id", 0)));
        json_object_object_add(row, "sender", json_object_new_string(
                                                  *display ? display : chat_json_get_string(sender, "username", "")));
        json_object_object_add(row, "mine", json_object_new_boolean(
                                                chat_json_get_int(sender, "id", 0) == viewer_id));
        json_object_object_add(row, "text", json_object_new_string(chat_json_get_string(m, "text", "")));
        json_object_object_add(row, "deleted", json_object_new_boolean(chat_json_get_bool(m, "deleted", false)));
        json_object_object_add(row, "edited", json_object_new_boolean(
                                                  json_object_object_get_ex(m, "edited_at", &v) && v));
        json_object_object_add(row, "iso", json_object_new_string(iso));
        json_object_object_add(row, "clock", json_object_new_string(clock));
        if (strcmp(day, prev_day) != 0) {
            json_object_object_add(row, "day", json_object_new_string(day));
            snprintf(prev_day, sizeof(prev_day), "%s", day);
        }
        long long reply_to = chat_json_get_int(m, "reply_to", 0);
        if (reply_to) {
            json_object *quote = json_object_new_object();
            json_object_object_add(quote, "id", json_object_new_int64(reply_to));
            json_object_object_add(quote, "text", json_object_new_string("an earlier message"));
            for (size_t j = 0; j < i; j++) {
                json_object *o = json_object_array_get_idx(messages, j), *os = NULL;
                if (chat_json_get_int(o, "id", 0) != reply_to)
                    continue;
                json_object_object_get_ex(o, "sender", &os);
                json_object_object_add(quote, "sender", json_object_new_string(
                                                            chat_json_get_string(os, "display_name", "")));
                json_object_object_add(quote, "text", message_preview(o));
            }
            json_object_object_add(row, "reply", quote);
        }
        if (json_object_object_get_ex(m, "attachments", &v))
            json_object_object_add(row, "attachments", json_object_get(v));
        if (json_object_object_get_ex(m, "reactions", &v))
            json_object_object_add(row, "reactions", json_object_get(v));
        json_object_array_add(rows, row);
    }
    return rows;
}

/* What one page render needs besides the request. */
struct page_view {
    long long conv_id;   /* 0: the list only (/chat/) */
    long long before;    /* show the messages before this id; 0: the latest */
    const char *error;   /* shown above the send form, or NULL */
    const char *draft;   /* put back into the send form after an error, or NULL */
    int status;          /* HTTP status of the page */
};

/* Renders the 404 page for a conversation the viewer cannot see (or that does not exist:
 * the two are indistinguishable on purpose). */
static int render_not_found(struct chat_app *app, struct chat_request *req,
                            struct chat_response *res)
{
    char err[512];
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, "static_version",
                           json_object_new_string(asset_version(app->cfg)));
    int rc = chat_template_render(app->cfg->templates_dir, "not_found.html", ctx, &res->body,
                                  err, sizeof(err));
    json_object_put(ctx);
    if (rc != CHAT_OK) {
        log_error("rendering the 404 page: %s", err);
        return chat_fail(req, res, rc, NULL);
    }
    res->status = 404;
    page_headers(app->cfg, res);
    return CHAT_OK;
}

/* Renders chat.html: the login form for an anonymous visitor, else the conversation list
 * and, when view->conv_id is set, that conversation with its latest page of messages.
 * Everything the script needs is in the bootstrap JSON element as well. */
static int render_page(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                       const struct page_view *view)
{
    const struct chat_config *cfg = app->cfg;
    json_object *user = NULL, *convs = NULL, *conv = NULL, *page = NULL;
    json_object *ctx = json_object_new_object();
    json_object *boot = json_object_new_object();
    char err[512];
    int rc = CHAT_OK;

    if (req->user_id) {
        rc = chat_user_get_json(&app->db, req->user_id, &user);
        if (rc == CHAT_E_NOT_FOUND) {
            /* The session outlived its user: show the login form. */
            user = NULL;
            rc = CHAT_OK;
        } else if (rc != CHAT_OK) {
            goto out;
        }
    }
    if (user && view->conv_id) {
        rc = chat_conv_get_json(&app->db, view->conv_id, req->user_id, &conv);
        if (rc == CHAT_OK)
            rc = chat_message_page_json(&app->db, view->conv_id, req->user_id, view->before,
                                        0, CHAT_PAGE_DEFAULT, &page);
        if (rc == CHAT_E_NOT_FOUND) {
            json_object_put(boot);
            json_object_put(ctx);
            json_object_put(conv);
            json_object_put(user);
            return render_not_found(app, req, res);
        }
        if (rc != CHAT_OK)
            goto out;
    }
    if (user) {
        rc = chat_conv_list_json(&app->db, req->user_id, &convs);
        if (rc != CHAT_OK)
            goto out;
        json_object_object_add(ctx, "user", json_object_get(user));
        json_object_object_add(ctx, "conversations",
                               conversation_rows(convs, req->user_id, view->conv_id));
        json_object_object_add(ctx, "csrf_token", json_object_new_string(req->csrf_token));
        /* One empty item: the template renders the conversation pane once more, blank,
         * inside <template> for the script (templates/pane.html). */
        json_object *blank = json_object_new_array();
        json_object_array_add(blank, json_object_new_object());
        json_object_object_add(ctx, "blank_pane", blank);
    }
    if (conv) {
        json_object *open = json_object_new_object(), *results = NULL;
        char client_msg_id[CHAT_TOKEN_CHARS + 1];
        /* A fresh id per rendered form: submitting the same form twice (a reload that
         * re-posts, a double click) stores the message once. */
        chat_token_new(client_msg_id);
        json_object_object_get_ex(page, "results", &results);
        json_object_object_add(open, "id", json_object_new_int64(view->conv_id));
        json_object_object_add(open, "title",
                               json_object_new_string(conversation_title(conv, req->user_id)));
        json_object_object_add(open, "is_group",
                               json_object_new_boolean(chat_json_get_bool(conv, "is_group", false)));
        json_object_object_add(open, "has_more",
                               json_object_new_boolean(chat_json_get_bool(page, "has_more", false)));
        json_object_object_add(open, "messages", message_rows(results, req->user_id));
        json_object_object_add(open, "client_msg_id", json_object_new_string(client_msg_id));
        if (view->error)
            json_object_object_add(open, "error", json_object_new_string(view->error));
        if (view->draft)
            json_object_object_add(open, "draft", json_object_new_string(view->draft));
        json_object_object_add(ctx, "open", open);
        json_object_object_add(boot, "conversation", json_object_get(conv));
        json_object_object_add(boot, "messages", json_object_get(page));
        json_object_object_add(boot, "messages_before", json_object_new_int64(view->before));
    }
    json_object_object_add(ctx, "registration_enabled",
                           json_object_new_boolean(cfg->registration_enabled));
    json_object_object_add(ctx, "max_message_chars", json_object_new_int(cfg->max_message_chars));
    json_object_object_add(ctx, "static_version", json_object_new_string(asset_version(cfg)));

    json_object_object_add(boot, "user", json_object_get(user));
    json_object_object_add(boot, "conversations",
                           convs ? json_object_get(convs) : json_object_new_array());
    json_object_object_add(boot, "ws_url", json_object_new_string(cfg->push_public_url));
    json_object_object_add(boot, "max_message_chars", json_object_new_int(cfg->max_message_chars));
    json_object_object_add(boot, "max_attachment_bytes",
                           json_object_new_int64(cfg->attachment_max_bytes));
    json_object_object_add(boot, "csrf_cookie", json_object_new_string(CHAT_CSRF_COOKIE));
    json_object_object_add(ctx, "boot", json_object_get(boot));

    rc = chat_template_render(cfg->templates_dir, "chat.html", ctx, &res->body, err, sizeof(err));
    if (rc != CHAT_OK) {
        log_error("rendering the chat page: %s", err);
        goto out;
    }
    res->status = view->status;
    page_headers(cfg, res);
out:
    json_object_put(boot);
    json_object_put(ctx);
    json_object_put(page);
    json_object_put(conv);
    json_object_put(convs);
    json_object_put(user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_chat_page)
{
    (void)args;
    struct page_view view = {.status = 200};
    return render_page(app, req, res, &view);
}

CHAT_HANDLER(chat_handle_conversation_page)
{
    struct page_view view = {.conv_id = args->ids[0], .status = 200};
    int rc = chat_query_positive_int(req, res, "before", LLONG_MAX, &view.before);
    if (rc != CHAT_OK)
        return rc;
    return render_page(app, req, res, &view);
}

/* Browsers send a textarea's line breaks as CRLF; the script sends LF. Stored as LF
 * either way. Rewrites s in place. */
static void normalize_newlines(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++)
        if (!(r[0] == '\r' && r[1] == '\n'))
            *w++ = *r;
    *w = '\0';
}

static const struct chat_form_field send_form_fields[] = {
    {"text", 0, true}, /* bound set from max_message_chars below */
    {"csrf_token", FORM_TOKEN_MAX, true},
    {"client_msg_id", FORM_TOKEN_MAX, false},
};
enum { SEND_TEXT, SEND_CSRF, SEND_CLIENT_MSG_ID, SEND_NFIELDS };

/* POST /chat/<pk>/send: the send form of the page without JavaScript. A urlencoded body
 * with text, csrf_token (the session's CSRF token, which only our page can know) and an
 * optional client_msg_id; stored through chat_message_submit like the REST POST, then
 * 303 back to the conversation. A refused message re-renders the page with the reason
 * and the text kept. */
CHAT_HANDLER(chat_handle_conversation_send)
{
    struct chat_form_field fields[SEND_NFIELDS];
    char *values[SEND_NFIELDS] = {0};
    char detail[160], location[64];
    json_object *msg = NULL;
    bool created = false;
    long long conv_id = args->ids[0];
    int rc;

    /* Before anything else, so outsiders learn nothing about their input. */
    if (!req->user_id)
        return chat_fail(req, res, CHAT_E_NOT_AUTHENTICATED, NULL);
    rc = chat_conv_check_participant(&app->db, conv_id, req->user_id);
    if (rc == CHAT_E_NOT_FOUND)
        return render_not_found(app, req, res);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    if (!req->content_type ||
        strncasecmp(req->content_type, "application/x-www-form-urlencoded", 33) != 0 ||
        (req->content_type[33] != '\0' && req->content_type[33] != ';'))
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "Send the form as application/x-www-form-urlencoded.");
    memcpy(fields, send_form_fields, sizeof(fields));
    /* UTF-8 takes at most 4 bytes a character, and CRLF 2 per line break. */
    fields[SEND_TEXT].max_bytes = (size_t)app->cfg->max_message_chars * 4 + 4096;
    rc = chat_form_parse(req->body ? req->body : "", req->body_len, fields, SEND_NFIELDS, values,
                         detail, sizeof(detail));
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, detail);
    if (!req->csrf_token[0] || !chat_secret_equal(values[SEND_CSRF], req->csrf_token)) {
        rc = chat_fail(req, res, CHAT_E_CSRF, NULL);
        goto out;
    }
    normalize_newlines(values[SEND_TEXT]);
    struct chat_message_input in = {
        .conversation_id = conv_id,
        .sender_id = req->user_id,
        .text = values[SEND_TEXT],
        .client_msg_id = values[SEND_CLIENT_MSG_ID],
    };
    rc = chat_message_submit(&app->db, app->cfg, &in, false, &msg, &created, detail,
                             sizeof(detail));
    if (rc == CHAT_E_VALIDATION) {
        struct page_view view = {.conv_id = conv_id,
                                 .error = detail[0] ? detail : chat_err_message(rc),
                                 .draft = values[SEND_TEXT],
                                 .status = chat_err_status(rc)};
        rc = render_page(app, req, res, &view);
        goto out;
    }
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc, detail[0] ? detail : NULL);
        goto out;
    }
    if (created)
        chat_app_wake_push(app);
    snprintf(location, sizeof(location), "/chat/%lld/", conv_id);
    res->status = 303;
    res->content_type = "text/html; charset=utf-8";
    chat_response_header(res, "Location", location);
    strbuf_puts(&res->body, "<!doctype html><a href=\"");
    strbuf_puts(&res->body, location);
    strbuf_puts(&res->body, "\">Back to the conversation</a>\n");
out:
    json_object_put(msg);
    chat_form_free(values, SEND_NFIELDS);
    return rc;
}

/* ---- static files ---- */

static const struct {
    const char *ext;
    const char *type;
} static_types[] = {
    {".js", "application/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".html", "text/html; charset=utf-8"},
};

/* The content type for name's extension, or NULL for a type we do not serve. */
static const char *static_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return NULL;
    for (size_t i = 0; i < sizeof(static_types) / sizeof(static_types[0]); i++)
        if (strcmp(dot, static_types[i].ext) == 0)
            return static_types[i].type;
    return NULL;
}

/* True when rel is a relative path of plain segments: [A-Za-z0-9_.-] separated by single
 * slashes, no segment starting with '.' (so no "..", no hidden files), no percent
 * escapes (no file needs them, and decoding invites double-decoding mistakes). */
static bool static_path_valid(const char *rel)
{
    size_t len = strlen(rel);
    bool segment_start = true;
    if (len == 0 || len > STATIC_PATH_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = rel[i];
        if (c == '/') {
            if (segment_start) /* leading slash or "//" */
                return false;
            segment_start = true;
            continue;
        }
        if (segment_start && c == '.')
            return false;
        segment_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return !segment_start; /* no trailing slash */
}

CHAT_HANDLER(chat_handle_static)
{
    char base[PATH_MAX], joined[PATH_MAX + STATIC_PATH_MAX + 2], real[PATH_MAX];
    struct stat st;
    const char *rel = args->rest ? args->rest : "";
    const char *cache = STATIC_CACHE_PLAIN;
    size_t base_len;

    /* v/<hex digits>/<file>: the versioned URL of <file> (any version is served: the
     * hash only has to change the URL, and nginx cannot check it either). */
    if (strncmp(rel, "v/", 2) == 0) {
        size_t digits = strspn(rel + 2, "0123456789abcdef");
        if (digits == 0 || digits > 64 || rel[2 + digits] != '/')
            goto not_found;
        rel += 3 + digits;
        cache = STATIC_CACHE_VERSIONED;
    }
    const char *type = static_content_type(rel);

    if (!type || !static_path_valid(rel))
        goto not_found;
    if (!realpath(app->cfg->static_dir, base)) {
        log_error("static_dir %s: %m", app->cfg->static_dir);
        goto not_found;
    }
    snprintf(joined, sizeof(joined), "%s/%s", base, rel);
    /* A symlink inside static/ may point anywhere; only what resolves below base is
     * served. */
    base_len = strlen(base);
    if (!realpath(joined, real) || strncmp(real, base, base_len) != 0 || real[base_len] != '/' ||
        stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        goto not_found;

    res->status = 200;
    res->content_type = type;
    res->file_path = chat_xstrdup(real);
    res->file_size = (long long)st.st_size;
    chat_response_header(res, "Cache-Control", cache);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    return CHAT_OK;
not_found:
    return chat_fail(req, res, CHAT_E_NOT_FOUND, NULL);
}
