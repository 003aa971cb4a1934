/* Message catalogs (shared/i18n.c): the repository's i18n/ loads, every locale has the
 * same keys and placeholders as English, every key the page's script, the templates and
 * the C sources name is in it, a catalog that differs is refused with the key named,
 * and the locale choice from the user's setting and Accept-Language. The unit tests run
 * from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "i18n.h"
#include "strbuf.h"

#define MAX_SOURCE (2 * 1024 * 1024)

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(MAX_SOURCE + 1);
    size_t n = fread(buf, 1, MAX_SOURCE, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void load_repository(void)
{
    char err[512] = "";
    int rc = chat_i18n_load("i18n", err, sizeof(err));
    if (rc != 0)
        print_message("i18n/: %s\n", err);
    assert_int_equal(rc, 0);
}

static void test_repository_catalogs_load_with_every_error_code(void **state)
{
    (void)state;
    load_repository();
    assert_true(chat_i18n_key_count() > 0);
    int missing = 0;
    for (int i = 0; i < CHAT_ERR_INDEX_COUNT; i++) {
        char key[96];
        snprintf(key, sizeof(key), "error.%s", chat_err_code(-1 - i));
        for (int l = 0; l < CHAT_LOCALE_COUNT; l++)
            if (!chat_i18n_text((enum chat_locale)l, key)) {
                print_message("%s misses %s\n", chat_i18n_locale_tag((enum chat_locale)l), key);
                missing++;
            }
    }
    assert_int_equal(missing, 0);
    /* Translated, not copied: the common texts differ from English. */
    assert_string_not_equal(chat_i18n_text(CHAT_LOCALE_PT_BR, "error.not_found"),
                            chat_i18n_text(CHAT_LOCALE_EN, "error.not_found"));
    assert_string_not_equal(chat_i18n_text(CHAT_LOCALE_ES, "error.not_found"),
                            chat_i18n_text(CHAT_LOCALE_EN, "error.not_found"));
    chat_i18n_free();
}

/* The first segments of the loaded keys ("error", "page", ...), for telling a key
 * literal in C from other dotted strings. */
static bool is_area(const char *key, size_t seg_len)
{
    json_object *cat = chat_i18n_catalog_json(CHAT_LOCALE_EN);
    bool found = false;
    json_object_object_foreach(cat, k, v) {
        (void)v;
        if (strncmp(k, key, seg_len) == 0 && k[seg_len] == '.') {
            found = true;
            break;
        }
    }
    json_object_put(cat);
    return found;
}

static int check_key(const char *file, const char *key, size_t len, const char *suffix)
{
    char k[CHAT_I18N_KEY_MAX + 16];
    if (len >= CHAT_I18N_KEY_MAX) {
        print_message("%s: key too long: %.*s\n", file, (int)len, key);
        return 1;
    }
    snprintf(k, sizeof(k), "%.*s%s", (int)len, key, suffix);
    if (chat_i18n_text(CHAT_LOCALE_EN, k))
        return 0;
    print_message("%s uses '%s', which i18n/ lacks\n", file, k);
    return 1;
}

