/* The HTTP side of chat-push: the fallbacks for clients without WebSocket (Server-Sent
 * Events at /events/stream/ and long-poll at /events/poll/), /metrics and /healthz.
 *
 * An SSE stream or a long-poll request is a struct push_conn like a WebSocket: it is
 * authenticated by the same DB job, subscribed through the same indexes and fed the same
 * once-serialized frames. Only the writing differs (LWS_CALLBACK_HTTP_WRITEABLE, one
 * lws_write per callback). Protocol: docs/protocol.md, "Fallbacks". */
#include "http_fallback.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "http_state.h"
#include "errors.h"
#include "i18n.h"
#include "json_util.h"
#include "log.h"
#include "request.h"
#include "strbuf.h"
#include "xalloc.h"

#define POLL_TIMEOUT_DEFAULT_S 25
#define POLL_TIMEOUT_MAX_S 60

/* ---- responses ---- */

/* Writes the status line and headers. content_len LWS_ILLEGAL_HTTP_CONTENT_LEN = none
 * (a stream that ends with the connection). cors (may be NULL; cors_len bytes) is the
 * allowed page origin to echo:
 * under `make run` the page (port 8000) and this daemon (8001) are different origins, so
 * a browser's EventSource or credentialed fetch needs Access-Control-Allow-Origin with
 * credentials allowed. Only origins in allowed_origins are echoed. Returns 0 or -1. */
static int write_headers(struct lws *wsi, const char *cors, size_t cors_len, unsigned status,
                         const char *ctype, lws_filepos_t content_len, bool stream)
{
    unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
                                       *end = buf + sizeof(buf) - 1;
    static const char no_store[] = "no-store", no_cache[] = "no-cache", no[] = "no";
    const char *cache = stream ? no_cache : no_store;
    if (lws_add_http_common_headers(wsi, status, ctype, content_len, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)cache, (int)strlen(cache), &p, end))
        return -1;
    /* nginx must not buffer an event stream (etc/nginx/chat-locations.conf.in also says so). */
    if (stream && lws_add_http_header_by_name(wsi, (const unsigned char *)"x-accel-buffering:",
                                              (const unsigned char *)no, 2, &p, end))
        return -1;
    static const char yes[] = "true", vary[] = "Origin";
    if (cors &&
        (lws_add_http_header_by_name(wsi, (const unsigned char *)"access-control-allow-origin:",
                                     (const unsigned char *)cors, (int)cors_len, &p, end) ||
         lws_add_http_header_by_name(wsi,
                                     (const unsigned char *)"access-control-allow-credentials:",
                                     (const unsigned char *)yes, 4, &p, end) ||
         lws_add_http_header_by_name(wsi, (const unsigned char *)"vary:",
                                     (const unsigned char *)vary, 6, &p, end)))
        return -1;
    return lws_finalize_write_http_header(wsi, start, &p, end) ? -1 : 0;
}

/* Writes a whole response whose body is `body` (LWS_PRE headroom before it, as in a
 * push_frame) and ends the transaction. Returns the callback's result. */
static int respond(struct lws *wsi, const char *cors, size_t cors_len, unsigned status,
                   const char *ctype, unsigned char *body, size_t len)
{
    if (write_headers(wsi, cors, cors_len, status, ctype, len, false) < 0)
        return -1;
    if (len && lws_write(wsi, body, len, LWS_WRITE_HTTP_FINAL) < (int)len)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int respond_text(struct lws *wsi, unsigned status, const char *ctype, const char *text,
                        size_t len)
{
    struct push_frame *f = push_frame_new(text, len, 0);
    int rc = respond(wsi, NULL, 0, status, ctype, push_frame_text(f), len);
    push_frame_unref(f);
    return rc;
}

/* The error response {"detail","code","request_id"} for err (a CHAT_E_* value: its HTTP
 * status and code, and its message when detail is NULL), the detail in locale. */
static int respond_error(struct push_server *srv, struct lws *wsi, enum chat_locale locale,
                         int err, const char *detail)
{
    char rid[32];
    snprintf(rid, sizeof(rid), "push-%llu", ++srv->requests);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "detail", chat_i18n_error_json(locale, err, detail));
    json_object_object_add(o, "code", json_object_new_string(chat_err_code(err)));
    json_object_object_add(o, "request_id", json_object_new_string(rid));
    size_t len;
    const char *text = chat_json_to_string(o, &len);
    int rc = respond_text(wsi, (unsigned)chat_err_status(err), "application/json", text, len);
    json_object_put(o);
    return rc;
}

/* ---- /metrics and /healthz ---- */

