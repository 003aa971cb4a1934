/* Addresses, CIDR lists and the client address behind trusted proxies (shared/netaddr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "netaddr.h"

static void test_list_validation(void **state)
{
    (void)state;
    char err[128];
    assert_true(chat_addr_list_valid("", err, sizeof(err)));
    assert_true(chat_addr_list_valid(NULL, err, sizeof(err)));
    assert_true(chat_addr_list_valid(" 10.0.0.1  192.168.0.0/16 ::1 fd00::/8 0.0.0.0/0 ",
                                     err, sizeof(err)));
    assert_false(chat_addr_list_valid("10.0.0.1 nginx", err, sizeof(err)));
    assert_string_equal(err, "'nginx' is not an IP address or CIDR block");
    assert_false(chat_addr_list_valid("10.0.0.0/33", err, sizeof(err)));
    assert_false(chat_addr_list_valid("10.0.0.0/", err, sizeof(err)));
    assert_false(chat_addr_list_valid("10.0.0.0/8x", err, sizeof(err)));
    assert_false(chat_addr_list_valid("::/129", err, sizeof(err)));
    assert_false(chat_addr_list_valid("10.0.0", err, sizeof(err)));
}

static void test_membership(void **state)
{
    (void)state;
    assert_true(chat_addr_in_list("10.1.2.3", "10.0.0.0/8"));
    assert_false(chat_addr_in_list("11.1.2.3", "10.0.0.0/8"));
    assert_true(chat_addr_in_list("192.168.1.255", "192.168.1.128/25"));
    assert_false(chat_addr_in_list("192.168.1.127", "192.168.1.128/25"));
    assert_true(chat_addr_in_list("127.0.0.1", "::1 127.0.0.1"));
    assert_false(chat_addr_in_list("127.0.0.2", "127.0.0.1"));
    /* IPv4-mapped IPv6 is the IPv4 address, both ways. */
    assert_true(chat_addr_in_list("::ffff:10.0.0.7", "10.0.0.0/24"));
    assert_true(chat_addr_in_list("10.0.0.7", "::ffff:10.0.0.0/120"));
    assert_true(chat_addr_in_list("fd00::1234", "fd00::/8"));
    assert_false(chat_addr_in_list("fe80::1", "fd00::/8"));
    assert_true(chat_addr_in_list("1.2.3.4", "0.0.0.0/0"));
    assert_false(chat_addr_in_list("::2", "0.0.0.0/0"));
    assert_false(chat_addr_in_list("", "0.0.0.0/0"));
    assert_false(chat_addr_in_list(NULL, "0.0.0.0/0"));
    assert_false(chat_addr_in_list("1.2.3.4", ""));
    assert_false(chat_addr_in_list("1.2.3.4", "junk 1.2.3.0/33"));
}

static const char *client(const char *remote, const char *xff, const char *trusted)
{
    static char out[CHAT_ADDR_CHARS];
    chat_client_address(remote, xff, trusted, out);
    return out;
}

static void test_client_address(void **state)
{
    (void)state;
    /* No trusted proxies: X-Forwarded-For is never read. */
    assert_string_equal(client("203.0.113.9", "198.51.100.1", ""), "203.0.113.9");
    /* The peer is not trusted: its header is a claim by the client itself. */
    assert_string_equal(client("203.0.113.9", "198.51.100.1", "10.0.0.0/8"), "203.0.113.9");
    /* One trusted proxy: its right-most entry. */
    assert_string_equal(client("10.0.0.5", "198.51.100.1", "10.0.0.0/8"), "198.51.100.1");
    /* The client's own forged entries sit to the left and are not reached. */
    assert_string_equal(client("10.0.0.5", "1.1.1.1, 2.2.2.2,198.51.100.1", "10.0.0.0/8"),
                        "198.51.100.1");
    /* Two hops of trusted proxies. */
    assert_string_equal(client("10.0.0.5", "198.51.100.1, 10.0.0.6", "10.0.0.0/8"),
                        "198.51.100.1");
    /* Every entry trusted: the left-most. */
    assert_string_equal(client("10.0.0.5", "10.0.0.7, 10.0.0.6", "10.0.0.0/8"), "10.0.0.7");
    /* Missing or empty header: the peer. */
    assert_string_equal(client("10.0.0.5", NULL, "10.0.0.0/8"), "10.0.0.5");
    assert_string_equal(client("10.0.0.5", "", "10.0.0.0/8"), "10.0.0.5");
    assert_string_equal(client("10.0.0.5", " , ,", "10.0.0.0/8"), "10.0.0.5");
    /* Empty entries are skipped; a bad one ends the walk at the last trusted hop. */
    assert_string_equal(client("10.0.0.5", "198.51.100.1,,", "10.0.0.0/8"), "198.51.100.1");
    assert_string_equal(client("10.0.0.5", "198.51.100.1, unknown", "10.0.0.0/8"), "10.0.0.5");
    assert_string_equal(client("10.0.0.5", "198.51.100.1, unknown, 10.0.0.6", "10.0.0.0/8"),
                        "10.0.0.6");
    assert_string_equal(client("10.0.0.5", "1.2.3.4:5678", "10.0.0.0/8"), "10.0.0.5");
    /* IPv6. */
    assert_string_equal(client("::1", "2001:db8::7", "::1"), "2001:db8::7");
    /* A long garbage entry is not copied. */
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_string_equal(client("10.0.0.5", big, "10.0.0.0/8"), "10.0.0.5");
    /* No peer address at all. */
    assert_string_equal(client(NULL, "1.2.3.4", "0.0.0.0/0"), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_validation),
        cmocka_unit_test(test_membership),
        cmocka_unit_test(test_client_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
