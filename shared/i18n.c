/* Message catalogs: loading and checking i18n/<locale>/<area>.json, looking texts up,
 * choosing a request's locale and filling {name} placeholders (i18n.h). */
#include "i18n.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "log.h"
#include "xalloc.h"

/* Largest area file read. */
#define FILE_MAX (1024 * 1024)
/* Most area files per locale. */
#define FILES_MAX 256

struct entry {
    char *key;
    char *text;
};

struct table {
    struct entry *entries; /* sorted by key */
    size_t n;
};

static const char *const tags[CHAT_LOCALE_COUNT] = {"en", "pt-BR", "es"};
static struct table tables[CHAT_LOCALE_COUNT];

static void set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool is_ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

bool chat_i18n_key_valid(const char *s)
{
    size_t len = strlen(s), segments = 1, seg_len = 0;
    if (len == 0 || len > CHAT_I18N_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (seg_len == 0)
                return false;
            segments++;
            seg_len = 0;
        } else if (is_ident_char(s[i])) {
            seg_len++;
        } else {
            return false;
        }
    }
    return seg_len > 0 && segments >= 2;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->entries[i].key);
        free(t->entries[i].text);
    }
    free(t->entries);
    t->entries = NULL;
    t->n = 0;
}

void chat_i18n_free(void)
{
    for (int i = 0; i < CHAT_LOCALE_COUNT; i++)
        table_free(&tables[i]);
}

