/* The event tail, on the DB worker thread: the MariaDB connection with reconnect and
 * backoff, events built from `events` rows (with their classification), and one tail
 * round over the log with gap tracking. */
#ifndef CHAT_PUSH_EVENT_TAIL_H
#define CHAT_PUSH_EVENT_TAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "event.h"
#include "worker_internal.h"

struct push_event_list {
    struct push_event *items;
    size_t count, cap;
};

/* A new slot at the end of l (grown as needed) for the caller to fill. */
struct push_event *push_event_list_add(struct push_event_list *l);

/* Builds the event for row `row` of r (columns id, conversation_id, type, payload).
 * Returns false (and logs) for a row that cannot be framed. */
bool push_event_from_row(const struct chat_db_result *r, unsigned row, bool classify_it,
                         struct push_event *e);

/* Connects (at start or after a loss); on failure schedules the next try with backoff. */
void push_worker_connect(struct push_worker *w);
/* The connection is lost or unusable: closes it, logs why and schedules a reconnect. */
void push_worker_disconnect(struct push_worker *w, const char *why);

/* One tail round. Returns true when a full batch was read (more may be waiting). The
 * events found, if any, are in *events (a PUSH_RESULT_EVENTS result the caller posts);
 * else *events is NULL. */
bool push_tail_round(struct push_worker *w, struct push_result **events);

#endif