static bool ident(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

static size_t key_len(const char *s)
{
    size_t n = 0;
    while (ident(s[n]) || s[n] == '.')
        n++;
    return n;
}

/* t("key") and tn("key", n) in a script: each key (tn: key.other) must exist. */
static int scan_script(const char *file, const char *src)
{
    int missing = 0;
    for (const char *p = src; (p = strstr(p, "t")) != NULL; p++) {
        if (p > src && (ident(p[-1]) || p[-1] == '.'))
            continue;
        bool plural = p[1] == 'n';
        const char *q = p + 1 + plural;
        if (*q != '(' || (q[1] != '"' && q[1] != '\''))
            continue;
        size_t n = key_len(q + 2);
        if (q[2 + n] != q[1])
            continue; /* not a plain literal key (a template string, a concatenation) */
        missing += check_key(file, q + 2, n, plural ? ".other" : "");
    }
    return missing;
}

/* {{ t.key }} and {% if t.key %} in a template. */
static int scan_template(const char *file, const char *src)
{
    int missing = 0;
    for (const char *p = src; (p = strstr(p, " t.")) != NULL; p++) {
        const char *k = p + 3;
        size_t n = key_len(k);
        missing += check_key(file, k, n, "");
    }
    return missing;
}

/* Every C string literal that is a whole key of a catalog area ("error.search.q", ...),
 * but the header names of #include lines ("mentions.h" is a file, not a key of the
 * mentions area). */
static int scan_c(const char *file, const char *src)
{
    int missing = 0;
    for (const char *p = src; (p = strchr(p, '"')) != NULL;) {
        bool include = p - src >= 9 && memcmp(p - 9, "#include ", 9) == 0;
        const char *k = p + 1;
        size_t n = key_len(k);
        p = k + n;
        if (*p != '"')
            continue;
        p++;
        char key[CHAT_I18N_KEY_MAX + 1];
        if (n == 0 || n > CHAT_I18N_KEY_MAX)
            continue;
        memcpy(key, k, n);
        key[n] = '\0';
        size_t seg = strcspn(key, ".");
        if (!include && chat_i18n_key_valid(key) && is_area(key, seg))
            missing += check_key(file, k, n, "");
    }
    return missing;
}

/* Appends word to the space-separated list in out (dropped when it does not fit). */
static void append_word(char *out, size_t outlen, const char *word)
{
    size_t used = strlen(out), len = strlen(word);
    if (used + len + 2 > outlen)
        return;
    if (used)
        out[used++] = ' ';
    memcpy(out + used, word, len + 1);
}

/* The sorted, space-joined {name}s of text. */
static void placeholder_names(const char *text, char *out, size_t outlen)
{
    char names[32][64];
    size_t n = 0;
    for (const char *p = strchr(text, '{'); p && n < 32; p = strchr(p + 1, '{')) {
        size_t len = 0;
        while (ident(p[1 + len]))
            len++;
        if (len && len < 64 && p[1 + len] == '}') {
            memcpy(names[n], p + 1, len);
            names[n++][len] = '\0';
        }
    }
    qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            append_word(out, outlen, names[i]);
}

/* chat_detail_printf(detail, len, "key", "name=%s" CHAT_DETAIL_SEP "max=%d", ...): the
 * names given must be the placeholders of the key's English text. */
static int scan_detail_calls(const char *file, const char *src)
{
    int wrong = 0;
    for (const char *p = src; (p = strstr(p, "chat_detail_printf(")) != NULL; p++) {
        const char *q = p + strlen("chat_detail_printf(");
        for (int commas = 0; *q && commas < 2; q++)
            commas += *q == ',';
        while (*q == ' ' || *q == '\n')
            q++;
        if (*q != '"')
            continue; /* a key chosen at run time (json_util.c's type_key) */
        size_t klen = key_len(q + 1);
        char key[CHAT_I18N_KEY_MAX + 1];
        if (q[1 + klen] != '"' || klen > CHAT_I18N_KEY_MAX)
            continue;
        memcpy(key, q + 1, klen);
        key[klen] = '\0';
        const char *text = chat_i18n_text(CHAT_LOCALE_EN, key);
        if (!text)
            continue; /* scan_c reports it */
        /* The names: every "name=" at the start of a literal piece after the key. */
        char given[512] = "", want[512];
        const char *end = strchr(q + 2 + klen, ')');
        char names[32][64];
        size_t n = 0;
        for (const char *r = q + 2 + klen; r && r < end && n < 32; r = strchr(r + 1, '"')) {
            if (r[-1] == '\\' || r[1] == ',' || r[1] == ')' || r[1] == ' ')
                continue;
            size_t len = 0;
            while (ident(r[1 + len]))
                len++;
            if (len && len < 64 && r[1 + len] == '=') {
                memcpy(names[n], r + 1, len);
                names[n++][len] = '\0';
            }
        }
        qsort(names, n, sizeof(names[0]), (int (*)(const void *, const void *))strcmp);
        for (size_t i = 0; i < n; i++)
            append_word(given, sizeof(given), names[i]);
        placeholder_names(text, want, sizeof(want));
        if (strcmp(given, want) != 0) {
            print_message("%s: %s is given {%s}, its text has {%s}\n", file, key, given, want);
            wrong++;
        }
    }
    return wrong;
}

static int scan_c_all(const char *file, const char *src)
{
    return scan_c(file, src) + scan_detail_calls(file, src);
}

static int scan_dir(const char *dir, const char *ext, int (*scan)(const char *, const char *))
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int missing = 0, files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), e = strlen(ext);
        if (n <= e || strcmp(de->d_name + n - e, ext) != 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        char *src = read_all(path);
        assert_non_null(src);
        missing += scan(path, src);
        free(src);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
    return missing;
}

