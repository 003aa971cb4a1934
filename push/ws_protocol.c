/* The WebSocket protocol: the upgrade's path and Origin check, the auth-frame deadline,
 * client frames (auth, resume, ping, typing, message.send, read/delivered) with their
 * size and rate limits, writing one queued frame per WRITEABLE, and the WebSocket side
 * of the DB worker's results. Protocol: docs/protocol.md. */
#include "ws_protocol.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "conn.h"
#include "errors.h"
#include "json_util.h"
#include "log.h"
#include "request.h"
#include "revocation.h"
#include "store.h"
#include "typing_relay.h"
#include "xalloc.h"

/* A client has this long to send {"type":"auth"} when the upgrade carried no token. */
#define AUTH_FRAME_TIMEOUT_MS 10000

static long long realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
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

/* Checks the path and the Origin header of an upgrade request. Returns 0 (and the
 * conversation in *conv) or the HTTP status to refuse it with. */
unsigned push_ws_check_upgrade(struct lws *wsi, const struct chat_config *cfg, long long *conv)
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

/* ---- the auth-frame deadline ----
 *
 * Not an lws timer: under libev, lws 4.1.6 re-arms its single ev_timer without stopping
 * it, so a deadline earlier than the one already armed (for example the 20 s handshake
 * timeout of the same connection) fires late; a 10 s lws_set_timer_usecs() was measured
 * firing after 20 s. The DB worker ticks the loop every push_poll_interval_ms while
 * deadlines are pending, and they are checked here, in order. */

void push_ws_wait_for_auth_frame(struct push_server *srv, struct push_conn *conn)
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
        (struct push_auth_wait){.conn_id = conn->id, .deadline_ms = chat_now_ms() + AUTH_FRAME_TIMEOUT_MS};
}

void push_ws_check_auth_deadlines(struct push_server *srv)
{
    long long now = chat_now_ms();
    while (srv->auth_count > 0 && srv->auth_waits[srv->auth_head].deadline_ms <= now) {
        struct push_conn *conn = push_fanout_find(&srv->fanout, srv->auth_waits[srv->auth_head].conn_id);
        srv->auth_head++;
        srv->auth_count--;
        if (conn && conn->state == PUSH_CONN_WAIT_AUTH)
            push_fail_conn(srv, conn, CHAT_E_NOT_AUTHENTICATED,
                           "No credentials were sent within 10 seconds.",
                           PUSH_CLOSE_NOT_AUTHENTICATED, "not authenticated");
    }
    if (srv->auth_count == 0)
        srv->auth_head = 0;
}

/* ---- keepalive ----
 *
 * Not lws's validity timer (retry_and_idle_policy): lws 4.1.6 keeps one timer per
 * connection in a single sorted list and inserts each by walking the list from its head,
 * so every new connection, and every frame that confirms one, costs a walk over all the
 * others. With 10,000 sockets that walk was over half of the daemon's CPU in a connect
 * storm. One sweep on the clock tick does the same job in a pass over the connections. */

struct keepalive_sweep {
    long long now, ping_ms;
    unsigned long long pinged, dropped;
};

static void keepalive_one(struct push_conn *conn, void *arg)
{
    struct keepalive_sweep *s = arg;
    long long idle = s->now - conn->last_rx_ms;
    if (conn->kind != PUSH_KIND_WS || conn->close_code || idle < s->ping_ms)
        return;
    if (idle >= 2 * s->ping_ms) {
        /* Nothing, not even the pong, for twice the interval: the peer is gone. Closed
         * asynchronously, as lws would (no close frame: nobody reads it). */
        s->dropped++;
        lws_set_timeout((struct lws *)conn->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    } else if (conn->ping == PUSH_PING_NONE) {
        s->pinged++;
        conn->ping = PUSH_PING_DUE;
        lws_callback_on_writable((struct lws *)conn->wsi);
    }
}

void push_ws_keepalive(struct push_server *srv, long long now)
{
    if (now < srv->next_keepalive_ms)
        return;
    srv->next_keepalive_ms = now + 1000;
    struct keepalive_sweep s = {.now = now, .ping_ms = (long long)srv->cfg->push_ping_interval_s * 1000};
    push_fanout_for_each(&srv->fanout, keepalive_one, &s);
    if (s.dropped)
        log_info("keepalive: %llu connections silent for %d s dropped", s.dropped,
                 2 * srv->cfg->push_ping_interval_s);
}

void push_ws_alive(struct push_conn *conn)
{
    conn->last_rx_ms = chat_now_ms();
    if (conn->ping == PUSH_PING_SENT)
        conn->ping = PUSH_PING_NONE;
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
        push_send_error(srv, conn, CHAT_E_BAD_FRAME,
                        "typing needs a positive \"conversation_id\" and a boolean \"is_typing\".");
        return;
    }
    if (!push_conn_subscribed(conn, conv)) {
        push_send_error(srv, conn, CHAT_E_NOT_FOUND, CHAT_DETAIL_CONVERSATION_NOT_FOUND);
        return;
    }
    bool typing = json_object_get_boolean(v);
    struct push_typing_key key = {.user_id = conn->user_id, .conversation_id = conv};
    enum push_typing_action a = push_typing_update(&srv->typing, key, typing, chat_now_ms(),
                                                   conn->user_json);
    if (a == PUSH_TYPING_NOTHING)
        return;
    /* Relayed once the worker has seen the session alive (push_ws_typing_done); starts and
     * explicit stops take the same FIFO, so they stay in order. */
    struct push_job *job = push_job_for(PUSH_JOB_TYPING, conn);
    job->conversation_id = conv;
    job->typing = a == PUSH_TYPING_RELAY_START;
    push_worker_submit(srv->worker, job);
}

