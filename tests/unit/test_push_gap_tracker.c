/* Unit tests for push/gap_tracker.c, linked from libchatpush.a. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "../../push/gap_tracker.h"

static void test_in_order_ids_leave_no_gaps(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    push_gap_init(&t, 5, 100);
    for (long long id = 6; id <= 20; id++)
        assert_true(push_gap_observe(&t, id, 0));
    assert_int_equal(t.high, 20);
    assert_int_equal(push_gap_count(&t), 0);
    assert_false(push_gap_observe(&t, 20, 0)); /* already delivered */
    assert_false(push_gap_observe(&t, 3, 0));  /* before the start */
    push_gap_free(&t);
}

static void test_late_commit_fills_gap_once(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    push_gap_init(&t, 9, 100);
    assert_true(push_gap_observe(&t, 11, 1000)); /* 10 is still open */
    assert_int_equal(push_gap_count(&t), 1);
    long long ids[4];
    assert_int_equal(push_gap_collect(&t, 1000, ids, 4), 1);
    assert_int_equal(ids[0], 10);
    assert_true(push_gap_observe(&t, 10, 1500)); /* it committed: deliver it */
    assert_false(push_gap_observe(&t, 10, 1600)); /* and only once */
    assert_false(push_gap_observe(&t, 11, 1600));
    assert_int_equal(push_gap_count(&t), 0);
    assert_int_equal(push_gap_collect(&t, 1600, ids, 4), 0);
    push_gap_free(&t);
}

static void test_gap_expires_after_timeout(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    long long out[8];
    push_gap_init(&t, 0, 100);
    assert_true(push_gap_observe(&t, 3, 1000)); /* gaps 1, 2 noticed at 1000 */
    assert_true(push_gap_observe(&t, 5, 2000)); /* gap 4 noticed at 2000 */
    assert_int_equal(push_gap_expire(&t, 1999, 1000, out, 8), 0);
    assert_int_equal(push_gap_expire(&t, 2000, 1000, out, 8), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);
    assert_int_equal(t.abandoned, 2);
    assert_false(push_gap_observe(&t, 1, 2100)); /* abandoned: too late */
    assert_true(push_gap_observe(&t, 4, 2100));  /* still tracked */
    assert_int_equal(push_gap_expire(&t, 99999, 1000, NULL, 0), 0);
    push_gap_free(&t);
}

static void test_huge_jump_keeps_newest_gaps(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    push_gap_init(&t, 0, 5);
    assert_true(push_gap_observe(&t, 100, 0));
    assert_int_equal(push_gap_count(&t), 5);
    assert_int_equal(t.dropped, 94);
    long long ids[10];
    assert_int_equal(push_gap_collect(&t, 0, ids, 10), 5);
    assert_int_equal(ids[0], 95);
    assert_int_equal(ids[4], 99);
    assert_false(push_gap_observe(&t, 50, 0));
    assert_true(push_gap_observe(&t, 97, 0));
    push_gap_free(&t);
}

static void test_full_set_drops_oldest(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    push_gap_init(&t, 0, 4);
    push_gap_observe(&t, 3, 0); /* gaps 1 2 */
    push_gap_observe(&t, 6, 0); /* gaps 1 2 4 5 */
    assert_int_equal(push_gap_count(&t), 4);
    push_gap_observe(&t, 8, 0); /* gap 7: drops 1 */
    assert_int_equal(push_gap_count(&t), 4);
    assert_int_equal(t.dropped, 1);
    assert_false(push_gap_observe(&t, 1, 0));
    assert_true(push_gap_observe(&t, 2, 0));
    assert_true(push_gap_observe(&t, 7, 0));
    push_gap_free(&t);
}

static void test_collect_walks_large_sets_round_robin(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    push_gap_init(&t, 0, 100);
    push_gap_observe(&t, 11, 0); /* gaps 1..10 */
    int seen[11] = {0};
    long long ids[4];
    for (int round = 0; round < 3; round++) {
        size_t n = push_gap_collect(&t, 0, ids, 4);
        assert_true(n >= 2 && n <= 4);
        for (size_t i = 0; i < n; i++)
            seen[ids[i]]++;
    }
    for (int id = 1; id <= 10; id++)
        assert_true(seen[id] >= 1);
    push_gap_free(&t);
}

