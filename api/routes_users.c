/* /api/users/: user search, for starting conversations. */
#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

#include <string.h>

CHAT_HANDLER(chat_handle_user_search)
{
    (void)args;
    /* Room for CHAT_DISPLAY_NAME_MAX characters of 4 bytes and a partial one: a longer q
     * is cut by chat_query_param in bytes, then here at a character, and only that
     * prefix (all the search uses) has to be valid UTF-8. */
    char q[4 * CHAT_DISPLAY_NAME_MAX + 5] = "";
    long long limit;
    if (chat_query_param(req->query, "q", q, sizeof(q))) {
        size_t len = chat_utf8_prefix_len(q, strlen(q), CHAT_DISPLAY_NAME_MAX);
        q[len] = '\0';
        if (!chat_utf8_valid(q, len))
            return chat_fail(req, res, CHAT_E_INVALID_UTF8,
                             "Query parameter 'q' is not valid UTF-8.");
    }
    int rc = chat_query_positive_int(req, res, "limit", 50, &limit);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr;
    rc = chat_user_search_json(&app->db, q, limit ? (int)limit : 20, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}