void push_ws_typing_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    struct push_typing_key key = {.user_id = conn->user_id, .conversation_id = r->conversation_id};
    if (r->status == CHAT_E_NOT_AUTHENTICATED)
        push_end_session(srv, conn, "The session has ended.");
    else if (r->status == CHAT_OK && push_conn_subscribed(conn, r->conversation_id) &&
             (!r->typing || push_typing_active(&srv->typing, key))) /* not stopped meanwhile */
        push_typing_relay(srv, r->conversation_id, conn->user_id, conn->user_json, r->typing);
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
        push_send_error_for(srv, conn, CHAT_E_BAD_FRAME,
                            "message.send needs a positive \"conversation_id\", string "
                            "\"text\" and \"client_msg_id\", an integer \"reply_to\" if any, "
                            "and at most 10 integer \"attachment_ids\".",
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
        push_send_error(srv, conn, CHAT_E_BAD_FRAME,
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
    long long now = chat_now_ms();
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
        push_send_error(srv, conn, CHAT_E_BAD_FRAME, detail);
        return;
    }
    json_object *v;
    const char *type = json_object_object_get_ex(obj, "type", &v) &&
                               json_object_is_type(v, json_type_string)
                           ? json_object_get_string(v)
                           : NULL;
    bool ready = conn->state == PUSH_CONN_READY;
    if (!type) {
        push_send_error(srv, conn, CHAT_E_BAD_FRAME, "A frame needs a string \"type\".");
    } else if (strcmp(type, "ping") == 0) {
        push_send_type(srv, conn, "pong");
    } else if (!ready && (strcmp(type, "typing") == 0 || strcmp(type, "message.send") == 0 ||
                          strcmp(type, "read") == 0 || strcmp(type, "delivered") == 0)) {
        push_send_error_for(srv, conn, CHAT_E_NOT_AUTHENTICATED, "Authenticate first.",
                            string_field(obj, "client_msg_id"));
    } else if (strcmp(type, "typing") == 0) {
        handle_typing(srv, conn, obj);
    } else if (strcmp(type, "message.send") == 0) {
        handle_send(srv, conn, obj);
    } else if (strcmp(type, "read") == 0 || strcmp(type, "delivered") == 0) {
        handle_receipt(srv, conn, obj, strcmp(type, "read") == 0);
    } else if (strcmp(type, "auth") == 0) {
        if (conn->state != PUSH_CONN_WAIT_AUTH) {
            push_send_error(srv, conn, CHAT_E_BAD_FRAME, "Already authenticated.");
        } else if (!json_object_object_get_ex(obj, "token", &v) ||
                   !json_object_is_type(v, json_type_string) ||
                   json_object_get_string_len(v) == 0 ||
                   json_object_get_string_len(v) > PUSH_TOKEN_MAX) {
            push_fail_conn(srv, conn, CHAT_E_NOT_AUTHENTICATED,
                           "The auth frame needs a \"token\".", PUSH_CLOSE_NOT_AUTHENTICATED,
                           "not authenticated");
        } else {
            push_submit_auth(srv, conn, chat_xstrdup(json_object_get_string(v)));
        }
    } else if (strcmp(type, "resume") == 0) {
        if (!json_object_object_get_ex(obj, "last_event_id", &v) ||
            !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
            push_send_error(srv, conn, CHAT_E_BAD_FRAME,
                            "\"last_event_id\" must be a non-negative integer.");
        } else if (conn->resuming) {
            push_send_error(srv, conn, CHAT_E_BAD_FRAME, "A resume is already running.");
        } else if (conn->state != PUSH_CONN_READY) {
            conn->resume_from = json_object_get_int64(v); /* runs right after hello */
        } else {
            push_start_resume(srv, conn, json_object_get_int64(v));
        }
    } else {
        push_send_error(srv, conn, CHAT_E_BAD_FRAME, "Unknown frame type.");
    }
    json_object_put(obj);
}

