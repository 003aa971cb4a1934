/* Levelled logger. Every line carries time, level, pid, source file and line, and the
 * current request id when one is set, so an error response can be matched to its log
 * line. Writes go to stderr (the service manager or the test harness collects them). */
#ifndef CHAT_LOG_H
#define CHAT_LOG_H

enum chat_log_level { CHAT_LOG_DEBUG, CHAT_LOG_INFO, CHAT_LOG_WARN, CHAT_LOG_ERROR };

void chat_log_set_level(enum chat_log_level level);
/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for an unknown name. */
int chat_log_level_parse(const char *name, enum chat_log_level *out);
/* Sets the program name printed on each line; the string must outlive the process. */
void chat_log_set_program(const char *name);
/* Sets the request id shown on lines logged by this thread; NULL clears it. The string
 * is copied. */
void chat_log_set_request_id(const char *request_id);

void chat_log_write(enum chat_log_level level, const char *file, int line,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) chat_log_write(CHAT_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...) chat_log_write(CHAT_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) chat_log_write(CHAT_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) chat_log_write(CHAT_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
