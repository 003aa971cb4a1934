/* The dispatch of the DB worker's results on the lws thread, one way: events go to the
 * fan-out, typing relays to the typing relay, and a connection's result to the handler of
 * its transport (ws_protocol.c, http_fallback.c); what both transports share (the
 * per-user admission, a resume's outcome) is decided here. */
#include "dispatch.h"

#include "conn.h"
#include "errors.h"
#include "i18n.h"
#include "http_fallback.h"
#include "log.h"
#include "revocation.h"
#include "typing_relay.h"
#include "ws_protocol.h"

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
    push_session_watch(srv, conn, r->session_id, r->expires_in_ms);
    conn->user_json = r->user_json;
    r->user_json = NULL;
    int locale = chat_i18n_locale_from_tag(r->locale);
    if (locale >= 0)
        conn->locale = (unsigned char)locale;
    push_typing_filter_set(conn, r->block_peers, r->nblock_peers);
    r->block_peers = NULL;
    push_submit_presence(srv, r->user_id, n + 1, n == 0);
    log_debug("connection %llu authenticated as user %lld (%zu conversations)", conn->id,
              r->user_id, r->nconv);
    return true;
}

static void auth_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    int status = r->status;
    if (status == CHAT_OK && !admit(srv, conn, r))
        status = CHAT_E_TOO_MANY_CONNECTIONS;
    if (conn->kind != PUSH_KIND_WS) {
        if (status == CHAT_OK && conn->kind == PUSH_KIND_SSE)
            push_conn_send(&srv->fanout, conn, r->hello, false);
        push_http_auth_done(srv, conn, status);
        return;
    }
    push_ws_auth_done(srv, conn, status, r->hello);
}

static void resume_done(struct push_server *srv, struct push_conn *conn, struct push_result *r)
{
    if (r->status == PUSH_RESUME_RESYNC) {
        push_send_type(srv, conn, "resync_required"); /* a control frame: never held */
        push_conn_resume_done(&srv->fanout, conn, NULL, 0);
    } else if (r->status == PUSH_RESUME_GONE) {
        /* /ws/chat/<pk>/ and the user left pk: nothing of it, held frames included. */
        push_fail_conn(srv, conn, CHAT_E_NOT_FOUND, CHAT_DETAIL_CONVERSATION_NOT_FOUND,
                       PUSH_CLOSE_NOT_FOUND, "not found");
    } else if (r->status == PUSH_RESUME_REVOKED) {
        push_end_session(srv, conn, "The session has ended.");
    } else if (r->status == PUSH_RESUME_FAILED) {
        push_send_error(srv, conn, CHAT_E_DB, NULL);
        push_conn_resume_done(&srv->fanout, conn, NULL, 0);
    } else {
        push_conn_resume_done(&srv->fanout, conn, r->events, r->nevents);
    }
}

void push_dispatch_results(struct push_server *srv)
{
    struct push_result *r = push_worker_take_results(srv->worker);
    while (r) {
        struct push_result *next = r->next;
        if (r->kind == PUSH_RESULT_EVENTS) {
            for (size_t i = 0; i < r->nevents; i++) {
                if (r->events[i].kind == PUSH_EVENT_REVOKE) {
                    push_revoke(srv, &r->events[i]);
                    continue;
                }
                if (r->events[i].kind == PUSH_EVENT_BLOCK)
                    push_typing_block_changed(srv, &r->events[i]);
                push_fanout_event(&srv->fanout, &r->events[i]);
            }
        } else if (r->kind == PUSH_RESULT_TYPING) {
            push_typing_deliver(srv, r->conversation_id, r->user_id, r->body);
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
                    push_ws_send_done(srv, conn, r);
                    break;
                case PUSH_RESULT_RECEIPT:
                    push_ws_receipt_done(srv, conn, r);
                    break;
                case PUSH_RESULT_POLL:
                    push_http_poll_done(srv, conn, r);
                    break;
                case PUSH_RESULT_TYPING_CHECKED:
                    push_ws_typing_done(srv, conn, r);
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

