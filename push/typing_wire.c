/* Encode and decode of the typing relay datagram "T<conversation_id> <user_id> <frame>"
 * (see typing_wire.h). */
#include "typing_wire.h"

#include <stdio.h>
#include <string.h>

int push_typing_wire_encode(char *buf, size_t cap, long long conv, long long user_id,
                            const char *user_json, bool typing, size_t *frame_offset)
{
    int head = snprintf(buf, cap, "T%lld %lld ", conv, user_id);
    if (head < 0 || (size_t)head >= cap)
        return -1;
    int n = snprintf(buf + head, cap - (size_t)head,
                     "{\"type\":\"typing\",\"conversation_id\":%lld,\"user\":%s,"
                     "\"is_typing\":%s}",
                     conv, user_json ? user_json : "null", typing ? "true" : "false");
    if (n < 0 || (size_t)(head + n) >= cap)
        return -1;
    *frame_offset = (size_t)head;
    return head + n;
}

bool push_typing_wire_decode(const char *datagram, size_t len, struct push_typing_wire *out)
{
    long long conv, user;
    int used = 0;
    if (len < 2 || datagram[0] != 'T' ||
        sscanf(datagram + 1, "%lld %lld %n", &conv, &user, &used) != 2 || used <= 0 ||
        conv <= 0 || user <= 0)
        return false;
    const char *frame = datagram + 1 + used;
    if (*frame != '{')
        return false;
    out->conversation_id = conv;
    out->user_id = user;
    out->frame = frame;
    out->frame_len = strlen(frame);
    return true;
}
