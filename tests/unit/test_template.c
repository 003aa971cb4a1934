/* Unit tests of the template engine (api/template.c): escaping, paths, blocks, the json
 * filter, error reporting and the bounds. Each test is independent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "handlers.h"
#include "response.h"
#include "template.h"

/* Renders src with the context given as JSON text; returns the rc and leaves the output
 * in *out (caller frees) and the error in err. */
static int render(const char *src, const char *ctx_json, struct strbuf *out, char *err,
                  size_t errlen)
{
    json_object *ctx = ctx_json ? json_tokener_parse(ctx_json) : NULL;
    if (ctx_json)
        assert_non_null(ctx);
    int rc = chat_template_render_string(src, strlen(src), "t.html", NULL, ctx, out, err, errlen);
    json_object_put(ctx);
    return rc;
}

/* Renders and checks the output equals want. */
static void expect_render(const char *src, const char *ctx_json, const char *want)
{
    struct strbuf out = {0};
    char err[256] = "";
    int rc = render(src, ctx_json, &out, err, sizeof(err));
    if (rc != CHAT_OK)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, CHAT_OK);
    assert_string_equal(out.data ? out.data : "", want);
    strbuf_free(&out);
}

/* Renders and checks it fails with an error message containing want. */
static void expect_error(const char *src, const char *want)
{
    struct strbuf out = {0};
    char err[256] = "";
    strbuf_puts(&out, "kept");
    int rc = render(src, "{\"a\": 1, \"list\": [1]}", &out, err, sizeof(err));
    assert_int_equal(rc, CHAT_E_INTERNAL);
    if (!strstr(err, want))
        print_error("error \"%s\" lacks \"%s\"\n", err, want);
    assert_non_null(strstr(err, want));
    /* Nothing of a failed render stays in the output. */
    assert_string_equal(out.data, "kept");
    strbuf_free(&out);
}

static void test_plain_text(void **state)
{
    (void)state;
    expect_render("", NULL, "");
    expect_render("hello { world } %} }}", NULL, "hello { world } %} }}");
}

static void test_escapes_every_special_char(void **state)
{
    (void)state;
    expect_render("{{ s }}", "{\"s\": \"a&b<c>d\\\"e'f\"}", "a&amp;b&lt;c&gt;d&quot;e&#39;f");
}

