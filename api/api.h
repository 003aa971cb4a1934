/* Helpers shared by the request handlers. */
#ifndef CHAT_API_H
#define CHAT_API_H

#include <json-c/json.h>

#include "http.h"
#include "json_util.h"

#define CHAT_SESSION_COOKIE "chat_session"
#define CHAT_CSRF_COOKIE "chat_csrf"

/* Sets a JSON body and status; takes ownership of obj. */
void chat_respond_json(struct chat_response *res, int status, json_object *obj);

/* Answers 201 with obj when the request created something (and wakes the push daemons,
 * since the commit wrote events), else 200 with the existing one (an idempotent repeat
 * wrote nothing). Takes ownership of obj. */
void chat_respond_created(struct chat_app *app, struct chat_response *res, bool created,
                          json_object *obj);

/* Answers 200 {"results": array}; takes ownership of array. */
void chat_respond_results(struct chat_response *res, json_object *array);

/* Parses and validates a JSON request body against fields. On success *out is a new
 * reference the caller puts. On failure the error response is already written (415 for
 * a wrong Content-Type, 400 for bad JSON or fields) and the error is returned. */
int chat_read_json_body(const struct chat_request *req, struct chat_response *res,
                        const struct chat_field *fields, size_t nfields, json_object **out);

/* Parses an optional positive integer query parameter. Returns CHAT_OK (with *value 0
 * when absent) or writes a 400 and returns CHAT_E_BAD_REQUEST. */
int chat_query_positive_int(const struct chat_request *req, struct chat_response *res,
                            const char *name, long long max, long long *value);

/* After a commit that wrote events: wakes the push daemons. */
void chat_app_wake_push(struct chat_app *app);

#endif