static void test_every_key_the_code_names_is_in_the_catalogs(void **state)
{
    (void)state;
    load_repository();
    int missing = scan_dir("static", ".js", scan_script) +
                  scan_dir("templates", ".html", scan_template) +
                  scan_dir("api", ".c", scan_c_all) + scan_dir("shared", ".c", scan_c_all) +
                  scan_dir("httpd", ".c", scan_c_all) + scan_dir("push", ".c", scan_c_all);
    assert_int_equal(missing, 0);
    chat_i18n_free();
}

static void test_the_scanners_find_a_missing_key(void **state)
{
    (void)state;
    load_repository();
    assert_int_equal(scan_script("x.js", "el.textContent = t(\"page.login_heading\");"), 0);
    assert_int_equal(scan_script("x.js", "a(t('page.no_such_key_here'), tn(\"page.nope\", 2))"), 2);
    assert_int_equal(scan_script("x.js", "x.t(\"a.b\"); t(`error.${code}`); format(\"page.x\")"), 0);
    assert_int_equal(scan_template("x.html", "<h1>{{ t.page.login_heading }}</h1>"), 0);
    assert_int_equal(scan_template("x.html", "<h1>{{ t.page.gone_missing }}</h1>"), 1);
    assert_int_equal(scan_c("x.c", "chat_fail(req, res, rc, \"error.profile.locale_unknown\");"), 0);
    assert_int_equal(scan_c("x.c", "chat_fail(req, res, rc, \"error.profile.nope\"); \"u.id\""), 1);
    assert_int_equal(scan_c("x.c", "#include \"error.h\"\nx = \"error.nope\";"), 1);
    assert_int_equal(scan_detail_calls("x.c", "chat_detail_printf(d, n, \"error.search.q_length\", "
                                              "\"max=%d\", 5);"), 0);
    assert_int_equal(scan_detail_calls("x.c", "chat_detail_printf(d, n, \"error.search.q_length\", "
                                              "\"limit=%d\", 5);"), 1);
    assert_int_equal(scan_detail_calls("x.c", "chat_detail_printf(d, n, \"error.search.q_length\", "
                                              "NULL);"), 1);
    assert_int_equal(scan_detail_calls("x.c", "chat_detail_printf(d, n, \"error.json.field_too_long\",\n"
                                              "  \"name=%s\" CHAT_DETAIL_SEP \"max=%zu\", a, b);"), 0);
    chat_i18n_free();
}

/* ---- refusing catalogs that differ ---- */

static char tmpdir[64];

static void write_file(const char *locale, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, locale);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s/%s", tmpdir, locale, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_tree(void)
{
    const char *locales[] = {"en", "pt-BR", "es"};
    for (int i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", tmpdir, locales[i]);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char file[512];
            snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
            unlink(file);
        }
        closedir(d);
        rmdir(path);
    }
    rmdir(tmpdir);
}

/* Writes the three locales (a.json each; extra for one file more in en), loads, and
 * expects failure with want in the message, or success when want is NULL. */
