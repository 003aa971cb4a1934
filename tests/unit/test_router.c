/* Router: pattern matching, ids, 404 vs 405, and the query/cookie parsers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "http.h"
#include "request_decode.h"
#include "router.h"

static void test_literal_and_id(void **state)
{
    (void)state;
    struct chat_route_args a;
    assert_true(chat_route_match("/api/chat/conversations/", "/api/chat/conversations/", &a));
    assert_int_equal(a.nids, 0);
    assert_true(chat_route_match("/api/chat/conversations/{id}/messages/",
                                 "/api/chat/conversations/42/messages/", &a));
    assert_int_equal(a.nids, 1);
    assert_int_equal(a.ids[0], 42);
}

static void test_id_rejects_bad_numbers(void **state)
{
    (void)state;
    struct chat_route_args a;
    const char *pat = "/api/chat/conversations/{id}/";
    assert_false(chat_route_match(pat, "/api/chat/conversations/0/", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/-1/", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/abc/", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations//", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/1234567890123456789/", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/12", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/12/x", &a));
    assert_true(chat_route_match(pat, "/api/chat/conversations/123456789012345678/", &a));
    assert_int_equal(a.ids[0], 123456789012345678LL);
}

static void test_rest_wildcard(void **state)
{
    (void)state;
    struct chat_route_args a;
    assert_true(chat_route_match("/static/{*}", "/static/chat.js", &a));
    assert_string_equal(a.rest, "chat.js");
    assert_false(chat_route_match("/static/{*}", "/static/", &a));
}

static void test_str_segment(void **state)
{
    (void)state;
    struct chat_route_args a;
    const char *pat = "/api/chat/conversations/{id}/messages/{id}/reactions/{str}/";
    assert_true(chat_route_match(pat, "/api/chat/conversations/3/messages/9/reactions/%F0%9F%91%8D/", &a));
    assert_int_equal(a.nids, 2);
    assert_int_equal(a.ids[1], 9);
    assert_int_equal(a.str_len, strlen("%F0%9F%91%8D"));
    assert_memory_equal(a.str, "%F0%9F%91%8D", a.str_len);
    /* One whole, non-empty segment: no empty match, no slash inside. */
    assert_false(chat_route_match(pat, "/api/chat/conversations/3/messages/9/reactions//", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/3/messages/9/reactions/a/b/", &a));
    assert_false(chat_route_match(pat, "/api/chat/conversations/3/messages/9/reactions/a", &a));
    assert_true(chat_route_match("/api/chat/conversations/{id}/", "/api/chat/conversations/3/", &a));
    assert_null(a.str);
}

static void test_percent_decode(void **state)
{
    (void)state;
    char out[8];
    size_t n = 0;
    assert_int_equal(chat_percent_decode("a%2Fb+", 6, out, sizeof(out), &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(out, "a/b+");
    assert_int_equal(chat_percent_decode("%00x", 4, out, sizeof(out), &n), 0);
    assert_int_equal(n, 2);
    assert_int_not_equal(chat_percent_decode("%G1", 3, out, sizeof(out), &n), 0);
    assert_int_not_equal(chat_percent_decode("ab%4", 4, out, sizeof(out), &n), 0);
    assert_int_not_equal(chat_percent_decode("12345678", 8, out, sizeof(out), &n), 0);
    assert_int_equal(chat_percent_decode("1234567", 7, out, sizeof(out), &n), 0);
}

static void test_find_404_405(void **state)
{
    (void)state;
    struct chat_route_args a;
    bool mismatch;
    char allow[64];
    const struct chat_route *r =
        chat_route_find("POST", "/api/chat/conversations/7/messages/", &a, &mismatch, allow, sizeof(allow));
    assert_non_null(r);
    assert_string_equal(r->method, "POST");
    assert_int_equal(a.ids[0], 7);

    r = chat_route_find("PUT", "/api/chat/conversations/7/messages/", &a, &mismatch, allow, sizeof(allow));
    assert_null(r);
    assert_true(mismatch);
    assert_string_equal(allow, "GET, POST");

    r = chat_route_find("GET", "/api/nope/", &a, &mismatch, allow, sizeof(allow));
    assert_null(r);
    assert_false(mismatch);
}

static void test_every_api_route_requires_auth_except_login_register(void **state)
{
    (void)state;
    for (unsigned i = 0; i < chat_routes_count; i++) {
        const struct chat_route *r = &chat_routes[i];
        if (strncmp(r->pattern, "/api/", 5) != 0)
            continue;
        bool public_ok = !strcmp(r->pattern, "/api/auth/login") || !strcmp(r->pattern, "/api/auth/register");
        assert_int_equal(!!(r->flags & CHAT_ROUTE_AUTH), !public_ok);
    }
}

static void test_query_param(void **state)
{
    (void)state;
    char v[32];
    assert_true(chat_query_param("a=1&before=20&q=al%20ice+x", "before", v, sizeof(v)));
    assert_string_equal(v, "20");
    assert_true(chat_query_param("a=1&before=20&q=al%20ice+x", "q", v, sizeof(v)));
    assert_string_equal(v, "al ice x");
    assert_false(chat_query_param("abefore=1", "before", v, sizeof(v)));
    assert_false(chat_query_param("", "q", v, sizeof(v)));
    assert_true(chat_query_param("flag", "flag", v, sizeof(v)));
    assert_string_equal(v, "");
    /* Output is bounded by the buffer. */
    char small[4];
    assert_true(chat_query_param("q=abcdefgh", "q", small, sizeof(small)));
    assert_string_equal(small, "abc");
}

static void test_cookie_value(void **state)
{
    (void)state;
    char v[64];
    assert_true(chat_cookie_value("a=1; chat_session=tok; chat_csrf=c", "chat_session", v, sizeof(v)));
    assert_string_equal(v, "tok");
    assert_true(chat_cookie_value("chat_csrf=c", "chat_csrf", v, sizeof(v)));
    assert_string_equal(v, "c");
    assert_false(chat_cookie_value("xchat_csrf=c", "chat_csrf", v, sizeof(v)));
    assert_false(chat_cookie_value(NULL, "chat_csrf", v, sizeof(v)));
    char small[3];
    assert_false(chat_cookie_value("chat_csrf=toolong", "chat_csrf", small, sizeof(small)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_id),
        cmocka_unit_test(test_id_rejects_bad_numbers),
        cmocka_unit_test(test_rest_wildcard),
        cmocka_unit_test(test_str_segment),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_find_404_405),
        cmocka_unit_test(test_every_api_route_requires_auth_except_login_register),
        cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_cookie_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
