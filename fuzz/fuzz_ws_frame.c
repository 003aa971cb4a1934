/* libFuzzer target: a WebSocket client message as chat-push takes it apart, as far as
 * that path is public: the fragments lws delivers reassembled by push_rx_collect
 * (push/fanout.c), then the strict JSON object parse and the "type" lookup of
 * handle_message (push/ws_protocol.c). The per-type field checks after that
 * (handle_typing, handle_send, handle_receipt, auth, resume) are static functions that
 * answer through a live lws connection and the DB worker, so they are not reached here;
 * their inputs are the json-c objects this target produces. The first byte chooses how
 * the rest is cut into fragments (up to 8, at positions taken from the next bytes). */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json_util.h"

#include "../push/fanout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The daemon's default push_max_frame_bytes: larger messages never reach the parser. */
#define FRAME_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > FRAME_MAX)
        return 0;
    unsigned pieces = (data[0] & 7u) + 1;
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    size_t cut[9] = {0};
    for (unsigned i = 1; i < pieces; i++) {
        size_t at = len ? (size_t)msg[(i * 7919u) % len] * len / 256 : 0;
        cut[i] = at < cut[i - 1] ? cut[i - 1] : at;
    }
    cut[pieces] = len;

    struct push_conn conn;
    memset(&conn, 0, sizeof(conn));
    const char *whole = NULL;
    size_t whole_len = 0;
    for (unsigned i = 0; i < pieces; i++) {
        bool final = i + 1 == pieces;
        const char *got = push_rx_collect(&conn, (const char *)msg + cut[i], cut[i + 1] - cut[i],
                                          final, &whole_len);
        assert(final ? got != NULL : got == NULL);
        whole = got;
    }
    assert(whole_len == len && memcmp(whole, msg, len) == 0);

    json_object *obj = NULL, *v;
    char detail[160];
    int rc = chat_json_parse_object(whole, whole_len, &obj, detail, sizeof(detail));
    if (rc == CHAT_OK) {
        assert(json_object_is_type(obj, json_type_object));
        if (json_object_object_get_ex(obj, "type", &v) && json_object_is_type(v, json_type_string))
            (void)strcmp(json_object_get_string(v), "message.send");
        json_object_put(obj);
    } else {
        assert(rc == CHAT_E_INVALID_UTF8 || rc == CHAT_E_PARSE || rc == CHAT_E_INVALID_TYPE);
        assert(memchr(detail, '\0', sizeof(detail)));
    }
    push_rx_reset(&conn);
    return 0;
}
