/* Layer 2 (records) of the data layer: attachments. Uploads, access checks, attaching
 * to a message (inside the send's transaction), and `chatctl gc`. Calls store_rows.c
 * only (and blobs.c for the files). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "blobs.h"
#include "errors.h"
#include "i18n.h"
#include "log.h"
#include "store.h"
#include "store_internal.h"

/* Files younger than this are never removed by gc (see chat_blob_remove). */
#define GC_FILE_MIN_AGE_S 3600
#define GC_BATCH 1000

static int load_attachment_json(struct chat_db *db, long long id, json_object **out)
{
    return chat_query_one_json(db,
                               "SELECT " CHAT_ATTACHMENT_COLUMNS " FROM attachments a WHERE a.id = ?",
                               CHAT_DB_PARAMS(DB_INT(id)), chat_attachment_json_from_row, out);
}

int chat_attachment_create(struct chat_db *db, const struct chat_config *cfg,
                           long long uploader_id, const char *filename,
                           const char *content_type, const void *data, size_t len,
                           json_object **out)
{
    char sha[CHAT_SHA256_HEX_LEN + 1];
    bool created = false;
    unsigned long long id = 0;
    *out = NULL;
    chat_blob_sha256_hex(data, len, sha);
    int rc = chat_db_begin(db);
    if (rc != CHAT_OK)
        return rc;
    /* Row first (invisible until commit), then the file, then the commit: a failure at
     * any step rolls the row back and removes a file this call created. */
    rc = chat_db_exec(db,
                      "INSERT INTO attachments (uploader_id, filename, content_type, size, sha256) "
                      "VALUES (?, ?, ?, ?, ?)",
                      CHAT_DB_PARAMS(DB_INT(uploader_id), DB_STR(filename), DB_STR(content_type),
                                     DB_INT((long long)len), DB_STR(sha)),
                      NULL, &id);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_blob_store(cfg, sha, data, len, &created);
    if (rc != CHAT_OK)
        goto out;
    rc = load_attachment_json(db, (long long)id, out);
    if (rc != CHAT_OK)
        goto out;
    rc = chat_db_commit(db);
out:
    if (rc != CHAT_OK) {
        chat_db_rollback(db);
        if (*out) {
            json_object_put(*out);
            *out = NULL;
        }
        /* Only a file this call created, and only when no committed row shares it. */
        if (created && chat_db_query_int(db, "SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1",
                                         CHAT_DB_PARAMS(DB_STR(sha)), NULL) == CHAT_E_NOT_FOUND)
            chat_blob_remove(cfg, sha, 0, NULL);
    }
    return rc;
}

int chat_attachment_get_for_viewer(struct chat_db *db, long long id, long long viewer_id,
                                   struct chat_attachment *out)
{
    struct chat_db_result r;
    int rc = chat_db_query(
        db,
        "SELECT " CHAT_ATTACHMENT_COLUMNS " FROM attachments a "
        "LEFT JOIN messages m ON m.id = a.message_id "
        "WHERE a.id = ? AND ((a.message_id IS NULL AND a.uploader_id = ?) OR "
        "(m.deleted_at IS NULL AND EXISTS (SELECT 1 FROM participants p "
        "WHERE p.conversation_id = m.conversation_id AND p.user_id = ?)))",
        CHAT_DB_PARAMS(DB_INT(id), DB_INT(viewer_id), DB_INT(viewer_id)), &r);
    if (rc != CHAT_OK)
        return rc;
    if (r.nrows == 0) {
        rc = CHAT_E_NOT_FOUND;
    } else {
        out->id = chat_db_cell_int(&r, 0, 0);
        snprintf(out->filename, sizeof(out->filename), "%s", chat_db_cell(&r, 0, 1));
        out->size = chat_db_cell_int(&r, 0, 2);
        snprintf(out->content_type, sizeof(out->content_type), "%s", chat_db_cell(&r, 0, 3));
        snprintf(out->sha256, sizeof(out->sha256), "%s", chat_db_cell(&r, 0, 4));
    }
    chat_db_result_free(&r);
    return rc;
}

