/* docs/openapi.yaml and the code describe the same API: every (method, path) of
 * chat_routes[] is an operation under the spec's `paths:` and the other way round, and
 * the spec's ErrorCode list names every code of shared/errors.h with its status.
 *
 * The spec is read with a small line-based reader that relies on the layout rules
 * written at the top of docs/openapi.yaml (paths at 2 spaces, operations at 4). Paths
 * are compared with every {...} segment reduced to {}, so the router's {id} and {*}
 * match the spec's named parameters ({conversation_id}, {path}, ...). The unit tests
 * run from the repository root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "router.h"

#define SPEC_PATH "docs/openapi.yaml"
#define MAX_OPERATIONS 128
#define MAX_PATH_CHARS 160
#define MAX_LINE_CHARS 1024
#define MAX_SPEC_BYTES (1024 * 1024)

struct operation {
    char method[8];             /* upper case, e.g. "GET" */
    char path[MAX_PATH_CHARS];  /* normalized: every {...} is {} */
};

struct operation_set {
    struct operation ops[MAX_OPERATIONS];
    unsigned count;
};

/* Copies path into out with every {...} segment reduced to {}. Returns false when it
 * does not fit or a brace is unbalanced. */
static bool normalize_path(const char *path, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = path; *p; p++) {
        if (o + 3 > outlen)
            return false;
        out[o++] = *p;
        if (*p != '{')
            continue;
        const char *close = strchr(p, '}');
        if (!close)
            return false;
        out[o++] = '}';
        p = close;
    }
    out[o] = '\0';
    return true;
}

static bool set_contains(const struct operation_set *set, const char *method, const char *path)
{
    for (unsigned i = 0; i < set->count; i++)
        if (strcmp(set->ops[i].method, method) == 0 && strcmp(set->ops[i].path, path) == 0)
            return true;
    return false;
}

/* Adds (method, path) normalized. Returns false (after printing why) on overflow, a
 * malformed path or a duplicate. */
static bool set_add(struct operation_set *set, const char *method, const char *path)
{
    struct operation op;
    if (set->count >= MAX_OPERATIONS || strlen(method) >= sizeof(op.method) ||
        !normalize_path(path, op.path, sizeof(op.path))) {
        fprintf(stderr, "cannot record %s %s (too many, too long or malformed)\n", method, path);
        return false;
    }
    size_t i;
    for (i = 0; method[i]; i++)
        op.method[i] = (char)toupper((unsigned char)method[i]);
    op.method[i] = '\0';
    if (set_contains(set, op.method, op.path)) {
        fprintf(stderr, "listed twice: %s %s\n", op.method, path);
        return false;
    }
    set->ops[set->count++] = op;
    return true;
}

static bool is_method_key(const char *key)
{
    static const char *const methods[] = {"get", "put", "post", "patch", "delete",
                                          "head", "options", "trace"};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(key, methods[i]) == 0)
            return true;
    return false;
}

/* Reads the operations of the `paths:` section of an OpenAPI YAML file laid out as the
 * header of docs/openapi.yaml describes. Returns the number of problems (lines that
 * break the layout, a missing `paths:`), each printed as name:line. */
static int read_spec_operations(FILE *f, const char *name, struct operation_set *out)
{
    char line[MAX_LINE_CHARS], path[MAX_PATH_CHARS] = "";
    int problems = 0, lineno = 0;
    bool in_paths = false, seen_paths = false;
    out->count = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            fprintf(stderr, "%s:%d: line longer than %d characters\n", name, lineno,
                    MAX_LINE_CHARS - 2);
            return problems + 1;
        }
        while (len && isspace((unsigned char)line[len - 1]))
            line[--len] = '\0';
        size_t indent = strspn(line, " ");
        if (len == 0 || line[indent] == '#')
            continue;
        if (indent == 0) {
            in_paths = strcmp(line, "paths:") == 0;
            seen_paths |= in_paths;
            continue;
        }
        if (!in_paths || indent > 4)
            continue;
        char *key = line + indent;
        if (indent == 2) {
            if (key[0] != '/' || key[len - indent - 1] != ':' ||
                len - indent - 1 >= sizeof(path)) {
                fprintf(stderr, "%s:%d: expected a plain path key like '  /api/...:'\n",
                        name, lineno);
                problems++;
                path[0] = '\0';
                continue;
            }
            memcpy(path, key, len - indent - 1);
            path[len - indent - 1] = '\0';
        } else if (indent == 4) {
            char *colon = strchr(key, ':');
            if (!colon) {
                fprintf(stderr, "%s:%d: expected a key at indent 4\n", name, lineno);
                problems++;
                continue;
            }
            *colon = '\0';
            if (!is_method_key(key))
                continue; /* parameters, summary, ... of the path item */
            if (!path[0] || colon[1] != '\0') {
                fprintf(stderr, "%s:%d: operation '%s' outside a path or in flow style\n",
                        name, lineno, key);
                problems++;
                continue;
            }
            if (!set_add(out, key, path))
                problems++;
        } else {
            fprintf(stderr, "%s:%d: indent of %zu spaces inside paths:\n", name, lineno,
                    indent);
            problems++;
        }
    }
    if (!seen_paths) {
        fprintf(stderr, "%s: no 'paths:' section\n", name);
        problems++;
    }
    return problems;
}

