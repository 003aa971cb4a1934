/* /api/users/: user search, for starting conversations. */
#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "store.h"

CHAT_HANDLER(chat_handle_user_search)
{
    (void)args;
    char q[4 * CHAT_DISPLAY_NAME_MAX + 5];
    long long limit;
    int rc = chat_query_text(req, res, "q", CHAT_DISPLAY_NAME_MAX, q, sizeof(q));
    if (rc != CHAT_OK)
        return rc;
    rc = chat_query_positive_int(req, res, "limit", 50, &limit);
    if (rc != CHAT_OK)
        return rc;
    json_object *arr;
    rc = chat_user_search_json(&app->db, q, limit ? (int)limit : 20, &arr);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_respond_results(res, arr);
    return CHAT_OK;
}
