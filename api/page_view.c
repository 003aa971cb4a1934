/* The chat page's view model and its rendering: the conversation list rows, the open
 * conversation's message rows (titles, previews, day breaks, quoted replies) and the
 * bootstrap JSON the script starts from, rendered through chat.html, or not_found.html
 * for a conversation the viewer cannot see. The page carries everything the script
 * needs in that bootstrap element, so the script never has to guess the user or the push
 * URL. */
#include "page_view.h"

#include <stdio.h>
#include <string.h>

#include "asset_version.h"
#include "auth.h"
#include "crypto.h"
#include "errors.h"
#include "i18n.h"
#include "json_util.h"
#include "log.h"
#include "response.h"
#include "security_headers.h"
#include "store.h"
#include "template.h"
#include "utf8.h"

/* Code points of a last message shown in the conversation list, and of a quoted reply. */
#define PREVIEW_CHARS 80

/* The catalog text of key, for the words the view model writes itself. */
static const char *page_text(enum chat_locale locale, const char *key)
{
    const char *text = chat_i18n_text(locale, key);
    return text ? text : key;
}

/* The name a user object shows: its display name, else its username; a deleted account
 * is "Deleted user" in the page's language. Borrowed from user or the catalog. */
static const char *user_name(json_object *user, enum chat_locale locale)
{
    if (chat_json_get_bool(user, "deleted", false))
        return page_text(locale, "page.deleted_user");
    const char *display = chat_json_get_string(user, "display_name", "");
    return *display ? display : chat_json_get_string(user, "username", "");
}

/* The name the viewer sees for conv: the group's name, or the other participant's
 * display name (username when that is empty) for a direct chat. Borrowed from conv. */
static const char *conversation_title(json_object *conv, long long viewer_id,
                                      enum chat_locale locale)
{
    json_object *participants, *p;
    if (chat_json_get_bool(conv, "is_group", false)) {
        const char *name = chat_json_get_string(conv, "name", "");
        return *name ? name : page_text(locale, "page.group_untitled");
    }
    if (json_object_object_get_ex(conv, "participants", &participants)) {
        size_t n = json_object_array_length(participants);
        for (size_t i = 0; i < n; i++) {
            p = json_object_array_get_idx(participants, i);
            if (chat_json_get_int(p, "id", 0) == viewer_id)
                continue;
            return user_name(p, locale);
        }
    }
    return page_text(locale, "page.just_you");
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
    size_t len = strlen(text), cut = chat_utf8_prefix_len(text, len, PREVIEW_CHARS);
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
static json_object *message_preview(json_object *msg, enum chat_locale locale)
{
    json_object *atts;
    if (!msg)
        return json_object_new_string("");
    if (chat_json_get_bool(msg, "deleted", false))
        return json_object_new_string(page_text(locale, "page.message_deleted"));
    const char *text = chat_json_get_string(msg, "text", "");
    if (!*text && json_object_object_get_ex(msg, "attachments", &atts) &&
        json_object_array_length(atts) > 0)
        return json_object_new_string(page_text(locale, "page.attachment"));
    return shortened(text);
}

/* The list rows the template prints: {id, title, preview, unread_count, online, active}. */
static json_object *conversation_rows(json_object *convs, long long viewer_id, long long open_id,
                                     enum chat_locale locale)
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
                               json_object_new_string(conversation_title(conv, viewer_id, locale)));
        json_object_object_add(row, "preview", message_preview(last, locale));
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

/* The day "2026-11-21" written out in the locale ("November 21, 2026", "21 de novembro
 * de 2026"), from the catalog's month names and date pattern; the ISO day itself when it
 * is not one. */
static json_object *day_label(const char *day, enum chat_locale locale)
{
    int y, m, d;
    if (sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12)
        return json_object_new_string(day);
    char key[32];
    snprintf(key, sizeof(key), "page.month_%d", m);
    json_object *params = json_object_new_object();
    json_object_object_add(params, "day", json_object_new_int(d));
    json_object_object_add(params, "month", json_object_new_string(page_text(locale, key)));
    json_object_object_add(params, "year", json_object_new_int(y));
    struct strbuf b = {0};
    chat_i18n_format(&b, page_text(locale, "page.date_long"), params);
    json_object *out = json_object_new_string_len(b.data, (int)b.len);
    strbuf_free(&b);
    json_object_put(params);
    return out;
}

