/* Content-addressed attachment files: temp file, fsync, rename. */
#include "blobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"

void chat_blob_sha256_hex(const void *data, size_t len, char out[CHAT_SHA256_HEX_LEN + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(out, CHAT_SHA256_HEX_LEN + 1, digest, sizeof(digest));
}

bool chat_blob_hash_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == CHAT_SHA256_HEX_LEN;
}

int chat_blob_path(const struct chat_config *cfg, const char *sha_hex, char *out, size_t outlen)
{
    if (!chat_blob_hash_valid(sha_hex))
        return CHAT_E_INTERNAL;
    int n = snprintf(out, outlen, "%s/attachments/%.2s/%.2s/%s", cfg->data_dir, sha_hex,
                     sha_hex + 2, sha_hex);
    return n > 0 && (size_t)n < outlen ? CHAT_OK : CHAT_E_INTERNAL;
}

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return CHAT_OK;
    log_error("mkdir %s: %s", path, strerror(errno));
    return CHAT_E_INTERNAL;
}

/* Creates every directory on the way to the file `path` (not the file itself). */
static int make_parents(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
        return CHAT_E_INTERNAL;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = make_dir(buf);
        *p = '/';
        if (rc != CHAT_OK)
            return rc;
    }
    return CHAT_OK;
}

int chat_blob_tmp_open(const struct chat_config *cfg, char *path, size_t pathlen, int *fd)
{
    *fd = -1;
    int n = snprintf(path, pathlen, "%s/tmp/up-XXXXXX", cfg->data_dir);
    if (n < 0 || (size_t)n >= pathlen)
        return CHAT_E_INTERNAL;
    if (make_parents(path) != CHAT_OK)
        return CHAT_E_INTERNAL;
    *fd = mkostemp(path, O_CLOEXEC);
    if (*fd < 0) {
        log_error("cannot create a temp file in %s/tmp: %s", cfg->data_dir, strerror(errno));
        return CHAT_E_INTERNAL;
    }
    return CHAT_OK;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory holding `path`, so a rename into it survives a crash. */
static void sync_parent_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int chat_blob_store(const struct chat_config *cfg, const char *sha_hex, const void *data,
                    size_t len, bool *created)
{
    char final[4096], tmp[4096];
    int fd = -1, rc;
    *created = false;
    tmp[0] = '\0';
    if ((rc = chat_blob_path(cfg, sha_hex, final, sizeof(final))) != CHAT_OK)
        return rc;
    /* Same name, same bytes: reuse it, refreshing mtime so gc leaves it alone while our
     * row is still uncommitted. */
    if (utimensat(AT_FDCWD, final, NULL, 0) == 0)
        return CHAT_OK;
    rc = CHAT_E_INTERNAL;
    if (make_parents(final) != CHAT_OK)
        goto out;
    if (chat_blob_tmp_open(cfg, tmp, sizeof(tmp), &fd) != CHAT_OK) {
        tmp[0] = '\0';
        goto out;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        log_error("writing %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        log_error("closing %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (chmod(tmp, 0640) != 0 || rename(tmp, final) != 0) {
        log_error("storing %s as %s: %s", tmp, final, strerror(errno));
        goto out;
    }
    tmp[0] = '\0';
    sync_parent_dir(final);
    *created = true;
    rc = CHAT_OK;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlink(tmp);
    return rc;
}

int chat_blob_remove(const struct chat_config *cfg, const char *sha_hex, int min_age_s,
                     bool *removed)
{
    char path[4096];
    struct stat st;
    if (removed)
        *removed = false;
    int rc = chat_blob_path(cfg, sha_hex, path, sizeof(path));
    if (rc != CHAT_OK)
        return rc;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? CHAT_OK : CHAT_E_INTERNAL;
    if (min_age_s > 0 && time(NULL) - st.st_mtime < min_age_s)
        return CHAT_OK;
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("unlink %s: %s", path, strerror(errno));
        return CHAT_E_INTERNAL;
    }
    if (removed)
        *removed = true;
    return CHAT_OK;
}

int chat_blob_sweep_tmp(const struct chat_config *cfg, int max_age_s)
{
    char dir[4096], path[4352];
    snprintf(dir, sizeof(dir), "%s/tmp", cfg->data_dir);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int removed = 0;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        struct stat st;
        if (strncmp(de->d_name, "up-", 3) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && now - st.st_mtime >= max_age_s &&
            unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
