/* Rendering the server-side chat page (templates/chat.html) and its 404 page, for the
 * page routes and the no-JavaScript send form. */
#ifndef CHAT_PAGE_VIEW_H
#define CHAT_PAGE_VIEW_H

#include "http.h"

/* What one page render needs besides the request. */
struct chat_page_view {
    long long conv_id;   /* 0: the list only (/chat/) */
    long long before;    /* show the messages before this id; 0: the latest */
    long long around;    /* or the page centred on this message (a search hit); 0: none */
    const char *error;   /* shown above the send form, or NULL */
    const char *draft;   /* put back into the send form after an error, or NULL */
    int status;          /* HTTP status of the page */
};

/* Renders chat.html: the login form for an anonymous visitor, else the conversation list
 * and, when view->conv_id is set, that conversation with its latest page of messages.
 * A conversation the viewer cannot see gives the 404 page. Returns CHAT_OK, or the
 * error after writing it with chat_fail(). */
int chat_page_render(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                     const struct chat_page_view *view);

/* Renders the 404 page for a conversation the viewer cannot see (or that does not exist:
 * the two are indistinguishable on purpose). Returns CHAT_OK, or the error after writing
 * it with chat_fail(). */
int chat_page_render_not_found(struct chat_app *app, struct chat_request *req,
                               struct chat_response *res);

#endif
