/* The template engine: the source is parsed into a tree of nodes, the tree is rendered
 * against a json-c context, and the tree is freed. Parsing finishes before rendering
 * starts, so a template with a syntax error never produces partial output. */
#include "template.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "xalloc.h"

/* Longest path segment and loop variable name. */
#define SEGMENT_MAX 64
/* Longest tag body between the delimiters; longer is certainly a mistake. */
#define TAG_MAX 512

enum node_kind { NODE_TEXT, NODE_VAR, NODE_IF, NODE_FOR, NODE_BLOCK };

struct node {
    enum node_kind kind;
    struct node *next;
    char *text;             /* TEXT: the literal text; VAR, IF, FOR: the dotted path */
    size_t len;             /* TEXT: length of text */
    bool json;              /* VAR: the |json filter */
    bool negate;            /* IF: `if not` */
    char *loop_var;         /* FOR: the loop variable */
    struct node *body;      /* IF: then-branch; FOR: loop body; BLOCK: included nodes */
    struct node *else_body; /* IF: else-branch */
};

/* How a block of nodes ended. */
enum block_end { END_EOF, END_ELSE, END_ENDIF, END_ENDFOR, END_ERROR };

struct parser {
    const char *name; /* file label for error messages */
    const char *dir;  /* where includes come from; NULL forbids them */
    const char *src;
    size_t len, pos;
    int line;     /* line of src[pos] */
    int tag_line; /* line of the tag just read */
    int depth;    /* open blocks plus includes, including the parents' */
    bool failed;  /* the first error has been written to err */
    char *err;
    size_t errlen;
};

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void node_free(struct node *n)
{
    while (n) {
        struct node *next = n->next;
        free(n->text);
        free(n->loop_var);
        node_free(n->body);
        node_free(n->else_body);
        free(n);
        n = next;
    }
}

static struct node *node_new(enum node_kind kind)
{
    struct node *n = chat_xcalloc(1, sizeof(*n));
    n->kind = kind;
    return n;
}

/* ---- lexical helpers ---- */

static bool is_ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* A dotted path: non-empty segments of [A-Za-z0-9_] at most SEGMENT_MAX long. */
static bool path_valid(const char *s, size_t n)
{
    size_t seg = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (seg == 0)
                return false;
            seg = 0;
        } else if (is_ident_char(s[i])) {
            if (++seg > SEGMENT_MAX)
                return false;
        } else {
            return false;
        }
    }
    return seg > 0;
}

