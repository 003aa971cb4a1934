/* The DB worker's job runners: auth, resume, message.send, receipts, presence counts
 * and long-poll queries, each on the worker thread with its MariaDB connection. */
#ifndef CHAT_PUSH_JOBS_H
#define CHAT_PUSH_JOBS_H

#include "worker_internal.h"

/* Whether a job's transaction that failed with rc runs again: a conflict (counted in the
 * worker's stats) while nothing was written since mark (chat_db_retry_conflict). */
bool push_worker_retry_conflict(struct push_worker *w, int rc, unsigned long long mark,
                                int attempt);

/* Runs job (which the caller still owns and frees) and returns its result for the loop
 * (caller posts it), or NULL for a job that reports nothing (presence). A query that
 * failed with CHAT_E_DB disconnects the worker. */
struct push_result *push_job_run(struct push_worker *w, struct push_job *job);

#endif
