/* Body and query-string parsing for handlers: the JSON body (content type, syntax,
 * fields) and positive integer query parameters, answering 415/400 through chat_fail()
 * when they are wrong. */
#include "request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "request_decode.h"
#include "response.h"

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
        snprintf(detail, sizeof(detail), "Query parameter '%s' must be an integer from 1 to %lld.",
                 name, max);
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, detail);
    }
    *value = v;
    return CHAT_OK;
}
