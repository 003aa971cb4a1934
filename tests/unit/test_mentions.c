/* The mention parser (shared/mentions.c): boundaries, punctuation, unknown and repeated
 * names, @all/@here, the sender, and offsets in UTF-16 code units after non-ASCII text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "mentions.h"

static const struct chat_mention_member members[] = {
    {1, "alice"}, {2, "bob"}, {3, "bob.smith"}, {4, "Carol-X"}, {5, "dave_"},
};
#define NMEMBERS (sizeof(members) / sizeof(members[0]))

static struct chat_mention found[CHAT_MENTIONS_MAX];

/* Parses text as sender 1 in a group (or not) and returns the number found. */
static size_t parse(const char *text, bool is_group)
{
    memset(found, 0xab, sizeof(found));
    return chat_mentions_parse(text, members, NMEMBERS, 1, is_group, found, CHAT_MENTIONS_MAX);
}

static void expect_user(size_t i, long long user_id, size_t offset, size_t length)
{
    assert_int_equal(found[i].kind, CHAT_MENTION_USER);
    assert_int_equal(found[i].user_id, user_id);
    assert_int_equal(found[i].offset, offset);
    assert_int_equal(found[i].length, length);
}

static void test_plain_mentions(void **state)
{
    (void)state;
    assert_int_equal(parse("@bob hi", false), 1);
    expect_user(0, 2, 0, 4);
    assert_int_equal(parse("hi @bob", false), 1);
    expect_user(0, 2, 3, 4);
    assert_int_equal(parse("(@BOB)", false), 1); /* case-insensitive, inside brackets */
    expect_user(0, 2, 1, 4);
    assert_int_equal(parse("@carol-x: look", false), 1);
    expect_user(0, 4, 0, 8);
    assert_int_equal(parse("no mentions here", true), 0);
    assert_int_equal(parse("", true), 0);
    assert_int_equal(parse("@", true), 0);
    assert_int_equal(parse("@@bob", true), 0);
}

static void test_word_boundaries(void **state)
{
    (void)state;
    assert_int_equal(parse("mail bob@example.com now", false), 0);
    assert_int_equal(parse("write to @bob@example.com", false), 0); /* an address */
    assert_int_equal(parse("x_@bob", false), 0);
    assert_int_equal(parse("9@bob", false), 0);
    assert_int_equal(parse("@bobby", false), 0); /* a longer name is not bob */
    assert_int_equal(parse("@bob_", false), 0);
    assert_int_equal(parse("ol\xc3\xa1@bob", false), 0); /* a letter of Latin-1 before it */
    assert_int_equal(parse("\xd0\xb4@bob", false), 0);  /* a Cyrillic letter */
    assert_int_equal(parse("a\tb\n@bob", false), 1);
    expect_user(0, 2, 4, 4);
}

static void test_punctuation_after_a_name(void **state)
{
    (void)state;
    assert_int_equal(parse("thanks @bob.", false), 1);
    expect_user(0, 2, 7, 4);
    assert_int_equal(parse("@bob... and @carol-x-", false), 2);
    expect_user(0, 2, 0, 4);
    expect_user(1, 4, 12, 8);
}

static void test_longest_name_wins(void **state)
{
    (void)state;
    assert_int_equal(parse("@bob.smith, @bob.smith.", false), 2);
    expect_user(0, 3, 0, 10);
    expect_user(1, 3, 12, 10);
    assert_int_equal(parse("@dave_!", false), 1); /* '_' is part of this name */
    expect_user(0, 5, 0, 6);
}

static void test_unknown_names_and_repeats(void **state)
{
    (void)state;
    /* Non-participants (and names too long for any user) are plain text. */
    assert_int_equal(parse("@mallory @bob @bob, @bob", false), 3);
    expect_user(0, 2, 9, 4);
    expect_user(1, 2, 14, 4);
    expect_user(2, 2, 20, 4);
    assert_int_equal(parse("@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa @bob", false), 1);
    expect_user(0, 2, 41, 4);
}

static void test_sender_never_mentions_themself(void **state)
{
    (void)state;
    struct chat_mention out[4];
    size_t n = chat_mentions_parse("@alice @bob", members, NMEMBERS, 1, false, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].user_id, 2);
    n = chat_mentions_parse("@alice @bob", members, NMEMBERS, 2, false, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].user_id, 1);
}

