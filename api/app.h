/* The dispatcher: the one entry point both transports call for a request. */
#ifndef CHAT_APP_H
#define CHAT_APP_H

#include "http.h"

/* Handles one request: request id, routing, authentication, CSRF, the handler, errors
 * and the access log line. Always fills res; the caller frees it with
 * chat_response_free(). */
void chat_app_handle(struct chat_app *app, struct chat_request *req, struct chat_response *res);

#endif
