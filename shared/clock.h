/* CLOCK_MONOTONIC in milliseconds: the clock of deadlines and ages, in the push daemon
 * (the lws thread and the DB worker alike) and in the API's session cache and rate
 * leases. */
#ifndef CHAT_CLOCK_H
#define CHAT_CLOCK_H

#include <time.h>

static inline long long chat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
