/* A bounded multipart/form-data (RFC 7578) parser over a body that is already in memory
 * (for uploads: the spooled body file, mapped). It never allocates; parts point into
 * the body. */
#ifndef CHAT_MULTIPART_H
#define CHAT_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#define CHAT_MULTIPART_BOUNDARY_MAX 70  /* RFC 2046 */
#define CHAT_MULTIPART_MAX_PARTS 8
#define CHAT_MULTIPART_HEADERS_MAX 8192 /* bytes of one part's header block */
#define CHAT_MULTIPART_FILENAME_MAX 1024

struct chat_multipart_part {
    const char *data; /* the part's content, inside the body */
    size_t len;
    char name[128];                                /* form field name, "" when absent */
    char filename[CHAT_MULTIPART_FILENAME_MAX + 1]; /* raw bytes; filename* preferred */
    bool has_filename;
    char content_type[128]; /* "" when the part has none */
};

/* Copies the boundary parameter of a multipart/form-data Content-Type into out. Returns
 * CHAT_OK, or CHAT_E_BAD_REQUEST when the type is not multipart/form-data or the
 * boundary is missing, empty, longer than 70 characters or contains control bytes. */
int chat_multipart_boundary(const char *content_type, char out[CHAT_MULTIPART_BOUNDARY_MAX + 1]);

/* True when content_type is multipart/form-data (any parameters). */
bool chat_multipart_is_form_data(const char *content_type);

/* Splits body into at most max_parts parts. Returns CHAT_OK with *nparts set, or
 * CHAT_E_BAD_REQUEST for a malformed or truncated body, no parts, too many parts, or a
 * header block over CHAT_MULTIPART_HEADERS_MAX. Over-long header values are an error,
 * never truncated. */
int chat_multipart_parse(const char *body, size_t len, const char *boundary,
                         struct chat_multipart_part *parts, size_t max_parts, size_t *nparts);

#endif
