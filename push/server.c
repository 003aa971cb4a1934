/* The lws protocol callback: routes each callback reason to the WebSocket protocol
 * (ws_protocol.c), the HTTP side (http_fallback.c) or the connection lifecycle (conn.c),
 * and runs the loop's clock tick (DB worker results, deadlines, typing expiry). Also the
 * server's init and teardown. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "http_fallback.h"
#include "request.h"
#include "revocation.h"
#include "typing_relay.h"
#include "wake.h"
#include "ws_protocol.h"

static struct push_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

void push_server_notify(void *arg)
{
    struct push_server *srv = arg;
    lws_cancel_service(srv->context);
}

void push_server_init(struct push_server *srv, const struct chat_config *cfg,
                      const char *wake_self)
{
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    snprintf(srv->wake_self, sizeof(srv->wake_self), "%s", wake_self);
    srv->peer_fd = chat_wake_open();
    push_fanout_init(&srv->fanout, (size_t)cfg->push_max_queue_bytes, push_conn_want_write);
}

void push_server_free(struct push_server *srv)
{
    push_fanout_free(&srv->fanout);
    push_typing_free(&srv->typing);
    push_expiry_free(&srv->expiry);
    free(srv->auth_waits);
    srv->auth_waits = NULL;
    if (srv->peer_fd >= 0)
        close(srv->peer_fd);
    srv->peer_fd = -1;
}

/* ---- the callback ---- */

/* The clock tick: every worker round (push_poll_interval_ms) and every result. */
static void on_wake(struct push_server *srv)
{
    long long now = chat_now_ms();
    long long notified = push_worker_take_notify_time(srv->worker);
    if (notified)
        push_metrics_observe_lag(&srv->metrics, now - notified);
    push_dispatch_results(srv);
    push_expire_sessions(srv, now);
    push_ws_check_auth_deadlines(srv);
    push_ws_keepalive(srv, now);
    push_typing_expire_all(srv, now);
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
        status = push_ws_check_upgrade(wsi, srv->cfg, &conv);
        if (status) {
            lws_return_http_status(wsi, status, NULL);
            return 1;
        }
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        srv = server_of(wsi);
        if (push_ws_check_upgrade(wsi, srv->cfg, &conv) != 0)
            return 1; /* CONFIRM_UPGRADE already refused it; belt and braces */
        struct push_conn *conn = push_conn_new(srv, wsi, PUSH_KIND_WS, conv);
        conn->resume_from = push_request_resume_from(wsi);
        conn->locale = (unsigned char)push_request_locale(wsi);
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
            push_ws_wait_for_auth_frame(srv, pss->conn);
        }
        return 0;

    case LWS_CALLBACK_RECEIVE:
        if (!pss->conn || pss->conn->close_code)
            return 0;
        return push_ws_receive(server_of(wsi), wsi, pss->conn, in, len);

    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss && pss->conn)
            push_ws_alive(pss->conn);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->conn)
            return 0;
        return push_ws_writeable(server_of(wsi), wsi, pss->conn);

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
