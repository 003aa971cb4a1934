#include "ws_protocol.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "json_util.h"
#include "log.h"
#include "store.h"
#include "strbuf.h"
#include "typing_wire.h"
#include "wake.h"
#include "xalloc.h"

/* A client has this long to send {"type":"auth"} when the upgrade carried no token. */
#define AUTH_FRAME_TIMEOUT_MS 10000
/* Longest token accepted from a cookie, header or frame (real ones are 43 characters). */
#define TOKEN_MAX 256

struct push_server *push_server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}
#define server_of push_server_of

void push_server_notify(void *arg)
{
    struct push_server *srv = arg;
    lws_cancel_service(srv->context);
}

/* A connection marked to close gets this long to become writable and take its close;
 * a client that stopped reading never does (an SSE stream has no ping to end it, and a
 * WebSocket client that keeps sending stays valid), so lws then drops it. */
#define CLOSE_GRACE_S 15

static void want_write(struct push_conn *conn)
{
    lws_callback_on_writable((struct lws *)conn->wsi);
    if (conn->close_code && conn->kind != PUSH_KIND_POLL) /* a long-poll reuses close_code */
        lws_set_timeout((struct lws *)conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
}

void push_server_init(struct push_server *srv, const struct chat_config *cfg,
                      const char *wake_self)
{
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    snprintf(srv->wake_self, sizeof(srv->wake_self), "%s", wake_self);
    srv->peer_fd = chat_wake_open();
    push_fanout_init(&srv->fanout, (size_t)cfg->push_max_queue_bytes, want_write);
}

void push_server_free(struct push_server *srv)
{
    push_fanout_free(&srv->fanout);
    push_typing_free(&srv->typing);
    free(srv->auth_waits);
    srv->auth_waits = NULL;
    if (srv->peer_fd >= 0)
        close(srv->peer_fd);
    srv->peer_fd = -1;
}

long long push_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#define now_ms push_now_ms

static long long realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- connections ---- */

struct push_conn *push_conn_new(struct push_server *srv, struct lws *wsi,
                                enum push_conn_kind kind, long long only_conv)
{
    struct push_conn *conn = chat_xcalloc(1, sizeof(*conn));
    conn->wsi = wsi;
    conn->id = ++srv->next_conn_id;
    conn->kind = kind;
    conn->only_conv = only_conv;
    conn->resume_from = -1;
    conn->state = PUSH_CONN_WAIT_AUTH;
    conn->tokens = srv->cfg->push_client_frame_burst;
    conn->tokens_ms = now_ms();
    push_fanout_register(&srv->fanout, conn);
    srv->connections++;
    srv->connections_by_kind[kind]++;
    srv->metrics.connections_total++;
    if (kind != PUSH_KIND_WS) {
        conn->http_next = srv->http_conns;
        if (srv->http_conns)
            srv->http_conns->http_prev = conn;
        srv->http_conns = conn;
    }
    return conn;
}

/* Records that user_id now holds `connections` connections here. Only 0 <-> 1 can change
 * presence (and take its row lock); other changes just update the count, which
 * connections_per_user reads across daemons. */
static void presence_job(struct push_server *srv, long long user_id, size_t connections,
                         bool changed_presence)
{
    struct push_job *job = chat_xcalloc(1, sizeof(*job));
    job->kind = PUSH_JOB_PRESENCE;
    job->user_id = user_id;
    job->connections = (int)connections;
    job->count_only = !changed_presence;
    push_worker_submit(srv->worker, job);
}

void push_conn_destroy(struct push_server *srv, struct push_conn *conn)
{
    bool was_ready = conn->state == PUSH_CONN_READY;
    push_fanout_unregister(&srv->fanout, conn);
    if (was_ready && srv->worker) {
        size_t left;
        push_fanout_user_conns(&srv->fanout, conn->user_id, &left);
        presence_job(srv, conn->user_id, left, left == 0);
    }
    if (conn->kind != PUSH_KIND_WS) {
        if (conn->http_prev)
            conn->http_prev->http_next = conn->http_next;
        else
            srv->http_conns = conn->http_next;
        if (conn->http_next)
            conn->http_next->http_prev = conn->http_prev;
    }
    srv->connections--;
    srv->connections_by_kind[conn->kind]--;
    free(conn);
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

/* {"type":"error","code","detail"[,"client_msg_id"]}; client_msg_id may be NULL. */
static void send_error_for(struct push_server *srv, struct push_conn *conn, const char *code,
                           const char *detail, const char *client_msg_id)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("error"));
    json_object_object_add(o, "code", json_object_new_string(code));
    json_object_object_add(o, "detail", json_object_new_string(detail));
    if (client_msg_id)
        json_object_object_add(o, "client_msg_id", json_object_new_string(client_msg_id));
    send_json(srv, conn, o);
}