/* A file name an include or a render may name: no directories, nothing hidden. */
static bool file_name_valid(const char *s, size_t n)
{
    if (n == 0 || n > 128 || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_ident_char(s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Splits a tag body into at most `max` whitespace-separated words. Returns the count,
 * or max + 1 when there are more. */
static size_t split_words(const char *s, size_t n, const char **words, size_t *lens, size_t max)
{
    size_t count = 0, i = 0;
    while (i < n) {
        while (i < n && is_space(s[i]))
            i++;
        if (i == n)
            break;
        size_t start = i;
        while (i < n && !is_space(s[i]))
            i++;
        if (count == max)
            return max + 1;
        words[count] = s + start;
        lens[count] = i - start;
        count++;
    }
    return count;
}

static bool word_is(const char *w, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

static void count_lines(struct parser *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (p->src[i] == '\n')
            p->line++;
}

static void parse_error(struct parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void parse_error(struct parser *p, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    /* The innermost failure is the one worth reporting; callers unwinding after it do
     * not overwrite it. */
    if (p->failed)
        return;
    p->failed = true;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    set_error(p->err, p->errlen, "%s:%d: %s", p->name, line, msg);
}

/* ---- file loading ---- */

/* Reads dir/name into a malloc'ed, NUL-terminated buffer the caller frees. Returns NULL
 * with err set when the name is not allowed or the file cannot be read. */
static char *read_template_file(const char *dir, const char *name, size_t *len, char *err,
                                size_t errlen)
{
    char path[4096];
    char *buf = NULL;
    int fd = -1;
    struct stat st;

    if (!file_name_valid(name, strlen(name))) {
        set_error(err, errlen, "%s: not a plain template file name", name);
        goto out;
    }
    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
        set_error(err, errlen, "%s: path too long", name);
        goto out;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        set_error(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CHAT_TEMPLATE_MAX_SOURCE) {
        set_error(err, errlen, "%s: not a regular file of at most %d bytes", path,
                  CHAT_TEMPLATE_MAX_SOURCE);
        goto out;
    }
    buf = chat_xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            set_error(err, errlen, "%s: read failed: %s", path,
                      r < 0 ? strerror(errno) : "short file");
            free(buf);
            buf = NULL;
            goto out;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    *len = got;
out:
    if (fd >= 0)
        close(fd);
    return buf;
}

/* ---- parsing ---- */

static enum block_end parse_block(struct parser *p, struct node **head);
static int parse_source(const char *src, size_t len, const char *name, const char *dir, int depth,
                        struct node **tree, char *err, size_t errlen);

static struct node *parse_var(struct parser *p, const char *s, size_t n)
{
    const char *bar = memchr(s, '|', n);
    size_t path_len = bar ? (size_t)(bar - s) : n;
    const char *words[2];
    size_t lens[2];
    bool json = false;

    if (bar) {
        size_t nf = split_words(bar + 1, n - path_len - 1, words, lens, 1);
        if (nf != 1 || !word_is(words[0], lens[0], "json")) {
            parse_error(p, p->tag_line, "unknown filter in {{ %.*s }} (only |json exists)",
                        (int)n, s);
            return NULL;
        }
        json = true;
    }
    if (split_words(s, path_len, words, lens, 1) != 1 || !path_valid(words[0], lens[0])) {
        parse_error(p, p->tag_line, "bad variable in {{ %.*s }}", (int)n, s);
        return NULL;
    }
    struct node *node = node_new(NODE_VAR);
    node->text = chat_xstrndup(words[0], lens[0]);
    node->json = json;
    return node;
}

static struct node *parse_include(struct parser *p, const char *w, size_t n)
{
    if (n < 2 || w[0] != '"' || w[n - 1] != '"' || !file_name_valid(w + 1, n - 2)) {
        parse_error(p, p->tag_line, "include takes a quoted plain file name");
        return NULL;
    }
    if (!p->dir) {
        parse_error(p, p->tag_line, "include is not allowed here");
        return NULL;
    }
    if (p->depth + 1 > CHAT_TEMPLATE_MAX_DEPTH) {
        parse_error(p, p->tag_line, "nesting deeper than %d", CHAT_TEMPLATE_MAX_DEPTH);
        return NULL;
    }
    char name[130];
    memcpy(name, w + 1, n - 2);
    name[n - 2] = '\0';

    char inner_err[400] = "";
    size_t len = 0;
    struct node *body = NULL;
    char *src = read_template_file(p->dir, name, &len, inner_err, sizeof(inner_err));
    int rc = src ? parse_source(src, len, name, p->dir, p->depth + 1, &body, inner_err,
                                sizeof(inner_err))
                 : -1;
    free(src);
    if (rc != 0) {
        /* Name the top-level include site and the innermost error; the sites in between
         * would push the error itself out of the message. */
        if (p->depth == 0) {
            parse_error(p, p->tag_line, "in include: %s", inner_err);
        } else if (!p->failed) {
            p->failed = true;
            set_error(p->err, p->errlen, "%s", inner_err);
        }
        return NULL;
    }
    struct node *node = node_new(NODE_BLOCK);
    node->body = body;
    return node;
}

/* Parses the body of an if or for one level deeper; *end receives how it ended. */
static struct node *parse_nested(struct parser *p, enum block_end *end)
{
    struct node *body = NULL;
    if (p->depth + 1 > CHAT_TEMPLATE_MAX_DEPTH) {
        parse_error(p, p->tag_line, "nesting deeper than %d", CHAT_TEMPLATE_MAX_DEPTH);
        *end = END_ERROR;
        return NULL;
    }
    p->depth++;
    *end = parse_block(p, &body);
    p->depth--;
    return body;
}

static struct node *parse_if(struct parser *p, const char **words, size_t *lens, size_t nw)
{
    int open_line = p->tag_line;
    const char *path = words[1];
    size_t path_len = nw > 1 ? lens[1] : 0;
    bool negate = false;
    enum block_end end;

    if (nw == 3 && word_is(words[1], lens[1], "not")) {
        negate = true;
        path = words[2];
        path_len = lens[2];
    } else if (nw != 2) {
        parse_error(p, open_line, "if takes one variable, optionally after `not`");
        return NULL;
    }
    if (!path_valid(path, path_len)) {
        parse_error(p, open_line, "bad variable in {%% if %%}");
        return NULL;
    }
    struct node *node = node_new(NODE_IF);
    node->text = chat_xstrndup(path, path_len);
    node->negate = negate;
    node->body = parse_nested(p, &end);
    if (end == END_ELSE) {
        node->else_body = parse_nested(p, &end);
        if (end == END_ELSE) {
            parse_error(p, p->tag_line, "second {%% else %%} in {%% if %%} opened at line %d",
                        open_line);
            end = END_ERROR;
        }
    }
    if (end != END_ENDIF) {
        if (end != END_ERROR)
            parse_error(p, end == END_EOF ? p->line : p->tag_line,
                        "unclosed {%% if %%} (opened at line %d)", open_line);
        node_free(node);
        return NULL;
    }
    return node;
}

static struct node *parse_for(struct parser *p, const char **words, size_t *lens, size_t nw)
{
    int open_line = p->tag_line;
    enum block_end end;

    if (nw != 4 || !word_is(words[2], lens[2], "in") || !path_valid(words[1], lens[1]) ||
        memchr(words[1], '.', lens[1]) || !path_valid(words[3], lens[3])) {
        parse_error(p, open_line, "for takes the form {%% for name in path %%}");
        return NULL;
    }
    struct node *node = node_new(NODE_FOR);
    node->loop_var = chat_xstrndup(words[1], lens[1]);
    node->text = chat_xstrndup(words[3], lens[3]);
    node->body = parse_nested(p, &end);
    if (end != END_ENDFOR) {
        if (end != END_ERROR)
            parse_error(p, end == END_EOF ? p->line : p->tag_line,
                        "unclosed {%% for %%} (opened at line %d)", open_line);
        node_free(node);
        return NULL;
    }
    return node;
}

/* Parses a {% ... %} tag. Returns a node to append, or NULL with *end set when the tag
 * ends the current block (else/endif/endfor) or on error (END_ERROR). */
static struct node *parse_statement(struct parser *p, const char *s, size_t n,
                                    enum block_end *end)
{
    const char *words[5];
    size_t lens[5];
    size_t nw = split_words(s, n, words, lens, 4);
    struct node *node = NULL;

    *end = END_ERROR;
    if (nw == 0 || nw > 4) {
        parse_error(p, p->tag_line, "cannot read tag {%% %.*s %%}", (int)n, s);
        return NULL;
    }
    if (word_is(words[0], lens[0], "if")) {
        node = parse_if(p, words, lens, nw);
    } else if (word_is(words[0], lens[0], "for")) {
        node = parse_for(p, words, lens, nw);
    } else if (word_is(words[0], lens[0], "include") && nw == 2) {
        node = parse_include(p, words[1], lens[1]);
    } else if (nw == 1 && word_is(words[0], lens[0], "else")) {
        *end = END_ELSE;
    } else if (nw == 1 && word_is(words[0], lens[0], "endif")) {
        *end = END_ENDIF;
    } else if (nw == 1 && word_is(words[0], lens[0], "endfor")) {
        *end = END_ENDFOR;
    } else {
        parse_error(p, p->tag_line, "unknown tag {%% %.*s %%}", (int)n, s);
    }
    return node;
}

/* Parses nodes into *head until the end of the source or a block-ending tag, which is
 * consumed and reported. The caller decides whether that ending fits. */
static enum block_end parse_block(struct parser *p, struct node **head)
{
    struct node **tail = head;

    while (p->pos < p->len) {
        const char *rest = p->src + p->pos;
        size_t rest_len = p->len - p->pos;
        const char *open = NULL;
        for (size_t i = 0; i + 1 < rest_len; i++) {
            if (rest[i] == '{' && (rest[i + 1] == '{' || rest[i + 1] == '%' || rest[i + 1] == '#')) {
                open = rest + i;
                break;
            }
        }
        size_t text_len = open ? (size_t)(open - rest) : rest_len;
        if (text_len) {
            struct node *t = node_new(NODE_TEXT);
            t->text = chat_xstrndup(rest, text_len);
            t->len = text_len;
            *tail = t;
            tail = &t->next;
            count_lines(p, p->pos, p->pos + text_len);
            p->pos += text_len;
        }
        if (!open)
            break;

        char kind = open[1];
        const char *close_seq = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
        const char *body = open + 2;
        const char *close = memmem(body, p->len - (size_t)(body - p->src), close_seq, 2);
        p->tag_line = p->line;
        if (!close) {
            parse_error(p, p->tag_line, "unclosed {%c tag", kind);
            return END_ERROR;
        }
        size_t body_len = (size_t)(close - body);
        if (kind != '#' && body_len > TAG_MAX) {
            parse_error(p, p->tag_line, "tag longer than %d bytes", TAG_MAX);
            return END_ERROR;
        }
        count_lines(p, p->pos, (size_t)(close + 2 - p->src));
        p->pos = (size_t)(close + 2 - p->src);

        if (kind == '#')
            continue;
        struct node *node;
        enum block_end end = END_ERROR;
        if (kind == '{') {
            node = parse_var(p, body, body_len);
        } else {
            node = parse_statement(p, body, body_len, &end);
            if (!node && end != END_ERROR)
                return end;
        }
        if (!node)
            return END_ERROR;
        *tail = node;
        tail = &node->next;
    }
    return END_EOF;
}

/* Parses a whole template into *tree (NULL for an empty template). Returns 0, or -1 with
 * err set. The caller frees *tree with node_free(). */
static int parse_source(const char *src, size_t len, const char *name, const char *dir, int depth,
                        struct node **tree, char *err, size_t errlen)
{
    struct parser p = {
        .name = name, .dir = dir, .src = src, .len = len, .line = 1, .tag_line = 1,
        .depth = depth, .err = err, .errlen = errlen,
    };
    struct node *head = NULL;

    *tree = NULL;
    if (memchr(src, '\0', len)) {
        set_error(err, errlen, "%s: contains a NUL byte", name);
        return -1;
    }
    enum block_end end = parse_block(&p, &head);
    if (end == END_ELSE)
        parse_error(&p, p.tag_line, "{%% else %%} outside {%% if %%}");
    else if (end == END_ENDIF)
        parse_error(&p, p.tag_line, "{%% endif %%} without {%% if %%}");
    else if (end == END_ENDFOR)
        parse_error(&p, p.tag_line, "{%% endfor %%} without {%% for %%}");
    if (end != END_EOF) {
        assert(p.failed);
        node_free(head);
        return -1;
    }
    *tree = head;
    return 0;
}

/* ---- rendering ---- */

struct scope {
    const char *name;
    json_object *value;
};

struct render {
    json_object *ctx;
    struct scope scopes[CHAT_TEMPLATE_MAX_DEPTH];
    int nscopes;
    struct strbuf *out;
    size_t start;   /* out->len before the render */
    bool too_large; /* CHAT_TEMPLATE_MAX_OUTPUT exceeded: stop appending */
};

/* Resolves a dotted path. NULL for missing values and for JSON null alike. */
static json_object *lookup(const struct render *r, const char *path)
{
    char seg[SEGMENT_MAX + 1];
    json_object *cur = NULL;
    bool first = true;

    while (*path) {
        size_t n = strcspn(path, ".");
        memcpy(seg, path, n); /* path_valid bounded n by SEGMENT_MAX */
        seg[n] = '\0';
        path += n + (path[n] == '.');

        if (first) {
            first = false;
            bool found = false;
            for (int i = r->nscopes - 1; i >= 0 && !found; i--) {
                if (strcmp(r->scopes[i].name, seg) == 0) {
                    cur = r->scopes[i].value;
                    found = true;
                }
            }
            if (found)
                continue;
            cur = r->ctx;
        }
        if (json_object_is_type(cur, json_type_object)) {
            if (!json_object_object_get_ex(cur, seg, &cur))
                return NULL;
        } else if (json_object_is_type(cur, json_type_array) && seg[0] >= '0' && seg[0] <= '9') {
            char *end;
            unsigned long idx = strtoul(seg, &end, 10);
            if (*end || idx >= json_object_array_length(cur))
                return NULL;
            cur = json_object_array_get_idx(cur, idx);
        } else {
            return NULL;
        }
    }
    return cur;
}

static bool truthy(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return false;
    case json_type_boolean: return json_object_get_boolean(v);
    case json_type_int: return json_object_get_int64(v) != 0;
    case json_type_double: return json_object_get_double(v) != 0.0;
    case json_type_string: return json_object_get_string_len(v) > 0;
    case json_type_array: return json_object_array_length(v) > 0;
    case json_type_object: return true;
    }
    return false;
}

void chat_template_append_script_json(struct strbuf *out, json_object *val)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        val, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    size_t start = 0;

    /* These bytes only ever occur inside JSON strings, where \uXXXX means the same
     * thing; outside they could end the <script> element, open an HTML comment, or (the
     * two separators) end a line for older JavaScript parsers. */
    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        size_t skip = 1;
        unsigned char c = (unsigned char)s[i];
        if (c == '<')
            rep = "\\u003c";
        else if (c == '>')
            rep = "\\u003e";
        else if (c == '&')
            rep = "\\u0026";
        else if (c == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
                 ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
            rep = (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!rep)
            continue;
        strbuf_append(out, s + start, i - start);
        strbuf_puts(out, rep);
        start = i + skip;
        i += skip - 1;
    }
    strbuf_append(out, s + start, len - start);
}

static void print_value(struct strbuf *out, json_object *v)
{
    char num[32];
    size_t len;
    const char *s;

    switch (json_object_get_type(v)) {
    case json_type_null:
        return;
    case json_type_boolean:
        strbuf_puts(out, json_object_get_boolean(v) ? "true" : "false");
        return;
    case json_type_int:
        snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
        strbuf_puts(out, num);
        return;
    case json_type_string:
        s = json_object_get_string(v);
        strbuf_append_html(out, s, (size_t)json_object_get_string_len(v));
        return;
    case json_type_double:
    case json_type_object:
    case json_type_array:
        s = json_object_to_json_string_length(
            v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        strbuf_append_html(out, s, len);
        return;
    }
}

static void render_nodes(struct render *r, const struct node *n)
{
    for (; n && !r->too_large; n = n->next) {
        switch (n->kind) {
        case NODE_TEXT:
            strbuf_append(r->out, n->text, n->len);
            break;
        case NODE_VAR:
            if (n->json)
                chat_template_append_script_json(r->out, lookup(r, n->text));
            else
                print_value(r->out, lookup(r, n->text));
            break;
        case NODE_IF:
            if (truthy(lookup(r, n->text)) != n->negate)
                render_nodes(r, n->body);
            else
                render_nodes(r, n->else_body);
            break;
        case NODE_FOR: {
            json_object *list = lookup(r, n->text);
            if (!json_object_is_type(list, json_type_array))
                break;
            /* Parsing bounded the nesting of for blocks by CHAT_TEMPLATE_MAX_DEPTH. */
            int slot = r->nscopes++;
            r->scopes[slot].name = n->loop_var;
            size_t count = json_object_array_length(list);
            for (size_t i = 0; i < count && !r->too_large; i++) {
                r->scopes[slot].value = json_object_array_get_idx(list, i);
                render_nodes(r, n->body);
            }
            r->nscopes--;
            break;
        }
        case NODE_BLOCK:
            render_nodes(r, n->body);
            break;
        }
        if (r->out->len - r->start > CHAT_TEMPLATE_MAX_OUTPUT)
            r->too_large = true;
    }
}

int chat_template_render_string(const char *src, size_t len, const char *name,
                                const char *dir, json_object *ctx, struct strbuf *out,
                                char *err, size_t errlen)
{
    struct render r = {.ctx = ctx, .out = out, .start = out->len};
    int rc = CHAT_OK;

    struct node *tree = NULL;
    if (parse_source(src, len, name, dir, 0, &tree, err, errlen) != 0) {
        rc = CHAT_E_INTERNAL;
        goto out;
    }
    render_nodes(&r, tree);
    if (r.too_large) {
        set_error(err, errlen, "%s: output larger than %d bytes", name, CHAT_TEMPLATE_MAX_OUTPUT);
        rc = CHAT_E_INTERNAL;
    }
out:
    if (rc != CHAT_OK && out->data) {
        out->len = r.start;
        out->data[out->len] = '\0';
    }
    node_free(tree);
    return rc;
}

int chat_template_render(const char *dir, const char *name, json_object *ctx,
                         struct strbuf *out, char *err, size_t errlen)
{
    size_t len = 0;
    char *src = read_template_file(dir, name, &len, err, errlen);
    if (!src)
        return CHAT_E_INTERNAL;
    int rc = chat_template_render_string(src, len, name, dir, ctx, out, err, errlen);
    free(src);
    return rc;
}
