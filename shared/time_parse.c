/* Reading a timestamp a client sent (time_parse.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "time_parse.h"

/* Reads exactly n digits at *s into *v and moves *s past them. */
static bool digits(const char **s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*s)++) {
        if (**s < '0' || **s > '9')
            return false;
        *v = *v * 10 + (**s - '0');
    }
    return true;
}

static bool expect(const char **s, char c)
{
    if (**s != c)
        return false;
    (*s)++;
    return true;
}

static int days_in_month(int year, int month)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

bool chat_time_parse_rfc3339(const char *s, char out[27])
{
    int year, month, day, hour, minute, second, micros = 0;
    if (!digits(&s, 4, &year) || !expect(&s, '-') || !digits(&s, 2, &month) ||
        !expect(&s, '-') || !digits(&s, 2, &day) || (*s != 'T' && *s != 't'))
        return false;
    s++;
    if (!digits(&s, 2, &hour) || !expect(&s, ':') || !digits(&s, 2, &minute) ||
        !expect(&s, ':') || !digits(&s, 2, &second))
        return false;
    if (year < 1970 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59)
        return false;
    if (*s == '.') {
        s++;
        int n = 0;
        for (; *s >= '0' && *s <= '9'; s++, n++) {
            if (n >= 9)
                return false;
            if (n < 6)
                micros = micros * 10 + (*s - '0');
        }
        if (n == 0)
            return false;
        for (; n < 6; n++)
            micros *= 10;
    }
    long offset_s = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;
        if (!digits(&s, 2, &oh) || !expect(&s, ':') || !digits(&s, 2, &om) || oh > 23 ||
            om > 59)
            return false;
        offset_s = sign * (oh * 3600L + om * 60L);
    } else {
        return false;
    }
    if (*s)
        return false;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = minute, .tm_sec = second};
    time_t t = timegm(&tm) - offset_s;
    struct tm utc;
    if (t < 0 || !gmtime_r(&t, &utc) || utc.tm_year + 1900 > 9999)
        return false;
    char buf[64]; /* the fields are in range; the compiler cannot know it */
    snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06d", utc.tm_year + 1900,
             utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros);
    memcpy(out, buf, 27);
    out[26] = '\0';
    return true;
}
