/* The per-connection state of an HTTP fallback (an SSE stream or a long-poll request),
 * kept out of struct push_conn so an idle WebSocket does not carry it. conn.c allocates
 * it with the connection and frees it; http_fallback.c uses it. */
#ifndef CHAT_PUSH_HTTP_STATE_H
#define CHAT_PUSH_HTTP_STATE_H

#include <stdbool.h>
#include <stddef.h>

struct push_conn;
struct push_frame;

struct push_http_state {
    int error;                  /* nonzero: answer with this CHAT_E_* error */
    const char *detail;         /* its detail (static), or NULL for the error's message */
    bool headers_sent;          /* SSE: the 200 and its headers are out */
    bool poll_waiting;          /* no events yet: waiting for a wake-up or the deadline */
    bool poll_running;          /* a poll job is queued */
    bool poll_dirty;            /* events arrived while a poll job was running */
    bool poll_final;            /* the deadline passed: answer whatever the job finds */
    long long last_write_ms;    /* SSE: for keep-alive comments */
    long long poll_from;        /* long-poll: last_event_id */
    long long poll_deadline_ms;
    struct push_frame *body;    /* long-poll: the response body (one reference owned) */
    const char *cors_origin;    /* SSE/long-poll from an allowed page origin: the entry of
                                 * cfg->allowed_origins to echo (borrowed), else NULL */
    size_t cors_origin_len;
    struct push_conn *prev, *next; /* list of SSE/long-poll connections (srv->http_conns) */
};

#endif