static void test_all_and_here(void **state)
{
    (void)state;
    assert_int_equal(parse("@all look, @HERE too", true), 2);
    assert_int_equal(found[0].kind, CHAT_MENTION_ALL);
    assert_int_equal(found[0].user_id, 0);
    assert_int_equal(found[0].offset, 0);
    assert_int_equal(found[0].length, 4);
    assert_int_equal(found[1].kind, CHAT_MENTION_HERE);
    assert_int_equal(found[1].offset, 11);
    assert_int_equal(found[1].length, 5);
    /* In a direct chat they are plain words. */
    assert_int_equal(parse("@all @here", false), 0);
    assert_int_equal(parse("@allow @heres", true), 0);
    assert_string_equal(chat_mention_kind_name(CHAT_MENTION_ALL), "all");
    assert_string_equal(chat_mention_kind_name(CHAT_MENTION_HERE), "here");
    assert_string_equal(chat_mention_kind_name(CHAT_MENTION_USER), "user");
}

static void test_offsets_count_utf16_units(void **state)
{
    (void)state;
    /* "é" (2 bytes) and "€" (3 bytes) are one unit each, "😀" (4 bytes) two. */
    assert_int_equal(parse("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 @bob", false), 1);
    expect_user(0, 2, 7, 4);
    /* Punctuation and emoji right before the '@' are boundaries. */
    assert_int_equal(parse("\xf0\x9f\x98\x80@bob \xc2\xab@bob\xc2\xbb \xe2\x80\x94@bob", false), 3);
    expect_user(0, 2, 2, 4);
    expect_user(1, 2, 8, 4);
    expect_user(2, 2, 15, 4);
}

static void test_bounded(void **state)
{
    (void)state;
    char text[CHAT_MENTIONS_MAX * 5 + 64];
    size_t len = 0;
    for (int i = 0; i < CHAT_MENTIONS_MAX + 10; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "@bob ");
    assert_int_equal(parse(text, false), CHAT_MENTIONS_MAX);
    struct chat_mention two[2];
    assert_int_equal(chat_mentions_parse("@bob @bob @bob", members, NMEMBERS, 1, false, two, 2), 2);
}

/* The names a text could mention, joined by spaces. */
static const char *names(const char *text)
{
    static char out[1024];
    struct chat_mention_name got[CHAT_MENTION_NAMES_MAX];
    size_t n = chat_mentions_names(text, got, CHAT_MENTION_NAMES_MAX), len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%.*s", i ? " " : "",
                                (int)got[i].length, got[i].start);
    return out;
}

static void test_candidate_names(void **state)
{
    (void)state;
    assert_string_equal(names("hi @bob and @Carol-X: (@all)"), "bob Carol-X all");
    assert_string_equal(names("@bob.. @x-y- mail@example.com @a@b.c @"), "bob.. bob. bob x-y- x-y");
    assert_string_equal(names("ol\xc3\xa1@bob \xf0\x9f\x98\x80@eve"), "eve");
    assert_string_equal(names("@aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa @bob @bob"), "bob bob");
    /* Every name the parser resolves is among them. */
    const char *text = "@bob.smith. @carol-x- @dave_!";
    assert_string_equal(names(text), "bob.smith. bob.smith carol-x- carol-x dave_");
    assert_int_equal(parse(text, false), 3);
    /* Bounded however many '@' there are. */
    char many[CHAT_MENTION_NAMES_MAX * 6 + 1];
    for (size_t i = 0; i + 6 <= sizeof(many) - 1; i += 6)
        memcpy(many + i, "@a.b. ", 6);
    many[sizeof(many) - 1] = '\0';
    struct chat_mention_name got[CHAT_MENTION_NAMES_MAX + 5];
    assert_int_equal(chat_mentions_names(many, got, CHAT_MENTION_NAMES_MAX + 5),
                     CHAT_MENTION_NAMES_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_mentions),
        cmocka_unit_test(test_word_boundaries),
        cmocka_unit_test(test_punctuation_after_a_name),
        cmocka_unit_test(test_longest_name_wins),
        cmocka_unit_test(test_unknown_names_and_repeats),
        cmocka_unit_test(test_sender_never_mentions_themself),
        cmocka_unit_test(test_all_and_here),
        cmocka_unit_test(test_offsets_count_utf16_units),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_candidate_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