static bool peer_allowed(struct lws *wsi, const struct chat_config *cfg)
{
    char ip[64];
    const char *peer = lws_get_peer_simple(wsi, ip, sizeof(ip));
    if (!peer)
        return false;
    size_t len = strlen(peer);
    for (const char *p = cfg->push_metrics_allow; *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n && n == len && memcmp(p, peer, n) == 0)
            return true;
        p += n;
    }
    return false;
}

static int serve_metrics(struct push_server *srv, struct lws *wsi)
{
    struct push_metrics_snapshot snap = {
        .connections_ws = srv->connections_by_kind[PUSH_KIND_WS],
        .connections_sse = srv->connections_by_kind[PUSH_KIND_SSE],
        .connections_poll = srv->connections_by_kind[PUSH_KIND_POLL],
        .users = srv->fanout.by_user.count,
        .delivered = srv->fanout.delivered,
        .dropped_slow = srv->fanout.dropped_slow,
        .now_ms = chat_now_ms(),
    };
    push_worker_stats(srv->worker, &snap.worker);
    struct strbuf b = {0};
    push_metrics_render(&srv->metrics, &snap, &b);
    int rc = respond_text(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4", b.data, b.len);
    strbuf_free(&b);
    return rc;
}

/* 200 while the DB worker is connected and its last tail round is recent, else 503. */
static int serve_health(struct push_server *srv, struct lws *wsi)
{
    struct push_worker_stats st;
    push_worker_stats(srv->worker, &st);
    long long age = st.last_tail_ms ? chat_now_ms() - st.last_tail_ms : -1;
    long long limit = 3LL * srv->cfg->push_poll_interval_ms;
    if (limit < 2000)
        limit = 2000;
    bool ok = st.connected && age >= 0 && age <= limit;
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"%s\",\"db_connected\":%s,\"tail_age_ms\":%lld,"
                     "\"tail_position\":%lld,\"connections\":%llu}",
                     ok ? "ok" : "unavailable", st.connected ? "true" : "false", age, st.high,
                     srv->connections);
    return respond_text(wsi, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
                        "application/json", body, (size_t)n);
}

/* ---- starting an SSE stream or a long-poll ---- */

/* The Last-Event-ID header as a number, -1 when absent, -2 when malformed. */
static long long last_event_id_header(struct lws *wsi)
{
    static const char name[] = "last-event-id:";
    char buf[32];
    int n = lws_hdr_custom_length(wsi, name, (int)sizeof(name) - 1);
    if (n <= 0)
        return -1;
    if (n >= (int)sizeof(buf) ||
        lws_hdr_custom_copy(wsi, buf, sizeof(buf), name, (int)sizeof(name) - 1) < 0 ||
        !isdigit((unsigned char)buf[0]))
        return -2;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno || *end ? -2 : v;
}

static int start_fallback(struct push_server *srv, struct lws *wsi, struct push_session *pss,
                          enum push_conn_kind kind)
{
    enum chat_locale locale = push_request_locale(wsi);
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0)
        return respond_error(srv, wsi, locale, CHAT_E_METHOD, "Use GET.");
    long long from = push_request_int_arg(wsi, "last_event_id=");
    if (from == -1)
        from = last_event_id_header(wsi); /* EventSource sends it on reconnect */
    if (from == -2)
        return respond_error(srv, wsi, locale, CHAT_E_BAD_REQUEST,
                             "last_event_id must be a non-negative integer.");
    long long timeout = POLL_TIMEOUT_DEFAULT_S;
    if (kind == PUSH_KIND_POLL) {
        timeout = push_request_int_arg(wsi, "timeout=");
        if (timeout == -1)
            timeout = POLL_TIMEOUT_DEFAULT_S;
        if (timeout < 0 || timeout > POLL_TIMEOUT_MAX_S)
            return respond_error(srv, wsi, locale, CHAT_E_BAD_REQUEST,
                                 "timeout must be an integer from 0 to 60 (seconds).");
    }
    bool from_cookie;
    char *token = push_request_token(wsi, &from_cookie);
    if (!token)
        return respond_error(srv, wsi, locale, CHAT_E_NOT_AUTHENTICATED, NULL);
    /* A cookie is sent by the browser on its own, so a cookie-authenticated request from
     * another site's page must not be served; a bearer token proves the caller's intent. */
    if (from_cookie && !push_request_origin_ok(wsi, srv->cfg)) {
        free(token);
        log_info("%s refused: Origin not allowed", kind == PUSH_KIND_SSE ? "SSE" : "long-poll");
        return respond_error(srv, wsi, locale, CHAT_E_FORBIDDEN, "Origin not allowed.");
    }
    struct push_conn *conn = push_conn_new(srv, wsi, kind, 0);
    conn->locale = (unsigned char)locale;
    struct push_http_state *h = conn->http;
    conn->resume_from = kind == PUSH_KIND_SSE ? from : -1;
    h->poll_from = from;
    h->poll_deadline_ms = chat_now_ms() + timeout * 1000;
    h->cors_origin = push_request_allowed_origin(wsi, srv->cfg, &h->cors_origin_len);
    pss->conn = conn;
    /* Everything needed from the request is read: give the header table back (lws has a
     * small pool of them) and lift lws's HTTP timeouts for the long wait. */
    lws_http_headers_detach(wsi);
    lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
    push_submit_auth(srv, conn, token);
    return 0;
}

