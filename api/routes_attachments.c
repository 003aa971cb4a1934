/* /api/chat/attachments/: uploads (multipart/form-data or a raw body) and downloads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "attachment_policy.h"
#include "blobs.h"
#include "errors.h"
#include "handlers.h"
#include "log.h"
#include "multipart.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "xalloc.h"

/* What the upload carries, pointing into the mapped body. */
struct upload_content {
    const char *data;
    size_t len;
    const char *raw_type;     /* as sent; NULL when absent */
    const char *raw_filename; /* as sent */
};

/* multipart/form-data: exactly one part with a filename is the file; other fields are
 * ignored. A file part without a Content-Type is application/octet-stream. */
static int pick_file_part(const struct chat_request *req, struct chat_response *res,
                          const char *body, size_t len, struct chat_multipart_part *parts,
                          struct upload_content *out)
{
    char boundary[CHAT_MULTIPART_BOUNDARY_MAX + 1];
    size_t n = 0;
    if (chat_multipart_boundary(req->content_type, boundary) != CHAT_OK)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "multipart/form-data needs a boundary.");
    if (chat_multipart_parse(body, len, boundary, parts, CHAT_MULTIPART_MAX_PARTS, &n) != CHAT_OK)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "Malformed multipart/form-data body.");
    const struct chat_multipart_part *file = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i].has_filename)
            continue;
        if (file)
            return chat_fail(req, res, CHAT_E_BAD_REQUEST, "Send one file per upload.");
        file = &parts[i];
    }
    if (!file)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST,
                         "The multipart body has no file part (a part with a filename).");
    out->data = file->data;
    out->len = file->len;
    out->raw_type = file->content_type[0] ? file->content_type : "application/octet-stream";
    out->raw_filename = file->filename;
    return CHAT_OK;
}

/* Validates type and name, then stores the content. */
static int store_upload(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                        const struct upload_content *up)
{
    char type[CHAT_CONTENT_TYPE_MAX + 1], detail[200];
    char filename[CHAT_FILENAME_MAX_CHARS * 4 + 1];
    if (!up->raw_type || !chat_content_type_normalize(up->raw_type, type, sizeof(type)))
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "Send the file with its Content-Type (type/subtype).");
    if (!chat_content_type_allowed(type, app->cfg->attachment_types)) {
        snprintf(detail, sizeof(detail), "Files of type %s are not accepted.", type);
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA, detail);
    }
    if (!chat_filename_sanitize(up->raw_filename, filename, CHAT_FILENAME_MAX_CHARS))
        return chat_fail(req, res, CHAT_E_INVALID_UTF8, "The filename is not valid UTF-8.");
    if (up->len == 0)
        return chat_fail(req, res, CHAT_E_VALIDATION, "The file is empty.");
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
    struct chat_multipart_part parts[CHAT_MULTIPART_MAX_PARTS];
    struct upload_content up = {0};
    char query_name[CHAT_MULTIPART_FILENAME_MAX + 1] = "file";
    const char *body = NULL;
    int fd = -1, rc;
    if (req->body_incomplete)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "The upload was cut short.");
    if (!req->body_file)
        return chat_fail(req, res, CHAT_E_INTERNAL, "The upload could not be stored.");
    if (!req->content_type)
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "Send the file with its Content-Type, or as multipart/form-data.");
    /* The spooled body is mapped, not read into memory: the page cache holds it. */
    if (req->body_len > 0) {
        fd = open(req->body_file, O_RDONLY | O_CLOEXEC);
        void *map = fd >= 0 ? mmap(NULL, req->body_len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        if (map == MAP_FAILED) {
            log_error("mapping %s: %s", req->body_file, strerror(errno));
            rc = chat_fail(req, res, CHAT_E_INTERNAL, "The upload could not be read.");
            goto out;
        }
        body = map;
    }
    if (chat_multipart_is_form_data(req->content_type)) {
        rc = pick_file_part(req, res, body ? body : "", req->body_len, parts, &up);
        if (rc != CHAT_OK)
            goto out;
    } else {
        chat_query_param(req->query, "filename", query_name, sizeof(query_name));
        up.data = body;
        up.len = req->body_len;
        up.raw_type = req->content_type;
        up.raw_filename = query_name;
    }
    rc = store_upload(app, req, res, &up);
out:
    if (body)
        munmap((void *)body, req->body_len);
    if (fd >= 0)
        close(fd);
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
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "Attachment not found." : NULL);
    if (access(path, R_OK) != 0) {
        log_error("attachment %lld: file %s is missing: %s", a.id, path, strerror(errno));
        return chat_fail(req, res, CHAT_E_INTERNAL, "The file is missing.");
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
