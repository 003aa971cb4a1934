/* The gap tracker of the event tail: which ids below the high-water mark have not been
 * seen yet, and when to give up on them (pure logic, see gap_tracker.h). */
#include "gap_tracker.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>


void push_gap_init(struct push_gap_tracker *t, long long high, size_t max_gaps)
{
    memset(t, 0, sizeof(*t));
    t->high = high;
    t->max_gaps = max_gaps ? max_gaps : 1;
}

void push_gap_free(struct push_gap_tracker *t)
{
    free(t->gaps);
    t->gaps = NULL;
    t->head = t->count = t->cap = t->live = 0;
}

/* Drops tombstones at the front, so gaps[head] is live whenever count > 0. */
static void trim_front(struct push_gap_tracker *t)
{
    while (t->count > 0 && t->gaps[t->head].noticed_ms < 0) {
        t->head++;
        t->count--;
    }
    if (t->count == 0)
        t->head = 0;
}

/* Moves the used range to the front of the array, dropping tombstones. */
static void compact(struct push_gap_tracker *t)
{
    size_t w = 0;
    for (size_t i = t->head; i < t->head + t->count; i++)
        if (t->gaps[i].noticed_ms >= 0)
            t->gaps[w++] = t->gaps[i];
    t->head = 0;
    t->count = w;
    t->live = w;
    t->cursor = 0;
}

static void drop_oldest(struct push_gap_tracker *t, size_t n)
{
    while (n > 0 && t->count > 0) {
        if (t->gaps[t->head].noticed_ms >= 0) {
            t->live--;
            t->dropped++;
            n--;
        }
        t->head++;
        t->count--;
    }
    trim_front(t);
}

/* Appends gaps [from, to] (inclusive), keeping at most max_gaps live ones. */
static void add_range(struct push_gap_tracker *t, long long from, long long to, long long now_ms)
{
    unsigned long long n = (unsigned long long)(to - from + 1);
    if (n > t->max_gaps) {
        /* Keep the ids nearest the new high: those are the likely in-flight commits. */
        t->dropped += n - t->max_gaps;
        from = to - (long long)t->max_gaps + 1;
        n = t->max_gaps;
    }
    if (t->live + n > t->max_gaps)
        drop_oldest(t, (size_t)(t->live + n - t->max_gaps));
    if (t->head + t->count + n > t->cap) {
        if (t->count - t->live > t->count / 2 || t->head > t->cap / 2)
            compact(t);
        if (t->head + t->count + n > t->cap) {
            size_t cap = t->cap ? t->cap : 64;
            while (cap < t->head + t->count + n)
                cap *= 2;
            t->gaps = chat_xreallocarray(t->gaps, cap, sizeof(*t->gaps)); /* bounded by max_gaps */
            t->cap = cap;
        }
    }
    for (long long id = from; id <= to; id++) {
        t->gaps[t->head + t->count++] =
            (struct push_gap){.id = id, .noticed_ms = now_ms, .due_ms = now_ms};
        t->live++;
    }
}

bool push_gap_observe(struct push_gap_tracker *t, long long id, long long now_ms)
{
    if (id > t->high) {
        if (id > t->high + 1)
            add_range(t, t->high + 1, id - 1, now_ms);
        t->high = id;
        return true;
    }
    /* Binary search in gaps[head .. head+count), sorted by id. */
    size_t lo = t->head, hi = t->head + t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->gaps[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == t->head + t->count || t->gaps[lo].id != id || t->gaps[lo].noticed_ms < 0)
        return false;
    t->gaps[lo].noticed_ms = -1;
    t->live--;
    trim_front(t);
    if (t->count > 1024 && t->live < t->count / 4)
        compact(t);
    return true;
}

size_t push_gap_expire(struct push_gap_tracker *t, long long now_ms, long long timeout_ms,
                       long long *out, size_t max)
{
    size_t n = 0;
    while (t->count > 0 && t->gaps[t->head].noticed_ms + timeout_ms <= now_ms) {
        if (out && n < max)
            out[n] = t->gaps[t->head].id;
        n++;
        t->live--;
        t->abandoned++;
        t->head++;
        t->count--;
        trim_front(t);
    }
    return n;
}

static long long next_reread(const struct push_gap *g, long long now_ms)
{
    long long age = now_ms - g->noticed_ms;
    if (age < PUSH_GAP_FAST_MS)
        return now_ms;
    return now_ms + (age / 2 < PUSH_GAP_MAX_DELAY_MS ? age / 2 : PUSH_GAP_MAX_DELAY_MS);
}

size_t push_gap_collect(struct push_gap_tracker *t, long long now_ms, long long *out,
                        size_t max)
{
    size_t n = 0;
    if (t->live == 0 || max == 0)
        return 0;
    if (t->live <= max)
        t->cursor = 0;
    if (t->cursor >= t->count)
        t->cursor = 0;
    size_t start = t->cursor, i = start;
    do {
        struct push_gap *g = &t->gaps[t->head + i];
        if (g->noticed_ms >= 0 && g->due_ms <= now_ms) {
            out[n++] = g->id;
            g->due_ms = next_reread(g, now_ms);
        }
        i = (i + 1) % t->count;
    } while (n < max && i != start);
    t->cursor = i;
    return n;
}