/* Why id cannot be attached by sender_id: CHAT_E_VALIDATION (no such upload of the
 * sender) or CHAT_E_CONFLICT (attached already); CHAT_OK when it can. */
static int attach_state(struct chat_db *db, long long sender_id, long long id)
{
    long long attached = 0;
    int rc = chat_db_query_int(db,
                               "SELECT message_id IS NOT NULL FROM attachments "
                               "WHERE id = ? AND uploader_id = ?",
                               CHAT_DB_PARAMS(DB_INT(id), DB_INT(sender_id)), &attached);
    if (rc == CHAT_E_NOT_FOUND)
        return CHAT_E_VALIDATION;
    if (rc != CHAT_OK)
        return rc;
    return attached ? CHAT_E_CONFLICT : CHAT_OK;
}

int chat_attachments_validate(struct chat_db *db, long long sender_id, const long long *ids,
                              size_t count, char *detail, size_t detail_len)
{
    if (count > CHAT_ATTACHMENTS_MAX) {
        chat_detail_printf(detail, detail_len, "error.message.attachments_too_many", "max=%d",
                           CHAT_ATTACHMENTS_MAX);
        return CHAT_E_VALIDATION;
    }
    for (size_t i = 0; i < count; i++) {
        for (size_t j = 0; j < i; j++) {
            if (ids[j] == ids[i]) {
                chat_detail_printf(detail, detail_len, "error.message.attachment_repeated", "id=%lld",
                                   ids[i]);
                return CHAT_E_VALIDATION;
            }
        }
        /* Already attached is left to chat_message_send: a retry with the same
         * client_msg_id must get its original message back, not a conflict. */
        int rc = attach_state(db, sender_id, ids[i]);
        if (rc == CHAT_E_VALIDATION)
            chat_detail_printf(detail, detail_len, "error.message.attachment_not_yours", "id=%lld",
                               ids[i]);
        if (rc != CHAT_OK && rc != CHAT_E_CONFLICT)
            return rc;
    }
    return CHAT_OK;
}

int chat_attachments_attach(struct chat_db *db, long long message_id, long long sender_id,
                            const long long *ids, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        unsigned long long affected = 0;
        /* The row lock makes a concurrent send of the same upload wait and then fail. */
        int rc = chat_db_exec(db,
                              "UPDATE attachments SET message_id = ? "
                              "WHERE id = ? AND uploader_id = ? AND message_id IS NULL",
                              CHAT_DB_PARAMS(DB_INT(message_id), DB_INT(ids[i]), DB_INT(sender_id)),
                              &affected, NULL);
        if (rc != CHAT_OK)
            return rc;
        if (affected != 1) {
            rc = attach_state(db, sender_id, ids[i]);
            return rc == CHAT_OK ? CHAT_E_CONFLICT : rc;
        }
    }
    return CHAT_OK;
}

/* ---- gc ---- */

/* Deletes attachment rows matched by `select_sql` (id column) in batches. */
static int gc_rows(struct chat_db *db, const char *select_sql, long long *count)
{
    for (;;) {
        struct chat_db_result r;
        int rc = chat_db_query(db, select_sql, CHAT_DB_PARAMS(DB_INT(GC_BATCH)), &r);
        if (rc != CHAT_OK)
            return rc;
        unsigned n = r.nrows;
        for (unsigned i = 0; i < n && rc == CHAT_OK; i++) {
            unsigned long long affected = 0;
            rc = chat_db_exec(db, "DELETE FROM attachments WHERE id = ?",
                              CHAT_DB_PARAMS(DB_INT(chat_db_cell_int(&r, i, 0))), &affected, NULL);
            *count += (long long)affected;
        }
        chat_db_result_free(&r);
        if (rc != CHAT_OK || n < GC_BATCH)
            return rc;
    }
}

