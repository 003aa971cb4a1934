/* Upload bodies spooled to a file under data_dir/tmp, so that a 25 MiB upload never sits
 * in a worker's memory. Both transports use it for routes flagged CHAT_ROUTE_BODY_FILE:
 * they open a spool when the request starts, append what arrives, hand the file to the
 * handler through struct chat_request, and discard it after the response (or when the
 * client goes away), so no temp file outlives its request. */
#ifndef CHAT_SPOOL_H
#define CHAT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http.h"

struct chat_spool {
    int fd;            /* -1 when not open */
    char path[4096];
    long long len;     /* bytes written */
    long long limit;   /* attachment_max_bytes */
    bool too_large;    /* more than limit arrived: the file is emptied and writes stop */
    bool failed;       /* could not be created or written (logged) */
};

/* True when the route for method and path takes its body as a file. */
bool chat_spool_wanted(const char *method, const char *path);

/* Opens a new spool file; on failure sp->failed is set (the request then gets 500). */
void chat_spool_open(struct chat_spool *sp, const struct chat_config *cfg);

/* Appends n bytes, or marks the spool too large once the limit is passed. */
void chat_spool_write(struct chat_spool *sp, const char *data, size_t n);

/* Sets req's body fields from the spool (valid while sp is). */
void chat_spool_to_request(const struct chat_spool *sp, struct chat_request *req);

/* Closes and removes the file (if the handler has not taken it). Safe to call twice. */
void chat_spool_discard(struct chat_spool *sp);

#endif
