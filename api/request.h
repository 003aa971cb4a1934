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

/* Parses an optional positive integer query parameter. Returns CHAT_OK (with *value 0
 * when absent) or writes a 400 and returns CHAT_E_BAD_REQUEST. */
int chat_query_positive_int(const struct chat_request *req, struct chat_response *res,
                            const char *name, long long max, long long *value);

#endif
