/* Sealed UDP wake-up datagrams (shared/wake.c): a seal opens under its key within the
 * replay window, and not under another key, after any bit flip, truncated, or outside
 * the window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../shared/wake.h"

static void test_seal_opens_only_with_its_key_and_in_time(void **state)
{
    (void)state;
    unsigned char key[CHAT_WAKE_KEY_BYTES], other[CHAT_WAKE_KEY_BYTES];
    memset(key, 7, sizeof(key));
    memset(other, 8, sizeof(other));
    unsigned char buf[64];
    const long long now = 1767225600000LL;
    size_t n = chat_wake_seal(key, "w", 1, now, buf);
    assert_int_equal(n, 1 + CHAT_WAKE_SEAL_BYTES);
    const unsigned char *msg;
    size_t len;
    assert_int_equal(chat_wake_unseal(key, buf, n, now + 29000, &msg, &len), CHAT_WAKE_OPEN_OK);
    assert_int_equal(len, 1);
    assert_int_equal(msg[0], 'w');
    assert_int_equal(chat_wake_unseal(key, buf, n, now - 29000, &msg, &len), CHAT_WAKE_OPEN_OK);
    assert_int_equal(chat_wake_unseal(key, buf, n, now + CHAT_WAKE_MAX_SKEW_MS + 1, &msg, &len),
                     CHAT_WAKE_OPEN_STALE);
    assert_int_equal(chat_wake_unseal(other, buf, n, now, &msg, &len), CHAT_WAKE_OPEN_BAD_MAC);
    for (size_t i = 1; i < n; i++) {
        buf[i] ^= 1;
        assert_int_equal(chat_wake_unseal(key, buf, n, now, &msg, &len), CHAT_WAKE_OPEN_BAD_MAC);
        buf[i] ^= 1;
    }
    assert_int_equal(chat_wake_unseal(key, buf, n - 1, now, &msg, &len), CHAT_WAKE_OPEN_BAD_MAC);
    assert_int_equal(chat_wake_unseal(key, (const unsigned char *)"w", 1, now, &msg, &len),
                     CHAT_WAKE_OPEN_MALFORMED);
    buf[0] = 'X';
    assert_int_equal(chat_wake_unseal(key, buf, n, now, &msg, &len), CHAT_WAKE_OPEN_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_opens_only_with_its_key_and_in_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
