#include "ws_protocol.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "json_util.h"
#include "log.h"
#include "strbuf.h"

/* A client has this long to send {"type":"auth"} when the upgrade carried no token. */
#define AUTH_FRAME_TIMEOUT_MS 10000
/* Longest token accepted from a cookie, header or frame (real ones are 43 characters). */
#define TOKEN_MAX 256

static struct push_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

void push_server_notify(void *arg)
{
    struct push_server *srv = arg;
    lws_cancel_service(srv->context);
}

static void want_write(struct push_conn *conn)
{
    lws_callback_on_writable((struct lws *)conn->wsi);
}

void push_server_init(struct push_server *srv, const struct chat_config *cfg)
{
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    push_fanout_init(&srv->fanout, (size_t)cfg->push_max_queue_bytes, want_write);
}

void push_server_free(struct push_server *srv)
{
    push_fanout_free(&srv->fanout);
    free(srv->auth_waits);
    srv->auth_waits = NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- frames to the client ---- */

static void send_json(struct push_server *srv, struct push_conn *conn, json_object *obj)
{
    size_t len;
    const char *text = chat_json_to_string(obj, &len);
    struct push_frame *f = push_frame_new(text, len, 0);
    push_conn_send(&srv->fanout, conn, f, false);
    push_frame_unref(f);
    json_object_put(obj);
}

static void send_error(struct push_server *srv, struct push_conn *conn, const char *code,
                       const char *detail)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("error"));
    json_object_object_add(o, "code", json_object_new_string(code));
    json_object_object_add(o, "detail", json_object_new_string(detail));
    send_json(srv, conn, o);
}

static void send_type(struct push_server *srv, struct push_conn *conn, const char *type)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    send_json(srv, conn, o);
}

/* Sends an error frame, then closes with close_code once it is written. */
static void fail_conn(struct push_server *srv, struct push_conn *conn, const char *code,
                      const char *detail, int close_code, const char *reason)
{
    send_error(srv, conn, code, detail);
    if (!conn->close_code) {
        conn->close_code = close_code;
        conn->close_reason = reason;
        want_write(conn);
    }
}

/* ---- the upgrade request ---- */

/* /ws/ gives 0 and /ws/chat/<pk>/ gives pk; any other path gives -1. */
static long long parse_path(const char *path)
{
    if (strcmp(path, "/ws/") == 0)
        return 0;
    static const char prefix[] = "/ws/chat/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    const char *p = path + sizeof(prefix) - 1;
    if (!isdigit((unsigned char)*p) || *p == '0')
        return -1;
    char *end;
    errno = 0;
    long long pk = strtoll(p, &end, 10);
    if (errno || strcmp(end, "/") != 0)
        return -1;
    return pk;
}

static bool origin_allowed(const struct chat_config *cfg, const char *origin, size_t len)
{
    const char *p = cfg->allowed_origins;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == len && n > 0 && memcmp(p, origin, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* Checks the path and the Origin header of an upgrade request. Returns 0 (and the
 * conversation in *conv) or the HTTP status to refuse it with. */
static unsigned check_upgrade(struct lws *wsi, const struct chat_config *cfg, long long *conv)
{
    char buf[512];
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_GET_URI) <= 0)
        return HTTP_STATUS_NOT_FOUND;
    *conv = parse_path(buf);
    if (*conv < 0)
        return HTTP_STATUS_NOT_FOUND;
    int olen = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (olen > 0) {
        /* No Origin header means a non-browser client; a browser always sends one. */
        if (olen >= (int)sizeof(buf) || lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN) < 0 ||
            !origin_allowed(cfg, buf, strlen(buf))) {
            log_info("WebSocket upgrade refused: Origin not allowed");
            return HTTP_STATUS_FORBIDDEN;
        }
    }
    return 0;
}

/* The token from the chat_session cookie or an "Authorization: Bearer" header, or NULL.
 * The caller frees it. */
static char *request_token(struct lws *wsi)
{
    char buf[TOKEN_MAX + 16];
    size_t max = sizeof(buf);
    if (lws_http_cookie_get(wsi, "chat_session", buf, &max) == 0 && max > 0)
        return chat_xstrndup(buf, max);
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n > 0 && n < (int)sizeof(buf) &&
        lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
        strncasecmp(buf, "Bearer ", 7) == 0) {
        const char *t = buf + 7;
        while (*t == ' ')
            t++;
        if (*t)
            return chat_xstrdup(t);
    }
    return NULL;
}