static void send_error(struct push_server *srv, struct push_conn *conn, const char *code,
                       const char *detail)
{
    send_error_for(srv, conn, code, detail, NULL);
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

/* The entry of cfg->allowed_origins equal to origin (len bytes), or NULL. */
static const char *origin_allowed(const struct chat_config *cfg, const char *origin, size_t len)
{
    const char *p = cfg->allowed_origins;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == len && n > 0 && memcmp(p, origin, n) == 0)
            return p;
        p += n;
    }
    return NULL;
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
    if (!push_request_origin_ok(wsi, cfg)) {
        log_info("WebSocket upgrade refused: Origin not allowed");
        return HTTP_STATUS_FORBIDDEN;
    }
    return 0;
}

bool push_request_origin_ok(struct lws *wsi, const struct chat_config *cfg)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
        return true; /* no Origin: a non-browser client (a browser sends one cross-site) */
    return push_request_allowed_origin(wsi, cfg, NULL) != NULL;
}

const char *push_request_allowed_origin(struct lws *wsi, const struct chat_config *cfg,
                                        size_t *len)
{
    char buf[512];
    int olen = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (olen <= 0 || olen >= (int)sizeof(buf) ||
        lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_ORIGIN) < 0)
        return NULL;
    size_t n = strlen(buf);
    const char *entry = origin_allowed(cfg, buf, n);
    if (entry && len)
        *len = n;
    return entry;
}

/* The token from the chat_session cookie or an "Authorization: Bearer" header, or NULL.
 * The caller frees it. */
char *push_request_token(struct lws *wsi, bool *from_cookie)
{
    char buf[TOKEN_MAX + 16];
    size_t max = sizeof(buf);
    *from_cookie = false;
    if (lws_http_cookie_get(wsi, "chat_session", buf, &max) == 0 && max > 0) {
        *from_cookie = true;
        return chat_xstrndup(buf, max);
    }
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

long long push_request_int_arg(struct lws *wsi, const char *name)
{
    /* Room for the longest argument: lws_get_urlarg_by_name stops at the first argument
     * that does not fit, which would hide the ones after it. */
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    if (total <= 0)
        return -1;
    char *buf = chat_xmalloc((size_t)total + 1);
    const char *v = lws_get_urlarg_by_name(wsi, name, buf, total + 1);
    long long n = -1;
    if (v && !isdigit((unsigned char)*v)) {
        n = -2;
    } else if (v) {
        char *end;
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno || *end)
            n = -2;
    }
    free(buf);
    return n;
}

/* ?last_event_id=N as N, or -1 when absent or malformed. */
static long long request_resume_from(struct lws *wsi)
{
    long long n = push_request_int_arg(wsi, "last_event_id=");
    return n < 0 ? -1 : n;
}

/* ---- jobs ---- */

struct push_job *push_job_for(enum push_job_kind kind, const struct push_conn *conn)
{
    struct push_job *job = chat_xcalloc(1, sizeof(*job));
    job->kind = kind;
    job->conn_id = conn->id;
    job->user_id = conn->user_id;
    job->conversation_id = conn->only_conv;
    return job;
}