static int compare_entries(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->key, ((const struct entry *)b)->key);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file's contents as a new NUL-terminated string, or NULL with err set. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_error(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = chat_xmalloc(FILE_MAX + 1);
    size_t n = fread(buf, 1, FILE_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed || n > FILE_MAX) {
        set_error(err, errlen, "%s: %s", path,
                  failed ? "read failed" : "larger than 1 MiB");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Adds one area file's entries to t. */
static int load_file(const char *path, struct table *t, size_t *cap, char *err, size_t errlen)
{
    size_t len;
    char *src = read_file(path, &len, err, errlen);
    if (!src)
        return -1;
    json_tokener *tok = json_tokener_new_ex(4);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    size_t end = len;
    while (end > 0 && strchr(" \t\r\n", src[end - 1]))
        end--;
    json_object *obj = json_tokener_parse_ex(tok, src, (int)end);
    bool whole = json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == end;
    json_tokener_free(tok);
    free(src);
    int rc = 0;
    if (!obj || !whole || !json_object_is_type(obj, json_type_object)) {
        set_error(err, errlen, "%s: not a JSON object", path);
        rc = -1;
        goto out;
    }
    json_object_object_foreach(obj, key, val) {
        if (!chat_i18n_key_valid(key)) {
            set_error(err, errlen, "%s: '%s' is not a key (dot-separated [A-Za-z0-9_] words)",
                      path, key);
            rc = -1;
            goto out;
        }
        if (!json_object_is_type(val, json_type_string) ||
            json_object_get_string_len(val) > CHAT_I18N_TEXT_MAX) {
            set_error(err, errlen, "%s: '%s' is not a string of at most %d bytes", path, key,
                      CHAT_I18N_TEXT_MAX);
            rc = -1;
            goto out;
        }
        if (t->n == CHAT_I18N_MAX_KEYS) {
            set_error(err, errlen, "%s: more than %d keys", path, CHAT_I18N_MAX_KEYS);
            rc = -1;
            goto out;
        }
        if (t->n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            t->entries = chat_xreallocarray(t->entries, *cap, sizeof(*t->entries));
        }
        t->entries[t->n].key = chat_xstrdup(key);
        t->entries[t->n].text = chat_xstrdup(json_object_get_string(val));
        t->n++;
    }
out:
    json_object_put(obj);
    return rc;
}

/* Reads dir/tag/ *.json into t, sorted, checking keys are unique and none is another's
 * prefix. */
static int load_locale(const char *dir, const char *tag, struct table *t, char *err,
                       size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, tag);
    DIR *d = opendir(path);
    if (!d) {
        set_error(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *names[FILES_MAX];
    size_t nnames = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        if (nnames == FILES_MAX) {
            set_error(err, errlen, "%s: more than %d files", path, FILES_MAX);
            rc = -1;
            break;
        }
        names[nnames++] = chat_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, nnames, sizeof(*names), compare_names);
    for (size_t i = 0; i < nnames && rc == 0; i++) {
        char file[4096 + 256];
        snprintf(file, sizeof(file), "%s/%s", path, names[i]);
        rc = load_file(file, t, &cap, err, errlen);
    }
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    if (rc != 0)
        return rc;
    if (t->n == 0) {
        set_error(err, errlen, "%s: no catalog files", path);
        return -1;
    }
    qsort(t->entries, t->n, sizeof(*t->entries), compare_entries);
    for (size_t i = 1; i < t->n; i++) {
        const char *a = t->entries[i - 1].key, *b = t->entries[i].key;
        size_t alen = strlen(a);
        if (strcmp(a, b) == 0) {
            set_error(err, errlen, "%s: key '%s' is in two files", tag, a);
            return -1;
        }
        /* '.' sorts before every key character, so "a.b.c" follows "a.b" directly. */
        if (strncmp(a, b, alen) == 0 && b[alen] == '.') {
            set_error(err, errlen, "%s: key '%s' is a prefix of '%s'", tag, a, b);
            return -1;
        }
    }
    return 0;
}

/* The placeholder names of text, sorted and joined by spaces, into out. */
static void placeholders(const char *text, char *out, size_t outlen)
{
    const char *names[64];
    size_t lens[64], n = 0;
    for (const char *p = strchr(text, '{'); p && n < 64; p = strchr(p + 1, '{')) {
        size_t len = 0;
        while (is_ident_char(p[1 + len]))
            len++;
        if (len && p[1 + len] == '}') {
            names[n] = p + 1;
            lens[n++] = len;
        }
    }
    /* Insertion sort: a handful of names. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            size_t m = lens[j] < lens[j - 1] ? lens[j] : lens[j - 1];
            int c = strncmp(names[j], names[j - 1], m);
            if (c > 0 || (c == 0 && lens[j] >= lens[j - 1]))
                break;
            const char *tn = names[j];
            size_t tl = lens[j];
            names[j] = names[j - 1];
            lens[j] = lens[j - 1];
            names[j - 1] = tn;
            lens[j - 1] = tl;
        }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, outlen - used, "%s%.*s", i ? " " : "", (int)lens[i],
                         names[i]);
        if (w < 0 || (size_t)w >= outlen - used)
            break;
        used += (size_t)w;
    }
}

/* Compares a locale's table with English's: the same keys, the same placeholders. */
static int compare_with_english(const struct table *en, const struct table *t, const char *tag,
                                char *err, size_t errlen)
{
    size_t i = 0, j = 0;
    while (i < en->n || j < t->n) {
        int c = i == en->n ? 1 : j == t->n ? -1 : strcmp(en->entries[i].key, t->entries[j].key);
        if (c < 0) {
            set_error(err, errlen, "%s misses key '%s' that en has", tag, en->entries[i].key);
            return -1;
        }
        if (c > 0) {
            set_error(err, errlen, "%s has key '%s' that en does not", tag, t->entries[j].key);
            return -1;
        }
        char a[512], b[512];
        placeholders(en->entries[i].text, a, sizeof(a));
        placeholders(t->entries[j].text, b, sizeof(b));
        if (strcmp(a, b) != 0) {
            set_error(err, errlen, "%s: '%s' has placeholders {%s}, en has {%s}", tag,
                      t->entries[j].key, b, a);
            return -1;
        }
        i++;
        j++;
    }
    return 0;
}

int chat_i18n_load(const char *dir, char *err, size_t errlen)
{
    struct table loaded[CHAT_LOCALE_COUNT] = {{0}};
    int rc = 0;
    for (int i = 0; i < CHAT_LOCALE_COUNT && rc == 0; i++)
        rc = load_locale(dir, tags[i], &loaded[i], err, errlen);
    for (int i = 1; i < CHAT_LOCALE_COUNT && rc == 0; i++)
        rc = compare_with_english(&loaded[CHAT_LOCALE_EN], &loaded[i], tags[i], err, errlen);
    if (rc != 0) {
        for (int i = 0; i < CHAT_LOCALE_COUNT; i++)
            table_free(&loaded[i]);
        return rc;
    }
    chat_i18n_free();
    memcpy(tables, loaded, sizeof(tables));
    return 0;
}

int chat_i18n_load_logged(const char *dir)
{
    char err[512];
    if (chat_i18n_load(dir, err, sizeof(err)) != 0) {
        log_error("message catalogs (i18n_dir): %s", err);
        return -1;
    }
    log_debug("message catalogs: %zu keys in each locale", chat_i18n_key_count());
    return 0;
}

size_t chat_i18n_key_count(void)
{
    return tables[CHAT_LOCALE_EN].n;
}

const char *chat_i18n_locale_tag(enum chat_locale locale)
{
    return (unsigned)locale < CHAT_LOCALE_COUNT ? tags[locale] : tags[CHAT_LOCALE_EN];
}

int chat_i18n_locale_from_tag(const char *tag)
{
    for (int i = 0; tag && i < CHAT_LOCALE_COUNT; i++)
        if (strcasecmp(tag, tags[i]) == 0)
            return i;
    return -1;
}

/* The locale a language range names: the exact tag, else any locale of its primary
 * language ("pt-PT", "pt" -> pt-BR); -1 for none. "*" is handled by the caller. */
static int locale_for_range(const char *range, size_t len)
{
    for (int i = 0; i < CHAT_LOCALE_COUNT; i++)
        if (strlen(tags[i]) == len && strncasecmp(range, tags[i], len) == 0)
            return i;
    size_t primary = 0;
    while (primary < len && range[primary] != '-')
        primary++;
    for (int i = 0; i < CHAT_LOCALE_COUNT; i++) {
        size_t tp = strcspn(tags[i], "-");
        if (tp == primary && strncasecmp(range, tags[i], primary) == 0)
            return i;
    }
    return -1;
}

/* The q-value of an Accept-Language entry's parameters (";q=0.8"), 0..1000, or -1 when
 * malformed. No parameter is 1000. */
static int quality(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i == len)
        return 1000;
    if (p[i] != ';')
        return -1;
    i++;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i + 2 > len || (p[i] != 'q' && p[i] != 'Q') || p[i + 1] != '=')
        return -1;
    i += 2;
    if (i == len || (p[i] != '0' && p[i] != '1'))
        return -1;
    int q = (p[i] - '0') * 1000, scale = 100;
    i++;
    if (i < len && p[i] == '.') {
        i++;
        for (int digits = 0; i < len && isdigit((unsigned char)p[i]); i++, digits++) {
            if (digits == 3)
                return -1;
            q += (p[i] - '0') * scale;
            scale /= 10;
        }
    }
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i == len && q <= 1000 ? q : -1;
}