/* ?last_event_id=N as N, or -1 when absent or malformed. */
static long long request_resume_from(struct lws *wsi)
{
    char buf[64];
    const char *v = lws_get_urlarg_by_name(wsi, "last_event_id=", buf, sizeof(buf));
    if (!v || !isdigit((unsigned char)*v))
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return errno || *end ? -1 : n;
}

/* ---- jobs ---- */

static void submit_auth(struct push_server *srv, struct push_conn *conn, char *token)
{
    struct push_job *job = chat_xcalloc(1, sizeof(*job));
    job->kind = PUSH_JOB_AUTH;
    job->conn_id = conn->id;
    job->conversation_id = conn->only_conv;
    job->token = token;
    conn->state = PUSH_CONN_AUTHING;
    push_worker_submit(srv->worker, job);
}

static void start_resume(struct push_server *srv, struct push_conn *conn, long long from)
{
    struct push_job *job = chat_xcalloc(1, sizeof(*job));
    job->kind = PUSH_JOB_RESUME;
    job->conn_id = conn->id;
    job->conversation_id = conn->only_conv;
    job->user_id = conn->user_id;
    job->last_event_id = from;
    conn->resuming = true;
    push_worker_submit(srv->worker, job);
}

/* ---- results from the DB worker ---- */

static void auth_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    switch (r->status) {
    case CHAT_OK:
        push_fanout_attach(&srv->fanout, conn, r->user_id, r->conv_ids, r->nconv);
        push_conn_send(&srv->fanout, conn, r->hello, false);
        log_debug("connection %llu authenticated as user %lld (%zu conversations)", conn->id,
                  r->user_id, r->nconv);
        if (conn->resume_from >= 0)
            start_resume(srv, conn, conn->resume_from);
        break;
    case CHAT_E_NOT_FOUND:
        fail_conn(srv, conn, "not_found", "Conversation not found.", PUSH_CLOSE_NOT_FOUND,
                  "not found");
        break;
    case CHAT_E_NOT_AUTHENTICATED:
        fail_conn(srv, conn, "not_authenticated", chat_err_message(CHAT_E_NOT_AUTHENTICATED),
                  PUSH_CLOSE_NOT_AUTHENTICATED, "not authenticated");
        break;
    default:
        fail_conn(srv, conn, chat_err_code(r->status), chat_err_message(r->status),
                  LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "try again");
        break;
    }
}

static void resume_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    if (r->status == PUSH_RESUME_RESYNC) {
        send_type(srv, conn, "resync_required"); /* a control frame: never held */
        push_conn_resume_done(&srv->fanout, conn, NULL, 0);
    } else if (r->status == PUSH_RESUME_FAILED) {
        send_error(srv, conn, "database_unavailable", chat_err_message(CHAT_E_DB));
        push_conn_resume_done(&srv->fanout, conn, NULL, 0);
    } else {
        push_conn_resume_done(&srv->fanout, conn, r->events, r->nevents);
    }
}

static void process_results(struct push_server *srv)
{
    struct push_result *r = push_worker_take_results(srv->worker);
    while (r) {
        struct push_result *next = r->next;
        if (r->kind == PUSH_RESULT_EVENTS) {
            for (size_t i = 0; i < r->nevents; i++)
                push_fanout_event(&srv->fanout, &r->events[i]);
        } else {
            struct push_conn *conn = push_fanout_find(&srv->fanout, r->conn_id);
            if (conn && !conn->close_code) {
                if (r->kind == PUSH_RESULT_AUTH)
                    auth_done(srv, conn, r);
                else
                    resume_done(srv, conn, r);
            }
        }
        push_result_free(r);
        r = next;
    }
}

/* ---- the auth-frame deadline ----
 *
 * Not an lws timer: under libev, lws 4.1.6 re-arms its single ev_timer without stopping
 * it, so a deadline earlier than the one already armed (for example the 20 s handshake
 * timeout of the same connection) fires late; a 10 s lws_set_timer_usecs() was measured
 * firing after 20 s. The DB worker ticks the loop every push_poll_interval_ms while
 * deadlines are pending, and they are checked here, in order. */

