/* One request in the CGI shape (RFC 3875 meta-variables, a body to read, a response of
 * "Status:" and header lines then the body to write), wherever it comes from: a FastCGI
 * request of libfcgi, or a plain CGI process's environment, stdin and stdout. chat-api
 * serves all three of its modes through this (api/main_fcgi.c). */
#ifndef CHAT_GATEWAY_H
#define CHAT_GATEWAY_H

#include <fcgiapp.h>

#include "http.h"

struct chat_gateway {
    /* The value of a meta-variable (REQUEST_URI, CONTENT_LENGTH, HTTP_COOKIE...), or
     * NULL; valid until the request ends. */
    const char *(*param)(void *ctx, const char *name);
    /* Reads up to n bytes of the body; returns how many (0 or less: no more). */
    int (*read)(void *ctx, char *buf, int n);
    /* Writes n bytes of the response. */
    void (*write)(void *ctx, const char *buf, int n);
    /* Consumes what is left of the body before the response (NULL: nothing to do). A
     * CGI server writes the whole body to the program's stdin and fails the request
     * when the program exits without reading it (a refused 413, say); libfcgi discards
     * the rest itself. */
    void (*drain)(void *ctx);
    void *ctx;
};

/* A gateway over an accepted libfcgi request (r stays the caller's). */
struct chat_gateway chat_gateway_fcgi(FCGX_Request *r);

/* A gateway over this process's environment, stdin and stdout (plain CGI). */
struct chat_gateway chat_gateway_cgi(void);

/* Reads the request from gw (the body bounded by max_body_bytes, or spooled to a file
 * for upload routes), runs it through chat_app_handle() and writes the response. */
void chat_gateway_serve(struct chat_app *app, const struct chat_gateway *gw);

#endif