void push_submit_auth(struct push_server *srv, struct push_conn *conn, char *token)
{
    struct push_job *job = push_job_for(PUSH_JOB_AUTH, conn);
    job->token = token;
    conn->state = PUSH_CONN_AUTHING;
    push_worker_submit(srv->worker, job);
}

void push_start_resume(struct push_server *srv, struct push_conn *conn, long long from)
{
    struct push_job *job = push_job_for(PUSH_JOB_RESUME, conn);
    job->last_event_id = from;
    conn->resuming = true;
    push_worker_submit(srv->worker, job);
}

/* ---- results from the DB worker ---- */

/* Authentication succeeded: enforces the per-user limit, subscribes, updates presence.
 * Returns false when the connection is refused for the limit. */
static bool admit(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    size_t n;
    push_fanout_user_conns(&srv->fanout, r->user_id, &n);
    long long total = (long long)n + r->conns_elsewhere;
    if (total >= srv->cfg->push_max_connections_per_user) {
        srv->metrics.closed_too_many++;
        log_info("connection %llu: user %lld already holds %lld connections (%zu here); "
                 "refused", conn->id, r->user_id, total, n);
        return false;
    }
    push_fanout_attach(&srv->fanout, conn, r->user_id, r->conv_ids, r->nconv);
    conn->user_json = r->user_json;
    r->user_json = NULL;
    presence_job(srv, r->user_id, n + 1, n == 0);
    log_debug("connection %llu authenticated as user %lld (%zu conversations)", conn->id,
              r->user_id, r->nconv);
    return true;
}

static void auth_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    int status = r->status;
    if (status == CHAT_OK && !admit(srv, conn, r))
        status = CHAT_E_RATE_LIMITED; /* stands for "too many connections" below */
    if (conn->kind != PUSH_KIND_WS) {
        if (status == CHAT_OK && conn->kind == PUSH_KIND_SSE)
            push_conn_send(&srv->fanout, conn, r->hello, false);
        push_http_auth_done(srv, conn, status);
        return;
    }
    switch (status) {
    case CHAT_OK:
        push_conn_send(&srv->fanout, conn, r->hello, false);
        if (conn->resume_from >= 0)
            push_start_resume(srv, conn, conn->resume_from);
        break;
    case CHAT_E_RATE_LIMITED:
        fail_conn(srv, conn, "too_many_connections",
                  "Too many open connections for this user.", PUSH_CLOSE_TOO_MANY_CONNECTIONS,
                  "too many connections");
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
        fail_conn(srv, conn, chat_err_code(status), chat_err_message(status),
                  LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "try again");
        break;
    }
}

static void send_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    if (r->status == CHAT_OK) {
        srv->metrics.messages_sent++;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("message.sent"));
        json_object_object_add(o, "client_msg_id", json_object_new_string(r->client_msg_id));
        json_object_object_add(o, "message_id", json_object_new_int64(r->message_id));
        send_json(srv, conn, o);
        return;
    }
    send_error_for(srv, conn, chat_err_code(r->status),
                   r->detail[0] ? r->detail : chat_err_message(r->status), r->client_msg_id);
}

static void receipt_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    if (r->status != CHAT_OK)
        send_error(srv, conn, chat_err_code(r->status),
                   r->detail[0] ? r->detail : chat_err_message(r->status));
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

/* Sends a typing frame to the local subscribers of conv other than user_id. */
static void deliver_typing(struct push_server *srv, long long conv, long long user_id,
                           struct push_frame *frame)
{
    size_t n;
    struct push_conn *const *conns = push_fanout_conv_conns(&srv->fanout, conv, &n);
    for (size_t i = 0; i < n; i++)
        if (conns[i]->user_id != user_id && push_conn_send(&srv->fanout, conns[i], frame, false))
            srv->metrics.typing_relays++;
}

/* Relays {"type":"typing","conversation_id","user","is_typing"} here and, through their
 * wake-up sockets, on the other daemons. */