int push_http_request(struct push_server *srv, struct lws *wsi, struct push_session *pss,
                      const char *path)
{
    if (pss->conn)
        return -1; /* a request pipelined behind an unfinished stream: not served */
    if (strcmp(path, "/events/stream/") == 0)
        return start_fallback(srv, wsi, pss, PUSH_KIND_SSE);
    if (strcmp(path, "/events/poll/") == 0)
        return start_fallback(srv, wsi, pss, PUSH_KIND_POLL);
    bool metrics = strcmp(path, "/metrics") == 0, health = strcmp(path, "/healthz") == 0;
    if ((metrics || health) && peer_allowed(wsi, srv->cfg))
        return metrics ? serve_metrics(srv, wsi) : serve_health(srv, wsi);
    /* Anything else, including WebSocket paths requested without an upgrade. */
    if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- results from the DB worker ---- */

void push_http_fail(struct push_conn *conn, int err, const char *detail)
{
    struct push_http_state *h = conn->http;
    h->error = err;
    h->detail = detail;
    lws_callback_on_writable((struct lws *)conn->wsi);
}

static void submit_poll(struct push_server *srv, struct push_conn *conn)
{
    struct push_http_state *h = conn->http;
    struct push_job *job = push_job_for(PUSH_JOB_POLL, conn);
    job->last_event_id = h->poll_from;
    h->poll_running = true;
    h->poll_waiting = false;
    h->poll_dirty = false;
    push_worker_submit(srv->worker, job);
}

void push_http_auth_done(struct push_server *srv, struct push_conn *conn, int status)
{
    switch (status) {
    case CHAT_OK:
        if (conn->kind == PUSH_KIND_POLL) {
            submit_poll(srv, conn);
        } else {
            if (conn->resume_from >= 0)
                push_start_resume(srv, conn, conn->resume_from);
            lws_callback_on_writable((struct lws *)conn->wsi); /* the headers */
        }
        break;
    case CHAT_E_NOT_AUTHENTICATED:
    case CHAT_E_TOO_MANY_CONNECTIONS:
        push_http_fail(conn, status, NULL);
        break;
    default:
        push_http_fail(conn, CHAT_E_DB, NULL);
        break;
    }
}

void push_http_poll_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    struct push_http_state *h = conn->http;
    h->poll_running = false;
    if (r->status == CHAT_E_NOT_AUTHENTICATED) {
        push_http_fail(conn, CHAT_E_NOT_AUTHENTICATED, "The session has ended.");
    } else if (r->status != CHAT_OK) {
        push_http_fail(conn, CHAT_E_DB, NULL);
    } else if (r->poll_count > 0 || h->poll_final || h->poll_from < 0) {
        h->body = r->body;
        r->body = NULL;
        lws_callback_on_writable((struct lws *)conn->wsi);
    } else if (h->poll_dirty) {
        submit_poll(srv, conn); /* events arrived while the query ran */
    } else {
        h->poll_waiting = true;
    }
}

/* ---- writing ---- */

/* The SSE form of a frame: "id: N" for events, one "data:" line per line of the JSON,
 * a blank line; an empty frame is a keep-alive comment. Caller frees; LWS_PRE headroom. */
static unsigned char *sse_format(const struct push_frame *f, size_t *out_len)
{
    const char *text = (const char *)f->data + LWS_PRE;
    size_t lines = 1;
    for (size_t i = 0; i < f->len; i++)
        lines += text[i] == '\n';
    size_t cap = LWS_PRE + f->len + lines * 7 + 48;
    unsigned char *buf = chat_xmalloc(cap);
    char *p = (char *)buf + LWS_PRE, *start = p;
    if (f->len == 0) {
        p += sprintf(p, ": keepalive\n\n");
    } else {
        if (f->event_id)
            p += sprintf(p, "id: %lld\n", f->event_id);
        const char *line = text, *end = text + f->len;
        while (line < end) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
            memcpy(p, "data: ", 6);
            memcpy(p + 6, line, n);
            p[6 + n] = '\n';
            p += 7 + n;
            line += n + 1;
        }
        *p++ = '\n';
    }
    *out_len = (size_t)(p - start);
    return buf;
}

