/* The browser-facing routes: the redirect from /, the server-rendered chat page and the
 * static files. The page carries everything the script needs in a JSON bootstrap
 * element, so the script never has to guess the user or the push URL. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "errors.h"
#include "handlers.h"
#include "log.h"
#include "store.h"
#include "template.h"

/* Scripts and styles only from our origin, and no inline ones; the WebSocket may be on
 * another port of the same host, which 'self' would not cover. */
#define PAGE_CSP                                                                            \
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; " \
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* Code points of a last message shown in the conversation list. */
#define PREVIEW_CHARS 80

/* Longest path below /static/ we serve. */
#define STATIC_PATH_MAX 200

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

/* A new string with the first PREVIEW_CHARS code points of the last message. */
static json_object *conversation_preview(json_object *conv)
{
    json_object *last;
    if (!json_object_object_get_ex(conv, "last_message", &last) || !last)
        return json_object_new_string("");
    if (chat_json_get_bool(last, "deleted", false))
        return json_object_new_string("Message deleted");
    const char *text = chat_json_get_string(last, "text", "");
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

/* The list rows the template prints: {id, title, preview, unread_count}. */
static json_object *conversation_rows(json_object *convs, long long viewer_id)
{
    json_object *rows = json_object_new_array();
    size_t n = json_object_array_length(convs);
    for (size_t i = 0; i < n; i++) {
        json_object *conv = json_object_array_get_idx(convs, i);
        json_object *row = json_object_new_object();
        json_object_object_add(row, "id", json_object_new_int64(chat_json_get_int(conv, "id", 0)));
        json_object_object_add(row, "title",
                               json_object_new_string(conversation_title(conv, viewer_id)));
        json_object_object_add(row, "preview", conversation_preview(conv));
        json_object_object_add(row, "unread_count",
                               json_object_new_int64(chat_json_get_int(conv, "unread_count", 0)));
        json_object_array_add(rows, row);
    }
    return rows;
}

CHAT_HANDLER(chat_handle_chat_page)
{
    const struct chat_config *cfg = app->cfg;
    json_object *user = NULL, *convs = NULL;
    json_object *ctx = json_object_new_object();
    json_object *boot = json_object_new_object();
    char err[512];
    int rc = CHAT_OK;
    (void)args;

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
    if (user) {
        rc = chat_conv_list_json(&app->db, req->user_id, &convs);
        if (rc != CHAT_OK)
            goto out;
        json_object_object_add(ctx, "user", json_object_get(user));
        json_object_object_add(ctx, "conversations", conversation_rows(convs, req->user_id));
    }
    json_object_object_add(ctx, "registration_enabled",
                           json_object_new_boolean(cfg->registration_enabled));
    json_object_object_add(ctx, "max_message_chars", json_object_new_int(cfg->max_message_chars));

    json_object_object_add(boot, "user", json_object_get(user));
    json_object_object_add(boot, "conversations",
                           convs ? json_object_get(convs) : json_object_new_array());
    json_object_object_add(boot, "ws_url", json_object_new_string(cfg->push_public_url));
    json_object_object_add(boot, "max_message_chars", json_object_new_int(cfg->max_message_chars));
    json_object_object_add(boot, "csrf_cookie", json_object_new_string(CHAT_CSRF_COOKIE));
    json_object_object_add(ctx, "boot", json_object_get(boot));

    rc = chat_template_render(cfg->templates_dir, "chat.html", ctx, &res->body, err, sizeof(err));
    if (rc != CHAT_OK) {
        log_error("rendering the chat page: %s", err);
        goto out;
    }
    res->status = 200;
    res->content_type = "text/html; charset=utf-8";
    chat_response_header(res, "Cache-Control", "no-store");
    chat_response_header(res, "Content-Security-Policy", PAGE_CSP);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    chat_response_header(res, "Referrer-Policy", "same-origin");
out:
    json_object_put(boot);
    json_object_put(ctx);
    json_object_put(convs);
    json_object_put(user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    return CHAT_OK;
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
    const char *type = static_content_type(rel);
    size_t base_len;

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
    chat_response_header(res, "Cache-Control", "public, max-age=3600");
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    return CHAT_OK;
not_found:
    return chat_fail(req, res, CHAT_E_NOT_FOUND, NULL);
}
