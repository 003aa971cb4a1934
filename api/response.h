/* Writing a struct chat_response: headers, JSON bodies and the one error body. The
 * dispatcher, the rate limiter and every handler answer through these; nothing here
 * knows routes, sessions or the database. */
#ifndef CHAT_RESPONSE_H
#define CHAT_RESPONSE_H

#include <json-c/json.h>
#include <stdbool.h>

#include "http.h"

/* Detail texts more than one handler answers with; shared/errors.h holds the ones push/
 * uses too (CHAT_DETAIL_CONVERSATION_NOT_FOUND). */
#define CHAT_DETAIL_MESSAGE_NOT_FOUND "error.message_not_found"

void chat_response_init(struct chat_response *res);
void chat_response_free(struct chat_response *res);
/* Adds a header; name and value are copied. Extra headers past the limit are dropped
 * with an error log (a bug). */
/* Back to a fresh 200 with only the first nheaders headers, for a handler run again. */
void chat_response_rewind(struct chat_response *res, unsigned nheaders);
void chat_response_header(struct chat_response *res, const char *name, const char *value);

/* Sets a JSON body and status; takes ownership of obj. */
void chat_respond_json(struct chat_response *res, int status, json_object *obj);

/* Answers 201 with obj when the request created something (and wakes the push daemons,
 * since the commit wrote events), else 200 with the existing one (an idempotent repeat
 * wrote nothing). Takes ownership of obj. */
void chat_respond_created(struct chat_app *app, struct chat_response *res, bool created,
                          json_object *obj);

/* Answers 200 {"results": array}; takes ownership of array. */
void chat_respond_results(struct chat_response *res, json_object *array);

/* The locale of the request's texts: the user's setting, else Accept-Language, else en
 * (shared/i18n.h). */
enum chat_locale chat_request_locale(const struct chat_request *req);

/* Sets res to the JSON error body {"detail", "code", "request_id"} with the error's
 * status. detail is a catalog key ("error.search.q_required"), or a key with values
 * (chat_detail_printf, shared/i18n.h), whose text in the request's locale is sent, or
 * NULL for the text of "error.<code>" (chat_i18n_error_text); a detail that is not
 * key-shaped (a sentence, not yet in a catalog) is sent as it is. `code` is the same in
 * every language. Returns err, so handlers can write `return chat_fail(...)`. The only
 * place an error becomes a response body. */
int chat_fail(const struct chat_request *req, struct chat_response *res, int err,
              const char *detail);

#endif