static int sse_writeable(struct push_server *srv, struct lws *wsi, struct push_conn *conn)
{
    struct push_http_state *h = conn->http;
    if (!h->headers_sent) {
        if (write_headers(wsi, h->cors_origin, h->cors_origin_len, HTTP_STATUS_OK,
                          "text/event-stream",
                          LWS_ILLEGAL_HTTP_CONTENT_LEN, true) < 0)
            return -1;
        h->headers_sent = true;
        h->last_write_ms = chat_now_ms();
        if (conn->out.count || conn->close_code)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (conn->close_code && conn->out.count == 0)
        return -1; /* e.g. too slow: the client reconnects with Last-Event-ID */
    struct push_frame *f = push_queue_pop(&conn->out);
    if (!f)
        return 0;
    size_t len;
    unsigned char *buf = sse_format(f, &len);
    int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP);
    free(buf);
    srv->metrics.frames_sent++;
    push_frame_unref(f);
    if (n < (int)len)
        return -1;
    h->last_write_ms = chat_now_ms();
    if (conn->out.count || conn->close_code)
        lws_callback_on_writable(wsi);
    return 0;
}

/* A long-poll only counts what arrives as a reason to query again: the answer always
 * comes from the event log, so it never skips an event that is not yet safe to report. */
static void poll_drain(struct push_server *srv, struct push_conn *conn)
{
    struct push_http_state *h = conn->http;
    bool events = conn->close_code != 0; /* its queue overflowed: plenty arrived */
    struct push_frame *f;
    while ((f = push_queue_pop(&conn->out))) {
        events |= f->event_id > 0;
        push_frame_unref(f);
    }
    conn->close_code = 0;
    if (!events)
        return;
    if (h->poll_running)
        h->poll_dirty = true;
    else if (h->poll_waiting)
        submit_poll(srv, conn);
}

int push_http_writeable(struct push_server *srv, struct lws *wsi, struct push_session *pss)
{
    struct push_conn *conn = pss ? pss->conn : NULL;
    if (!conn || !conn->http)
        return 0; /* nothing, or a WebSocket (never HTTP_WRITEABLE once upgraded) */
    struct push_http_state *h = conn->http;
    int rc;
    if (h->error) {
        int err = h->error;
        const char *detail = h->detail;
        enum chat_locale locale = (enum chat_locale)conn->locale;
        push_conn_destroy(srv, conn);
        pss->conn = NULL;
        rc = respond_error(srv, wsi, locale, err, detail);
        return rc;
    }
    if (conn->kind == PUSH_KIND_SSE)
        return sse_writeable(srv, wsi, conn);
    if (!h->body) {
        poll_drain(srv, conn);
        return 0;
    }
    struct push_frame *body = push_frame_ref(h->body);
    const char *cors = h->cors_origin; /* points into the config, not the conn */
    size_t cors_len = h->cors_origin_len;
    srv->metrics.polls_answered++;
    push_conn_destroy(srv, conn);
    pss->conn = NULL;
    rc = respond(wsi, cors, cors_len, HTTP_STATUS_OK, "application/json", push_frame_text(body),
                 body->len);
    push_frame_unref(body);
    return rc;
}

/* ---- the clock ---- */

void push_http_tick(struct push_server *srv, long long now)
{
    struct push_frame *keepalive = NULL;
    long long idle_ms = (long long)srv->cfg->push_ping_interval_s * 1000;
    for (struct push_conn *c = srv->http_conns; c; c = c->http->next) {
        struct push_http_state *h = c->http;
        if (c->kind == PUSH_KIND_POLL && h->poll_waiting && now >= h->poll_deadline_ms) {
            h->poll_final = true;
            submit_poll(srv, c);
        } else if (c->kind == PUSH_KIND_SSE && h->headers_sent && !c->close_code &&
                   c->out.count == 0 && now - h->last_write_ms >= idle_ms) {
            if (!keepalive)
                keepalive = push_frame_new("", 0, 0);
            h->last_write_ms = now;
            push_conn_send(&srv->fanout, c, keepalive, false);
        }
    }
    push_frame_unref(keepalive);
}
