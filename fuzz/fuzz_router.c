/* libFuzzer target: the URL router and the query-string and cookie parsers. The input
 * is split at the first NUL into a path and a header-like string. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "request_decode.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *path = buf;
    size_t plen = strlen(buf);
    const char *rest = plen < size ? buf + plen + 1 : "";

    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    for (unsigned i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct chat_route_args args;
        bool mismatch;
        char allow[64];
        (void)chat_route_find(methods[i], path, &args, &mismatch, allow, sizeof(allow));
    }
    char out[64];
    (void)chat_query_param(rest, "before", out, sizeof(out));
    (void)chat_query_param(rest, "q", out, sizeof(out));
    (void)chat_cookie_value(rest, "chat_session", out, sizeof(out));
    free(buf);
    return 0;
}
