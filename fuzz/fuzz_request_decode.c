/* libFuzzer target: the raw request decoders (api/request_decode.c) with every output
 * size, so truncation paths run too: chat_percent_decode on the input, chat_query_param
 * and chat_cookie_value with a fuzzed name. fuzz_router reaches the query and cookie
 * parsers only with fixed names and a 64-byte buffer. The first byte picks the output
 * size (1..256), the input after it is split at the first NUL into a name and a query
 * string or Cookie header. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "request_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t outlen = (size_t)data[0] + 1;
    char *buf = malloc(size);
    char *out = malloc(outlen);
    if (!buf || !out) {
        free(buf);
        free(out);
        return 0;
    }
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    size_t blen = size - 1;

    size_t outn = (size_t)-1;
    int rc = chat_percent_decode(buf, blen, out, outlen, &outn);
    assert(rc == CHAT_OK || rc == CHAT_E_BAD_REQUEST || rc == CHAT_E_VALIDATION);
    if (rc == CHAT_OK)
        assert(outn < outlen && outn <= blen && out[outn] == '\0');

    const char *name = buf;
    size_t nlen = strlen(buf);
    const char *rest = nlen < blen ? buf + nlen + 1 : "";
    if (chat_query_param(rest, name, out, outlen))
        assert(memchr(out, '\0', outlen));
    if (chat_cookie_value(rest, name, out, outlen))
        assert(memchr(out, '\0', outlen));
    free(out);
    free(buf);
    return 0;
}