static void relay_typing(struct push_server *srv, long long conv, long long user_id,
                         const char *user_json, bool typing)
{
    char text[PUSH_PEER_TYPING_MAX];
    size_t head;
    int n = push_typing_wire_encode(text, sizeof(text), conv, user_id, user_json, typing, &head);
    if (n < 0)
        return; /* cannot happen with the bounded user fields */
    struct push_frame *f = push_frame_new(text + head, (size_t)n - head, 0);
    deliver_typing(srv, conv, user_id, f);
    push_frame_unref(f);
    chat_wake_send_all(srv->peer_fd, srv->cfg, text, (size_t)n, srv->wake_self);
}

static void expire_typing(struct push_server *srv, long long now)
{
    struct push_typing_expired gone[64];
    size_t n;
    do {
        n = push_typing_expire(&srv->typing, now, gone, 64);
        for (size_t i = 0; i < n; i++) {
            relay_typing(srv, gone[i].key.conversation_id, gone[i].key.user_id,
                         gone[i].user_json, false);
            free(gone[i].user_json);
        }
    } while (n == 64);
}

static void process_results(struct push_server *srv)
{
    struct push_result *r = push_worker_take_results(srv->worker);
    while (r) {
        struct push_result *next = r->next;
        if (r->kind == PUSH_RESULT_EVENTS) {
            for (size_t i = 0; i < r->nevents; i++)
                push_fanout_event(&srv->fanout, &r->events[i]);
        } else if (r->kind == PUSH_RESULT_TYPING) {
            deliver_typing(srv, r->conversation_id, r->user_id, r->body);
        } else {
            struct push_conn *conn = push_fanout_find(&srv->fanout, r->conn_id);
            if (conn && (!conn->close_code || conn->kind == PUSH_KIND_POLL)) {
                switch (r->kind) {
                case PUSH_RESULT_AUTH:
                    auth_done(srv, conn, r);
                    break;
                case PUSH_RESULT_RESUME:
                    resume_done(srv, conn, r);
                    break;
                case PUSH_RESULT_SEND:
                    send_done(srv, conn, r);
                    break;
                case PUSH_RESULT_RECEIPT:
                    receipt_done(srv, conn, r);
                    break;
                case PUSH_RESULT_POLL:
                    push_http_poll_done(srv, conn, r);
                    break;
                default:
                    break;
                }
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
            srv->auth_waits = chat_xreallocarray(srv->auth_waits, srv->auth_cap, sizeof(*srv->auth_waits));
        }
    }
    srv->auth_waits[srv->auth_head + srv->auth_count++] =
        (struct push_auth_wait){.conn_id = conn->id, .deadline_ms = now_ms() + AUTH_FRAME_TIMEOUT_MS};
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
    if (srv->auth_count == 0)
        srv->auth_head = 0;
}

/* ---- client frames ---- */

/* A positive integer field, or 0. */
static long long positive_field(json_object *obj, const char *name)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_int))
        return 0;
    long long n = json_object_get_int64(v);
    return n > 0 ? n : 0;
}

static const char *string_field(json_object *obj, const char *name)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static void handle_typing(struct push_server *srv, struct push_conn *conn, json_object *obj)
{
    json_object *v;
    long long conv = positive_field(obj, "conversation_id");
    if (!conv || !json_object_object_get_ex(obj, "is_typing", &v) ||
        !json_object_is_type(v, json_type_boolean)) {
        send_error(srv, conn, "bad_frame",
                   "typing needs a positive \"conversation_id\" and a boolean \"is_typing\".");
        return;
    }
    if (!push_conn_subscribed(conn, conv)) {
        send_error(srv, conn, "not_found", "Conversation not found.");
        return;
    }
    bool typing = json_object_get_boolean(v);
    struct push_typing_key key = {.user_id = conn->user_id, .conversation_id = conv};
    enum push_typing_action a = push_typing_update(&srv->typing, key, typing, now_ms(),
                                                   conn->user_json);
    if (a != PUSH_TYPING_NOTHING)
        relay_typing(srv, conv, conn->user_id, conn->user_json, a == PUSH_TYPING_RELAY_START);
}