enum chat_locale chat_i18n_negotiate(const char *user_setting, const char *accept_language)
{
    int chosen = user_setting && *user_setting ? chat_i18n_locale_from_tag(user_setting) : -1;
    if (chosen >= 0)
        return (enum chat_locale)chosen;
    if (!accept_language)
        return CHAT_LOCALE_EN;
    size_t total = strnlen(accept_language, CHAT_ACCEPT_LANGUAGE_MAX), at = 0;
    int best = -1, best_q = 0;
    for (int entries = 0; at < total && entries < CHAT_ACCEPT_LANGUAGE_ENTRIES; entries++) {
        size_t len = 0;
        while (at + len < total && accept_language[at + len] != ',')
            len++;
        const char *e = accept_language + at;
        at += len + 1;
        while (len && (*e == ' ' || *e == '\t')) {
            e++;
            len--;
        }
        size_t range = 0;
        while (range < len && (isalnum((unsigned char)e[range]) || e[range] == '-' ||
                               e[range] == '*'))
            range++;
        int q = quality(e + range, len - range);
        if (range == 0 || q <= best_q)
            continue; /* malformed, refused (q=0), or no better than the one chosen */
        int loc = range == 1 && e[0] == '*' ? CHAT_LOCALE_EN : locale_for_range(e, range);
        if (loc >= 0) {
            best = loc;
            best_q = q;
        }
    }
    return best >= 0 ? (enum chat_locale)best : CHAT_LOCALE_EN;
}

static const char *table_text(const struct table *t, const char *key)
{
    if (t->n == 0)
        return NULL;
    struct entry probe = {.key = (char *)key};
    const struct entry *e = bsearch(&probe, t->entries, t->n, sizeof(*t->entries),
                                    compare_entries);
    return e ? e->text : NULL;
}

const char *chat_i18n_text(enum chat_locale locale, const char *key)
{
    const char *text = NULL;
    if ((unsigned)locale < CHAT_LOCALE_COUNT)
        text = table_text(&tables[locale], key);
    return text ? text : table_text(&tables[CHAT_LOCALE_EN], key);
}

void chat_i18n_format(struct strbuf *out, const char *text, json_object *params)
{
    const char *p = text;
    for (;;) {
        const char *open = strchr(p, '{');
        if (!open) {
            strbuf_puts(out, p);
            return;
        }
        size_t len = 0;
        while (is_ident_char(open[1 + len]))
            len++;
        json_object *v = NULL;
        char name[64];
        if (len && len < sizeof(name) && open[1 + len] == '}') {
            memcpy(name, open + 1, len);
            name[len] = '\0';
            json_object_object_get_ex(params, name, &v);
        }
        strbuf_append(out, p, (size_t)(open - p));
        if (v) {
            strbuf_puts(out, json_object_get_string(v));
            p = open + len + 2;
        } else {
            strbuf_puts(out, "{");
            p = open + 1;
        }
    }
}

