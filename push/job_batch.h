/* The DB worker's batched jobs (on its thread): auth and presence changes, answered up to
 * CHAT_DB_BATCH (shared/db_batch.h) at a time with a few statements per batch. */
#ifndef CHAT_PUSH_JOB_BATCH_H
#define CHAT_PUSH_JOB_BATCH_H

#include <stddef.h>

#include "db_batch.h"
#include "worker_internal.h"

/* Answers n (1 .. CHAT_DB_BATCH) auth jobs with four statements: results[i] (new, for
 * the caller to post) answers jobs[i], each with its own status (an unknown, expired or
 * garbage token is CHAT_E_NOT_AUTHENTICATED for that connection only). A failed query
 * makes every result CHAT_E_DB and disconnects the worker. The jobs stay the caller's. */
void push_run_auth_batch(struct push_worker *w, struct push_job *const *jobs, size_t n,
                         struct push_result **results);

/* Resume jobs per batch: their sessions and window starts are read CHAT_DB_BATCH a
 * statement, and every backlog in one. Larger than the others because each backlog
 * statement reads the whole resume window once (push_gap_timeout_ms of the log: right
 * after a storm, one presence event per user), whatever the batch holds. */
#define PUSH_RESUME_BATCH (4 * CHAT_DB_BATCH)

/* Answers n (1 .. PUSH_RESUME_BATCH) resume jobs: their sessions and the start of each
 * resume window CHAT_DB_BATCH a statement, MIN(id) once, and every backlog in one
 * (docs/protocol.md, "Resume"); a /ws/chat/<pk>/ job also re-checks that its user takes
 * part in pk. results[i] (new, for the caller to post) answers jobs[i] with its own
 * enum push_resume_status. A failed query makes every result PUSH_RESUME_FAILED. */
void push_run_resume_batch(struct push_worker *w, struct push_job *const *jobs, size_t n,
                           struct push_result **results);

/* Records n (at most CHAT_DB_BATCH) presence jobs, oldest first, in one transaction: a
 * user's last count holds, and a user who came online in any of them is announced once
 * when they were offline. Reports nothing (presence events come through the log). */
void push_run_presence_batch(struct push_worker *w, struct push_job *const *jobs, size_t n);

#endif