/* message.send: stored on the DB worker through chat_message_submit, like the REST POST. */
static void handle_send(struct push_server *srv, struct push_conn *conn, json_object *obj)
{
    json_object *v;
    const char *cmid = string_field(obj, "client_msg_id");
    const char *text = string_field(obj, "text");
    long long conv = positive_field(obj, "conversation_id");
    bool has_reply_to = json_object_object_get_ex(obj, "reply_to", &v) &&
                        !json_object_is_type(v, json_type_null);
    json_object *ids = NULL;
    bool ids_ok = !json_object_object_get_ex(obj, "attachment_ids", &ids) ||
                  json_object_is_type(ids, json_type_null) ||
                  (json_object_is_type(ids, json_type_array) &&
                   json_object_array_length(ids) <= CHAT_ATTACHMENTS_MAX);
    for (size_t i = 0; ids_ok && ids && json_object_is_type(ids, json_type_array) &&
                       i < json_object_array_length(ids); i++)
        ids_ok = json_object_is_type(json_object_array_get_idx(ids, i), json_type_int);
    if (!cmid || !text || !conv || (has_reply_to && !json_object_is_type(v, json_type_int)) ||
        !ids_ok) {
        send_error_for(srv, conn, "bad_frame",
                       "message.send needs a positive \"conversation_id\", string \"text\" and "
                       "\"client_msg_id\", an integer \"reply_to\" if any, and at most 10 "
                       "integer \"attachment_ids\".",
                       cmid);
        return;
    }
    struct push_job *job = push_job_for(PUSH_JOB_SEND, conn);
    job->conversation_id = conv;
    job->text = chat_xstrdup(text);
    job->client_msg_id = chat_xstrdup(cmid);
    job->has_reply_to = has_reply_to;
    job->reply_to = has_reply_to ? json_object_get_int64(v) : 0;
    if (ids && json_object_is_type(ids, json_type_array) && json_object_array_length(ids)) {
        job->attachment_count = json_object_array_length(ids);
        job->attachment_ids = chat_xmalloc(job->attachment_count * sizeof(long long));
        for (size_t i = 0; i < job->attachment_count; i++)
            job->attachment_ids[i] = json_object_get_int64(json_object_array_get_idx(ids, i));
    }
    push_worker_submit(srv->worker, job);
}

/* read / delivered: the receipt store code, on the DB worker. */
static void handle_receipt(struct push_server *srv, struct push_conn *conn, json_object *obj,
                           bool read)
{
    long long conv = positive_field(obj, "conversation_id");
    long long message_id = positive_field(obj, "message_id");
    if (!conv || !message_id) {
        send_error(srv, conn, "bad_frame",
                   "A receipt needs positive \"conversation_id\" and \"message_id\".");
        return;
    }
    struct push_job *job = push_job_for(PUSH_JOB_RECEIPT, conn);
    job->conversation_id = conv;
    job->message_id = message_id;
    job->read = read;
    push_worker_submit(srv->worker, job);
}

/* Token bucket: push_client_frames_per_s sustained, push_client_frame_burst at once.
 * Returns false when the frame is over the limit. */
