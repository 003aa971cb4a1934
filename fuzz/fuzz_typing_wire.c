/* libFuzzer target: the typing relay datagram between push daemons (push/typing_wire.c),
 * which arrives on the wake-up socket from anyone who can send to it. The input is
 * decoded as a datagram; a datagram that decodes is re-encoded from its ids (with its
 * frame as the user object) and must decode to the same ids again. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../push/typing_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > PUSH_PEER_TYPING_MAX)
        return 0; /* the receive buffer never holds more */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct push_typing_wire w;
    if (push_typing_wire_decode(buf, size, &w)) {
        assert(w.conversation_id > 0 && w.user_id > 0);
        assert(w.frame > buf && w.frame + w.frame_len <= buf + size);
        assert(w.frame[0] == '{' && w.frame[w.frame_len] == '\0');
        char out[PUSH_PEER_TYPING_MAX + 1];
        size_t off;
        int n = push_typing_wire_encode(out, sizeof(out) - 1, w.conversation_id, w.user_id,
                                        w.frame, true, &off);
        if (n >= 0) {
            assert((size_t)n < sizeof(out) - 1 && out[n] == '\0' && off < (size_t)n);
            struct push_typing_wire back;
            assert(push_typing_wire_decode(out, (size_t)n, &back));
            assert(back.conversation_id == w.conversation_id && back.user_id == w.user_id);
            assert(back.frame == out + off && back.frame_len == (size_t)n - off);
        }
    }
    free(buf);
    return 0;
}
