/* The asset version: a hash of every file directly in static_dir, computed once per
 * process on first use (each program starts with the files it serves). Pages refer to
 * /static/v/<version>/..., so a changed file gets a new URL and old copies in caches are
 * never used again. Module imports in the scripts are relative ("./chat-client.js"), so
 * they carry the version without knowing it. */
#include "asset_version.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

static pthread_mutex_t version_lock = PTHREAD_MUTEX_INITIALIZER;
static char asset_version_hex[17];

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Feeds name and content of each regular file of dir, sorted by name, into the hash. */
static void hash_static_dir(const char *dir, crypto_generichash_state *st)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) {
        log_error("static_dir %s: %m", dir);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            names = chat_xreallocarray(names, cap, sizeof(*names));
        }
        names[n++] = chat_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), compare_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX], buf[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got;
            crypto_generichash_update(st, (const unsigned char *)names[i], strlen(names[i]) + 1);
            while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
                crypto_generichash_update(st, (const unsigned char *)buf, got);
            fclose(f);
        }
        free(names[i]);
    }
    free(names);
}

const char *chat_asset_version(const struct chat_config *cfg)
{
    pthread_mutex_lock(&version_lock);
    if (!asset_version_hex[0]) {
        unsigned char digest[8];
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, sizeof(digest));
        hash_static_dir(cfg->static_dir, &st);
        crypto_generichash_final(&st, digest, sizeof(digest));
        sodium_bin2hex(asset_version_hex, sizeof(asset_version_hex), digest, sizeof(digest));
    }
    pthread_mutex_unlock(&version_lock);
    return asset_version_hex;
}
