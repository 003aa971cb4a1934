/* A binary min-heap of connections by session deadline (see session_expiry.h). Slots are
 * stored 1-based in push_conn.expiry_slot, so 0 means "not in the heap". */
#include "session_expiry.h"

#include <stdlib.h>

#include "xalloc.h"

static void place(struct push_expiry *h, size_t i, struct push_conn *conn)
{
    h->items[i] = conn;
    conn->expiry_slot = i + 1;
}

static void sift_up(struct push_expiry *h, size_t i)
{
    struct push_conn *conn = h->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->items[parent]->expires_ms <= conn->expires_ms)
            break;
        place(h, i, h->items[parent]);
        i = parent;
    }
    place(h, i, conn);
}

static void sift_down(struct push_expiry *h, size_t i)
{
    struct push_conn *conn = h->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= h->count)
            break;
        if (child + 1 < h->count && h->items[child + 1]->expires_ms < h->items[child]->expires_ms)
            child++;
        if (h->items[child]->expires_ms >= conn->expires_ms)
            break;
        place(h, i, h->items[child]);
        i = child;
    }
    place(h, i, conn);
}

void push_expiry_add(struct push_expiry *h, struct push_conn *conn)
{
    if (h->count == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->items = chat_xreallocarray(h->items, h->cap, sizeof(*h->items));
    }
    h->items[h->count++] = conn;
    sift_up(h, h->count - 1);
}

void push_expiry_remove(struct push_expiry *h, struct push_conn *conn)
{
    if (!conn->expiry_slot)
        return;
    size_t i = conn->expiry_slot - 1;
    conn->expiry_slot = 0;
    struct push_conn *last = h->items[--h->count];
    if (i == h->count)
        return;
    place(h, i, last);
    sift_up(h, i);
    sift_down(h, last->expiry_slot - 1);
}

struct push_conn *push_expiry_pop_due(struct push_expiry *h, long long now_ms)
{
    if (h->count == 0 || h->items[0]->expires_ms > now_ms)
        return NULL;
    struct push_conn *conn = h->items[0];
    push_expiry_remove(h, conn);
    return conn;
}

void push_expiry_free(struct push_expiry *h)
{
    free(h->items);
    h->items = NULL;
    h->count = h->cap = 0;
}
