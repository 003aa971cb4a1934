/* Reading a handler's inputs that can be refused: the JSON body and integer query
 * parameters. On bad input the error response is already written. */
#ifndef CHAT_REQUEST_H
#define CHAT_REQUEST_H

#include <json-c/json.h>
#include <stddef.h>

#include "http.h"
#include "json_util.h"

/* Parses and validates a JSON request body against fields. On success *out is a new
 * reference the caller puts. On failure the error response is already written (415 for
 * a wrong Content-Type, 400 for bad JSON or fields) and the error is returned. */
int chat_read_json_body(const struct chat_request *req, struct chat_response *res,
                        const struct chat_field *fields, size_t nfields, json_object **out);
/* The same for a CHAT_ROUTE_MEMBER_IN_HANDLER route of conversation conv_id: a refused
 * body is answered 404 when the caller does not take part (one round trip, on that path
 * only), so an outsider learns nothing from what they send. */
int chat_read_member_json_body(struct chat_app *app, const struct chat_request *req,
                               struct chat_response *res, long long conv_id,
                               const struct chat_field *fields, size_t nfields, json_object **out);

/* Parses an optional positive integer query parameter. Returns CHAT_OK (with *value 0
 * when absent) or writes a 400 and returns CHAT_E_BAD_REQUEST. */
int chat_query_positive_int(const struct chat_request *req, struct chat_response *res,
                            const char *name, long long max, long long *value);

/* Reads an optional text query parameter into buf ("" when absent): only its first
 * max_chars characters count (cut at a character, so a longer value is a shorter search,
 * not an error), and they must be valid UTF-8, else a 400 invalid_utf8 is written and
 * CHAT_E_INVALID_UTF8 returned. buf holds 4 * max_chars + 5 bytes. */
int chat_query_text(const struct chat_request *req, struct chat_response *res,
                    const char *name, size_t max_chars, char *buf, size_t size);

#endif