static bool take_token(struct push_server *srv, struct push_conn *conn)
{
    long long now = now_ms();
    double burst = srv->cfg->push_client_frame_burst;
    conn->tokens += (double)(now - conn->tokens_ms) * srv->cfg->push_client_frames_per_s / 1000.0;
    if (conn->tokens > burst)
        conn->tokens = burst;
    conn->tokens_ms = now;
    if (conn->tokens < 1.0)
        return false;
    conn->tokens -= 1.0;
    return true;
}

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
    bool ready = conn->state == PUSH_CONN_READY;
    if (!type) {
        send_error(srv, conn, "bad_frame", "A frame needs a string \"type\".");
    } else if (strcmp(type, "ping") == 0) {
        send_type(srv, conn, "pong");
    } else if (!ready && (strcmp(type, "typing") == 0 || strcmp(type, "message.send") == 0 ||
                          strcmp(type, "read") == 0 || strcmp(type, "delivered") == 0)) {
        send_error_for(srv, conn, "not_authenticated", "Authenticate first.",
                       string_field(obj, "client_msg_id"));
    } else if (strcmp(type, "typing") == 0) {
        handle_typing(srv, conn, obj);
    } else if (strcmp(type, "message.send") == 0) {
        handle_send(srv, conn, obj);
    } else if (strcmp(type, "read") == 0 || strcmp(type, "delivered") == 0) {
        handle_receipt(srv, conn, obj, strcmp(type, "read") == 0);
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
            push_submit_auth(srv, conn, chat_xstrdup(json_object_get_string(v)));
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
            push_start_resume(srv, conn, json_object_get_int64(v));
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
        push_rx_reset(conn);
        conn->rx_too_big = false;
    }
    if (!conn->rx_too_big && conn->rx.len + len + lws_remaining_packet_payload(wsi) > max) {
        log_info("connection %llu sent a message over %zu bytes; closing 1009", conn->id, max);
        conn->rx_too_big = true;
    }
    if (conn->rx_too_big) {
        if (!lws_is_final_fragment(wsi))
            return 0;
        static const char reason[] = "message too big";
        srv->metrics.closed_too_big++;
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)reason,
                         sizeof(reason) - 1);
        return -1;
    }
    size_t msg_len;
    const char *msg = push_rx_collect(conn, in, len, lws_is_final_fragment(wsi), &msg_len);
    if (!msg)
        return 0;
    srv->metrics.client_frames++;
    if (!take_token(srv, conn)) {
        srv->metrics.closed_rate_limited++;
        log_info("connection %llu (user %lld) sends frames too fast; closing 4429", conn->id,
                 conn->user_id);
        push_rx_reset(conn);
        fail_conn(srv, conn, "rate_limited", "Too many frames; slow down and reconnect.",
                  PUSH_CLOSE_RATE_LIMITED, "rate limited");
        return 0;
    }
    if (lws_frame_is_binary(wsi))
        send_error(srv, conn, "bad_frame", "Send JSON text frames.");
    else
        handle_message(srv, conn, msg, msg_len);
    push_rx_reset(conn);
    return 0;
}

/* ---- writing ---- */

static int writeable(struct push_server *srv, struct lws *wsi, struct push_conn *conn)
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
    srv->metrics.frames_sent++;
    if (f->created_us)
        push_metrics_observe_latency(&srv->metrics, (double)(realtime_us() - f->created_us) / 1000.0);
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

/* The clock tick: every worker round (push_poll_interval_ms) and every result. */
static void on_wake(struct push_server *srv)
{
    long long now = now_ms();
    long long notified = push_worker_take_notify_time(srv->worker);
    if (notified)
        push_metrics_observe_lag(&srv->metrics, now - notified);
    process_results(srv);
    check_auth_deadlines(srv);
    expire_typing(srv, now);
    push_http_tick(srv, now);
}

int push_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct push_session *pss = user;
    struct push_server *srv;
    long long conv;
    unsigned status;

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return push_http_request(server_of(wsi), wsi, pss, (const char *)in);

    case LWS_CALLBACK_HTTP_WRITEABLE:
        return push_http_writeable(server_of(wsi), wsi, pss);

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
        struct push_conn *conn = push_conn_new(srv, wsi, PUSH_KIND_WS, conv);
        conn->resume_from = request_resume_from(wsi);
        bool from_cookie;
        conn->token = push_request_token(wsi, &from_cookie);
        pss->conn = conn;
        return 0;
    }

    case LWS_CALLBACK_ESTABLISHED:
        if (!pss->conn)
            return -1;
        srv = server_of(wsi);
        if (pss->conn->token) {
            char *token = pss->conn->token;
            pss->conn->token = NULL;
            push_submit_auth(srv, pss->conn, token);
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
        return writeable(server_of(wsi), wsi, pss->conn);

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        srv = lws_context_user(lws_get_context(wsi));
        if (srv && srv->worker)
            on_wake(srv);
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        if (pss && pss->conn) {
            push_conn_destroy(server_of(wsi), pss->conn);
            pss->conn = NULL;
        }
        return 0;

    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}