static void test_attribute_breakout_is_escaped(void **state)
{
    (void)state;
    expect_render("<a title=\"{{ s }}\">", "{\"s\": \"\\\"><script>alert(1)</script>\"}",
                  "<a title=\"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">");
    expect_render("<a title='{{ s }}'>", "{\"s\": \"' onmouseover='x\"}",
                  "<a title='&#39; onmouseover=&#39;x'>");
}

static void test_template_syntax_in_values_is_not_interpreted(void **state)
{
    (void)state;
    expect_render("{{ s }}", "{\"s\": \"{{ t }}{% if x %}\", \"t\": \"no\"}",
                  "{{ t }}{% if x %}");
}

static void test_nested_paths_and_types(void **state)
{
    (void)state;
    const char *ctx = "{\"a\": {\"b\": {\"c\": \"deep\"}}, \"n\": 42, \"neg\": -7, \"t\": true,"
                      " \"f\": false, \"list\": [{\"name\": \"x\"}, {\"name\": \"y\"}]}";
    expect_render("{{ a.b.c }}|{{n}}|{{ neg }}|{{ t }}|{{ f }}", ctx, "deep|42|-7|true|false");
    expect_render("{{ list.1.name }}{{ list.9.name }}", ctx, "y");
    expect_render("{{ a.b }}", ctx, "{&quot;c&quot;:&quot;deep&quot;}");
}

static void test_missing_variables_render_empty(void **state)
{
    (void)state;
    expect_render("[{{ nope }}][{{ a.nope.deeper }}][{{ s.x }}][{{ z }}]",
                  "{\"a\": {}, \"s\": \"str\", \"z\": null}", "[][][][]");
    expect_render("[{{ x }}]", NULL, "[]");
}

static void test_if_else_and_truthiness(void **state)
{
    (void)state;
    const char *ctx = "{\"yes\": 1, \"zero\": 0, \"empty\": \"\", \"s\": \"x\", \"arr\": [],"
                      " \"full\": [0], \"obj\": {}, \"nul\": null, \"f\": false, \"d\": 0.0}";
    struct { const char *var, *want; } cases[] = {
        {"yes", "T"}, {"zero", "F"}, {"empty", "F"}, {"s", "T"}, {"arr", "F"}, {"full", "T"},
        {"obj", "T"}, {"nul", "F"}, {"f", "F"}, {"d", "F"}, {"missing", "F"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char src[128];
        snprintf(src, sizeof(src), "{%% if %s %%}T{%% else %%}F{%% endif %%}", cases[i].var);
        expect_render(src, ctx, cases[i].want);
    }
    expect_render("{% if not yes %}T{% else %}F{% endif %}{% if not nul %}N{% endif %}", ctx,
                  "FN");
    expect_render("{%if yes%}a{%endif%}", ctx, "a");
}

static void test_for_over_arrays(void **state)
{
    (void)state;
    const char *ctx = "{\"users\": [{\"name\": \"<al>\", \"tags\": [\"a\", \"b\"]},"
                      " {\"name\": \"bo\", \"tags\": []}], \"name\": \"outer\", \"obj\": {}}";
    expect_render("{% for u in users %}[{{ u.name }}:{% for t in u.tags %}{{ t }}{% endfor %}]"
                  "{% endfor %}",
                  ctx, "[&lt;al&gt;:ab][bo:]");
    /* The loop variable shadows a top-level key only inside the loop. */
    expect_render("{% for name in users %}{{ name.name }}{% endfor %}{{ name }}", ctx,
                  "&lt;al&gt;bo" "outer");
    /* Not an array: no iterations. */
    expect_render("{% for x in obj %}X{% endfor %}{% for x in missing %}X{% endfor %}", ctx, "");
    expect_render("{% for x in users %}{% if x.tags %}T{% else %}E{% endif %}{% endfor %}", ctx,
                  "TE");
}

static void test_json_filter_is_script_safe(void **state)
{
    (void)state;
    expect_render("{{ v|json }}", "{\"v\": {\"t\": \"</script><!--&x\"}}",
                  "{\"t\":\"\\u003c/script\\u003e\\u003c!--\\u0026x\"}");
    /* U+2028 and U+2029 as raw UTF-8 become escapes; other non-ASCII stays. */
    expect_render("{{ v | json }}", "{\"v\": \"a\\u2028b\\u2029c\\u00e9\"}",
                  "\"a\\u2028b\\u2029c\xc3\xa9\"");
    expect_render("{{ missing|json }}", "{}", "null");
    expect_render("{{ v|json }}", "{\"v\": [1, true, null, \"/\"]}", "[1,true,null,\"/\"]");
}

static void test_comments(void **state)
{
    (void)state;
    expect_render("a{# {{ x }} {% if %} #}b", NULL, "ab");
}

static void test_malformed_templates_report_file_and_line(void **state)
{
    (void)state;
    expect_error("line1\n{{ x", "t.html:2: unclosed {{");
    expect_error("{% if a %}", "unclosed {% if %} (opened at line 1)");
    expect_error("\n\n{% for x in list %}\n", "t.html:4: unclosed {% for %} (opened at line 3)");
    expect_error("{% if a %}{% endfor %}", "unclosed {% if %}");
    expect_error("{% endif %}", "{% endif %} without {% if %}");
    expect_error("{% else %}", "{% else %} outside {% if %}");
    expect_error("{% endfor %}", "without {% for %}");
    expect_error("{% if a %}{% else %}{% else %}{% endif %}", "second {% else %}");
    expect_error("{% bogus %}", "unknown tag");
    expect_error("{% %}", "cannot read tag");
    expect_error("{{ }}", "bad variable");
    expect_error("{{ a b }}", "bad variable");
    expect_error("{{ a..b }}", "bad variable");
    expect_error("{{ a<b }}", "bad variable");
    expect_error("{{ a|safe }}", "unknown filter");
    expect_error("{{ a|json|json }}", "unknown filter");
    expect_error("{% if %}{% endif %}", "if takes one variable");
    expect_error("{% for x of list %}{% endfor %}", "for takes the form");
    expect_error("{% for x.y in list %}{% endfor %}", "for takes the form");
    expect_error("{# never closed", "unclosed {# tag");
    expect_error("{% include \"x.html\" %}", "include is not allowed here");
}

static void test_nul_byte_rejected(void **state)
{
    (void)state;
    struct strbuf out = {0};
    char err[128];
    int rc = chat_template_render_string("a\0b", 3, "t.html", NULL, NULL, &out, err, sizeof(err));
    assert_int_equal(rc, CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "NUL"));
    strbuf_free(&out);
}

static void test_nesting_depth_is_bounded(void **state)
{
    (void)state;
    struct strbuf src = {0};
    struct strbuf out = {0};
    char err[256];

    /* Exactly the limit works. */
    for (int i = 0; i < CHAT_TEMPLATE_MAX_DEPTH; i++)
        strbuf_puts(&src, "{% if a %}");
    strbuf_puts(&src, "x");
    for (int i = 0; i < CHAT_TEMPLATE_MAX_DEPTH; i++)
        strbuf_puts(&src, "{% endif %}");
    assert_int_equal(render(src.data, "{\"a\": 1}", &out, err, sizeof(err)), CHAT_OK);
    assert_string_equal(out.data, "x");
    strbuf_free(&src);
    strbuf_free(&out);

    /* Far past it fails cleanly rather than recursing without bound. */
    for (int i = 0; i < 100000; i++)
        strbuf_puts(&src, "{% for a in a %}");
    assert_int_equal(render(src.data, "{\"a\": 1}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "nesting deeper than"));
    assert_null(out.data);
    strbuf_free(&src);
}

static void test_output_size_is_bounded(void **state)
{
    (void)state;
    struct strbuf out = {0};
    char err[256];
    /* 64 KiB of '<' escapes to 256 KiB; 64 iterations make 16 MiB, past the 8 MiB bound. */
    json_object *ctx = json_object_new_object();
    json_object *list = json_object_new_array();
    char *big = malloc(65536 + 1);
    memset(big, '<', 65536);
    big[65536] = '\0';
    for (int i = 0; i < 64; i++)
        json_object_array_add(list, json_object_new_int(i));
    json_object_object_add(ctx, "list", list);
    json_object_object_add(ctx, "big", json_object_new_string(big));
    free(big);

    const char *src = "{% for i in list %}{{ big }}{% endfor %}";
    int rc = chat_template_render_string(src, strlen(src), "big.html", NULL, ctx, &out, err,
                                         sizeof(err));
    assert_int_equal(rc, CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "output larger than"));
    assert_int_equal(out.len, 0);
    json_object_put(ctx);
    strbuf_free(&out);
}

/* ---- file-based rendering and includes ---- */

static char tmpdir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/chat-tpl-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    write_file("page.html", "<h1>{{ title }}</h1>{% include \"part.html\" %}!");
    write_file("part.html", "{% for x in list %}<i>{{ x }}</i>{% endfor %}");
    write_file("bad_include.html", "a\n{% include \"broken.html\" %}");
    write_file("broken.html", "\n\n{% if x %}");
    write_file("loop.html", "{% include \"loop.html\" %}");
    write_file("escape.html", "{% include \"../etc/passwd\" %}");
    return 0;
}

/* Removes dir/names[i] in order (files before the directories holding them), then dir. */
static void remove_scratch(const char *dir, const char *const *names, size_t count)
{
    char path[256];
    for (size_t i = 0; i < count; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        remove(path);
    }
    rmdir(dir);
}

static int teardown_dir(void **state)
{
    (void)state;
    const char *names[] = {"page.html", "part.html", "bad_include.html", "broken.html",
                           "loop.html", "escape.html"};
    remove_scratch(tmpdir, names, sizeof(names) / sizeof(names[0]));
    return 0;
}

static int render_file(const char *name, const char *ctx_json, struct strbuf *out, char *err,
                       size_t errlen)
{
    json_object *ctx = json_tokener_parse(ctx_json);
    int rc = chat_template_render(tmpdir, name, ctx, out, err, errlen);
    json_object_put(ctx);
    return rc;
}

static void test_file_and_include(void **state)
{
    (void)state;
    struct strbuf out = {0};
    char err[256] = "";
    assert_int_equal(render_file("page.html", "{\"title\": \"T&\", \"list\": [\"<\", 2]}", &out,
                                 err, sizeof(err)),
                     CHAT_OK);
    assert_string_equal(out.data, "<h1>T&amp;</h1><i>&lt;</i><i>2</i>!");
    strbuf_free(&out);
}

static void test_file_errors(void **state)
{
    (void)state;
    struct strbuf out = {0};
    char err[256] = "";

    assert_int_equal(render_file("bad_include.html", "{}", &out, err, sizeof(err)),
                     CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "bad_include.html:2: in include: broken.html:3: unclosed"));

    assert_int_equal(render_file("loop.html", "{}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "nesting deeper than"));

    assert_int_equal(render_file("escape.html", "{}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "plain file name"));

    assert_int_equal(render_file("missing.html", "{}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_non_null(strstr(err, "cannot open"));

    assert_int_equal(render_file("../page.html", "{}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_int_equal(render_file(".hidden", "{}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_int_equal(render_file("", "{}", &out, err, sizeof(err)), CHAT_E_INTERNAL);
    assert_null(out.data);
}

/* ---- the static file handler (api/routes_page.c) ----
 * It needs no database, so it runs here against a scratch directory: a real file, a
 * hidden one, a subdirectory, and symlinks pointing inside and outside. */

static char static_dir[64];

static int static_request(const char *rest, struct chat_response *res)
{
    struct chat_config cfg = {.static_dir = static_dir};
    struct chat_app app = {.cfg = &cfg};
    struct chat_request req = {.method = "GET", .path = "/static/"};
    struct chat_route_args args = {.rest = rest};
    chat_response_init(res);
    return chat_handle_static(&app, &req, res, &args);
}

static void expect_static_404(const char *rest)
{
    struct chat_response res;
    int rc = static_request(rest, &res);
    if (rc != CHAT_E_NOT_FOUND)
        print_error("%s was served\n", rest);
    assert_int_equal(rc, CHAT_E_NOT_FOUND);
    assert_int_equal(res.status, 404);
    assert_null(res.file_path);
    chat_response_free(&res);
}

static int setup_static(void **state)
{
    (void)state;
    char path[256];
    snprintf(static_dir, sizeof(static_dir), "/tmp/chat-static-XXXXXX");
    if (!mkdtemp(static_dir))
        return -1;
    snprintf(path, sizeof(path), "%s/sub", static_dir);
    mkdir(path, 0700);
    const char *files[] = {"app.js", ".secret.js", "sub/x.css", "notes.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", static_dir, files[i]);
        FILE *f = fopen(path, "w");
        if (!f)
            return -1;
        fputs("x", f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/outside.js", static_dir);
    if (symlink("/etc/passwd", path) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/inside.js", static_dir);
    if (symlink("app.js", path) != 0)
        return -1;
    return 0;
}

static int teardown_static(void **state)
{
    (void)state;
    const char *names[] = {"app.js", ".secret.js", "sub/x.css", "notes.txt", "outside.js",
                           "inside.js", "sub"};
    remove_scratch(static_dir, names, sizeof(names) / sizeof(names[0]));
    return 0;
}

static void test_static_serves_files_with_types(void **state)
{
    (void)state;
    struct chat_response res;
    assert_int_equal(static_request("app.js", &res), CHAT_OK);
    assert_int_equal(res.status, 200);
    assert_string_equal(res.content_type, "application/javascript; charset=utf-8");
    assert_non_null(res.file_path);
    assert_non_null(strstr(res.file_path, "/app.js"));
    assert_int_equal(res.file_size, 1);
    chat_response_free(&res);

    assert_int_equal(static_request("sub/x.css", &res), CHAT_OK);
    assert_string_equal(res.content_type, "text/css; charset=utf-8");
    chat_response_free(&res);

    /* A symlink that stays inside is fine. */
    assert_int_equal(static_request("inside.js", &res), CHAT_OK);
    chat_response_free(&res);
}

static void test_static_refuses_escapes(void **state)
{
    (void)state;
    const char *bad[] = {
        "../etc/passwd", "sub/../app.js", "./app.js", ".secret.js", "/etc/passwd.js",
        "sub//x.css", "sub/", "outside.js", "missing.js", "notes.txt", "sub", "app.js/",
        "app.js/x.js", "%2e%2e/x.js", "app\\x.js", "", "sub/.x.css",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_static_404(bad[i]);
}

static void test_root_redirects(void **state)
{
    (void)state;
    struct chat_response res;
    struct chat_request req = {.method = "GET", .path = "/"};
    struct chat_route_args args = {0};
    chat_response_init(&res);
    assert_int_equal(chat_handle_root(NULL, &req, &res, &args), CHAT_OK);
    assert_int_equal(res.status, 302);
    assert_int_equal(res.nheaders, 1);
    assert_string_equal(res.headers[0].name, "Location");
    assert_string_equal(res.headers[0].value, "/chat/");
    chat_response_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text),
        cmocka_unit_test(test_escapes_every_special_char),
        cmocka_unit_test(test_attribute_breakout_is_escaped),
        cmocka_unit_test(test_template_syntax_in_values_is_not_interpreted),
        cmocka_unit_test(test_nested_paths_and_types),
        cmocka_unit_test(test_missing_variables_render_empty),
        cmocka_unit_test(test_if_else_and_truthiness),
        cmocka_unit_test(test_for_over_arrays),
        cmocka_unit_test(test_json_filter_is_script_safe),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_malformed_templates_report_file_and_line),
        cmocka_unit_test(test_nul_byte_rejected),
        cmocka_unit_test(test_nesting_depth_is_bounded),
        cmocka_unit_test(test_output_size_is_bounded),
        cmocka_unit_test(test_file_and_include),
        cmocka_unit_test(test_file_errors),
    };
    const struct CMUnitTest page_tests[] = {
        cmocka_unit_test(test_static_serves_files_with_types),
        cmocka_unit_test(test_static_refuses_escapes),
        cmocka_unit_test(test_root_redirects),
    };
    int failed = cmocka_run_group_tests_name("template", tests, setup_dir, teardown_dir);
    failed += cmocka_run_group_tests_name("routes_page", page_tests, setup_static,
                                          teardown_static);
    return failed;
}
