/* The session-deadline heap (push/session_expiry.c): due connections come out earliest
 * first, a removed connection never does, and slots stay consistent through random
 * adds and removals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../push/session_expiry.h"

static void test_pops_due_connections_earliest_first(void **state)
{
    (void)state;
    struct push_expiry h = {0};
    struct push_conn c[5];
    memset(c, 0, sizeof(c));
    const long long at[5] = {500, 100, 300, 100, 900};
    for (int i = 0; i < 5; i++) {
        c[i].id = (unsigned long long)i;
        c[i].expires_ms = at[i];
        push_expiry_add(&h, &c[i]);
    }
    assert_null(push_expiry_pop_due(&h, 99));
    struct push_conn *p = push_expiry_pop_due(&h, 100);
    struct push_conn *q = push_expiry_pop_due(&h, 100);
    assert_true((p == &c[1] && q == &c[3]) || (p == &c[3] && q == &c[1]));
    assert_null(push_expiry_pop_due(&h, 299));
    push_expiry_remove(&h, &c[0]); /* closed before its deadline */
    assert_int_equal(c[0].expiry_slot, 0);
    push_expiry_remove(&h, &c[0]); /* twice is harmless */
    assert_ptr_equal(push_expiry_pop_due(&h, 1000), &c[2]);
    assert_ptr_equal(push_expiry_pop_due(&h, 1000), &c[4]);
    assert_null(push_expiry_pop_due(&h, 1000000));
    assert_int_equal(h.count, 0);
    push_expiry_free(&h);
}

static void test_random_adds_and_removals_keep_the_order(void **state)
{
    (void)state;
    enum { N = 2000 };
    struct push_expiry h = {0};
    struct push_conn *c = calloc(N, sizeof(*c));
    srand(7);
    for (int i = 0; i < N; i++) {
        c[i].expires_ms = rand() % 10000;
        push_expiry_add(&h, &c[i]);
    }
    for (int i = 0; i < N; i += 3)
        push_expiry_remove(&h, &c[i]);
    for (size_t i = 0; i < h.count; i++)
        assert_ptr_equal(h.items[i], h.items[h.items[i]->expiry_slot - 1]);
    long long last = -1;
    size_t popped = 0;
    struct push_conn *p;
    while ((p = push_expiry_pop_due(&h, 10000))) {
        assert_true(p->expires_ms >= last);
        assert_true((p - c) % 3 != 0);
        assert_int_equal(p->expiry_slot, 0);
        last = p->expires_ms;
        popped++;
    }
    assert_int_equal(popped, N - (N + 2) / 3);
    push_expiry_free(&h);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pops_due_connections_earliest_first),
        cmocka_unit_test(test_random_adds_and_removals_keep_the_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