static void expect_load(const char *en, const char *pt, const char *es, const char *extra,
                        const char *want)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/chat-i18n-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    write_file("en", "a.json", en);
    write_file("pt-BR", "a.json", pt);
    write_file("es", "a.json", es);
    if (extra)
        write_file("en", "b.json", extra);
    char err[512] = "";
    int rc = chat_i18n_load(tmpdir, err, sizeof(err));
    remove_tree();
    if (!want) {
        if (rc != 0)
            print_message("unexpected: %s\n", err);
        assert_int_equal(rc, 0);
        return;
    }
    if (!strstr(err, want))
        print_message("wanted '%s' in '%s'\n", want, err);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, want));
}

static void test_catalogs_that_differ_are_refused(void **state)
{
    (void)state;
    const char *en = "{\"a.x\": \"Hello {name}\", \"a.y\": \"Bye\"}";
    expect_load(en, "{\"a.x\": \"Olá {name}\", \"a.y\": \"Tchau\"}",
                "{\"a.x\": \"Hola {name}\", \"a.y\": \"Adiós\"}", NULL, NULL);
    /* A locale misses a key, or has one more. */
    expect_load(en, "{\"a.x\": \"Olá {name}\"}", "{\"a.x\": \"Hola {name}\", \"a.y\": \"Adiós\"}",
                NULL, "pt-BR misses key 'a.y'");
    expect_load(en, "{\"a.x\": \"Olá {name}\", \"a.y\": \"Tchau\"}",
                "{\"a.x\": \"Hola {name}\", \"a.y\": \"Adiós\", \"a.z\": \"Más\"}", NULL,
                "es has key 'a.z' that en does not");
    /* A translation with other placeholders. */
    expect_load(en, "{\"a.x\": \"Olá {nome}\", \"a.y\": \"Tchau\"}",
                "{\"a.x\": \"Hola {name}\", \"a.y\": \"Adiós\"}", NULL,
                "pt-BR: 'a.x' has placeholders {nome}, en has {name}");
    /* One key in two files of a locale; a key that is another's prefix. */
    expect_load(en, "{\"a.x\": \"Olá {name}\", \"a.y\": \"Tchau\"}",
                "{\"a.x\": \"Hola {name}\", \"a.y\": \"Adiós\"}", "{\"a.y\": \"Again\"}",
                "en: key 'a.y' is in two files");
    expect_load("{\"a.x\": \"1\", \"a.x.y\": \"2\"}", "{\"a.x\": \"1\"}", "{\"a.x\": \"1\"}", NULL,
                "key 'a.x' is a prefix of 'a.x.y'");
    /* Malformed files. */
    expect_load("{\"a.x\": 1}", "{}", "{}", NULL, "'a.x' is not a string");
    expect_load("{\"a x\": \"1\"}", "{}", "{}", NULL, "'a x' is not a key");
    expect_load("{\"nodot\": \"1\"}", "{}", "{}", NULL, "'nodot' is not a key");
    expect_load("[\"a.x\"]", "{}", "{}", NULL, "not a JSON object");
    expect_load("{\"a.x\": \"1\",}", "{}", "{}", NULL, "not a JSON object");
    chat_i18n_free();
}

