/* Body and query-string parsing for handlers: the JSON body (content type, syntax,
 * fields), positive integer and text query parameters, answering 415/400 through chat_fail()
 * when they are wrong. */
#include "request.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "i18n.h"
#include "request_decode.h"
#include "response.h"
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

int chat_read_json_body(const struct chat_request *req, struct chat_response *res,
                        const struct chat_field *fields, size_t nfields, json_object **out)
{
    char detail[256];
    *out = NULL;
    if (!is_json_content_type(req->content_type))
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA, NULL);
    int rc = chat_json_parse_object(req->body ? req->body : "", req->body_len, out, detail,
                                    sizeof(detail));
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, detail);
    rc = chat_json_check_fields(*out, fields, nfields, detail, sizeof(detail));
    if (rc != CHAT_OK) {
        json_object_put(*out);
        *out = NULL;
        return chat_fail(req, res, rc, detail);
    }
    return CHAT_OK;
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
