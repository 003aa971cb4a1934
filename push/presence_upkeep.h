/* Presence upkeep on the DB worker thread: this daemon's heartbeat and the sweep that
 * takes users offline. */
#ifndef CHAT_PUSH_PRESENCE_UPKEEP_H
#define CHAT_PUSH_PRESENCE_UPKEEP_H

#include "worker_internal.h"

/* Sends the heartbeat and runs the sweep when they are due at now (CLOCK_MONOTONIC ms);
 * a database error disconnects the worker. */
void push_presence_upkeep(struct push_worker *w, long long now);

#endif
