/* The id lists of batched statements (shared/db_batch.c): sorting with repeats dropped,
 * as a group's creation and an add of many do to the ids of a request body, and the
 * order bsearch looks them up in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../shared/db_batch.h"

static void test_sort_unique_drops_repeats(void **state)
{
    (void)state;
    long long ids[] = {5, 3, 5, 9, 3, 3, 1, 9, -2, 0};
    size_t n = chat_ids_sort_unique(ids, sizeof(ids) / sizeof(ids[0]));
    long long want[] = {-2, 0, 1, 3, 5, 9};
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof(want));
}

static void test_sort_unique_edges(void **state)
{
    (void)state;
    assert_int_equal(chat_ids_sort_unique(NULL, 0), 0);
    long long one[] = {42};
    assert_int_equal(chat_ids_sort_unique(one, 1), 1);
    assert_int_equal(one[0], 42);
    long long same[] = {7, 7, 7, 7};
    assert_int_equal(chat_ids_sort_unique(same, 4), 1);
    assert_int_equal(same[0], 7);
    /* Extremes compare without overflow (a subtraction would wrap). */
    long long far[] = {INT64_MAX, INT64_MIN, 0, INT64_MAX};
    assert_int_equal(chat_ids_sort_unique(far, 4), 3);
    assert_true(far[0] == INT64_MIN && far[1] == 0 && far[2] == INT64_MAX);
}

static void test_large_list_and_lookup(void **state)
{
    (void)state;
    enum { N = 20000 };
    long long *ids = malloc(N * sizeof(*ids));
    assert_non_null(ids);
    for (size_t i = 0; i < N; i++)
        ids[i] = (long long)((i * 7919) % (N / 2)); /* every value twice */
    size_t n = chat_ids_sort_unique(ids, N);
    assert_int_equal(n, N / 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], (long long)i);
    long long key = 1234, missing = N;
    assert_non_null(bsearch(&key, ids, n, sizeof(*ids), chat_id_cmp));
    assert_null(bsearch(&missing, ids, n, sizeof(*ids), chat_id_cmp));
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_unique_drops_repeats),
        cmocka_unit_test(test_sort_unique_edges),
        cmocka_unit_test(test_large_list_and_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
