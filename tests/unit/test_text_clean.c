/* Display-name cleaning (chat_utf8_strip_controls) and the cost of a login for an unknown
 * user (chat_password_dummy_verify: one argon2id run). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config.h"
#include "crypto.h"
#include "utf8.h"

static const char *strip(const char *in)
{
    static char out[256];
    size_t n = chat_utf8_strip_controls(in, strlen(in), out);
    assert_int_equal(n, strlen(out));
    return out;
}

static void test_strips_controls_and_bidi(void **state)
{
    (void)state;
    assert_string_equal(strip("Alice"), "Alice");
    assert_string_equal(strip("A\tl\ni\rc\x1b" "e\x7f"), "Alice");
    assert_string_equal(strip("\xc2\x80" "A\xc2\x9f"), "A");                 /* C1 */
    assert_string_equal(strip("\xe2\x80\x8e" "B\xe2\x80\x8f"), "B");         /* LRM, RLM */
    assert_string_equal(strip("x\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae" "y"),
                        "xy");                                                /* 202A-202E */
    assert_string_equal(strip("\xe2\x81\xa6" "r\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9"), "r"); /* 2066-2069 */
    assert_string_equal(strip("\xe2\x80\xae\xe2\x80\x8f"), "");
}

static void test_keeps_everything_else(void **state)
{
    (void)state;
    /* Neighbours of the removed ranges, and other scripts, stay. */
    assert_string_equal(strip(" ~\xc2\xa0\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xa9\xe2\x80\xaf"),
                        " ~\xc2\xa0\xe2\x80\x8d\xe2\x80\x90\xe2\x80\xa9\xe2\x80\xaf");
    assert_string_equal(strip("\xe2\x81\xa5\xe2\x81\xaa"), "\xe2\x81\xa5\xe2\x81\xaa");
    assert_string_equal(strip("J\xc3\xb6rg \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xf0\x9f\x98\x80"),
                        "J\xc3\xb6rg \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d \xf0\x9f\x98\x80");
}

static void test_in_place(void **state)
{
    (void)state;
    char buf[] = "\xe2\x80\xae" "evil\x01" "name";
    assert_int_equal(chat_utf8_strip_controls(buf, strlen(buf), buf), 8);
    assert_string_equal(buf, "evilname");
}

static void test_unknown_user_costs_one_argon2id_run(void **state)
{
    (void)state;
    struct chat_config cfg = {.password_opslimit = 1, .password_memlimit_kib = 8};
    assert_int_equal(chat_crypto_init(), 0);
    chat_password_dummy_verify(&cfg, "first"); /* also makes the process's dummy hash */
    long before = chat_password_runs();
    chat_password_dummy_verify(&cfg, "guess-1");
    assert_int_equal(chat_password_runs() - before, 1);
    char hash[128];
    assert_int_equal(chat_password_hash(&cfg, "right-password", hash), 0);
    before = chat_password_runs();
    assert_false(chat_password_verify(hash, "wrong-password"));
    assert_int_equal(chat_password_runs() - before, 1); /* the same as a known user */
}

static void test_gate_has_slots(void **state)
{
    (void)state;
    chat_password_gate_init(2);
    assert_true(chat_password_gate_enter());
    assert_true(chat_password_gate_enter());
    assert_false(chat_password_gate_enter());
    chat_password_gate_leave();
    assert_true(chat_password_gate_enter());
    chat_password_gate_leave();
    chat_password_gate_leave();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strips_controls_and_bidi),
        cmocka_unit_test(test_keeps_everything_else),
        cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_unknown_user_costs_one_argon2id_run),
        cmocka_unit_test(test_gate_has_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