static FILE *open_spec(void)
{
    FILE *f = fopen(SPEC_PATH, "r");
    if (!f)
        fprintf(stderr, "cannot open %s (run the unit tests from the repository root)\n",
                SPEC_PATH);
    return f;
}

/* The reader itself, on a small document: paths and operations are found, path-level
 * keys and everything outside `paths:` are ignored, a broken layout is reported. */
static void test_reader(void **state)
{
    (void)state;
    static const char doc[] =
        "# comment\n"
        "openapi: 3.1.0\n"
        "paths:\n"
        "  /a/{x}/:\n"
        "    parameters:\n"
        "      - name: x\n"
        "    get:\n"
        "      responses:\n"
        "        '200':\n"
        "          description: get: not an operation\n"
        "\n"
        "    delete:\n"
        "  /b/:\n"
        "    post:\n"
        "components:\n"
        "  /c/:\n"
        "    get:\n";
    static struct operation_set set;
    FILE *f = fmemopen((void *)doc, sizeof(doc) - 1, "r");
    assert_non_null(f);
    assert_int_equal(read_spec_operations(f, "(test document)", &set), 0);
    fclose(f);
    assert_int_equal(set.count, 3);
    assert_true(set_contains(&set, "GET", "/a/{}/"));
    assert_true(set_contains(&set, "DELETE", "/a/{}/"));
    assert_true(set_contains(&set, "POST", "/b/"));

    static const char broken[] = "paths:\n  '/quoted/':\n    get:\n   /odd:\n  /d/:\n    put: {}\n";
    f = fmemopen((void *)broken, sizeof(broken) - 1, "r");
    assert_non_null(f);
    assert_int_equal(read_spec_operations(f, "(test document)", &set), 4);
    fclose(f);

    char norm[64];
    assert_true(normalize_path("/x/{id}/y/{*}", norm, sizeof(norm)));
    assert_string_equal(norm, "/x/{}/y/{}");
    assert_false(normalize_path("/x/{id", norm, sizeof(norm)));
}

/* Every route of api/router.c is documented, and the spec documents nothing else. */
static void test_router_and_spec_agree(void **state)
{
    (void)state;
    static struct operation_set spec, router;
    FILE *f = open_spec();
    assert_non_null(f);
    int problems = read_spec_operations(f, SPEC_PATH, &spec);
    fclose(f);
    router.count = 0;
    for (unsigned i = 0; i < chat_routes_count; i++)
        if (!set_add(&router, chat_routes[i].method, chat_routes[i].pattern))
            problems++;

    int missing = 0, extra = 0;
    for (unsigned i = 0; i < router.count; i++) {
        if (!set_contains(&spec, router.ops[i].method, router.ops[i].path)) {
            fprintf(stderr, "in api/router.c, missing from %s: %s %s\n", SPEC_PATH,
                    router.ops[i].method, router.ops[i].path);
            missing++;
        }
    }
    for (unsigned i = 0; i < spec.count; i++) {
        if (!set_contains(&router, spec.ops[i].method, spec.ops[i].path)) {
            fprintf(stderr, "in %s, not a route in api/router.c: %s %s\n", SPEC_PATH,
                    spec.ops[i].method, spec.ops[i].path);
            extra++;
        }
    }
    fprintf(stderr, "%u routes, %u documented operations, %d missing, %d extra\n",
            router.count, spec.count, missing, extra);
    assert_int_equal(problems, 0);
    assert_int_equal(missing, 0);
    assert_int_equal(extra, 0);
}

/* The ErrorCode schema lists each code of shared/errors.h once, as
 * `- {const: <code>, description: <status> ...}`, and nothing else. */
static void test_error_codes_documented(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *code;
    } table[] = {
#define CHAT_X(name, status, code, msg) {status, code},
        CHAT_ERROR_MAP(CHAT_X)
#undef CHAT_X
    };
    static char text[MAX_SPEC_BYTES];
    FILE *f = open_spec();
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    assert_true(n < sizeof(text) - 1);
    text[n] = '\0';

    int listed = 0, missing = 0;
    for (const char *p = text; (p = strstr(p, "- {const: ")) != NULL; p++)
        listed++;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        char want[96];
        snprintf(want, sizeof(want), "- {const: %s, description: %d ", table[i].code,
                 table[i].status);
        if (!strstr(text, want)) {
            fprintf(stderr, "%s: ErrorCode lacks '%s...'\n", SPEC_PATH, want);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    assert_int_equal(listed, CHAT_ERR_INDEX_COUNT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_router_and_spec_agree),
        cmocka_unit_test(test_error_codes_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
