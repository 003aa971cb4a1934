#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum chat_log_level min_level = CHAT_LOG_INFO;
static const char *program = "chat";
static _Thread_local char request_id[40];

void chat_log_set_level(enum chat_log_level level) { min_level = level; }

void chat_log_set_program(const char *name) { program = name; }

int chat_log_level_parse(const char *name, enum chat_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum chat_log_level)i;
            return 0;
        }
    }
    return -1;
}

void chat_log_set_request_id(const char *id)
{
    if (!id) {
        request_id[0] = '\0';
        return;
    }
    snprintf(request_id, sizeof(request_id), "%s", id);
}

void chat_log_write(enum chat_log_level level, const char *file, int line, const char *fmt, ...)
{
    static const char *const tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if (level < min_level)
        return;

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);

    /* One buffer and one write() so lines from concurrent workers do not interleave. */
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s[%d] %s:%d%s%s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, tags[level], program, (int)getpid(), file,
                     line, request_id[0] ? " req=" : "", request_id);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(buf)) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof(buf) - 1)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
    (void)w; /* Nowhere left to report a failed log write. */
}
