/* chat-notify's signature header and retry backoff (notify/signature.c): the header is
 * the HMAC-SHA256 a receiver computes (the vector is Python's hmac module's, as in
 * docs/examples/webhook_receiver.py) and changes with the body, the time and the
 * secret; the backoff doubles, stops at its maximum, and jitters within half. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../notify/signature.h"

static void test_signature_is_hmac_sha256_of_time_dot_body(void **state)
{
    (void)state;
    char sig[CHAT_NOTIFY_SIGNATURE_MAX];
    chat_notify_signature("secret-key", 1700000000, "{\"a\":1}", 7, sig);
    assert_string_equal(sig, "t=1700000000,v1="
                             "7311449d99aa882d3471459eab2f09da94fb15f2c1c678f4367531554cf36a96");
    char other[CHAT_NOTIFY_SIGNATURE_MAX];
    chat_notify_signature("secret-key", 1700000000, "{\"a\":2}", 7, other);
    assert_string_not_equal(sig + 16, other + 16);
    chat_notify_signature("secret-key", 1700000001, "{\"a\":1}", 7, other);
    assert_string_not_equal(sig + 16, other + 16);
    chat_notify_signature("secret-kez", 1700000000, "{\"a\":1}", 7, other);
    assert_string_not_equal(sig + 16, other + 16);
    /* Only body_len bytes are signed, whatever follows. */
    chat_notify_signature("secret-key", 1700000000, "{\"a\":1}trailing", 7, other);
    assert_string_equal(sig, other);
}

static void test_signature_fits_the_largest_time(void **state)
{
    (void)state;
    char sig[CHAT_NOTIFY_SIGNATURE_MAX];
    chat_notify_signature("k", -9223372036854775807LL - 1, "", 0, sig);
    assert_int_equal(strlen(sig), strlen("t=-9223372036854775808,v1=") + 64);
}

static void test_backoff_doubles_up_to_the_maximum(void **state)
{
    (void)state;
    /* random 0: no jitter. */
    assert_int_equal(chat_notify_backoff_ms(1, 5000, 3600000, 0), 5000);
    assert_int_equal(chat_notify_backoff_ms(2, 5000, 3600000, 0), 10000);
    assert_int_equal(chat_notify_backoff_ms(5, 5000, 3600000, 0), 80000);
    assert_int_equal(chat_notify_backoff_ms(30, 5000, 3600000, 0), 3600000);
    assert_int_equal(chat_notify_backoff_ms(100, 5000, 3600000, 0), 3600000);
    assert_int_equal(chat_notify_backoff_ms(1, 5000, 2000, 0), 2000); /* base above the cap */
}

static void test_backoff_jitter_takes_at_most_half(void **state)
{
    (void)state;
    assert_int_equal(chat_notify_backoff_ms(3, 1000, 60000, UINT32_MAX), 4000 - 1999);
    assert_int_equal(chat_notify_backoff_ms(3, 1000, 60000, UINT32_MAX / 2 + 1), 3000);
    for (uint32_t r = 0; r < 4000000000u; r += 123456789u) {
        long long p = chat_notify_backoff_ms(4, 1000, 60000, r);
        assert_true(p > 4000 && p <= 8000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_is_hmac_sha256_of_time_dot_body),
        cmocka_unit_test(test_signature_fits_the_largest_time),
        cmocka_unit_test(test_backoff_doubles_up_to_the_maximum),
        cmocka_unit_test(test_backoff_jitter_takes_at_most_half),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
