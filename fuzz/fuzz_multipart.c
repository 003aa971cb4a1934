/* libFuzzer target: the multipart/form-data parser of uploads (api/multipart.c), which
 * reads the spooled body of POST /api/chat/attachments/ as any client sent it. The input
 * is split at the first NUL into a Content-Type header and the body; without a NUL the
 * whole input is a body under the boundary "b". Every part must lie inside the body. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    const char *nul = memchr(in, '\0', size);
    char boundary[CHAT_MULTIPART_BOUNDARY_MAX + 1] = "b";
    const char *body = in;
    size_t len = size;
    if (nul) {
        bool form = chat_multipart_is_form_data(in);
        if (chat_multipart_boundary(in, boundary) != CHAT_OK)
            return 0;
        assert(form && boundary[0] != '\0' && strlen(boundary) <= CHAT_MULTIPART_BOUNDARY_MAX);
        body = nul + 1;
        len = size - (size_t)(body - in);
    }
    /* The body as the handler has it: a mapping of exactly len bytes, not terminated. */
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return 0;
    memcpy(copy, body, len);
    static struct chat_multipart_part parts[CHAT_MULTIPART_MAX_PARTS];
    size_t n = 0;
    if (chat_multipart_parse(copy, len, boundary, parts, CHAT_MULTIPART_MAX_PARTS, &n) == CHAT_OK) {
        assert(n >= 1 && n <= CHAT_MULTIPART_MAX_PARTS);
        for (size_t i = 0; i < n; i++) {
            assert(parts[i].data >= copy && parts[i].len <= len);
            assert((size_t)(parts[i].data - copy) + parts[i].len <= len);
            assert(memchr(parts[i].name, '\0', sizeof(parts[i].name)));
            assert(memchr(parts[i].filename, '\0', sizeof(parts[i].filename)));
            assert(memchr(parts[i].content_type, '\0', sizeof(parts[i].content_type)));
        }
    }
    free(copy);
    return 0;
}
