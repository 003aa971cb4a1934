/* The transport-neutral request and response types. chat-api (FastCGI) and chat-httpd
 * (libmicrohttpd) each fill a struct chat_request, call chat_app_handle() (app.h), and
 * write the struct chat_response back (response.h builds it); neither holds business
 * logic. */
#ifndef CHAT_HTTP_H
#define CHAT_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "db.h"
#include "i18n.h"
#include "netaddr.h"
#include "rate_lease.h"
#include "session_cache.h"
#include "strbuf.h"

struct chat_request {
    /* Set by the transport; all strings are valid until the response is written. */
    const char *method;       /* "GET", "POST", ... */
    const char *path;         /* URL path, not decoded, without the query */
    const char *query;        /* raw query string without '?', or "" */
    const char *body;         /* may be NULL when body_len is 0 */
    size_t body_len;
    bool body_too_large;      /* more than cfg->max_body_bytes arrived or was announced
                               * (attachment_max_bytes on CHAT_ROUTE_BODY_FILE routes) */
    /* CHAT_ROUTE_BODY_FILE routes (uploads): the body is spooled to this file under
     * data_dir/tmp instead of memory (body is NULL, body_len its size); NULL when it
     * could not be created. The transport removes it after the response. */
    const char *body_file;
    bool body_incomplete;     /* the client sent less than it announced */
    const char *content_type; /* headers: NULL when absent */
    const char *cookie;
    const char *authorization;
    const char *csrf_header;  /* X-CSRFToken */
    const char *origin;
    const char *user_agent;   /* kept for the session list at login */
    const char *if_none_match; /* conditional GET (avatars) */
    const char *host;         /* the Host header */
    const char *accept_language; /* chooses the locale when the user has set none */
    bool tls;                 /* the client reached the front end over HTTPS */
    const char *remote_addr;  /* the transport's peer */
    const char *forwarded_for; /* X-Forwarded-For, several headers joined with ',' */

    /* Set by chat_app_handle (chat_app_admit_upload for uploads, before the body). */
    char request_id[24];
    char client_addr[CHAT_ADDR_CHARS]; /* remote_addr, or from forwarded_for (trusted_proxies) */
    bool admitted;            /* authentication, CSRF and the rate limit are done */
    bool authenticated;       /* chat_authenticate ran (user_id is final) */
    long long user_id;        /* 0 when anonymous */
    long long session_id;     /* the session authenticated with, 0 when anonymous */
    bool cookie_auth;         /* authenticated by the session cookie (CSRF applies) */
    char csrf_token[48];      /* the session's CSRF token when authenticated */
    char session_token[256];  /* the presented session token when authenticated */
    char user_locale[CHAT_LOCALE_CHARS];    /* the user's locale setting (users.locale), "" for none */
};

#define CHAT_MAX_RESPONSE_HEADERS 16

struct chat_response {
    int status;
    const char *content_type; /* static string */
    struct strbuf body;
    unsigned nheaders;
    struct {
        char *name, *value; /* owned */
    } headers[CHAT_MAX_RESPONSE_HEADERS];
    /* When set, the transport sends this file's contents as the body (static files). */
    char *file_path; /* owned */
    long long file_size;
};

/* Per-thread application state: one per FastCGI worker process or per httpd thread
 * (app_state.h). */
struct chat_app {
    const struct chat_config *cfg;
    struct chat_db db;
    bool db_open;
    int wake_fd;
    struct chat_session_cache sessions; /* sessions read in the last session_cache_ms */
    struct chat_rate_leases leases;     /* rate-limit tokens taken ahead (rate_lease.h) */
};

#endif
