/* Configuration: defaults, file parsing, bounds, environment overrides, and the example
 * file in etc/ staying in step with the settings table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/chat-config-test-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    struct chat_config cfg;
    char err[256];
    unsetenv("CHAT_HTTP_PORT");
    assert_int_equal(chat_config_load(&cfg, "/dev/null", err, sizeof(err)), 0);
    assert_int_equal(cfg.http_port, 8000);
    assert_int_equal(cfg.push_port, 8001);
    assert_true(cfg.registration_enabled);
    assert_string_equal(cfg.db_name, "chat");
    chat_config_free(&cfg);
}

static void test_file_and_env(void **state)
{
    (void)state;
    struct chat_config cfg;
    char err[256];
    char *path = write_temp("# comment\nhttp_port = 9000\ndb_name = \"other\"\n"
                            "registration_enabled = false\n\n");
    setenv("CHAT_DB_NAME", "fromenv", 1);
    assert_int_equal(chat_config_load(&cfg, path, err, sizeof(err)), 0);
    assert_int_equal(cfg.http_port, 9000);
    assert_string_equal(cfg.db_name, "fromenv");
    assert_false(cfg.registration_enabled);
    chat_config_free(&cfg);
    unsetenv("CHAT_DB_NAME");
    remove(path);
}

static void test_errors(void **state)
{
    (void)state;
    struct chat_config cfg;
    char err[256];
    char *path = write_temp("http_port = 70000\n");
    assert_int_equal(chat_config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "http_port"));
    path = write_temp("no_such_setting = 1\n");
    assert_int_equal(chat_config_load(&cfg, path, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "unknown setting"));
    path = write_temp("http_port\n");
    assert_int_equal(chat_config_load(&cfg, path, err, sizeof(err)), -1);
    path = write_temp("cookie_secure = maybe\n");
    assert_int_equal(chat_config_load(&cfg, path, err, sizeof(err)), -1);
    remove(path);
    assert_int_equal(chat_config_load(&cfg, "/nonexistent/chat.conf", err, sizeof(err)), -1);
    setenv("CHAT_PUSH_PORT", "abc", 1);
    assert_int_equal(chat_config_load(&cfg, "/dev/null", err, sizeof(err)), -1);
    unsetenv("CHAT_PUSH_PORT");
}

static void test_every_default_is_valid(void **state)
{
    (void)state;
    struct chat_config cfg;
    char err[256];
    assert_int_equal(chat_config_load(&cfg, "/dev/null", err, sizeof(err)), 0);
    for (unsigned i = 0; i < chat_settings_count; i++)
        assert_int_equal(chat_config_set(&cfg, chat_settings[i].name, chat_settings[i].default_value,
                                         err, sizeof(err)),
                         0);
    chat_config_free(&cfg);
}

static void test_example_file_matches_table(void **state)
{
    (void)state;
    char *generated = NULL;
    size_t glen = 0;
    FILE *mem = open_memstream(&generated, &glen);
    chat_config_write_example(mem);
    fclose(mem);
    FILE *f = fopen("etc/chat.conf.example", "r");
    assert_non_null(f); /* run from the repository root */
    char *committed = calloc(1, glen + 2);
    size_t n = fread(committed, 1, glen + 1, f);
    fclose(f);
    if (n != glen || memcmp(committed, generated, glen) != 0)
        fail_msg("etc/chat.conf.example is stale: regenerate with "
                 "`build/release/chatctl config example > etc/chat.conf.example`");
    free(committed);
    free(generated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_and_env),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_every_default_is_valid),
        cmocka_unit_test(test_example_file_matches_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
