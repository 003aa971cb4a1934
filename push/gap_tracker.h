/* Gap tracking for the event log tail (see docs/protocol.md, "Reader design").
 *
 * Event ids are handed out at INSERT and become visible at COMMIT, so a reader can see
 * id 11 before id 10. The tracker keeps `high`, the highest id seen, and the ids below it
 * that have not been seen yet ("gaps"), each with the time it was first noticed. A gap is
 * re-read until it shows up or until it is older than the gap timeout, then abandoned
 * (rolled-back transactions and Galera's auto_increment_increment leave permanent gaps).
 *
 * Gaps are kept in an array sorted by id. New gaps are always above every existing one
 * and are noticed no earlier than the existing ones, so the array is also sorted by the
 * time noticed: expiry and overflow both drop from the front. A filled gap becomes a
 * tombstone (found by binary search) and tombstones are compacted away in bulk.
 *
 * Re-reads back off with a gap's age: a gap younger than PUSH_GAP_FAST_MS is re-read in
 * every round (an ordinary commit-order inversion fills within milliseconds); an older
 * one is re-read when half its age again has passed, at most PUSH_GAP_MAX_DELAY_MS
 * later. A gap that fills late is therefore delivered at most min(age / 2, 1 s) after it
 * commits, and a permanent gap (Galera hands out ids with a step per node, so most gaps
 * there never fill) costs about 15 re-reads over a 10 s timeout instead of one per round.
 *
 * Pure logic, no I/O, not thread-safe: the DB worker owns its tracker. */
#ifndef CHAT_PUSH_GAP_TRACKER_H
#define CHAT_PUSH_GAP_TRACKER_H

#include <stdbool.h>
#include <stddef.h>

#define PUSH_GAP_FAST_MS 100
#define PUSH_GAP_MAX_DELAY_MS 1000

struct push_gap {
    long long id;
    long long noticed_ms; /* -1 once filled (tombstone) */
    long long due_ms;     /* next re-read at or after this time */
};

struct push_gap_tracker {
    long long high;          /* highest id seen; ids <= high that are not gaps are done */
    struct push_gap *gaps;   /* owned; gaps[head .. head+count) are in use */
    size_t head, count, cap;
    size_t live;             /* entries that are not tombstones */
    size_t max_gaps;         /* bound on live gaps; past it the oldest are dropped */
    unsigned long long abandoned; /* gaps given up after the timeout */
    unsigned long long dropped;   /* gaps dropped because the set was full */
    size_t cursor;           /* round-robin position for push_gap_collect */
};

/* Starts tracking after `high` (ids <= high count as done) with at most max_gaps gaps. */
void push_gap_init(struct push_gap_tracker *t, long long high, size_t max_gaps);
void push_gap_free(struct push_gap_tracker *t);

/* Records that event `id` was read at now_ms. Returns true when it is new and must be
 * delivered (above high, or a gap being filled), false when it was already delivered or
 * abandoned. */
bool push_gap_observe(struct push_gap_tracker *t, long long id, long long now_ms);

/* Abandons the gaps noticed at or before now_ms - timeout_ms. Writes up to `max` of the
 * abandoned ids to out (for logging; out may be NULL) and returns how many were
 * abandoned. */
size_t push_gap_expire(struct push_gap_tracker *t, long long now_ms, long long timeout_ms,
                       long long *out, size_t max);

/* Writes up to max ids of live gaps due for a re-read at now_ms to out, schedules their
 * next re-read, and returns how many. Successive calls walk the whole set round-robin, so
 * more due gaps than max are still re-read in turn. */
size_t push_gap_collect(struct push_gap_tracker *t, long long now_ms, long long *out,
                        size_t max);

/* Number of live gaps. */
static inline size_t push_gap_count(const struct push_gap_tracker *t) { return t->live; }

#endif
