/* multipart/form-data parsing (api/multipart.c) and the attachment policy
 * (api/attachment_policy.c): content types, filenames, Content-Disposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attachment_policy.h"
#include "errors.h"
#include "multipart.h"

static struct chat_multipart_part parts[CHAT_MULTIPART_MAX_PARTS];

static int parse(const char *body, const char *boundary, size_t *n)
{
    return chat_multipart_parse(body, strlen(body), boundary, parts, CHAT_MULTIPART_MAX_PARTS, n);
}

static void test_boundary(void **state)
{
    (void)state;
    char b[CHAT_MULTIPART_BOUNDARY_MAX + 1];
    assert_int_equal(chat_multipart_boundary("multipart/form-data; boundary=abc", b), CHAT_OK);
    assert_string_equal(b, "abc");
    assert_int_equal(chat_multipart_boundary("Multipart/Form-Data;charset=x; boundary=\"a b;c\"", b),
                     CHAT_OK);
    assert_string_equal(b, "a b;c");
    assert_int_equal(chat_multipart_boundary("multipart/form-data", b), CHAT_E_BAD_REQUEST);
    assert_int_equal(chat_multipart_boundary("multipart/form-data; boundary=", b),
                     CHAT_E_BAD_REQUEST);
    assert_int_equal(chat_multipart_boundary("multipart/form-data; boundary=\"abc", b),
                     CHAT_E_BAD_REQUEST);
    assert_int_equal(chat_multipart_boundary("multipart/mixed; boundary=abc", b),
                     CHAT_E_BAD_REQUEST);
    assert_int_equal(chat_multipart_boundary("application/json", b), CHAT_E_BAD_REQUEST);
    char longer[128] = "multipart/form-data; boundary=";
    memset(longer + strlen(longer), 'x', 71);
    assert_int_equal(chat_multipart_boundary(longer, b), CHAT_E_BAD_REQUEST);
    longer[strlen(longer) - 1] = '\0'; /* exactly 70 */
    assert_int_equal(chat_multipart_boundary(longer, b), CHAT_OK);
    assert_int_equal(strlen(b), 70);
}

static void test_two_parts(void **state)
{
    (void)state;
    size_t n;
    const char *body = "preamble\r\n--XY\r\n"
                       "Content-Disposition: form-data; name=\"note\"\r\n\r\n"
                       "hello\r\n"
                       "--XY\r\n"
                       "content-disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".txt\"\r\n"
                       "Content-Type: text/plain\r\n\r\n"
                       "line1\r\n--X not a delimiter\r\n"
                       "\r\n--XY--\r\nepilogue";
    assert_int_equal(parse(body, "XY", &n), CHAT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(parts[0].name, "note");
    assert_false(parts[0].has_filename);
    assert_int_equal(parts[0].len, 5);
    assert_memory_equal(parts[0].data, "hello", 5);
    assert_string_equal(parts[1].name, "file");
    assert_true(parts[1].has_filename);
    assert_string_equal(parts[1].filename, "a \"b\".txt");
    assert_string_equal(parts[1].content_type, "text/plain");
    const char *want = "line1\r\n--X not a delimiter\r\n";
    assert_int_equal(parts[1].len, strlen(want));
    assert_memory_equal(parts[1].data, want, strlen(want));
}

static void test_binary_content_and_filename_star(void **state)
{
    (void)state;
    size_t n;
    char body[256];
    int len = snprintf(body, sizeof(body),
                       "--b\r\nContent-Disposition: form-data; name=f; filename=\"plain.txt\"; "
                       "filename*=UTF-8''%%C3%%A9t%%C3%%A9.txt\r\n\r\n");
    memcpy(body + len, "\0\1\r\n\2", 5);
    memcpy(body + len + 5, "\r\n--b--", 7);
    assert_int_equal(chat_multipart_parse(body, (size_t)len + 12, "b", parts, 4, &n), CHAT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(parts[0].filename, "\xC3\xA9t\xC3\xA9.txt");
    assert_int_equal(parts[0].len, 5);
    assert_memory_equal(parts[0].data, "\0\1\r\n\2", 5);
    assert_string_equal(parts[0].content_type, "");
}

static void test_malformed(void **state)
{
    (void)state;
    size_t n;
    /* No delimiter, truncated part, missing header end, garbage after a delimiter. */
    assert_int_equal(parse("nothing here", "b", &n), CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--b\r\nContent-Type: x\r\n\r\nabc", "b", &n), CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--b\r\nContent-Type: x\r\nabc\r\n--b--", "b", &n), CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--bXYZ\r\n\r\nabc\r\n--b--", "b", &n), CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--b--", "b", &n), CHAT_E_BAD_REQUEST); /* no parts */
    assert_int_equal(parse("--b\r\nNoColonHere\r\n\r\nabc\r\n--b--", "b", &n), CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--b\r\nContent-Disposition: form-data; filename=\"x\r\n\r\nabc\r\n--b--",
                           "b", &n),
                     CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--b\r\nContent-Disposition: form-data; filename*=latin1''x\r\n\r\n"
                           "abc\r\n--b--", "b", &n),
                     CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("", "b", &n), CHAT_E_BAD_REQUEST);
    assert_int_equal(parse("--b\r\n\r\nabc\r\n--b--", "", &n), CHAT_E_BAD_REQUEST);
}

