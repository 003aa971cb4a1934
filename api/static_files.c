/* The static file server behind GET /static/{*}: versioned and plain URLs, a fixed
 * table of served types, a strict path check, and a realpath() check that the file is
 * below static_dir. The transport sends the file from disk (res->file_path). */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errors.h"
#include "handlers.h"
#include "log.h"
#include "response.h"
#include "xalloc.h"

/* Longest path below /static/ we serve. */
#define STATIC_PATH_MAX 200

/* Versioned asset URLs (/static/v/<version>/chat.js) never change content, so they may be
 * cached for a year; unversioned ones for an hour. */
#define STATIC_CACHE_VERSIONED "public, max-age=31536000, immutable"
#define STATIC_CACHE_PLAIN "public, max-age=3600"

static const struct {
    const char *ext;
    const char *type;
} static_types[] = {
    {".js", "application/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".html", "text/html; charset=utf-8"},
};

/* The content type for name's extension, or NULL for a type we do not serve. */
static const char *static_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return NULL;
    for (size_t i = 0; i < sizeof(static_types) / sizeof(static_types[0]); i++)
        if (strcmp(dot, static_types[i].ext) == 0)
            return static_types[i].type;
    return NULL;
}

/* True when rel is a relative path of plain segments: [A-Za-z0-9_.-] separated by single
 * slashes, no segment starting with '.' (so no "..", no hidden files), no percent
 * escapes (no file needs them, and decoding invites double-decoding mistakes). */
static bool static_path_valid(const char *rel)
{
    size_t len = strlen(rel);
    bool segment_start = true;
    if (len == 0 || len > STATIC_PATH_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = rel[i];
        if (c == '/') {
            if (segment_start) /* leading slash or "//" */
                return false;
            segment_start = true;
            continue;
        }
        if (segment_start && c == '.')
            return false;
        segment_start = false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return !segment_start; /* no trailing slash */
}

CHAT_HANDLER(chat_handle_static)
{
    char base[PATH_MAX], joined[PATH_MAX + STATIC_PATH_MAX + 2], real[PATH_MAX];
    struct stat st;
    const char *rel = args->rest ? args->rest : "";
    const char *cache = STATIC_CACHE_PLAIN;
    size_t base_len;

    /* v/<hex digits>/<file>: the versioned URL of <file> (any version is served: the
     * hash only has to change the URL, and nginx cannot check it either). */
    if (strncmp(rel, "v/", 2) == 0) {
        size_t digits = strspn(rel + 2, "0123456789abcdef");
        if (digits == 0 || digits > 64 || rel[2 + digits] != '/')
            goto not_found;
        rel += 3 + digits;
        cache = STATIC_CACHE_VERSIONED;
    }
    const char *type = static_content_type(rel);

    if (!type || !static_path_valid(rel))
        goto not_found;
    if (!realpath(app->cfg->static_dir, base)) {
        log_error("static_dir %s: %m", app->cfg->static_dir);
        goto not_found;
    }
    snprintf(joined, sizeof(joined), "%s/%s", base, rel);
    /* A symlink inside static/ may point anywhere; only what resolves below base is
     * served. */
    base_len = strlen(base);
    if (!realpath(joined, real) || strncmp(real, base, base_len) != 0 || real[base_len] != '/' ||
        stat(real, &st) != 0 || !S_ISREG(st.st_mode))
        goto not_found;

    res->status = 200;
    res->content_type = type;
    res->file_path = chat_xstrdup(real);
    res->file_size = (long long)st.st_size;
    chat_response_header(res, "Cache-Control", cache);
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    return CHAT_OK;
not_found:
    return chat_fail(req, res, CHAT_E_NOT_FOUND, NULL);
}
