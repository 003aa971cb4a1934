#include "sender.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "log.h"
#include "signature.h"
#include "store.h"
#include "xalloc.h"

struct notify_transfer {
    CURL *easy; /* NULL: the slot is free */
    struct curl_slist *headers;
    char *body;
    long long delivery_id, webhook_id;
    int attempt; /* this attempt's number, 1 for the first */
    size_t received;
    char error[CURL_ERROR_SIZE];
};

int notify_sender_init(struct notify_sender *s, const struct chat_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->multi = curl_multi_init();
    if (!s->multi)
        return CHAT_E_INTERNAL;
    s->nslots = cfg->notify_max_in_flight;
    s->slots = chat_xcalloc((size_t)s->nslots, sizeof(*s->slots));
    return CHAT_OK;
}

static void release(struct notify_sender *s, struct notify_transfer *t)
{
    curl_multi_remove_handle(s->multi, t->easy);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    memset(t, 0, sizeof(*t));
    s->active--;
}

void notify_sender_free(struct notify_sender *s)
{
    for (int i = 0; i < s->nslots; i++)
        if (s->slots[i].easy)
            release(s, &s->slots[i]);
    free(s->slots);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    memset(s, 0, sizeof(*s));
}

/* The receiver's body is not used: count it, and refuse more than the bound (the
 * transfer then ends with CURLE_WRITE_ERROR, its status already known). */
static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    struct notify_transfer *t = arg;
    t->received += size * n;
    return t->received > NOTIFY_MAX_RESPONSE_BYTES ? 0 : size * n;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct curl_slist *add_header(struct curl_slist *list, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    struct curl_slist *next = curl_slist_append(list, line);
    if (!next)
        chat_out_of_memory();
    return next;
}

/* Starts one POST in slot t of claimed row `row`. */
static void start(struct notify_sender *s, struct notify_transfer *t, const struct chat_db_result *r,
                  unsigned row)
{
    const char *url = chat_db_cell(r, row, 1), *secret = chat_db_cell(r, row, 2);
    size_t body_len = r->lens[(size_t)row * r->ncols + 3];
    t->body = chat_xmalloc(body_len + 1);
    memcpy(t->body, chat_db_cell(r, row, 3), body_len);
    t->body[body_len] = '\0';
    t->delivery_id = chat_db_cell_int(r, row, 0);
    t->attempt = (int)chat_db_cell_int(r, row, 4) + 1;
    t->webhook_id = chat_db_cell_int(r, row, 5);
    /* Signed now, not when stored: each attempt carries its own time, so a receiver
     * that refuses old timestamps still accepts a retry. */
    char signature[CHAT_NOTIFY_SIGNATURE_MAX];
    chat_notify_signature(secret, (long long)time(NULL), t->body, body_len, signature);
    t->headers = add_header(NULL, "Content-Type: application/json");
    t->headers = add_header(t->headers, "X-Chat-Signature: %s", signature);
    t->headers = add_header(t->headers, "X-Chat-Delivery: %lld", t->delivery_id);
    t->headers = add_header(t->headers, "X-Chat-Attempt: %d", t->attempt);
    t->headers = add_header(t->headers, "Expect:"); /* no 100-continue round trip */
    t->easy = curl_easy_init();
    if (!t->easy)
        chat_out_of_memory();
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is a failure */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->cfg->notify_http_timeout_s * 1000);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)s->cfg->notify_http_timeout_s * 1000);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "chat-notify/1");
    if (s->cfg->notify_ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, s->cfg->notify_ca_file);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (curl_multi_add_handle(s->multi, e) != CURLM_OK)
        chat_out_of_memory();
    s->active++;
}

int notify_sender_start(struct notify_sender *s, struct chat_db *db)
{
    int free_slots = s->nslots - s->active;
    if (free_slots <= 0)
        return CHAT_OK;
    struct chat_db_result r;
    /* A lease well past the transfer's own timeout: not due again while it can run. */
    int rc = chat_notify_claim(db, free_slots, s->cfg->notify_http_timeout_s + 30, &r);
    if (rc != CHAT_OK)
        return rc;
    int slot = 0;
    for (unsigned row = 0; row < r.nrows; row++) {
        /* A message deleted since it was queued is not sent on: its text is gone. */
        if (chat_db_cell_int(&r, row, 6)) {
            long long id = chat_db_cell_int(&r, row, 0);
            rc = chat_notify_record(db, id, false, true, 0, NOTIFY_MESSAGE_DELETED);
            if (rc != CHAT_OK)
                log_warn("notify: delivery %lld: %s", id, chat_err_code(rc));
            else
                log_info("notify: delivery %lld not sent: its message was deleted", id);
            continue;
        }
        while (s->slots[slot].easy) /* no more rows were claimed than slots are free */
            slot++;
        start(s, &s->slots[slot], &r, row);
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}

/* Records the outcome of finished transfer t (result: curl's code). */
static void finish(struct notify_sender *s, struct chat_db *db, struct notify_transfer *t,
                   CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    /* An answer cut off at the bound still counts by its status. */
    bool ok = status >= 200 && status < 300 && (result == CURLE_OK || result == CURLE_WRITE_ERROR);
    char why[300];
    if (status && !ok)
        snprintf(why, sizeof(why), "HTTP %ld", status);
    else
        snprintf(why, sizeof(why), "%s", t->error[0] ? t->error : curl_easy_strerror(result));
    bool drop = !ok && t->attempt >= s->cfg->notify_max_attempts;
    long long retry_ms = chat_notify_backoff_ms(t->attempt, s->cfg->notify_retry_base_ms,
                                                (long long)s->cfg->notify_retry_max_s * 1000,
                                                randombytes_random());
    int rc = chat_notify_record(db, t->delivery_id, ok, drop, retry_ms, ok ? NULL : why);
    if (rc != CHAT_OK)
        /* Still leased: it is sent again when the lease ends (at least once). */
        log_warn("notify: delivery %lld: could not record attempt %d: %s", t->delivery_id,
                 t->attempt, chat_err_code(rc));
    if (ok) {
        s->delivered++;
        log_debug("notify: delivery %lld to webhook %lld: delivered (attempt %d)", t->delivery_id,
                  t->webhook_id, t->attempt);
    } else if (drop) {
        s->dropped++;
        log_warn("notify: delivery %lld to webhook %lld dropped after %d attempts: %s "
                 "(%lld dropped since start)",
                 t->delivery_id, t->webhook_id, t->attempt, why, s->dropped);
    } else {
        s->retried++;
        log_info("notify: delivery %lld to webhook %lld: attempt %d failed (%s); next in %lld ms",
                 t->delivery_id, t->webhook_id, t->attempt, why, retry_ms);
    }
    release(s, t);
}

int notify_sender_run(struct notify_sender *s, struct chat_db *db, int timeout_ms)
{
    int running = 0;
    curl_multi_poll(s->multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(s->multi, &running);
    int finished = 0, left = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(s->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct notify_transfer *t = NULL;
        CURLcode result = m->data.result; /* m is invalid once the handle is removed */
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        finish(s, db, t, result);
        finished++;
    }
    return finished;
}