static void test_limits(void **state)
{
    (void)state;
    size_t n;
    /* Too many parts. */
    char many[1024] = "";
    for (int i = 0; i < CHAT_MULTIPART_MAX_PARTS + 1; i++)
        strcat(many, "--b\r\n\r\nx\r\n");
    strcat(many, "--b--");
    assert_int_equal(parse(many, "b", &n), CHAT_E_BAD_REQUEST);
    /* A header block over the bound. */
    size_t big = CHAT_MULTIPART_HEADERS_MAX + 100;
    char *body = malloc(big + 64);
    assert_non_null(body);
    strcpy(body, "--b\r\nX-Pad: ");
    size_t at = strlen(body);
    memset(body + at, 'a', big);
    strcpy(body + at + big, "\r\n\r\nabc\r\n--b--");
    assert_int_equal(parse(body, "b", &n), CHAT_E_BAD_REQUEST);
    free(body);
    /* A filename over the bound is an error, not cut. */
    char name[CHAT_MULTIPART_FILENAME_MAX + 200];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    char *b2 = malloc(sizeof(name) + 128);
    assert_non_null(b2);
    sprintf(b2, "--b\r\nContent-Disposition: form-data; filename=\"%s\"\r\n\r\nx\r\n--b--", name);
    assert_int_equal(parse(b2, "b", &n), CHAT_E_BAD_REQUEST);
    free(b2);
}

static void test_content_types(void **state)
{
    (void)state;
    char t[128];
    assert_true(chat_content_type_normalize(" Image/PNG ; charset=x", t, sizeof(t)));
    assert_string_equal(t, "image/png");
    assert_false(chat_content_type_normalize("image", t, sizeof(t)));
    assert_false(chat_content_type_normalize("image/", t, sizeof(t)));
    assert_false(chat_content_type_normalize("/png", t, sizeof(t)));
    assert_false(chat_content_type_normalize("a/b/c", t, sizeof(t)));
    assert_false(chat_content_type_normalize("text/plain garbage", t, sizeof(t)));
    assert_false(chat_content_type_normalize("", t, sizeof(t)));
    assert_false(chat_content_type_normalize(NULL, t, sizeof(t)));
    assert_false(chat_content_type_normalize("image/png", t, 5));

    const char *allow = "image/* text/plain application/pdf";
    assert_true(chat_content_type_allowed("image/svg+xml", allow));
    assert_true(chat_content_type_allowed("text/plain", allow));
    assert_false(chat_content_type_allowed("text/plainx", allow));
    assert_false(chat_content_type_allowed("text/html", allow));
    assert_false(chat_content_type_allowed("imagex/png", allow));
    assert_true(chat_content_type_allowed("text/html", "*/*"));
    assert_false(chat_content_type_allowed("text/html", ""));

    bool inl;
    assert_string_equal(chat_content_type_served("image/png", &inl), "image/png");
    assert_true(inl);
    assert_string_equal(chat_content_type_served("text/plain", &inl), "text/plain");
    assert_false(inl);
    assert_string_equal(chat_content_type_served("video/mp4", &inl), "video/mp4");
    assert_string_equal(chat_content_type_served("image/svg+xml", &inl), "application/octet-stream");
    assert_false(inl);
    assert_string_equal(chat_content_type_served("text/html", &inl), "application/octet-stream");
    assert_string_equal(chat_content_type_served("application/xhtml+xml", &inl),
                        "application/octet-stream");
    assert_string_equal(chat_content_type_served("x/unknown", &inl), "application/octet-stream");
}

static void test_filenames(void **state)
{
    (void)state;
    char out[10 * 4 + 1];
    assert_true(chat_filename_sanitize("../../etc/passwd", out, 10));
    assert_string_equal(out, "passwd");
    assert_true(chat_filename_sanitize("C:\\Users\\x\\a\tb.txt", out, 10));
    assert_string_equal(out, "ab.txt");
    assert_true(chat_filename_sanitize("..", out, 10));
    assert_string_equal(out, "file");
    assert_true(chat_filename_sanitize("dir/", out, 10));
    assert_string_equal(out, "file");
    assert_true(chat_filename_sanitize(" .bashrc ", out, 10));
    assert_string_equal(out, "bashrc");
    assert_true(chat_filename_sanitize("x\xE2\x80\xAEtxt.exe", out, 10));
    assert_string_equal(out, "xtxt.exe");
    /* Cut at 10 characters, never inside one. */
    assert_true(chat_filename_sanitize("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                                       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", out, 10));
    assert_int_equal(strlen(out), 20);
    assert_false(chat_filename_sanitize("bad\xFF", out, 10));
}

static void test_disposition(void **state)
{
    (void)state;
    char cd[512];
    chat_content_disposition("r\xC3\xA9sum\xC3\xA9 \"1\".pdf", false, cd, sizeof(cd));
    assert_string_equal(cd, "attachment; filename=\"r_sum_ _1_.pdf\"; "
                            "filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22.pdf");
    chat_content_disposition("a;b.png", true, cd, sizeof(cd));
    assert_string_equal(cd, "inline; filename=\"a;b.png\"; filename*=UTF-8''a%3Bb.png");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),       cmocka_unit_test(test_two_parts),
        cmocka_unit_test(test_binary_content_and_filename_star),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_limits),
        cmocka_unit_test(test_content_types),  cmocka_unit_test(test_filenames),
        cmocka_unit_test(test_disposition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