json_object *chat_i18n_catalog_json(enum chat_locale locale)
{
    const struct table *t = &tables[(unsigned)locale < CHAT_LOCALE_COUNT ? locale : 0];
    json_object *o = json_object_new_object();
    for (size_t i = 0; i < t->n; i++)
        json_object_object_add(o, t->entries[i].key, json_object_new_string(t->entries[i].text));
    return o;
}

json_object *chat_i18n_catalog_tree(enum chat_locale locale)
{
    const struct table *t = &tables[(unsigned)locale < CHAT_LOCALE_COUNT ? locale : 0];
    json_object *root = json_object_new_object();
    for (size_t i = 0; i < t->n; i++) {
        json_object *node = root;
        const char *k = t->entries[i].key;
        for (;;) {
            size_t n = strcspn(k, ".");
            char seg[CHAT_I18N_KEY_MAX + 1];
            memcpy(seg, k, n);
            seg[n] = '\0';
            if (!k[n]) {
                json_object_object_add(node, seg, json_object_new_string(t->entries[i].text));
                break;
            }
            json_object *child;
            /* No key is another's prefix (checked at load), so a child is an object. */
            if (!json_object_object_get_ex(node, seg, &child)) {
                child = json_object_new_object();
                json_object_object_add(node, seg, child);
            }
            node = child;
            k += n + 1;
        }
    }
    return root;
}

void chat_detail_printf(char *detail, size_t len, const char *key, const char *params_fmt, ...)
{
    int n = snprintf(detail, len, "%s", key);
    if (!params_fmt || n < 0 || (size_t)n + 1 >= len)
        return;
    detail[n] = CHAT_DETAIL_SEP[0];
    va_list ap;
    va_start(ap, params_fmt);
    vsnprintf(detail + n + 1, len - (size_t)n - 1, params_fmt, ap);
    va_end(ap);
}

/* Appends detail's text when detail is a key the catalogs have (with its values filled)
 * or no key at all (as it is); false, appending nothing, for a key they lack. */
static bool detail_text(struct strbuf *out, enum chat_locale locale, const char *detail)
{
    size_t klen = strcspn(detail, CHAT_DETAIL_SEP);
    char key[CHAT_I18N_KEY_MAX + 1];
    if (klen > CHAT_I18N_KEY_MAX) {
        strbuf_puts(out, detail);
        return true;
    }
    memcpy(key, detail, klen);
    key[klen] = '\0';
    if (!chat_i18n_key_valid(key)) {
        strbuf_puts(out, detail);
        return true;
    }
    const char *text = chat_i18n_text(locale, key);
    if (!text)
        return false;
    json_object *params = json_object_new_object();
    for (const char *p = detail + klen; *p;) {
        p++; /* the separator */
        size_t plen = strcspn(p, CHAT_DETAIL_SEP), nlen = strcspn(p, "=");
        if (nlen < plen && nlen < 64) {
            char name[64];
            memcpy(name, p, nlen);
            name[nlen] = '\0';
            json_object_object_add(params, name,
                                   json_object_new_string_len(p + nlen + 1, (int)(plen - nlen - 1)));
        }
        p += plen;
    }
    chat_i18n_format(out, text, params);
    json_object_put(params);
    return true;
}

void chat_i18n_error_text(struct strbuf *out, enum chat_locale locale, int err, const char *detail)
{
    if (detail && detail_text(out, locale, detail))
        return;
    if (detail)
        log_error("no catalog text for the error detail '%.*s'",
                  (int)strcspn(detail, CHAT_DETAIL_SEP), detail);
    char key[CHAT_I18N_KEY_MAX + 1];
    snprintf(key, sizeof(key), "error.%s", chat_err_code(err));
    const char *text = chat_i18n_text(locale, key);
    strbuf_puts(out, text ? text : chat_err_message(err));
}

json_object *chat_i18n_error_json(enum chat_locale locale, int err, const char *detail)
{
    struct strbuf text = {0};
    chat_i18n_error_text(&text, locale, err, detail);
    json_object *o = json_object_new_string_len(text.data ? text.data : "", (int)text.len);
    strbuf_free(&text);
    return o;
}
