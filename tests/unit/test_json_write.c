/* chat_json_write against json-c's own serializer (chat_json_to_string): the same bytes
 * for every byte value in strings and keys, integer edges, doubles, nesting, empty
 * containers, parsed documents and a few thousand random trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_util.h"
#include "json_write.h"
#include "strbuf.h"

/* Fails unless chat_json_write(obj) is byte for byte what json-c writes; puts obj. */
static void assert_same(json_object *obj)
{
    struct strbuf mine = {0};
    chat_json_write(&mine, obj);
    size_t len;
    const char *theirs = chat_json_to_string(obj, &len);
    if (mine.len != len || memcmp(mine.data, theirs, len) != 0)
        fail_msg("json-c wrote %s, chat_json_write wrote %s", theirs, mine.data ? mine.data : "");
    strbuf_free(&mine);
    json_object_put(obj);
}

static void test_every_byte_in_strings_and_keys(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char s[4] = {'a', (char)c, 'z', 0};
        assert_same(json_object_new_string(s));
        json_object *o = json_object_new_object();
        json_object_object_add(o, s, json_object_new_string(s + 1));
        assert_same(o);
    }
    assert_same(json_object_new_string_len("nul\0inside", 10));
    assert_same(json_object_new_string(""));
    assert_same(json_object_new_string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 </script> \\ \""));
}

static void test_numbers_and_literals(void **state)
{
    (void)state;
    const int64_t ints[] = {0, 1, -1, 9, 10, -10, 999999, INT32_MAX, INT32_MIN,
                            INT64_MAX, INT64_MIN, INT64_MIN + 1, 1234567890123456789LL};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        assert_same(json_object_new_int64(ints[i]));
    assert_same(json_object_new_int(-42));
    assert_same(json_object_new_uint64(UINT64_MAX));
    assert_same(json_object_new_uint64((uint64_t)INT64_MAX + 1));
    assert_same(json_object_new_uint64(7));
    const double ds[] = {0.0, -0.0, 1.5, 0.1, 1e300, -2.5e-300, 123456789.125, 1.0 / 3};
    for (size_t i = 0; i < sizeof(ds) / sizeof(ds[0]); i++)
        assert_same(json_object_new_double(ds[i]));
    assert_same(json_object_new_boolean(1));
    assert_same(json_object_new_boolean(0));
    assert_same(NULL);
}

static void test_containers_and_parsed_documents(void **state)
{
    (void)state;
    assert_same(json_object_new_object());
    assert_same(json_object_new_array());
    json_object *a = json_object_new_array();
    json_object_array_add(a, NULL);
    json_object_array_add(a, json_object_new_object());
    json_object_array_add(a, json_object_new_array());
    assert_same(a);
    const char *docs[] = {
        "{\"a\":1,\"b\":[1,2,{\"c\":null}],\"d\":{\"e\":\"f\\u0001g\"},\"h\":true}",
        "[1.0, 2.50, -0.0, 1e5, 18446744073709551615, -9223372036854775808]",
        "{\"x\": \"\\ud83d\\ude00 \\/ slash\", \"y\": [[], {}, [[]]], \"z\": 3.14159}",
        "{\"dup\": 1, \"dup\": 2}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_object *o = json_tokener_parse(docs[i]);
        assert_non_null(o);
        assert_same(o);
    }
}

static unsigned rng = 12345;
static unsigned next(void)
{
    rng = rng * 1103515245u + 12345u;
    return (rng >> 16) & 0x7fff;
}

static json_object *random_tree(int depth)
{
    switch (next() % (depth > 4 ? 5 : 7)) {
    case 0: return NULL;
    case 1: return json_object_new_boolean((int)(next() & 1));
    case 2: return json_object_new_int64((int64_t)next() * next() * (next() & 1 ? -1 : 1));
    case 3: return json_object_new_double((double)next() / (next() + 1));
    case 4: {
        char s[12];
        size_t n = next() % sizeof(s);
        for (size_t i = 0; i < n; i++)
            s[i] = (char)(next() % 255 + 1);
        return json_object_new_string_len(s, (int)n);
    }
    case 5: {
        json_object *a = json_object_new_array();
        for (unsigned n = next() % 5; n; n--)
            json_object_array_add(a, random_tree(depth + 1));
        return a;
    }
    default: {
        json_object *o = json_object_new_object();
        for (unsigned n = next() % 5; n; n--) {
            char k[6];
            snprintf(k, sizeof(k), "k%u", next() % 100);
            json_object_object_add(o, k, random_tree(depth + 1));
        }
        return o;
    }
    }
}

static void test_random_trees(void **state)
{
    (void)state;
    for (int i = 0; i < 5000; i++)
        assert_same(random_tree(0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_byte_in_strings_and_keys),
        cmocka_unit_test(test_numbers_and_literals),
        cmocka_unit_test(test_containers_and_parsed_documents),
        cmocka_unit_test(test_random_trees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
