/* Upload spooling shared by chat-api (FastCGI) and chat-httpd. */
#include "spool.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "blobs.h"
#include "errors.h"
#include "log.h"
#include "router.h"

bool chat_spool_wanted(const char *method, const char *path)
{
    struct chat_route_args args;
    bool mismatch;
    const struct chat_route *route = chat_route_find(method, path, &args, &mismatch, NULL, 0);
    return route && (route->flags & CHAT_ROUTE_BODY_FILE);
}

void chat_spool_open(struct chat_spool *sp, const struct chat_config *cfg)
{
    memset(sp, 0, sizeof(*sp));
    sp->limit = cfg->attachment_max_bytes;
    if (chat_blob_tmp_open(cfg, sp->path, sizeof(sp->path), &sp->fd) != CHAT_OK) {
        sp->fd = -1;
        sp->path[0] = '\0';
        sp->failed = true;
    }
}

void chat_spool_write(struct chat_spool *sp, const char *data, size_t n)
{
    if (sp->failed || sp->too_large || sp->fd < 0)
        return;
    if (sp->len + (long long)n > sp->limit) {
        /* Keep nothing of an oversized upload; the rest is drained and dropped. */
        sp->too_large = true;
        if (ftruncate(sp->fd, 0) != 0)
            log_warn("ftruncate %s: %s", sp->path, strerror(errno));
        return;
    }
    while (n) {
        ssize_t w = write(sp->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            log_error("writing upload to %s: %s", sp->path, strerror(errno));
            sp->failed = true;
            return;
        }
        data += w;
        n -= (size_t)w;
        sp->len += w;
    }
}

void chat_spool_to_request(const struct chat_spool *sp, struct chat_request *req)
{
    req->body = NULL;
    req->body_len = sp->too_large ? 0 : (size_t)sp->len;
    req->body_too_large = sp->too_large;
    req->body_file = sp->failed ? NULL : sp->path;
}

void chat_spool_discard(struct chat_spool *sp)
{
    if (sp->fd >= 0)
        close(sp->fd);
    sp->fd = -1;
    if (sp->path[0] && unlink(sp->path) != 0 && errno != ENOENT)
        log_warn("unlink %s: %s", sp->path, strerror(errno));
    sp->path[0] = '\0';
}