/* Collects a (possibly fragmented) client message. Returns -1 to close the connection.
 * A message over push_max_frame_bytes is discarded as it arrives and the connection is
 * closed with 1009 once it ends: closing at once, with the rest still unread, makes the
 * kernel reset the connection and the client would never see the close frame. */
int push_ws_receive(struct push_server *srv, struct lws *wsi, struct push_conn *conn,
                    const void *in, size_t len)
{
    size_t max = (size_t)srv->cfg->push_max_frame_bytes;
    push_ws_alive(conn);
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
        push_fail_conn(srv, conn, CHAT_E_RATE_LIMITED,
                       "Too many frames; slow down and reconnect.", PUSH_CLOSE_RATE_LIMITED,
                       "rate limited");
        return 0;
    }
    if (lws_frame_is_binary(wsi))
        push_send_error(srv, conn, CHAT_E_BAD_FRAME, "Send JSON text frames.");
    else
        handle_message(srv, conn, msg, msg_len);
    push_rx_reset(conn);
    return 0;
}

/* ---- writing ---- */

int push_ws_writeable(struct push_server *srv, struct lws *wsi, struct push_conn *conn)
{
    if (conn->close_code && conn->out.count == 0) {
        const char *reason = conn->close_reason ? conn->close_reason : "";
        lws_close_reason(wsi, (enum lws_close_status)conn->close_code, (unsigned char *)reason,
                         strlen(reason));
        return -1;
    }
    if (conn->ping == PUSH_PING_DUE) { /* a control frame: ahead of the queue */
        /* Not empty: lws 4.1.6 passes an empty pong to nobody (RECEIVE_PONG needs a
         * payload), and the pong is what proves the client alive. */
        unsigned char ping[LWS_PRE + 1];
        ping[LWS_PRE] = 'k';
        conn->ping = PUSH_PING_SENT;
        if (lws_write(wsi, ping + LWS_PRE, 1, LWS_WRITE_PING) < 0)
            return -1;
        if (conn->out.count || conn->close_code)
            lws_callback_on_writable(wsi);
        return 0;
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

/* ---- results from the DB worker ---- */

/* The WebSocket side of an auth result; status is the job's, or
 * CHAT_E_TOO_MANY_CONNECTIONS for a connection over the per-user limit (dispatch.c).
 * hello is the result's frame. */
void push_ws_auth_done(struct push_server *srv, struct push_conn *conn, int status,
                       struct push_frame *hello)
{
    switch (status) {
    case CHAT_OK:
        push_conn_send(&srv->fanout, conn, hello, false);
        if (conn->resume_from >= 0)
            push_start_resume(srv, conn, conn->resume_from);
        break;
    case CHAT_E_TOO_MANY_CONNECTIONS:
        push_fail_conn(srv, conn, CHAT_E_TOO_MANY_CONNECTIONS, NULL,
                       PUSH_CLOSE_TOO_MANY_CONNECTIONS, "too many connections");
        break;
    case CHAT_E_NOT_FOUND:
        push_fail_conn(srv, conn, CHAT_E_NOT_FOUND, CHAT_DETAIL_CONVERSATION_NOT_FOUND,
                       PUSH_CLOSE_NOT_FOUND, "not found");
        break;
    case CHAT_E_NOT_AUTHENTICATED:
        push_fail_conn(srv, conn, CHAT_E_NOT_AUTHENTICATED, NULL, PUSH_CLOSE_NOT_AUTHENTICATED,
                       "not authenticated");
        break;
    default:
        push_fail_conn(srv, conn, status, NULL, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                       "try again");
        break;
    }
}

void push_ws_send_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    if (r->status == CHAT_E_NOT_AUTHENTICATED) {
        push_send_error_for(srv, conn, r->status, "The session has ended.", r->client_msg_id);
        push_end_session(srv, conn, "The session has ended.");
        return;
    }
    if (r->status == CHAT_OK) {
        srv->metrics.messages_sent++;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("message.sent"));
        json_object_object_add(o, "client_msg_id", json_object_new_string(r->client_msg_id));
        json_object_object_add(o, "message_id", json_object_new_int64(r->message_id));
        push_send_json(srv, conn, o);
        return;
    }
    push_send_error_for(srv, conn, r->status, r->detail[0] ? r->detail : NULL,
                        r->client_msg_id);
}

void push_ws_receipt_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    if (r->status == CHAT_E_NOT_AUTHENTICATED)
        push_end_session(srv, conn, "The session has ended.");
    else if (r->status != CHAT_OK)
        push_send_error(srv, conn, r->status, r->detail[0] ? r->detail : NULL);
}