/* A young gap is re-read in every round; an old one when half its age again has passed,
 * at most a second later; a permanent gap is re-read a bounded number of times before it
 * is abandoned. */
static void test_rereads_back_off_with_age(void **state)
{
    (void)state;
    struct push_gap_tracker t;
    long long ids[4];
    push_gap_init(&t, 0, 100);
    push_gap_observe(&t, 2, 1000); /* gap 1 noticed at 1000 */
    assert_int_equal(push_gap_collect(&t, 1000, ids, 4), 1);
    assert_int_equal(push_gap_collect(&t, 1050, ids, 4), 1); /* 50 ms old: every round */
    assert_int_equal(push_gap_collect(&t, 1200, ids, 4), 1); /* 200 ms: next at 1300 */
    assert_int_equal(push_gap_collect(&t, 1299, ids, 4), 0);
    assert_int_equal(push_gap_collect(&t, 1300, ids, 4), 1); /* 300 ms: next at 1450 */
    assert_int_equal(push_gap_collect(&t, 1449, ids, 4), 0);
    assert_int_equal(push_gap_collect(&t, 1450, ids, 4), 1);
    assert_int_equal(push_gap_collect(&t, 6000, ids, 4), 1); /* 5 s: at most 1 s later */
    assert_int_equal(push_gap_collect(&t, 6999, ids, 4), 0);
    assert_int_equal(push_gap_collect(&t, 7000, ids, 4), 1);
    /* A round every millisecond for the whole 10 s timeout. */
    push_gap_observe(&t, 4, 20000); /* gap 3 noticed at 20000 */
    int rereads = 0;
    for (long long now = 20000; now < 30000; now++) {
        size_t n = push_gap_collect(&t, now, ids, 4);
        for (size_t i = 0; i < n; i++)
            rereads += ids[i] == 3;
    }
    assert_true(rereads <= PUSH_GAP_FAST_MS + 16);
    assert_true(rereads > PUSH_GAP_FAST_MS); /* still re-read after the fast phase */
    push_gap_free(&t);
}

/* Every id of a shuffled stream (ids may arrive up to 64 positions late) is delivered
 * exactly once, and nothing is left over. Exercises tombstones and compaction. */
static void test_shuffled_stream_delivered_exactly_once(void **state)
{
    (void)state;
    enum { N = 20000, WINDOW = 64 };
    long long *order = malloc(N * sizeof(*order));
    for (long long i = 0; i < N; i++)
        order[i] = i + 1;
    srand(12345);
    for (long long i = 0; i + WINDOW < N; i += WINDOW / 2) {
        for (int k = WINDOW - 1; k > 0; k--) {
            int j = rand() % (k + 1);
            long long tmp = order[i + k];
            order[i + k] = order[i + j];
            order[i + j] = tmp;
        }
    }
    struct push_gap_tracker t;
    push_gap_init(&t, 0, 100000);
    size_t delivered = 0;
    for (long long i = 0; i < N; i++)
        delivered += push_gap_observe(&t, order[i], i);
    for (long long i = 0; i < N; i += 7) /* replays deliver nothing */
        delivered += push_gap_observe(&t, order[i], N);
    assert_int_equal(delivered, N);
    assert_int_equal(push_gap_count(&t), 0);
    assert_int_equal(t.high, N);
    push_gap_free(&t);
    free(order);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_ids_leave_no_gaps),
        cmocka_unit_test(test_late_commit_fills_gap_once),
        cmocka_unit_test(test_gap_expires_after_timeout),
        cmocka_unit_test(test_huge_jump_keeps_newest_gaps),
        cmocka_unit_test(test_full_set_drops_oldest),
        cmocka_unit_test(test_collect_walks_large_sets_round_robin),
        cmocka_unit_test(test_rereads_back_off_with_age),
        cmocka_unit_test(test_shuffled_stream_delivered_exactly_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
