/* Reading an upload's content from its spooled body (see upload.h). */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"
#include "request_decode.h"
#include "response.h"

/* multipart/form-data: exactly one part with a filename is the file; other fields are
 * ignored. A file part without a Content-Type is application/octet-stream. */
static int pick_file_part(const struct chat_request *req, struct chat_response *res,
                          const char *body, size_t len, struct chat_multipart_part *parts,
                          struct chat_upload *out)
{
    char boundary[CHAT_MULTIPART_BOUNDARY_MAX + 1];
    size_t n = 0;
    if (chat_multipart_boundary(req->content_type, boundary) != CHAT_OK)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "error.upload.no_boundary");
    if (chat_multipart_parse(body, len, boundary, parts, CHAT_MULTIPART_MAX_PARTS, &n) != CHAT_OK)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "error.upload.malformed");
    const struct chat_multipart_part *file = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!parts[i].has_filename)
            continue;
        if (file)
            return chat_fail(req, res, CHAT_E_BAD_REQUEST, "error.upload.one_file");
        file = &parts[i];
    }
    if (!file)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST,
                         "error.upload.no_file_part");
    out->data = file->data;
    out->len = file->len;
    out->raw_type = file->content_type[0] ? file->content_type : "application/octet-stream";
    out->raw_filename = file->filename;
    return CHAT_OK;
}

int chat_upload_open(const struct chat_request *req, struct chat_response *res,
                     struct chat_upload *up)
{
    memset(up, 0, sizeof(*up));
    up->fd = -1;
    snprintf(up->query_name, sizeof(up->query_name), "file");
    if (req->body_incomplete)
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "error.upload.cut_short");
    if (!req->body_file)
        return chat_fail(req, res, CHAT_E_INTERNAL, "error.upload.not_stored");
    if (!req->content_type)
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "error.upload.content_type_needed");
    /* The spooled body is mapped, not read into memory: the page cache holds it. */
    if (req->body_len > 0) {
        up->fd = open(req->body_file, O_RDONLY | O_CLOEXEC);
        void *map = up->fd >= 0 ? mmap(NULL, req->body_len, PROT_READ, MAP_PRIVATE, up->fd, 0)
                                : MAP_FAILED;
        if (map == MAP_FAILED) {
            log_error("mapping %s: %s", req->body_file, strerror(errno));
            return chat_fail(req, res, CHAT_E_INTERNAL, "error.upload.not_read");
        }
        up->map = map;
        up->map_len = req->body_len;
    }
    if (chat_multipart_is_form_data(req->content_type))
        return pick_file_part(req, res, up->map ? up->map : "", req->body_len, up->parts, up);
    chat_query_param(req->query, "filename", up->query_name, sizeof(up->query_name));
    up->data = up->map;
    up->len = req->body_len;
    up->raw_type = req->content_type;
    up->raw_filename = up->query_name;
    return CHAT_OK;
}

void chat_upload_close(struct chat_upload *up)
{
    if (up->map)
        munmap((void *)up->map, up->map_len);
    if (up->fd >= 0)
        close(up->fd);
    up->map = NULL;
    up->fd = -1;
}
