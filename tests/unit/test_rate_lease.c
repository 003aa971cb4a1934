/* Rate-limit leases (api/rate_lease.c): a lease is spent only for its own bucket, only
 * while it has the tokens and has not expired, and a refused take clears it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/rate_lease.h"

static struct chat_rate_leases leases;

static void test_spend_until_empty_or_expired(void **state)
{
    (void)state;
    memset(&leases, 0, sizeof(leases));
    double left = -1;
    assert_false(chat_rate_lease_spend(&leases, "write:u:1", 1, 1000, &left));
    chat_rate_lease_put(&leases, "write:u:1", 3, 40.5, 1000);
    assert_true(chat_rate_lease_spend(&leases, "write:u:1", 1, 1000, &left));
    assert_true(left == 42.5); /* the bucket's level plus the 2 still leased */
    assert_true(chat_rate_lease_spend(&leases, "write:u:1", 2, 1500, &left));
    assert_true(left == 40.5);
    assert_false(chat_rate_lease_spend(&leases, "write:u:1", 1, 1500, &left)); /* empty */
    chat_rate_lease_put(&leases, "write:u:1", 5, 10, 2000);
    assert_true(chat_rate_lease_spend(&leases, "write:u:1", 1, 2000 + CHAT_RATE_LEASE_MS - 1, &left));
    assert_false(chat_rate_lease_spend(&leases, "write:u:1", 1, 2000 + CHAT_RATE_LEASE_MS, &left));
}

static void test_only_its_own_bucket(void **state)
{
    (void)state;
    memset(&leases, 0, sizeof(leases));
    double left;
    chat_rate_lease_put(&leases, "read:u:7", 4, 0, 10);
    assert_false(chat_rate_lease_spend(&leases, "read:u:8", 1, 10, &left));
    assert_false(chat_rate_lease_spend(&leases, "write:u:7", 1, 10, &left));
    assert_false(chat_rate_lease_spend(&leases, "read:u:7", 5, 10, &left)); /* more than held */
    assert_true(chat_rate_lease_spend(&leases, "read:u:7", 4, 10, &left));
}

static void test_a_refused_take_clears_the_lease(void **state)
{
    (void)state;
    memset(&leases, 0, sizeof(leases));
    double left;
    chat_rate_lease_put(&leases, "read:u:9", 4, 0, 10);
    chat_rate_lease_put(&leases, "read:u:9", 0, 0, 20);
    assert_false(chat_rate_lease_spend(&leases, "read:u:9", 1, 20, &left));
}

static void test_size(void **state)
{
    (void)state;
    assert_int_equal(chat_rate_lease_size(200, 25), 25);
    assert_int_equal(chat_rate_lease_size(60, 25), 7);
    assert_int_equal(chat_rate_lease_size(7, 25), 0); /* small buckets stay exact */
    assert_int_equal(chat_rate_lease_size(100000000, 25), 25);
    assert_int_equal(chat_rate_lease_size(200, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spend_until_empty_or_expired),
        cmocka_unit_test(test_only_its_own_bucket),
        cmocka_unit_test(test_a_refused_take_clears_the_lease),
        cmocka_unit_test(test_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
