/* Response building shared by the dispatcher and the handlers: the header list, JSON
 * bodies (plain, created-or-existing, {"results"}) and chat_fail(), the one function
 * that turns an error code into the {"detail", "code", "request_id"} body. */
#include "response.h"

#include <stdlib.h>
#include <string.h>

#include "app_state.h"
#include "errors.h"
#include "i18n.h"
#include "json_util.h"
#include "json_write.h"
#include "log.h"
#include "xalloc.h"

void chat_response_init(struct chat_response *res)
{
    memset(res, 0, sizeof(*res));
    res->status = 200;
}

void chat_response_free(struct chat_response *res)
{
    strbuf_free(&res->body);
    for (unsigned i = 0; i < res->nheaders; i++) {
        free(res->headers[i].name);
        free(res->headers[i].value);
    }
    free(res->file_path);
    memset(res, 0, sizeof(*res));
}

void chat_response_rewind(struct chat_response *res, unsigned nheaders)
{
    while (res->nheaders > nheaders) {
        res->nheaders--;
        free(res->headers[res->nheaders].name);
        free(res->headers[res->nheaders].value);
    }
    res->body.len = 0;
    res->status = 200;
    res->content_type = NULL;
    free(res->file_path);
    res->file_path = NULL;
    res->file_size = 0;
}

void chat_response_header(struct chat_response *res, const char *name, const char *value)
{
    if (res->nheaders >= CHAT_MAX_RESPONSE_HEADERS) {
        log_error("too many response headers; dropping %s", name);
        return;
    }
    res->headers[res->nheaders].name = chat_xstrdup(name);
    res->headers[res->nheaders].value = chat_xstrdup(value);
    res->nheaders++;
}

void chat_respond_json(struct chat_response *res, int status, json_object *obj)
{
    res->status = status;
    res->content_type = "application/json";
    res->body.len = 0;
    chat_json_write(&res->body, obj);
    json_object_put(obj);
}

void chat_respond_created(struct chat_app *app, struct chat_response *res, bool created,
                          json_object *obj)
{
    if (created)
        chat_app_wake_push(app);
    chat_respond_json(res, created ? 201 : 200, obj);
}

void chat_respond_results(struct chat_response *res, json_object *array)
{
    json_object *body = json_object_new_object();
    json_object_object_add(body, "results", array);
    chat_respond_json(res, 200, body);
}

enum chat_locale chat_request_locale(const struct chat_request *req)
{
    return chat_i18n_negotiate(req->user_locale, req->accept_language);
}

int chat_fail(const struct chat_request *req, struct chat_response *res, int err,
              const char *detail)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "detail", chat_i18n_error_json(chat_request_locale(req), err, detail));
    json_object_object_add(o, "code", json_object_new_string(chat_err_code(err)));
    json_object_object_add(o, "request_id", json_object_new_string(req->request_id));
    chat_respond_json(res, chat_err_status(err), o);
    return err;
}
