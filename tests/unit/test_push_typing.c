/* Typing indicators: relay throttling (one start per user and conversation per 2 s),
 * expiry after 6 s without a repeat, explicit stops, and independence of pairs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../push/typing.h"

static const char alice[] = "{\"id\":1,\"username\":\"alice\",\"display_name\":\"Alice\"}";

static void test_start_is_relayed_then_throttled(void **state)
{
    (void)state;
    struct push_typing t = {0};
    struct push_typing_key k = {1, 10};
    assert_int_equal(push_typing_update(&t, k, true, 1000, alice), PUSH_TYPING_RELAY_START);
    /* Repeats within the relay interval are absorbed... */
    assert_int_equal(push_typing_update(&t, k, true, 1500, alice), PUSH_TYPING_NOTHING);
    assert_int_equal(push_typing_update(&t, k, true, 2999, alice), PUSH_TYPING_NOTHING);
    /* ...and relayed again once it has passed. */
    assert_int_equal(push_typing_update(&t, k, true, 3000, alice), PUSH_TYPING_RELAY_START);
    assert_int_equal(t.count, 1);
    push_typing_free(&t);
}

static void test_expiry_without_repeat(void **state)
{
    (void)state;
    struct push_typing t = {0};
    struct push_typing_key k = {1, 10};
    struct push_typing_expired out[4];
    push_typing_update(&t, k, true, 1000, alice);
    assert_int_equal(push_typing_expire(&t, 1000 + PUSH_TYPING_EXPIRE_MS - 1, out, 4), 0);
    /* A repeat (even an absorbed one) pushes the expiry back. */
    push_typing_update(&t, k, true, 4000, alice);
    assert_int_equal(push_typing_expire(&t, 1000 + PUSH_TYPING_EXPIRE_MS, out, 4), 0);
    size_t n = push_typing_expire(&t, 4000 + PUSH_TYPING_EXPIRE_MS, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].key.user_id, 1);
    assert_int_equal(out[0].key.conversation_id, 10);
    assert_string_equal(out[0].user_json, alice);
    free(out[0].user_json);
    assert_int_equal(t.count, 0);
    push_typing_free(&t);
}

static void test_explicit_stop(void **state)
{
    (void)state;
    struct push_typing t = {0};
    struct push_typing_key k = {1, 10};
    /* A stop with nothing to stop relays nothing. */
    assert_int_equal(push_typing_update(&t, k, false, 1000, alice), PUSH_TYPING_NOTHING);
    push_typing_update(&t, k, true, 1000, alice);
    assert_int_equal(push_typing_update(&t, k, false, 1200, alice), PUSH_TYPING_RELAY_STOP);
    assert_int_equal(t.count, 0);
    /* After a stop, starting again is relayed at once, not throttled. */
    assert_int_equal(push_typing_update(&t, k, true, 1300, alice), PUSH_TYPING_RELAY_START);
    struct push_typing_expired out[2];
    assert_int_equal(push_typing_expire(&t, 100000, out, 2), 1);
    free(out[0].user_json);
    push_typing_free(&t);
}

static void test_pairs_are_independent_and_expire_in_batches(void **state)
{
    (void)state;
    struct push_typing t = {0};
    for (long long u = 1; u <= 5; u++)
        for (long long c = 1; c <= 3; c++)
            assert_int_equal(push_typing_update(&t, (struct push_typing_key){u, c}, true, 0, alice),
                             PUSH_TYPING_RELAY_START);
    assert_int_equal(t.count, 15);
    struct push_typing_expired out[4];
    size_t total = 0, n;
    while ((n = push_typing_expire(&t, PUSH_TYPING_EXPIRE_MS, out, 4)) > 0) {
        assert_true(n <= 4);
        for (size_t i = 0; i < n; i++)
            free(out[i].user_json);
        total += n;
        if (n < 4)
            break;
    }
    assert_int_equal(total, 15);
    assert_int_equal(t.count, 0);
    push_typing_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_is_relayed_then_throttled),
        cmocka_unit_test(test_expiry_without_repeat),
        cmocka_unit_test(test_explicit_stop),
        cmocka_unit_test(test_pairs_are_independent_and_expire_in_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