/* Walks data_dir/attachments/xx/yy/ and removes every file whose hash no row names. */
static int gc_files(struct chat_db *db, const struct chat_config *cfg, long long *count)
{
    char top[4096];
    snprintf(top, sizeof(top), "%s/attachments", cfg->data_dir);
    DIR *d1 = opendir(top);
    if (!d1)
        return CHAT_OK; /* nothing stored yet */
    int rc = CHAT_OK;
    struct dirent *e1;
    while (rc == CHAT_OK && (e1 = readdir(d1))) {
        if (e1->d_name[0] == '.')
            continue;
        char mid[4352];
        snprintf(mid, sizeof(mid), "%s/%s", top, e1->d_name);
        DIR *d2 = opendir(mid);
        if (!d2)
            continue;
        struct dirent *e2;
        while (rc == CHAT_OK && (e2 = readdir(d2))) {
            if (e2->d_name[0] == '.')
                continue;
            char leaf[4608];
            snprintf(leaf, sizeof(leaf), "%s/%s", mid, e2->d_name);
            DIR *d3 = opendir(leaf);
            if (!d3)
                continue;
            struct dirent *e3;
            while (rc == CHAT_OK && (e3 = readdir(d3))) {
                if (!chat_blob_hash_valid(e3->d_name))
                    continue;
                rc = chat_db_query_int(db, "SELECT 1 FROM attachments WHERE sha256 = ? LIMIT 1",
                                       CHAT_DB_PARAMS(DB_STR(e3->d_name)), NULL);
                if (rc == CHAT_E_NOT_FOUND) {
                    bool removed = false;
                    rc = chat_blob_remove(cfg, e3->d_name, GC_FILE_MIN_AGE_S, &removed);
                    *count += removed;
                }
            }
            closedir(d3);
        }
        closedir(d2);
    }
    closedir(d1);
    return rc;
}

/* Runs a DELETE ... LIMIT statement until it deletes fewer rows than the batch. */
static int gc_batched_delete(struct chat_db *db, const char *sql, long long arg, long long *count)
{
    for (;;) {
        unsigned long long affected = 0;
        int rc = chat_db_exec(db, sql, CHAT_DB_PARAMS(DB_INT(arg), DB_INT(GC_BATCH * 10)),
                              &affected, NULL);
        if (rc != CHAT_OK)
            return rc;
        *count += (long long)affected;
        if (affected < GC_BATCH * 10)
            return CHAT_OK;
    }
}

int chat_gc(struct chat_db *db, const struct chat_config *cfg, struct chat_gc_stats *st)
{
    memset(st, 0, sizeof(*st));
    int rc = gc_rows(db,
                     "SELECT id FROM attachments WHERE message_id IS NULL AND "
                     "created_at < NOW(6) - INTERVAL 24 HOUR LIMIT ?",
                     &st->attachments);
    if (rc == CHAT_OK)
        rc = gc_rows(db,
                     "SELECT a.id FROM attachments a JOIN messages m ON m.id = a.message_id "
                     "WHERE m.deleted_at IS NOT NULL LIMIT ?",
                     &st->attachments);
    if (rc == CHAT_OK)
        rc = gc_files(db, cfg, &st->files);
    if (rc == CHAT_OK) {
        int n = chat_blob_sweep_tmp(cfg, GC_FILE_MIN_AGE_S);
        st->tmp_files = n > 0 ? n : 0;
    }
    if (rc == CHAT_OK)
        rc = gc_batched_delete(db,
                               "DELETE FROM events WHERE created_at < NOW(6) - INTERVAL ? HOUR "
                               "LIMIT ?",
                               cfg->event_retention_hours, &st->events);
    if (rc == CHAT_OK)
        rc = gc_batched_delete(db,
                               "DELETE FROM rate_buckets WHERE updated_at < "
                               "UNIX_TIMESTAMP(NOW(6)) - ? LIMIT ?",
                               3600, &st->rate_buckets);
    /* audit_log has no time index; oldest first by id, the rows due are the first ones. */
    if (rc == CHAT_OK && cfg->audit_retention_days > 0)
        rc = gc_batched_delete(db,
                               "DELETE FROM audit_log WHERE created_at < NOW(6) - INTERVAL ? DAY "
                               "ORDER BY id LIMIT ?",
                               cfg->audit_retention_days, &st->audit);
    return rc;
}