static void wait_for_auth_frame(struct push_server *srv, struct push_conn *conn)
{
    if (srv->auth_head + srv->auth_count == srv->auth_cap) {
        if (srv->auth_head > 0) {
            memmove(srv->auth_waits, srv->auth_waits + srv->auth_head,
                    srv->auth_count * sizeof(*srv->auth_waits));
            srv->auth_head = 0;
        }
        if (srv->auth_count == srv->auth_cap) {
            srv->auth_cap = srv->auth_cap ? srv->auth_cap * 2 : 16;
            srv->auth_waits = realloc(srv->auth_waits, srv->auth_cap * sizeof(*srv->auth_waits));
            if (!srv->auth_waits)
                abort();
        }
    }
    srv->auth_waits[srv->auth_head + srv->auth_count++] =
        (struct push_auth_wait){.conn_id = conn->id, .deadline_ms = now_ms() + AUTH_FRAME_TIMEOUT_MS};
    push_worker_want_ticks(srv->worker, true);
}

static void check_auth_deadlines(struct push_server *srv)
{
    long long now = now_ms();
    while (srv->auth_count > 0 && srv->auth_waits[srv->auth_head].deadline_ms <= now) {
        struct push_conn *conn = push_fanout_find(&srv->fanout, srv->auth_waits[srv->auth_head].conn_id);
        srv->auth_head++;
        srv->auth_count--;
        if (conn && conn->state == PUSH_CONN_WAIT_AUTH)
            fail_conn(srv, conn, "not_authenticated", "No credentials were sent within 10 seconds.",
                      PUSH_CLOSE_NOT_AUTHENTICATED, "not authenticated");
    }
    if (srv->auth_count == 0) {
        srv->auth_head = 0;
        push_worker_want_ticks(srv->worker, false);
    }
}

/* ---- client frames ---- */

static void handle_message(struct push_server *srv, struct push_conn *conn, const char *text,
                           size_t len)
{
    json_object *obj = NULL;
    char detail[160];
    if (chat_json_parse_object(text, len, &obj, detail, sizeof(detail)) != CHAT_OK) {
        send_error(srv, conn, "bad_frame", detail);
        return;
    }
    json_object *v;
    const char *type = json_object_object_get_ex(obj, "type", &v) &&
                               json_object_is_type(v, json_type_string)
                           ? json_object_get_string(v)
                           : NULL;
    if (!type) {
        send_error(srv, conn, "bad_frame", "A frame needs a string \"type\".");
    } else if (strcmp(type, "ping") == 0) {
        send_type(srv, conn, "pong");
    } else if (strcmp(type, "auth") == 0) {
        if (conn->state != PUSH_CONN_WAIT_AUTH) {
            send_error(srv, conn, "bad_frame", "Already authenticated.");
        } else if (!json_object_object_get_ex(obj, "token", &v) ||
                   !json_object_is_type(v, json_type_string) ||
                   json_object_get_string_len(v) == 0 ||
                   json_object_get_string_len(v) > TOKEN_MAX) {
            fail_conn(srv, conn, "not_authenticated", "The auth frame needs a \"token\".",
                      PUSH_CLOSE_NOT_AUTHENTICATED, "not authenticated");
        } else {
            submit_auth(srv, conn, chat_xstrdup(json_object_get_string(v)));
        }
    } else if (strcmp(type, "resume") == 0) {
        if (!json_object_object_get_ex(obj, "last_event_id", &v) ||
            !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            send_error(srv, conn, "bad_frame", "\"last_event_id\" must be a non-negative integer.");
        } else if (conn->resuming) {
            send_error(srv, conn, "bad_frame", "A resume is already running.");
        } else if (conn->state != PUSH_CONN_READY) {
            conn->resume_from = json_object_get_int64(v); /* runs right after hello */
        } else {
            start_resume(srv, conn, json_object_get_int64(v));
        }
    } else {
        send_error(srv, conn, "bad_frame", "Unknown frame type.");
    }
    json_object_put(obj);
}

/* Collects a (possibly fragmented) client message. Returns -1 to close the connection.
 * A message over push_max_frame_bytes is discarded as it arrives and the connection is
 * closed with 1009 once it ends: closing at once, with the rest still unread, makes the
 * kernel reset the connection and the client would never see the close frame. */
