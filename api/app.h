/* The dispatcher: the one entry point both transports call for a request. */
#ifndef CHAT_APP_H
#define CHAT_APP_H

#include "http.h"

/* Handles one request: request id, routing, authentication, CSRF, the handler, errors
 * and the access log line. Always fills res; the caller frees it with
 * chat_response_free(). */
void chat_app_handle(struct chat_app *app, struct chat_request *req, struct chat_response *res);

/* Upload routes, before the transport reads the body: routing, the announced size,
 * authentication, CSRF and the upload rate-limit token. Returns true when res holds the
 * answer (401, 403, 413, 429, ...; logged like any response), which the transport sends
 * without reading or spooling the body. Returns false when the request may go on: the
 * transport then reads the body and calls chat_app_handle() with the same req and res
 * (the checks are not repeated, req->admitted is set). */
bool chat_app_admit_upload(struct chat_app *app, struct chat_request *req,
                           struct chat_response *res);

#endif
