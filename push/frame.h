/* Reference-counted WebSocket frames. Each event is serialized once into one frame with
 * LWS_PRE bytes of headroom, and every recipient queues a reference to it.
 *
 * Threading: a frame is built by the DB worker with one reference and handed over to
 * the lws thread through the result queue; from then on only the lws thread touches its
 * count, so the count is a plain integer. */
#ifndef CHAT_PUSH_FRAME_H
#define CHAT_PUSH_FRAME_H

#include <libwebsockets.h>
#include <stddef.h>

struct push_frame {
    unsigned refs;
    long long event_id; /* 0 for control frames (hello, pong, errors) */
    long long created_us; /* live events: events.created_at (Unix us), for metrics; else 0 */
    size_t len;         /* bytes of text after the LWS_PRE headroom */
    unsigned char data[]; /* LWS_PRE headroom + text + NUL */
};

/* A new frame holding a copy of text, with one reference owned by the caller. Aborts on
 * out-of-memory (the project's policy for server-sized allocations). */
struct push_frame *push_frame_new(const char *text, size_t len, long long event_id);

/* The event frame {"type":type,"event_id":id,"conversation_id":cid|null,"data":payload},
 * payload copied verbatim (it is JSON written by the API). type must be a plain event
 * type name ([A-Za-z0-9._-]); returns NULL otherwise. One reference, caller owns it. */
struct push_frame *push_frame_event(long long id, long long conversation_id, const char *type,
                                    const char *payload, size_t payload_len);

/* Adds a reference and returns f. */
struct push_frame *push_frame_ref(struct push_frame *f);
/* Drops a reference; frees the frame with the last one. NULL is ignored. */
void push_frame_unref(struct push_frame *f);

static inline unsigned char *push_frame_text(struct push_frame *f) { return f->data + LWS_PRE; }

#endif
