/* RFC 3339 timestamps from clients (shared/time_parse.c), as muted_until takes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "time_parse.h"

static void expect_utc(const char *in, const char *want)
{
    char out[27] = "";
    assert_true(chat_time_parse_rfc3339(in, out));
    assert_string_equal(out, want);
}

static void expect_refused(const char *in)
{
    char out[27] = "untouched";
    assert_false(chat_time_parse_rfc3339(in, out));
    assert_string_equal(out, "untouched");
}

static void test_accepts_rfc3339(void **state)
{
    (void)state;
    expect_utc("2026-12-04T10:00:00Z", "2026-12-04 10:00:00.000000");
    expect_utc("2026-12-04t10:00:00z", "2026-12-04 10:00:00.000000");
    expect_utc("2026-12-04T10:00:00.5Z", "2026-12-04 10:00:00.500000");
    expect_utc("2026-12-04T10:00:00.123456789Z", "2026-12-04 10:00:00.123456");
    expect_utc("2026-12-04T07:00:00-03:00", "2026-12-04 10:00:00.000000");
    expect_utc("2026-12-31T23:30:00-01:00", "2027-01-01 00:30:00.000000");
    expect_utc("2027-01-01T00:30:00+05:30", "2026-12-31 19:00:00.000000");
    expect_utc("2028-02-29T00:00:00Z", "2028-02-29 00:00:00.000000");
}

static void test_refuses_everything_else(void **state)
{
    (void)state;
    expect_refused("");
    expect_refused("tomorrow");
    expect_refused("2026-12-04");
    expect_refused("2026-12-04T10:00:00");       /* no zone */
    expect_refused("2026-12-04 10:00:00Z");      /* a space for 'T' */
    expect_refused("2026-12-04T10:00Z");
    expect_refused("2026-12-04T10:00:00.Z");
    expect_refused("2026-12-04T10:00:00.1234567890Z");
    expect_refused("2026-12-04T10:00:00Z ");
    expect_refused("2026-12-04T10:00:00+0300");
    expect_refused("2026-12-04T10:00:00+24:00");
    expect_refused("2026-13-01T00:00:00Z");
    expect_refused("2026-02-29T00:00:00Z");
    expect_refused("2026-04-31T00:00:00Z");
    expect_refused("2026-12-04T24:00:00Z");
    expect_refused("2026-12-04T23:60:00Z");
    expect_refused("2026-12-04T23:59:60Z");
    expect_refused("1969-12-31T23:59:59Z");
    expect_refused("1970-01-01T00:30:00+01:00"); /* before the epoch in UTC */
    expect_refused("9999-12-31T23:30:00-01:00"); /* past year 9999 in UTC */
    expect_refused("+2026-12-04T10:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_rfc3339),
        cmocka_unit_test(test_refuses_everything_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