static void test_a_refused_load_keeps_the_catalogs_in_use(void **state)
{
    (void)state;
    load_repository();
    const char *before = chat_i18n_text(CHAT_LOCALE_ES, "error.not_found");
    assert_non_null(before);
    char err[256];
    assert_int_equal(chat_i18n_load("/nonexistent-i18n", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent-i18n/en"));
    assert_ptr_equal(chat_i18n_text(CHAT_LOCALE_ES, "error.not_found"), before);
    chat_i18n_free();
    assert_null(chat_i18n_text(CHAT_LOCALE_ES, "error.not_found"));
}

/* ---- locale choice ---- */

static void test_negotiation(void **state)
{
    (void)state;
    struct {
        const char *setting, *header;
        enum chat_locale want;
    } cases[] = {
        {NULL, NULL, CHAT_LOCALE_EN},
        {"", "", CHAT_LOCALE_EN},
        {NULL, "es", CHAT_LOCALE_ES},
        {NULL, "pt-BR", CHAT_LOCALE_PT_BR},
        {NULL, "PT-br", CHAT_LOCALE_PT_BR},
        {NULL, "pt", CHAT_LOCALE_PT_BR},
        {NULL, "pt-PT,en;q=0.5", CHAT_LOCALE_PT_BR},
        {NULL, "es-MX,es;q=0.9", CHAT_LOCALE_ES},
        {NULL, "en-GB", CHAT_LOCALE_EN},
        /* q-values, not order, decide; ties go to the first. */
        {NULL, "en;q=0.3, es;q=0.8, pt-BR;q=0.5", CHAT_LOCALE_ES},
        {NULL, "es;q=0.5, pt-BR;q=0.5", CHAT_LOCALE_ES},
        {NULL, "de, es;q=0.2", CHAT_LOCALE_ES},
        {NULL, "es;q=0, pt-BR;q=0.1", CHAT_LOCALE_PT_BR},
        {NULL, "es;q=0", CHAT_LOCALE_EN},
        {NULL, "fr, de", CHAT_LOCALE_EN},
        {NULL, "*", CHAT_LOCALE_EN},
        {NULL, "es;q=0.001", CHAT_LOCALE_ES},
        /* Malformed entries are skipped, not taken. */
        {NULL, "es;q=2, pt-BR;q=0.1", CHAT_LOCALE_PT_BR},
        {NULL, "es;q=0.1234, pt-BR;q=0.1", CHAT_LOCALE_PT_BR},
        {NULL, "es;x=1", CHAT_LOCALE_EN},
        {NULL, ",,;;,=", CHAT_LOCALE_EN},
        /* The user's setting first; an unknown setting falls through to the header. */
        {"pt-BR", "es", CHAT_LOCALE_PT_BR},
        {"es", NULL, CHAT_LOCALE_ES},
        {"xx", "es", CHAT_LOCALE_ES},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum chat_locale got = chat_i18n_negotiate(cases[i].setting, cases[i].header);
        if (got != cases[i].want)
            print_message("setting %s, Accept-Language '%s': got %s\n",
                          cases[i].setting ? cases[i].setting : "(none)",
                          cases[i].header ? cases[i].header : "(none)", chat_i18n_locale_tag(got));
        assert_int_equal(got, cases[i].want);
    }
    /* A long header is read only as far as CHAT_ACCEPT_LANGUAGE_MAX. */
    char big[4 * CHAT_ACCEPT_LANGUAGE_MAX];
    memset(big, 'x', sizeof(big) - 4);
    memcpy(big + sizeof(big) - 4, ",es", 4);
    assert_int_equal(chat_i18n_negotiate(NULL, big), CHAT_LOCALE_EN);
    assert_int_equal(chat_i18n_locale_from_tag("PT-BR"), CHAT_LOCALE_PT_BR);
    assert_int_equal(chat_i18n_locale_from_tag("pt"), -1);
    assert_int_equal(chat_i18n_locale_from_tag(""), -1);
    assert_string_equal(chat_i18n_locale_tag(CHAT_LOCALE_PT_BR), "pt-BR");
}

static void test_format_fills_placeholders(void **state)
{
    (void)state;
    struct strbuf b = {0};
    json_object *p = json_object_new_object();
    json_object_object_add(p, "name", json_object_new_string("Ana"));
    json_object_object_add(p, "count", json_object_new_int(3));
    chat_i18n_format(&b, "{name} has {count} new, {missing} and {not a name} {", p);
    assert_string_equal(b.data, "Ana has 3 new, {missing} and {not a name} {");
    b.len = 0;
    chat_i18n_format(&b, "no params {x}", NULL);
    assert_string_equal(b.data, "no params {x}");
    strbuf_free(&b);
    json_object_put(p);
}

/* The text of an error detail in each locale: a key with values, a plain key, a sentence
 * (sent as it is), a key the catalogs lack and no detail (both the text of
 * error.<code>). */
static void test_error_details_in_each_locale(void **state)
{
    (void)state;
    load_repository();
    char detail[160];
    struct strbuf b = {0};
    chat_detail_printf(detail, sizeof(detail), "error.json.field_too_long",
                       "name=text" CHAT_DETAIL_SEP "max=%d", 64);
    chat_i18n_error_text(&b, CHAT_LOCALE_EN, CHAT_E_VALIDATION, detail);
    assert_string_equal(b.data, "Field 'text' is longer than 64 characters.");
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_PT_BR, CHAT_E_VALIDATION, detail);
    assert_string_equal(b.data, "O campo 'text' tem mais de 64 caracteres.");
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_ES, CHAT_E_VALIDATION, detail);
    assert_string_equal(b.data, "El campo 'text' tiene más de 64 caracteres.");
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_ES, CHAT_E_NOT_FOUND, "error.conversation_not_found");
    assert_string_equal(b.data, chat_i18n_text(CHAT_LOCALE_ES, "error.conversation_not_found"));
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_ES, CHAT_E_NOT_FOUND, "Not a key, a sentence.");
    assert_string_equal(b.data, "Not a key, a sentence.");
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_PT_BR, CHAT_E_NOT_FOUND, "error.no.such_key");
    assert_string_equal(b.data, chat_i18n_text(CHAT_LOCALE_PT_BR, "error.not_found"));
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_PT_BR, CHAT_E_RATE_LIMITED, NULL);
    assert_string_equal(b.data, chat_i18n_text(CHAT_LOCALE_PT_BR, "error.rate_limited"));
    /* A detail cut by its buffer still names its key. */
    char small[32];
    chat_detail_printf(small, sizeof(small), "error.json.field_too_long",
                       "name=%s" CHAT_DETAIL_SEP "max=%d", "a_very_long_field_name", 5);
    b.len = 0;
    chat_i18n_error_text(&b, CHAT_LOCALE_EN, CHAT_E_VALIDATION, small);
    assert_non_null(strstr(b.data, "Field '"));
    strbuf_free(&b);
    chat_i18n_free();
    /* Without catalogs: the built-in English of shared/errors.h. */
    struct strbuf e = {0};
    chat_i18n_error_text(&e, CHAT_LOCALE_ES, CHAT_E_NOT_FOUND, NULL);
    assert_string_equal(e.data, chat_err_message(CHAT_E_NOT_FOUND));
    strbuf_free(&e);
}

