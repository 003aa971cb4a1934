/* The browser-facing routes: the redirect from /, the server-rendered chat page
 * (/chat/ and /chat/<pk>/, rendered by page_view.c) and its no-JavaScript send form
 * (POST /chat/<pk>/send). */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app_state.h"
#include "crypto.h"
#include "errors.h"
#include "form.h"
#include "handlers.h"
#include "page_view.h"
#include "request.h"
#include "response.h"
#include "store.h"

/* Longest decoded form field values accepted from the no-JavaScript send form. */
#define FORM_TOKEN_MAX 64

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

CHAT_HANDLER(chat_handle_chat_page)
{
    (void)args;
    struct chat_page_view view = {.status = 200};
    return chat_page_render(app, req, res, &view);
}

CHAT_HANDLER(chat_handle_conversation_page)
{
    struct chat_page_view view = {.conv_id = args->ids[0], .status = 200};
    int rc = chat_query_positive_int(req, res, "before", LLONG_MAX, &view.before);
    if (rc == CHAT_OK)
        rc = chat_query_positive_int(req, res, "around", LLONG_MAX, &view.around);
    if (rc != CHAT_OK)
        return rc;
    if (view.before && view.around)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "error.message.one_cursor");
    return chat_page_render(app, req, res, &view);
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
        return chat_page_render_not_found(app, req, res);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    if (!req->content_type ||
        strncasecmp(req->content_type, "application/x-www-form-urlencoded", 33) != 0 ||
        (req->content_type[33] != '\0' && req->content_type[33] != ';'))
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "error.form.content_type");
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
    /* Refused for what was written or for where (a block, a direct chat the other
     * left): the page again, with the reason and the text kept. */
    if (rc == CHAT_E_VALIDATION || rc == CHAT_E_BLOCKED || rc == CHAT_E_YOU_BLOCKED ||
        rc == CHAT_E_RECIPIENT_LEFT) {
        struct strbuf reason = {0};
        chat_i18n_error_text(&reason, chat_request_locale(req), rc, detail[0] ? detail : NULL);
        struct chat_page_view view = {.conv_id = conv_id,
                                 .error = reason.data,
                                 .draft = values[SEND_TEXT],
                                 .status = chat_err_status(rc)};
        rc = chat_page_render(app, req, res, &view);
        strbuf_free(&reason);
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
