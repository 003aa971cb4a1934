/* Unit tests of the avatar image check (api/image_sniff.c): each accepted format by its
 * signature, and what must not pass for an image whatever the client declares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "image_sniff.h"

static const char *sniff(const char *bytes, size_t len)
{
    return chat_image_sniff(bytes, len);
}

static void test_each_format_by_its_signature(void **state)
{
    (void)state;
    assert_string_equal(sniff("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16), "image/png");
    assert_string_equal(sniff("\xff\xd8\xff\xe0\0\x10JFIF", 10), "image/jpeg");
    assert_string_equal(sniff("GIF87a\1\0\1\0", 10), "image/gif");
    assert_string_equal(sniff("GIF89a\1\0\1\0", 10), "image/gif");
    assert_string_equal(sniff("RIFF\x24\0\0\0WEBPVP8 ", 16), "image/webp");
}

static void test_refusals(void **state)
{
    (void)state;
    assert_null(chat_image_sniff(NULL, 0));
    assert_null(sniff("", 0));
    assert_null(sniff("<svg xmlns='http://www.w3.org/2000/svg'/>", 41));
    assert_null(sniff("<html><script>", 14));
    assert_null(sniff("\x89PNG\r\n\x1a", 7));     /* cut short */
    assert_null(sniff("\xff\xd8", 2));
    assert_null(sniff("GIF88a", 6));
    assert_null(sniff("RIFF\x24\0\0\0WAVEfmt ", 16)); /* RIFF, but audio */
    assert_null(sniff("RIFF\x24\0\0\0WEB", 11));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_format_by_its_signature),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
