/* /api/chat/attachments/: uploads (multipart/form-data or a raw body) and downloads. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "attachment_policy.h"
#include "blobs.h"
#include "errors.h"
#include "i18n.h"
#include "handlers.h"
#include "log.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "upload.h"
#include "xalloc.h"

/* Validates type and name, then stores the content. */
static int store_upload(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                        const struct chat_upload *up)
{
    char type[CHAT_CONTENT_TYPE_MAX + 1], detail[200];
    char filename[CHAT_FILENAME_MAX_CHARS * 4 + 1];
    if (!up->raw_type || !chat_content_type_normalize(up->raw_type, type, sizeof(type)))
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "error.attachment.content_type_needed");
    if (!chat_content_type_allowed(type, app->cfg->attachment_types)) {
        chat_detail_printf(detail, sizeof(detail), "error.attachment.type_refused", "type=%s", type);
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA, detail);
    }
    if (!chat_filename_sanitize(up->raw_filename, filename, CHAT_FILENAME_MAX_CHARS))
        return chat_fail(req, res, CHAT_E_INVALID_UTF8, "error.attachment.filename_not_utf8");
    if (up->len == 0)
        return chat_fail(req, res, CHAT_E_VALIDATION, "error.attachment.empty");
    json_object *obj;
    int rc = chat_attachment_create(&app->db, app->cfg, req->user_id, filename, type, up->data,
                                    up->len, &obj);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_json(res, 201, obj);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_attachment_upload)
{
    (void)args;
    struct chat_upload up;
    int rc = chat_upload_open(req, res, &up);
    if (rc == CHAT_OK)
        rc = store_upload(app, req, res, &up);
    chat_upload_close(&up);
    return rc;
}

CHAT_HANDLER(chat_handle_attachment_get)
{
    struct chat_attachment a;
    char path[4096], disposition[3200];
    int rc = chat_attachment_get_for_viewer(&app->db, args->ids[0], req->user_id, &a);
    if (rc == CHAT_OK)
        rc = chat_blob_path(app->cfg, a.sha256, path, sizeof(path));
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.attachment.not_found" : NULL);
    if (access(path, R_OK) != 0) {
        log_error("attachment %lld: file %s is missing: %s", a.id, path, strerror(errno));
        return chat_fail(req, res, CHAT_E_INTERNAL, "error.attachment.file_missing");
    }
    bool inline_ok;
    const char *type = chat_content_type_served(a.content_type, &inline_ok);
    chat_content_disposition(a.filename, inline_ok, disposition, sizeof(disposition));
    res->status = 200;
    res->content_type = NULL; /* per file: sent as a header below */
    chat_response_header(res, "Content-Type", type);
    chat_response_header(res, "Content-Disposition", disposition);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    /* Even opened directly, the file may not run scripts or load anything. */
    chat_response_header(res, "Content-Security-Policy", "default-src 'none'; sandbox");
    chat_response_header(res, "Cache-Control", "private, max-age=3600");
    res->file_path = chat_xstrdup(path);
    res->file_size = a.size;
    return CHAT_OK;
}
