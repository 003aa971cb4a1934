/* Content-addressed file storage for attachments under data_dir:
 *   data_dir/attachments/ab/cd/<sha256 hex>   the bytes, named by their hash only
 *   data_dir/tmp/                             uploads and writes in progress
 * Files appear in attachments/ only whole: written to tmp/, fsync'ed, then renamed (both
 * directories are on one filesystem), so a crash or an interrupted upload never leaves a
 * partial file under a hash name. The user's filename never becomes a path. */
#ifndef CHAT_BLOBS_H
#define CHAT_BLOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define CHAT_SHA256_HEX_LEN 64

/* Lower-case hex SHA-256 of data into out (65 bytes). */
void chat_blob_sha256_hex(const void *data, size_t len, char out[CHAT_SHA256_HEX_LEN + 1]);

/* True when s is exactly 64 lower-case hex digits. */
bool chat_blob_hash_valid(const char *s);

/* Writes data_dir/attachments/ab/cd/<hex> into out. Returns CHAT_OK, or CHAT_E_INTERNAL
 * when the hash is malformed or the path does not fit. */
int chat_blob_path(const struct chat_config *cfg, const char *sha_hex, char *out, size_t outlen);

/* Creates data_dir/tmp when needed and opens a new empty file there (mode 0600). On
 * success *fd is open for reading and writing and path holds its name; the caller closes
 * and unlinks it. Returns CHAT_OK or CHAT_E_INTERNAL (logged). */
int chat_blob_tmp_open(const struct chat_config *cfg, char *path, size_t pathlen, int *fd);

/* Stores len bytes under sha_hex (which the caller computed from data): a temp file,
 * fsync, rename, fsync of the directory. When the file already exists its contents are
 * the same (same hash), so it is only touched (mtime, see chat_blob_remove_if_stale) and
 * *created is false. Returns CHAT_OK or CHAT_E_INTERNAL (logged); nothing is left behind
 * on failure. */
int chat_blob_store(const struct chat_config *cfg, const char *sha_hex, const void *data,
                    size_t len, bool *created);

/* Removes the file of sha_hex. The caller has made sure that no row names the hash.
 * min_age_s > 0 keeps a file touched less than that many seconds ago: an upload that is
 * reusing it may not have committed its row yet. Returns CHAT_OK (also when the file is
 * absent or kept) or CHAT_E_INTERNAL. *removed (may be NULL) says whether it went. */
int chat_blob_remove(const struct chat_config *cfg, const char *sha_hex, int min_age_s,
                     bool *removed);

/* Removes files in data_dir/tmp older than max_age_s (left by crashed processes).
 * Returns the number removed, or -1 when the directory cannot be read. */
int chat_blob_sweep_tmp(const struct chat_config *cfg, int max_age_s);

#endif
