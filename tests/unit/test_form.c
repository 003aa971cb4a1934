/* Unit tests of the urlencoded form parser (api/form.c). Each test is independent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "errors.h"
#include "form.h"

static const struct chat_form_field fields[] = {
    {"text", 10, true},
    {"csrf", 8, false},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* Parses body and checks the result code; on success returns the values in v. */
static int parse(const char *body, char **v)
{
    char detail[128] = "x";
    int rc = chat_form_parse(body, strlen(body), fields, NFIELDS, v, detail, sizeof(detail));
    if (rc == CHAT_OK)
        assert_string_equal(detail, "");
    else
        assert_true(detail[0] != '\0');
    return rc;
}

static void test_decodes_plus_and_escapes(void **state)
{
    (void)state;
    char *v[NFIELDS];
    assert_int_equal(parse("text=a+b%2Bc%0D%0A&csrf=t%C3%A9", v), CHAT_OK);
    assert_string_equal(v[0], "a b+c\r\n");
    assert_string_equal(v[1], "t\xC3\xA9");
    chat_form_free(v, NFIELDS);
    assert_null(v[0]);
    assert_null(v[1]);
}

static void test_optional_absent_and_empty_values(void **state)
{
    (void)state;
    char *v[NFIELDS];
    assert_int_equal(parse("text=", v), CHAT_OK);
    assert_string_equal(v[0], "");
    assert_null(v[1]);
    chat_form_free(v, NFIELDS);
    /* Empty pairs are skipped, as browsers never send them but proxies may. */
    assert_int_equal(parse("&text=x&&", v), CHAT_OK);
    assert_string_equal(v[0], "x");
    chat_form_free(v, NFIELDS);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int rc;
    } cases[] = {
        {"", CHAT_E_MISSING_FIELD},
        {"csrf=1", CHAT_E_MISSING_FIELD},
        {"text=1&other=2", CHAT_E_UNKNOWN_FIELD},
        {"text=1&text=2", CHAT_E_BAD_REQUEST},
        {"text", CHAT_E_BAD_REQUEST},
        {"=1&text=2", CHAT_E_BAD_REQUEST},
        {"text=%", CHAT_E_BAD_REQUEST},
        {"text=%4", CHAT_E_BAD_REQUEST},
        {"text=%zz", CHAT_E_BAD_REQUEST},
        {"text=a%00b", CHAT_E_BAD_REQUEST},
        {"te%00xt=1", CHAT_E_BAD_REQUEST},
        {"text=%C3%28", CHAT_E_INVALID_UTF8},
        {"text=%ED%A0%80", CHAT_E_INVALID_UTF8}, /* a surrogate */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char *v[NFIELDS];
        if (parse(cases[c].body, v) != cases[c].rc)
            fail_msg("\"%s\" did not give %d", cases[c].body, cases[c].rc);
        /* Every refusal leaves nothing to free. */
        for (size_t i = 0; i < NFIELDS; i++)
            assert_null(v[i]);
    }
}

static void test_length_bound_is_on_decoded_bytes(void **state)
{
    (void)state;
    char *v[NFIELDS];
    /* 10 decoded bytes from 30 encoded ones: accepted. */
    assert_int_equal(parse("text=%41%41%41%41%41%41%41%41%41%41", v), CHAT_OK);
    assert_string_equal(v[0], "AAAAAAAAAA");
    chat_form_free(v, NFIELDS);
    assert_int_equal(parse("text=AAAAAAAAAAA", v), CHAT_E_VALIDATION);
    assert_int_equal(parse("text=a&csrf=123456789", v), CHAT_E_VALIDATION);
}

static void test_body_is_not_nul_terminated(void **state)
{
    (void)state;
    char *v[NFIELDS];
    char detail[64];
    const char body[] = "text=abcdef";
    /* Only the first 7 bytes belong to the body. */
    assert_int_equal(chat_form_parse(body, 7, fields, NFIELDS, v, detail, sizeof(detail)),
                     CHAT_OK);
    assert_string_equal(v[0], "ab");
    chat_form_free(v, NFIELDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decodes_plus_and_escapes),
        cmocka_unit_test(test_optional_absent_and_empty_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_length_bound_is_on_decoded_bytes),
        cmocka_unit_test(test_body_is_not_nul_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
