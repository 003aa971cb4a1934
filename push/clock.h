/* The push daemon's clock: CLOCK_MONOTONIC in milliseconds, for deadlines and ages on
 * both the lws thread and the DB worker. */
#ifndef CHAT_PUSH_CLOCK_H
#define CHAT_PUSH_CLOCK_H

#include <time.h>

static inline long long push_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
