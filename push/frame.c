/* Reference-counted frames with LWS_PRE headroom, and the event frame format (see
 * frame.h). */
#include "frame.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

struct push_frame *push_frame_new(const char *text, size_t len, long long event_id)
{
    struct push_frame *f = chat_xmalloc(sizeof(*f) + LWS_PRE + len + 1);
    f->refs = 1;
    f->event_id = event_id;
    f->created_us = 0;
    f->len = len;
    memcpy(f->data + LWS_PRE, text, len);
    f->data[LWS_PRE + len] = '\0';
    return f;
}

static int type_valid(const char *type)
{
    if (!type || !*type)
        return 0;
    for (const char *p = type; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

struct push_frame *push_frame_event(long long id, long long conversation_id, const char *type,
                                    const char *payload, size_t payload_len)
{
    if (!type_valid(type))
        return NULL;
    char head[160];
    int n;
    if (conversation_id > 0)
        n = snprintf(head, sizeof(head), "{\"type\":\"%s\",\"event_id\":%lld,\"conversation_id\":%lld,\"data\":",
                     type, id, conversation_id);
    else
        n = snprintf(head, sizeof(head), "{\"type\":\"%s\",\"event_id\":%lld,\"conversation_id\":null,\"data\":",
                     type, id);
    if (n < 0 || (size_t)n >= sizeof(head))
        return NULL;
    if (payload_len == 0) {
        payload = "null";
        payload_len = 4;
    }
    size_t len = (size_t)n + payload_len + 1;
    struct push_frame *f = chat_xmalloc(sizeof(*f) + LWS_PRE + len + 1);
    f->refs = 1;
    f->event_id = id;
    f->created_us = 0;
    f->len = len;
    unsigned char *p = f->data + LWS_PRE;
    memcpy(p, head, (size_t)n);
    memcpy(p + n, payload, payload_len);
    p[len - 1] = '}';
    p[len] = '\0';
    return f;
}

struct push_frame *push_frame_ref(struct push_frame *f)
{
    assert(f->refs > 0);
    f->refs++;
    return f;
}

void push_frame_unref(struct push_frame *f)
{
    if (!f)
        return;
    assert(f->refs > 0);
    if (--f->refs == 0)
        free(f);
}
