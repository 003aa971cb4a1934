/* Unit tests for chat_db_retry_conflict (shared/db.c): when a transaction that MariaDB
 * rolled back for a conflict may run again. No server is needed: the decision reads only
 * the error, the attempt number and the write counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "db.h"
#include "errors.h"

static void test_retries_a_conflict_while_nothing_was_written(void **state)
{
    (void)state;
    struct chat_db db;
    memset(&db, 0, sizeof(db));
    db.writes = 7;
    for (int attempt = 0; attempt < CHAT_DB_CONFLICT_RETRIES; attempt++)
        assert_true(chat_db_retry_conflict(&db, CHAT_E_DB_CONFLICT, 7, attempt));
    assert_false(chat_db_retry_conflict(&db, CHAT_E_DB_CONFLICT, 7, CHAT_DB_CONFLICT_RETRIES));
}

static void test_never_repeats_after_a_write(void **state)
{
    (void)state;
    struct chat_db db;
    memset(&db, 0, sizeof(db));
    db.writes = 8; /* something committed since the mark (7): repeating could write twice */
    assert_false(chat_db_retry_conflict(&db, CHAT_E_DB_CONFLICT, 7, 0));
}

static void test_other_errors_are_not_retried(void **state)
{
    (void)state;
    struct chat_db db;
    memset(&db, 0, sizeof(db));
    assert_false(chat_db_retry_conflict(&db, CHAT_OK, 0, 0));
    assert_false(chat_db_retry_conflict(&db, CHAT_E_DB, 0, 0)); /* a lost connection */
    assert_false(chat_db_retry_conflict(&db, CHAT_E_DUPLICATE, 0, 0));
    assert_false(chat_db_retry_conflict(&db, CHAT_E_NOT_FOUND, 0, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retries_a_conflict_while_nothing_was_written),
        cmocka_unit_test(test_never_repeats_after_a_write),
        cmocka_unit_test(test_other_errors_are_not_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
