/* Retention: what `chatctl gc` removes (chat_gc in store_attachments.c), run either by
 * chatctl (chat-gc.timer) or by every chat-push's DB worker on a schedule
 * (retention_interval_s), one host at a time. */
#ifndef CHAT_RETENTION_H
#define CHAT_RETENTION_H

#include <stdbool.h>

#include "config.h"
#include "db.h"
#include "store.h"

/* Runs chat_gc under the MariaDB lock 'chat_retention' (waiting up to lock_wait_s for it)
 * and records the run in maintenance_runs, so the daemons' next scheduled run is one
 * interval later. *ran is false when the lock stayed taken (another host is running it;
 * nothing was done). Returns CHAT_OK or the first error (st holds what was removed
 * until then). For chatctl gc. */
int chat_retention_run(struct chat_db *db, const struct chat_config *cfg, int lock_wait_s,
                       struct chat_gc_stats *st, bool *ran);

/* The scheduled run, for a long-running program's database thread (the push daemon's DB
 * worker), called as often as it likes with CLOCK_MONOTONIC milliseconds. Every quarter
 * interval (at least 250 ms, at most a minute) it tries the lock without waiting; the
 * holder claims the run in maintenance_runs only when the last one, by anyone, started
 * retention_interval_s ago or more, so however many daemons call this, one of them runs
 * it per interval. Each run is logged at info ("retention: ran: ..."). Does nothing when
 * retention_interval_s is 0. The schedule is per thread (one caller thread per process).
 * Returns CHAT_OK (also when nothing was due) or a database error, logged here. */
int chat_retention_tick(struct chat_db *db, const struct chat_config *cfg, long long now_ms);

#endif