static int receive(struct push_server *srv, struct lws *wsi, struct push_conn *conn,
                   const void *in, size_t len)
{
    size_t max = (size_t)srv->cfg->push_max_frame_bytes;
    if (lws_is_first_fragment(wsi)) {
        conn->rxlen = 0;
        conn->rx_too_big = false;
    }
    if (!conn->rx_too_big && conn->rxlen + len + lws_remaining_packet_payload(wsi) > max) {
        log_info("connection %llu sent a message over %zu bytes; closing 1009", conn->id, max);
        conn->rx_too_big = true;
    }
    if (conn->rx_too_big) {
        if (!lws_is_final_fragment(wsi))
            return 0;
        static const char reason[] = "message too big";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)reason,
                         sizeof(reason) - 1);
        return -1;
    }
    if (!conn->rx)
        conn->rx = chat_xmalloc(max + 1);
    memcpy(conn->rx + conn->rxlen, in, len);
    conn->rxlen += len;
    if (!lws_is_final_fragment(wsi))
        return 0;
    if (lws_frame_is_binary(wsi))
        send_error(srv, conn, "bad_frame", "Send JSON text frames.");
    else
        handle_message(srv, conn, conn->rx, conn->rxlen);
    conn->rxlen = 0;
    return 0;
}

/* ---- writing ---- */

static int writeable(struct lws *wsi, struct push_conn *conn)
{
    if (conn->close_code && conn->out.count == 0) {
        const char *reason = conn->close_reason ? conn->close_reason : "";
        lws_close_reason(wsi, (enum lws_close_status)conn->close_code, (unsigned char *)reason,
                         strlen(reason));
        return -1;
    }
    struct push_frame *f = push_queue_pop(&conn->out);
    if (!f)
        return 0;
    size_t len = f->len;
    int n = lws_write(wsi, push_frame_text(f), len, LWS_WRITE_TEXT);
    push_frame_unref(f);
    if (n < (int)len) {
        log_info("connection %llu: write failed; closing", conn->id);
        return -1;
    }
    if (conn->out.count || conn->close_code)
        lws_callback_on_writable(wsi);
    return 0;
}

/* ---- the callback ---- */

int push_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct push_session *pss = user;
    struct push_server *srv;
    long long conv;
    unsigned status;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        /* Only WebSocket upgrades are served here. */
        if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
            return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* The first look at an upgrade, while a proper HTTP status can still be sent. */
        srv = server_of(wsi);
        status = check_upgrade(wsi, srv->cfg, &conv);
        if (status) {
            lws_return_http_status(wsi, status, NULL);
            return 1;
        }
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        srv = server_of(wsi);
        if (check_upgrade(wsi, srv->cfg, &conv) != 0)
            return 1; /* CONFIRM_UPGRADE already refused it; belt and braces */
        struct push_conn *conn = chat_xcalloc(1, sizeof(*conn));
        conn->wsi = wsi;
        conn->id = ++srv->next_conn_id;
        conn->only_conv = conv;
        conn->resume_from = request_resume_from(wsi);
        conn->token = request_token(wsi);
        conn->state = PUSH_CONN_WAIT_AUTH;
        pss->conn = conn;
        push_fanout_register(&srv->fanout, conn);
        srv->connections++;
        return 0;
    }

    case LWS_CALLBACK_ESTABLISHED:
        if (!pss->conn)
            return -1;
        srv = server_of(wsi);
        if (pss->conn->token) {
            char *token = pss->conn->token;
            pss->conn->token = NULL;
            submit_auth(srv, pss->conn, token);
        } else {
            wait_for_auth_frame(srv, pss->conn);
        }
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (!pss->conn || pss->conn->close_code)
            return 0;
        return receive(server_of(wsi), wsi, pss->conn, in, len);

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->conn)
            return 0;
        return writeable(wsi, pss->conn);

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        srv = lws_context_user(lws_get_context(wsi));
        if (srv && srv->worker) {
            process_results(srv);
            check_auth_deadlines(srv);
        }
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        if (pss && pss->conn) {
            srv = server_of(wsi);
            push_fanout_unregister(&srv->fanout, pss->conn);
            srv->connections--;
            free(pss->conn);
            pss->conn = NULL;
        }
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
