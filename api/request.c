/* Body and query-string parsing for handlers: the JSON body (content type, syntax,
 * fields), positive integer and text query parameters, answering 415/400 through chat_fail()
 * when they are wrong (404 instead to an outsider of a conversation, for the routes that
 * check membership in their handler). */
#include "request.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app_state.h"
#include "errors.h"
#include "i18n.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

static bool is_json_content_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The body as a checked object in *out, or the error with its detail ("" for the
 * error's own text). */
static int parse_json_body(const struct chat_request *req, const struct chat_field *fields,
                           size_t nfields, json_object **out, char *detail, size_t detail_len)
{
    *out = NULL;
    detail[0] = '\0';
    if (!is_json_content_type(req->content_type))
        return CHAT_E_UNSUPPORTED_MEDIA;
    int rc = chat_json_parse_object(req->body ? req->body : "", req->body_len, out, detail,
                                    detail_len);
    if (rc == CHAT_OK && (rc = chat_json_check_fields(*out, fields, nfields, detail,
                                                      detail_len)) != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
    }
    return rc;
}

int chat_read_json_body(const struct chat_request *req, struct chat_response *res,
                        const struct chat_field *fields, size_t nfields, json_object **out)
{
    char detail[256];
    int rc = parse_json_body(req, fields, nfields, out, detail, sizeof(detail));
    return rc == CHAT_OK ? CHAT_OK : chat_fail(req, res, rc, detail[0] ? detail : NULL);
}

int chat_read_member_json_body(struct chat_app *app, const struct chat_request *req,
                               struct chat_response *res, long long conv_id,
                               const struct chat_field *fields, size_t nfields, json_object **out)
{
    char detail[256];
    int rc = parse_json_body(req, fields, nfields, out, detail, sizeof(detail));
    if (rc == CHAT_OK)
        return CHAT_OK;
    int member = chat_conv_check_participant(&app->db, conv_id, req->user_id);
    if (member != CHAT_OK)
        return chat_fail(req, res, member,
                         member == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : NULL);
    return chat_fail(req, res, rc, detail[0] ? detail : NULL);
}

int chat_query_positive_int(const struct chat_request *req, struct chat_response *res,
                            const char *name, long long max, long long *value)
{
    char buf[32], detail[128];
    *value = 0;
    if (!chat_query_param(req->query, name, buf, sizeof(buf)))
        return CHAT_OK;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (buf[0] < '0' || buf[0] > '9' || *end || errno || v < 1 || v > max) {
        chat_detail_printf(detail, sizeof(detail), "error.query.not_positive_int",
                           "name=%s" CHAT_DETAIL_SEP "max=%lld", name, max);
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, detail);
    }
    *value = v;
    return CHAT_OK;
}

int chat_query_text(const struct chat_request *req, struct chat_response *res,
                    const char *name, size_t max_chars, char *buf, size_t size)
{
    /* buf has room for max_chars characters of 4 bytes and a partial one: a longer value
     * is cut by chat_query_param in bytes, then here at a character, and only that prefix
     * (all a search uses) has to be valid UTF-8. */
    assert(size >= 4 * max_chars + 5);
    buf[0] = '\0';
    if (!chat_query_param(req->query, name, buf, size))
        return CHAT_OK;
    size_t len = chat_utf8_prefix_len(buf, strlen(buf), max_chars);
    buf[len] = '\0';
    if (chat_utf8_valid(buf, len))
        return CHAT_OK;
    char detail[96];
    chat_detail_printf(detail, sizeof(detail), "error.query.not_utf8", "name=%s", name);
    return chat_fail(req, res, CHAT_E_INVALID_UTF8, detail);
}
