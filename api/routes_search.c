/* GET /api/chat/search/?q=&conversation=&sender=&before=&limit= */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "i18n.h"
#include "handlers.h"
#include "request.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

CHAT_HANDLER(chat_handle_search)
{
    (void)args;
    /* Room for more than CHAT_SEARCH_QUERY_MAX characters, so that a longer q is
     * refused rather than cut. */
    char q[CHAT_SEARCH_QUERY_MAX * 4 + 8];
    long long conv, sender, before, limit;
    int rc;
    if ((rc = chat_query_positive_int(req, res, "conversation", LLONG_MAX, &conv)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "sender", LLONG_MAX, &sender)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "before", LLONG_MAX, &before)) != CHAT_OK ||
        (rc = chat_query_positive_int(req, res, "limit", CHAT_PAGE_MAX, &limit)) != CHAT_OK)
        return rc;
    if (!chat_query_param(req->query, "q", q, sizeof(q)))
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, "error.search.q_required");
    size_t len = strlen(q);
    if (!chat_utf8_valid(q, len))
        return chat_fail(req, res, CHAT_E_INVALID_UTF8, "error.search.q_not_utf8");
    size_t chars = chat_utf8_length(q, len);
    if (chars < 1 || chars > CHAT_SEARCH_QUERY_MAX || len + 1 >= sizeof(q)) {
        char detail[96];
        chat_detail_printf(detail, sizeof(detail), "error.search.q_length", "max=%d",
                           CHAT_SEARCH_QUERY_MAX);
        return chat_fail(req, res, CHAT_E_BAD_REQUEST, detail);
    }
    json_object *page;
    rc = chat_message_search_json(&app->db, req->user_id, q, conv, sender, before,
                                  limit ? (int)limit : CHAT_PAGE_DEFAULT, &page);
    if (rc == CHAT_E_BAD_REQUEST)
        return chat_fail(req, res, rc, "error.search.q_no_word");
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc,
                         rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : NULL);
    chat_respond_json(res, 200, page);
    return CHAT_OK;
}
