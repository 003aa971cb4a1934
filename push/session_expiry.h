/* The connections' session deadlines, on the lws thread: a binary min-heap of
 * connections by push_conn.expires_ms (CLOCK_MONOTONIC ms), each connection knowing its
 * slot, so a connection that closes early leaves the heap at once and memory follows
 * the open connections. The loop's clock tick (server.c) pops the due ones. No lws here:
 * unit-tested on its own. */
#ifndef CHAT_PUSH_SESSION_EXPIRY_H
#define CHAT_PUSH_SESSION_EXPIRY_H

#include <stddef.h>

#include "fanout.h"

struct push_expiry {
    struct push_conn **items; /* owned array; the connections are not */
    size_t count, cap;
};

/* Adds conn by its expires_ms (conn must not be in the heap yet). */
void push_expiry_add(struct push_expiry *h, struct push_conn *conn);
/* Removes conn if it is in the heap. */
void push_expiry_remove(struct push_expiry *h, struct push_conn *conn);
/* Removes and returns a connection whose expires_ms <= now, earliest first, or NULL. */
struct push_conn *push_expiry_pop_due(struct push_expiry *h, long long now_ms);
/* Frees the array. */
void push_expiry_free(struct push_expiry *h);

#endif
