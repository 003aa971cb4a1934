/* The session cache (api/session_cache.c): an entry answers only for its own token, only
 * within the TTL (the revocation bound), and is forgotten on demand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../api/session_cache.h"

static struct chat_session_cache cache;

static void hash_of(unsigned char h[CHAT_TOKEN_HASH_BYTES], const char *token)
{
    chat_token_hash(token, strlen(token), h);
}

static void test_hit_within_ttl_only(void **state)
{
    (void)state;
    memset(&cache, 0, sizeof(cache));
    unsigned char h[CHAT_TOKEN_HASH_BYTES];
    hash_of(h, "token-one");
    assert_null(chat_session_cache_get(&cache, h, 5000, 1000));
    chat_session_cache_put(&cache, h, &(struct chat_session_entry){.user_id = 7, .session_id = 70}, "csrf-seven", "pt-BR", 5000);
    const struct chat_session_entry *e = chat_session_cache_get(&cache, h, 5000, 1000);
    assert_non_null(e);
    assert_int_equal(e->user_id, 7);
    assert_int_equal(e->session_id, 70);
    assert_string_equal(e->csrf, "csrf-seven");
    assert_string_equal(e->locale, "pt-BR");
    assert_non_null(chat_session_cache_get(&cache, h, 6000, 1000));
    assert_null(chat_session_cache_get(&cache, h, 6001, 1000)); /* past the bound */
    assert_null(chat_session_cache_get(&cache, h, 5500, 0));    /* cache off */
    assert_null(chat_session_cache_get(&cache, h, 4999, 1000)); /* clock went back */
}

static void test_other_tokens_never_match(void **state)
{
    (void)state;
    memset(&cache, 0, sizeof(cache));
    unsigned char a[CHAT_TOKEN_HASH_BYTES], b[CHAT_TOKEN_HASH_BYTES];
    hash_of(a, "token-a");
    memcpy(b, a, sizeof(b));
    b[CHAT_TOKEN_HASH_BYTES - 1] ^= 1; /* same slot, another token */
    chat_session_cache_put(&cache, a, &(struct chat_session_entry){.user_id = 1, .session_id = 10}, "x", "pt-BR", 100);
    assert_null(chat_session_cache_get(&cache, b, 100, 1000));
    chat_session_cache_put(&cache, b, &(struct chat_session_entry){.user_id = 2, .session_id = 20}, "y", "pt-BR", 200); /* takes the slot */
    assert_null(chat_session_cache_get(&cache, a, 200, 1000));
    assert_int_equal(chat_session_cache_get(&cache, b, 200, 1000)->user_id, 2);
}

static void test_forget(void **state)
{
    (void)state;
    memset(&cache, 0, sizeof(cache));
    unsigned char h[3][CHAT_TOKEN_HASH_BYTES];
    const char *tokens[3] = {"t0", "t1", "t2"};
    for (int i = 0; i < 3; i++)
        hash_of(h[i], tokens[i]);
    /* Distinct slots for the test (the first hash byte picks the slot). */
    assert_true(h[0][0] != h[1][0] && h[1][0] != h[2][0] && h[0][0] != h[2][0]);
    chat_session_cache_put(&cache, h[0], &(struct chat_session_entry){.user_id = 5, .session_id = 1}, "a", "pt-BR", 10);
    chat_session_cache_put(&cache, h[1], &(struct chat_session_entry){.user_id = 5, .session_id = 2}, "b", "pt-BR", 10);
    chat_session_cache_put(&cache, h[2], &(struct chat_session_entry){.user_id = 6, .session_id = 3}, "c", "pt-BR", 10);
    chat_session_cache_forget(&cache, h[0]);
    assert_null(chat_session_cache_get(&cache, h[0], 10, 1000));
    assert_non_null(chat_session_cache_get(&cache, h[1], 10, 1000));
    chat_session_cache_forget_user(&cache, 5);
    assert_null(chat_session_cache_get(&cache, h[1], 10, 1000));
    assert_non_null(chat_session_cache_get(&cache, h[2], 10, 1000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_within_ttl_only),
        cmocka_unit_test(test_other_tokens_never_match),
        cmocka_unit_test(test_forget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
