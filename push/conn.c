/* One connection's state on the lws thread, shared by both transports: creation and
 * teardown, the control frames (errors, pong, close) it is sent, and the DB jobs it
 * submits (auth, resume, presence). */
#include "conn.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "i18n.h"
#include "http_state.h"
#include "json_util.h"
#include "xalloc.h"

/* A connection marked to close gets this long to become writable and take its close;
 * a client that stopped reading never does (an SSE stream has no ping to end it, and a
 * WebSocket client that keeps sending stays valid), so lws then drops it. */
#define CLOSE_GRACE_S 15

void push_conn_want_write(struct push_conn *conn)
{
    lws_callback_on_writable((struct lws *)conn->wsi);
    if (conn->close_code && conn->kind != PUSH_KIND_POLL) /* a long-poll reuses close_code */
        lws_set_timeout((struct lws *)conn->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_GRACE_S);
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
    conn->tokens_ms = chat_now_ms();
    conn->last_rx_ms = conn->tokens_ms;
    push_fanout_register(&srv->fanout, conn);
    srv->connections++;
    srv->connections_by_kind[kind]++;
    srv->metrics.connections_total++;
    if (kind != PUSH_KIND_WS) {
        conn->http = chat_xcalloc(1, sizeof(*conn->http));
        conn->http->next = srv->http_conns;
        if (srv->http_conns)
            srv->http_conns->http->prev = conn;
        srv->http_conns = conn;
    }
    return conn;
}

/* Records that user_id now holds `connections` connections here. Only 0 <-> 1 can change
 * presence (and take its row lock); other changes just update the count, which
 * connections_per_user reads across daemons. */
void push_submit_presence(struct push_server *srv, long long user_id, size_t connections,
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
    push_expiry_remove(&srv->expiry, conn);
    push_fanout_unregister(&srv->fanout, conn);
    if (was_ready && srv->worker) {
        size_t left;
        push_fanout_user_conns(&srv->fanout, conn->user_id, &left);
        push_submit_presence(srv, conn->user_id, left, left == 0);
    }
    if (conn->kind != PUSH_KIND_WS) {
        struct push_http_state *h = conn->http;
        if (h->prev)
            h->prev->http->next = h->next;
        else
            srv->http_conns = h->next;
        if (h->next)
            h->next->http->prev = h->prev;
        push_frame_unref(h->body);
        free(h);
    }
    srv->connections--;
    srv->connections_by_kind[conn->kind]--;
    free(conn);
}

/* ---- frames to the client ---- */

void push_send_json(struct push_server *srv, struct push_conn *conn, json_object *obj)
{
    size_t len;
    const char *text = chat_json_to_string(obj, &len);
    struct push_frame *f = push_frame_new(text, len, 0);
    push_conn_send(&srv->fanout, conn, f, false);
    push_frame_unref(f);
    json_object_put(obj);
}

/* {"type":"error","code","detail"[,"client_msg_id"]}; client_msg_id may be NULL. */
void push_send_error_for(struct push_server *srv, struct push_conn *conn, int err,
                         const char *detail, const char *client_msg_id)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string("error"));
    json_object_object_add(o, "code", json_object_new_string(chat_err_code(err)));
    json_object_object_add(o, "detail",
                           chat_i18n_error_json((enum chat_locale)conn->locale, err, detail));
    if (client_msg_id)
        json_object_object_add(o, "client_msg_id", json_object_new_string(client_msg_id));
    push_send_json(srv, conn, o);
}

void push_send_error(struct push_server *srv, struct push_conn *conn, int err,
                     const char *detail)
{
    push_send_error_for(srv, conn, err, detail, NULL);
}

void push_send_type(struct push_server *srv, struct push_conn *conn, const char *type)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(type));
    push_send_json(srv, conn, o);
}

/* Sends an error frame, then closes with close_code once it is written. */
void push_fail_conn(struct push_server *srv, struct push_conn *conn, int err,
                    const char *detail, int close_code, const char *reason)
{
    push_send_error(srv, conn, err, detail);
    push_conn_close_after(&srv->fanout, conn, close_code, reason);
}

/* ---- jobs ---- */

struct push_job *push_job_for(enum push_job_kind kind, const struct push_conn *conn)
{
    struct push_job *job = chat_xcalloc(1, sizeof(*job));
    job->kind = kind;
    job->conn_id = conn->id;
    job->user_id = conn->user_id;
    job->session_id = conn->session_id;
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

