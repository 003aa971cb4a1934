/* The typing relay datagram between push daemons, "T<conversation_id> <user_id> <frame>",
 * sent to the other daemons' wake-up sockets (push/typing_relay.c) and read back from
 * this daemon's (push/db_worker.c). Encode and decode live together so the format is
 * written once. Pure functions, no I/O. */
#ifndef CHAT_PUSH_TYPING_WIRE_H
#define CHAT_PUSH_TYPING_WIRE_H

#include <stdbool.h>
#include <stddef.h>

/* Largest typing relay forwarded to the other daemons through their wake-up sockets:
 * "T<conversation_id> <user_id> <frame JSON>". */
#define PUSH_PEER_TYPING_MAX 1024

/* A decoded relay: frame points into the datagram (frame_len bytes, not counting the NUL
 * after it). */
struct push_typing_wire {
    long long conversation_id, user_id;
    const char *frame;
    size_t frame_len;
};

/* Writes into buf (cap bytes, NUL-terminated) the relay for the frame
 * {"type":"typing","conversation_id":conv,"user":user_json,"is_typing":typing}
 * (user_json NULL gives "user":null). Returns the datagram's length, with the frame
 * itself at buf + *frame_offset, or -1 when it does not fit in cap bytes. */
int push_typing_wire_encode(char *buf, size_t cap, long long conv, long long user_id,
                            const char *user_json, bool typing, size_t *frame_offset);

/* Longest username or display name (in bytes) a relayed frame may carry. */
#define PUSH_TYPING_NAME_MAX 512

/* Builds, into buf (cap bytes, NUL-terminated), a new typing frame from the relay's
 * fields: its conversation and user ids and, from its frame, is_typing and the user's
 * username and display_name, re-serialized. Returns the frame's length, or -1 unless the
 * frame is exactly one JSON object {"type":"typing"} whose conversation_id and user.id
 * match the datagram's ids, with a boolean is_typing and string names. Extra fields are
 * dropped; nothing of the datagram is forwarded as it came. */
int push_typing_wire_rebuild(const struct push_typing_wire *w, char *buf, size_t cap);

/* Parses a datagram of len bytes; datagram[len] must be '\0' (the receive buffer keeps a
 * byte for it). Returns false for anything but "T<conv> <user> {..." with positive ids;
 * the frame ends at the first NUL. */
bool push_typing_wire_decode(const char *datagram, size_t len, struct push_typing_wire *out);

#endif
