/* Ending connections whose session is gone (see revocation.h). */
#include "revocation.h"

#include "clock.h"
#include "conn.h"
#include "errors.h"
#include "http_fallback.h"
#include "log.h"
#include "session_expiry.h"

void push_end_session(struct push_server *srv, struct push_conn *conn, const char *detail)
{
    srv->metrics.sessions_ended++;
    log_info("connection %llu (user %lld): %s", conn->id, conn->user_id, detail);
    if (conn->kind == PUSH_KIND_POLL)
        push_http_fail(conn, CHAT_E_NOT_AUTHENTICATED, detail);
    else
        push_fail_conn(srv, conn, CHAT_E_NOT_AUTHENTICATED, detail, PUSH_CLOSE_NOT_AUTHENTICATED,
                       "session ended");
}

static bool named(const struct push_event *e, long long session_id)
{
    if (e->nsessions == 0)
        return true; /* the whole user (deactivation) */
    for (size_t i = 0; i < e->nsessions; i++)
        if (e->sessions[i] == session_id)
            return true;
    return false;
}

void push_revoke(struct push_server *srv, const struct push_event *e)
{
    if (e->nusers == 0)
        return;
    size_t n;
    /* Ending a connection never unregisters it, so the array stays valid. */
    struct push_conn *const *conns = push_fanout_user_conns(&srv->fanout, e->users[0], &n);
    for (size_t i = 0; i < n; i++)
        if (named(e, conns[i]->session_id))
            push_end_session(srv, conns[i], "The session has ended.");
}

void push_session_watch(struct push_server *srv, struct push_conn *conn, long long session_id,
                        long long expires_in_ms)
{
    conn->session_id = session_id;
    conn->expires_ms = chat_now_ms() + expires_in_ms;
    push_expiry_add(&srv->expiry, conn);
}

void push_expire_sessions(struct push_server *srv, long long now_ms)
{
    struct push_conn *conn;
    while ((conn = push_expiry_pop_due(&srv->expiry, now_ms)))
        push_end_session(srv, conn, "The session has expired.");
}
