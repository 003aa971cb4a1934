/* The typing relay datagram "T<conversation_id> <user_id> <frame>" (push/typing_wire.c):
 * encode/decode round trips, the size bound, and datagrams the decoder must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../push/typing_wire.h"

static const char alice[] = "{\"id\":1,\"username\":\"alice\",\"display_name\":\"Alice\"}";

/* Decodes text (copied into a buffer with the NUL the decoder expects after it). */
static bool decode(const char *text, struct push_typing_wire *out)
{
    static char buf[PUSH_PEER_TYPING_MAX + 1];
    size_t n = strlen(text);
    assert_true(n < sizeof(buf));
    memcpy(buf, text, n + 1);
    return push_typing_wire_decode(buf, n, out);
}

static void test_encode_writes_the_wire_format(void **state)
{
    (void)state;
    char buf[PUSH_PEER_TYPING_MAX];
    size_t off;
    int n = push_typing_wire_encode(buf, sizeof(buf), 12, 7, alice, true, &off);
    const char want[] = "T12 7 {\"type\":\"typing\",\"conversation_id\":12,\"user\":"
                        "{\"id\":1,\"username\":\"alice\",\"display_name\":\"Alice\"},"
                        "\"is_typing\":true}";
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(buf, want);
    assert_int_equal(off, strlen("T12 7 "));
    assert_int_equal(buf[off], '{');

    n = push_typing_wire_encode(buf, sizeof(buf), 3, 4, NULL, false, &off);
    assert_string_equal(buf, "T3 4 {\"type\":\"typing\",\"conversation_id\":3,\"user\":null,"
                             "\"is_typing\":false}");
    assert_int_equal(n, (int)strlen(buf));
}

static void test_round_trip(void **state)
{
    (void)state;
    const long long ids[][2] = {{1, 1}, {12, 7}, {9223372036854775807LL, 42}};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (int typing = 0; typing <= 1; typing++) {
            char buf[PUSH_PEER_TYPING_MAX + 1];
            size_t off;
            int n = push_typing_wire_encode(buf, sizeof(buf) - 1, ids[i][0], ids[i][1], alice,
                                            typing, &off);
            assert_true(n > 0);
            struct push_typing_wire w;
            assert_true(push_typing_wire_decode(buf, (size_t)n, &w));
            assert_int_equal(w.conversation_id, ids[i][0]);
            assert_int_equal(w.user_id, ids[i][1]);
            assert_ptr_equal(w.frame, buf + off);
            assert_int_equal(w.frame_len, (size_t)n - off);
        }
    }
}

static void test_encode_refuses_what_does_not_fit(void **state)
{
    (void)state;
    char big[PUSH_PEER_TYPING_MAX];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char buf[PUSH_PEER_TYPING_MAX];
    size_t off = 99;
    assert_int_equal(push_typing_wire_encode(buf, sizeof(buf), 1, 2, big, true, &off), -1);
    assert_int_equal(off, 99);
    /* Smaller than the head alone, and exactly one byte short of the NUL. */
    assert_int_equal(push_typing_wire_encode(buf, 4, 12345, 2, alice, true, &off), -1);
    int n = push_typing_wire_encode(buf, sizeof(buf), 1, 2, NULL, true, &off);
    assert_true(n > 0);
    assert_int_equal(push_typing_wire_encode(buf, (size_t)n, 1, 2, NULL, true, &off), -1);
    assert_int_equal(push_typing_wire_encode(buf, (size_t)n + 1, 1, 2, NULL, true, &off), n);
}

