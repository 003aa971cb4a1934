/* Strict JSON body parsing, field validation, UTF-8 and the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "errors.h"
#include "json_util.h"
#include "utf8.h"

static int parse(const char *s, json_object **o)
{
    char detail[256];
    return chat_json_parse_object(s, strlen(s), o, detail, sizeof(detail));
}

static void test_parse_ok_and_errors(void **state)
{
    (void)state;
    json_object *o = NULL;
    assert_int_equal(parse("{\"text\":\"hi\"}", &o), CHAT_OK);
    assert_string_equal(chat_json_get_string(o, "text", NULL), "hi");
    json_object_put(o);
    assert_int_equal(parse("{\"text\":", &o), CHAT_E_PARSE);
    assert_null(o);
    assert_int_equal(parse("", &o), CHAT_E_PARSE);
    assert_int_equal(parse("{} {}", &o), CHAT_E_PARSE);
    assert_int_equal(parse("{'a':1}", &o), CHAT_E_PARSE);
    assert_int_equal(parse("[1,2]", &o), CHAT_E_INVALID_TYPE);
    assert_int_equal(parse("\"str\"", &o), CHAT_E_INVALID_TYPE);
    assert_int_equal(parse("{\"a\":1}  \n", &o), CHAT_OK);
    json_object_put(o);
}

static void test_parse_rejects_bad_utf8_and_deep_nesting(void **state)
{
    (void)state;
    json_object *o = NULL;
    assert_int_equal(parse("{\"text\":\"\xff\"}", &o), CHAT_E_INVALID_UTF8);
    assert_int_equal(parse("{\"text\":\"\xc0\xaf\"}", &o), CHAT_E_INVALID_UTF8); /* overlong '/' */
    assert_int_equal(parse("{\"text\":\"\xed\xa0\x80\"}", &o), CHAT_E_INVALID_UTF8); /* surrogate */
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    assert_int_equal(parse(deep, &o), CHAT_E_PARSE);
}

static void test_utf8_validator(void **state)
{
    (void)state;
    assert_true(chat_utf8_valid("h\xc3\xa9llo \xf0\x9f\x98\x80", 11));
    assert_false(chat_utf8_valid("a\0b", 3));
    assert_false(chat_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(chat_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(chat_utf8_valid("\x80", 1));
    assert_int_equal(chat_utf8_length("h\xc3\xa9\xf0\x9f\x98\x80", 7), 3);
    /* Prefixes cut at characters, never inside one. */
    assert_int_equal(chat_utf8_prefix_len("h\xc3\xa9\xf0\x9f\x98\x80", 7, 2), 3);
    assert_int_equal(chat_utf8_prefix_len("h\xc3\xa9\xf0\x9f\x98\x80", 7, 3), 7);
    assert_int_equal(chat_utf8_prefix_len("h\xc3\xa9\xf0\x9f\x98\x80", 7, 9), 7);
    assert_int_equal(chat_utf8_prefix_len("\xc3\xa9\xc3", 3, 1), 2);
    assert_int_equal(chat_utf8_prefix_len("abc", 3, 0), 0);
}

static const struct chat_field fields[] = {
    {"text", CHAT_FIELD_STRING, true, false, 5},
    {"reply_to", CHAT_FIELD_INT, false, true, 0},
    {"ids", CHAT_FIELD_INT_ARRAY, false, false, 3},
    {"flag", CHAT_FIELD_BOOL, false, false, 0},
};

static int check(const char *s)
{
    json_object *o;
    char detail[256];
    assert_int_equal(parse(s, &o), CHAT_OK);
    int rc = chat_json_check_fields(o, fields, 4, detail, sizeof(detail));
    json_object_put(o);
    return rc;
}

static void test_field_validation(void **state)
{
    (void)state;
    assert_int_equal(check("{\"text\":\"abc\"}"), CHAT_OK);
    assert_int_equal(check("{\"text\":\"abc\",\"reply_to\":null}"), CHAT_OK);
    assert_int_equal(check("{\"text\":\"abc\",\"ids\":[1,2,3],\"flag\":true}"), CHAT_OK);
    assert_int_equal(check("{}"), CHAT_E_MISSING_FIELD);
    assert_int_equal(check("{\"text\":null}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":5}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":\"a\",\"reply_to\":\"5\"}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":\"a\",\"reply_to\":1.5}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":\"a\",\"reply_to\":true}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":\"a\",\"ids\":[1,\"2\"]}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":\"a\",\"ids\":[1,2,3,4]}"), CHAT_E_VALIDATION);
    assert_int_equal(check("{\"text\":\"a\",\"flag\":1}"), CHAT_E_INVALID_TYPE);
    assert_int_equal(check("{\"text\":\"a\",\"extra\":1}"), CHAT_E_UNKNOWN_FIELD);
    /* Length is counted in characters, not bytes: five two-byte characters pass. */
    assert_int_equal(check("{\"text\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}"), CHAT_OK);
    assert_int_equal(check("{\"text\":\"abcdef\"}"), CHAT_E_VALIDATION);
    /* An escaped NUL is valid JSON but would cut the stored C string: refused. */
    assert_int_equal(check("{\"text\":\"ab\\u0000c\"}"), CHAT_E_INVALID_UTF8);
    assert_int_equal(check("{\"text\":\"\\u0000\"}"), CHAT_E_INVALID_UTF8);
}

static void test_error_table(void **state)
{
    (void)state;
    assert_int_equal(chat_err_status(CHAT_E_PARSE), 400);
    assert_string_equal(chat_err_code(CHAT_E_PARSE), "parse_error");
    assert_int_equal(chat_err_status(CHAT_E_NOT_FOUND), 404);
    assert_int_equal(chat_err_status(CHAT_E_TOO_LARGE), 413);
    assert_int_equal(chat_err_status(CHAT_E_UNSUPPORTED_MEDIA), 415);
    assert_int_equal(chat_err_status(CHAT_E_VALIDATION), 422);
    assert_int_equal(chat_err_status(-9999), 500);
    assert_int_equal(chat_err_status(12345), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok_and_errors),
        cmocka_unit_test(test_parse_rejects_bad_utf8_and_deep_nesting),
        cmocka_unit_test(test_utf8_validator),
        cmocka_unit_test(test_field_validation),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
