/* /api/users/: user search, for starting conversations. */
#include "api.h"
#include "errors.h"
#include "handlers.h"
#include "store.h"
#include "utf8.h"

#include <string.h>

CHAT_HANDLER(chat_handle_user_search)
{
    (void)args;
    char q[4 * CHAT_DISPLAY_NAME_MAX + 1] = "";
    long long limit;
    if (chat_query_param(req->query, "q", q, sizeof(q)) && !chat_utf8_valid(q, strlen(q)))
        return chat_fail(req, res, CHAT_E_INVALID_UTF8, "Query parameter 'q' is not valid UTF-8.");
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