static void test_catalog_tree_nests_at_the_dots(void **state)
{
    (void)state;
    load_repository();
    json_object *tree = chat_i18n_catalog_tree(CHAT_LOCALE_ES), *error, *profile, *text;
    assert_true(json_object_object_get_ex(tree, "error", &error));
    assert_true(json_object_object_get_ex(error, "profile", &profile));
    assert_true(json_object_object_get_ex(profile, "locale_unknown", &text));
    assert_string_equal(json_object_get_string(text),
                        chat_i18n_text(CHAT_LOCALE_ES, "error.profile.locale_unknown"));
    json_object_put(tree);
    json_object *flat = chat_i18n_catalog_json(CHAT_LOCALE_PT_BR);
    assert_int_equal(json_object_object_length(flat), (int)chat_i18n_key_count());
    json_object_put(flat);
    chat_i18n_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repository_catalogs_load_with_every_error_code),
        cmocka_unit_test(test_every_key_the_code_names_is_in_the_catalogs),
        cmocka_unit_test(test_the_scanners_find_a_missing_key),
        cmocka_unit_test(test_catalogs_that_differ_are_refused),
        cmocka_unit_test(test_a_refused_load_keeps_the_catalogs_in_use),
        cmocka_unit_test(test_negotiation),
        cmocka_unit_test(test_format_fills_placeholders),
        cmocka_unit_test(test_error_details_in_each_locale),
        cmocka_unit_test(test_catalog_tree_nests_at_the_dots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