static void test_malformed_datagrams_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",                  /* empty */
        "T",                 /* too short */
        "x",                 /* a plain wake-up byte */
        "X1 2 {}",           /* not a typing relay */
        "T1 {}",             /* one id */
        "T 1 2",             /* no frame */
        "T1 2 ",             /* nothing after the ids */
        "T1 2 []",           /* the frame is not an object */
        "T0 2 {}",           /* conversation 0 */
        "T1 0 {}",           /* user 0 */
        "T-1 2 {}",          /* negative conversation */
        "T1 -2 {}",          /* negative user */
        "Tab 2 {}",          /* not a number */
        "T1 2x {}",          /* junk after the user id */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct push_typing_wire w;
        bool ok = decode(bad[i], &w);
        if (ok)
            print_error("accepted: \"%s\"\n", bad[i]);
        assert_false(ok);
    }
}

static void test_frame_stops_at_nul(void **state)
{
    (void)state;
    char buf[] = "T5 6 {\"a\":1}\0trailing";
    struct push_typing_wire w;
    assert_true(push_typing_wire_decode(buf, sizeof(buf) - 1, &w));
    assert_int_equal(w.conversation_id, 5);
    assert_int_equal(w.user_id, 6);
    assert_int_equal(w.frame_len, strlen("{\"a\":1}"));
    assert_memory_equal(w.frame, "{\"a\":1}", w.frame_len);
}

/* The relayed frame is rebuilt from the datagram's fields: extra fields vanish, and a
 * frame that is not a typing frame of the datagram's own ids is refused. */
static void test_rebuild_keeps_only_the_fields(void **state)
{
    (void)state;
    struct push_typing_wire w;
    char out[PUSH_PEER_TYPING_MAX];
    assert_true(decode("T12 1 {\"type\":\"typing\",\"conversation_id\":12,\"html\":\"<b>\","
                       "\"user\":{\"id\":1,\"username\":\"alice\",\"display_name\":\"A\\\"l\","
                       "\"admin\":true},\"is_typing\":false}", &w));
    int n = push_typing_wire_rebuild(&w, out, sizeof(out));
    assert_string_equal(out, "{\"type\":\"typing\",\"conversation_id\":12,\"user\":{\"id\":1,"
                             "\"username\":\"alice\",\"display_name\":\"A\\\"l\"},"
                             "\"is_typing\":false}");
    assert_int_equal(n, (int)strlen(out));
    static const char *const refused[] = {
        "T12 1 {\"type\":\"message.created\",\"conversation_id\":12,\"user\":{\"id\":1,"
        "\"username\":\"a\",\"display_name\":\"A\"},\"is_typing\":true}",
        "T12 1 {\"type\":\"typing\",\"conversation_id\":13,\"user\":{\"id\":1,"
        "\"username\":\"a\",\"display_name\":\"A\"},\"is_typing\":true}",
        "T12 1 {\"type\":\"typing\",\"conversation_id\":12,\"user\":{\"id\":2,"
        "\"username\":\"a\",\"display_name\":\"A\"},\"is_typing\":true}",
        "T12 1 {\"type\":\"typing\",\"conversation_id\":12,\"user\":{\"id\":1,"
        "\"username\":\"a\",\"display_name\":\"A\"},\"is_typing\":1}",
        "T12 1 {\"type\":\"typing\",\"conversation_id\":12,\"user\":{\"id\":1,"
        "\"username\":\"a\"},\"is_typing\":true}",
        "T12 1 {\"type\":\"typing\",\"conversation_id\":12,\"user\":null,\"is_typing\":true}",
        "T12 1 {\"type\":\"typing\",\"conversation_id\":12,\"user\":{\"id\":1,"
        "\"username\":\"a\",\"display_name\":\"A\"},\"is_typing\":true} {}",
        "T12 1 {\"type\":\"typing\"",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_true(decode(refused[i], &w));
        assert_int_equal(push_typing_wire_rebuild(&w, out, sizeof(out)), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_writes_the_wire_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_encode_refuses_what_does_not_fit),
        cmocka_unit_test(test_malformed_datagrams_are_refused),
        cmocka_unit_test(test_frame_stops_at_nul),
        cmocka_unit_test(test_rebuild_keeps_only_the_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
