/* Reading an upload's content from its spooled body (CHAT_ROUTE_BODY_FILE routes), the
 * same way for every upload route: multipart/form-data with exactly one file part, or the
 * raw body with its own Content-Type and `?filename=`. */
#ifndef CHAT_UPLOAD_H
#define CHAT_UPLOAD_H

#include <stddef.h>

#include "http.h"
#include "multipart.h"

struct chat_upload {
    /* The content, pointing into the mapped spool file: valid until chat_upload_close. */
    const char *data;
    size_t len;
    const char *raw_type;     /* as sent; NULL when absent */
    const char *raw_filename; /* as sent */
    /* Private. */
    const char *map;
    size_t map_len;
    int fd;
    char query_name[CHAT_MULTIPART_FILENAME_MAX + 1];
    struct chat_multipart_part parts[CHAT_MULTIPART_MAX_PARTS];
};

/* Maps req's spool file and finds the content in it. On failure the error response is
 * already written and returned. Either way call chat_upload_close after. */
int chat_upload_open(const struct chat_request *req, struct chat_response *res,
                     struct chat_upload *up);
void chat_upload_close(struct chat_upload *up);

#endif