/* The message rows the template prints, for the page's messages (oldest first):
 * {id, sender, mine, text, deleted, edited, iso, clock, day and day_label (set on the
 * first message of each UTC day), target (the message an around page is centred on), reply {sender, text} or null, attachments [{filename, url}],
 * reactions [{emoji, count}]}. The script re-renders them in the viewer's time zone. */
static json_object *message_rows(json_object *messages, long long viewer_id, long long target,
                                enum chat_locale locale)
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
        split_time(iso, day, clock);
        json_object_object_add(row, "id", json_object_new_int64(chat_json_get_int(m, "id", 0)));
        json_object_object_add(row, "sender", json_object_new_string(user_name(sender, locale)));
        json_object_object_add(row, "bot", json_object_new_boolean(chat_json_get_bool(sender, "is_bot", false)));
        json_object_object_add(row, "target", json_object_new_boolean(
                                                  chat_json_get_int(m, "id", 0) == target));
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
            json_object_object_add(row, "day_label", day_label(day, locale));
            snprintf(prev_day, sizeof(prev_day), "%s", day);
        }
        long long reply_to = chat_json_get_int(m, "reply_to", 0);
        if (reply_to) {
            json_object *quote = json_object_new_object();
            json_object_object_add(quote, "id", json_object_new_int64(reply_to));
            json_object_object_add(quote, "text", json_object_new_string(page_text(locale, "page.earlier_message")));
            for (size_t j = 0; j < i; j++) {
                json_object *o = json_object_array_get_idx(messages, j), *os = NULL;
                if (chat_json_get_int(o, "id", 0) != reply_to)
                    continue;
                json_object_object_get_ex(o, "sender", &os);
                json_object_object_add(quote, "sender", json_object_new_string(user_name(os, locale)));
                json_object_object_add(quote, "text", message_preview(o, locale));
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

/* The context every page gets: the request's locale ("lang", for <html lang>), its
 * catalog nested for the templates ("t": {{ t.page.title }}), and the same catalog flat
 * for the script ("i18n": {locale, messages}, printed into a JSON element, so the
 * script needs no request and the CSP no inline script), and the asset version. */
static json_object *page_context(const struct chat_config *cfg, const struct chat_request *req)
{
    enum chat_locale locale = chat_request_locale(req);
    json_object *ctx = json_object_new_object(), *i18n = json_object_new_object();
    json_object_object_add(ctx, "lang", json_object_new_string(chat_i18n_locale_tag(locale)));
    json_object_object_add(ctx, "t", chat_i18n_catalog_tree(locale));
    json_object_object_add(i18n, "locale", json_object_new_string(chat_i18n_locale_tag(locale)));
    json_object_object_add(i18n, "messages", chat_i18n_catalog_json(locale));
    json_object_object_add(ctx, "i18n", i18n);
    json_object_object_add(ctx, "static_version", json_object_new_string(chat_asset_version(cfg)));
    return ctx;
}

/* Renders the 404 page for a conversation the viewer cannot see (or that does not exist:
 * the two are indistinguishable on purpose). */
int chat_page_render_not_found(struct chat_app *app, struct chat_request *req,
                               struct chat_response *res)
{
    char err[512];
    json_object *ctx = page_context(app->cfg, req);
    int rc = chat_template_render(app->cfg->templates_dir, "not_found.html", ctx, &res->body,
                                  err, sizeof(err));
    json_object_put(ctx);
    if (rc != CHAT_OK) {
        log_error("rendering the 404 page: %s", err);
        return chat_fail(req, res, rc, NULL);
    }
    res->status = 404;
    chat_page_headers(app->cfg, req, res);
    return CHAT_OK;
}

/* Renders chat.html: the login form for an anonymous visitor, else the conversation list
 * and, when view->conv_id is set, that conversation with its latest page of messages.
 * Everything the script needs is in the bootstrap JSON element as well. */
int chat_page_render(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                     const struct chat_page_view *view)
{
    const struct chat_config *cfg = app->cfg;
    enum chat_locale locale = chat_request_locale(req);
    long long around = 0;
    json_object *user = NULL, *convs = NULL, *conv = NULL, *page = NULL;
    json_object *ctx = page_context(cfg, req);
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
        if (rc == CHAT_OK && view->around) {
            rc = chat_message_around_json(&app->db, view->conv_id, req->user_id, view->around,
                                          CHAT_PAGE_DEFAULT, &page);
            /* Not a message of this conversation (any more): its latest page instead. */
            around = rc == CHAT_OK ? view->around : 0;
            if (rc == CHAT_E_NOT_FOUND)
                rc = CHAT_OK;
        }
        if (rc == CHAT_OK && !page)
            rc = chat_message_page_json(&app->db, view->conv_id, req->user_id, view->before,
                                        0, CHAT_PAGE_DEFAULT, &page);
        if (rc == CHAT_E_NOT_FOUND) {
            json_object_put(boot);
            json_object_put(ctx);
            json_object_put(conv);
            json_object_put(user);
            return chat_page_render_not_found(app, req, res);
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
                               conversation_rows(convs, req->user_id, view->conv_id, locale));
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
                               json_object_new_string(conversation_title(conv, req->user_id, locale)));
        json_object_object_add(open, "is_group",
                               json_object_new_boolean(chat_json_get_bool(conv, "is_group", false)));
        /* An around page has more on both sides; the older ones are has_more_before. */
        json_object_object_add(open, "has_more", json_object_new_boolean(
                                                     chat_json_get_bool(page, "has_more", false) ||
                                                     chat_json_get_bool(page, "has_more_before", false)));
        json_object_object_add(open, "has_newer", json_object_new_boolean(
                                                      chat_json_get_bool(page, "has_more_after", false)));
        json_object_object_add(open, "around", json_object_new_int64(around));
        json_object_object_add(open, "messages", message_rows(results, req->user_id, around, locale));
        json_object_object_add(open, "client_msg_id", json_object_new_string(client_msg_id));
        if (view->error)
            json_object_object_add(open, "error", json_object_new_string(view->error));
        if (view->draft)
            json_object_object_add(open, "draft", json_object_new_string(view->draft));
        json_object_object_add(ctx, "open", open);
        json_object_object_add(boot, "conversation", json_object_get(conv));
        json_object_object_add(boot, "messages", json_object_get(page));
        json_object_object_add(boot, "messages_before", json_object_new_int64(view->before));
        json_object_object_add(boot, "messages_around", json_object_new_int64(around));
    }
    json_object_object_add(ctx, "registration_enabled",
                           json_object_new_boolean(cfg->registration_enabled));
    json_object_object_add(ctx, "max_message_chars", json_object_new_int(cfg->max_message_chars));

    json_object_object_add(boot, "user", json_object_get(user));
    json_object_object_add(boot, "conversations",
                           convs ? json_object_get(convs) : json_object_new_array());
    json_object_object_add(boot, "ws_url", json_object_new_string(cfg->push_public_url));
    json_object_object_add(boot, "max_message_chars", json_object_new_int(cfg->max_message_chars));
    json_object_object_add(boot, "max_attachment_bytes",
                           json_object_new_int64(cfg->attachment_max_bytes));
    json_object_object_add(boot, "csrf_cookie", json_object_new_string(CHAT_CSRF_COOKIE));
    /* The user's language setting for the settings dialog; null: Accept-Language decides. */
    chat_json_add_nullable_string(boot, "locale_setting",
                                  req->user_locale[0] ? req->user_locale : NULL);
    json_object_object_add(ctx, "boot", json_object_get(boot));

    rc = chat_template_render(cfg->templates_dir, "chat.html", ctx, &res->body, err, sizeof(err));
    if (rc != CHAT_OK) {
        log_error("rendering the chat page: %s", err);
        goto out;
    }
    res->status = view->status;
    chat_page_headers(cfg, req, res);
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
