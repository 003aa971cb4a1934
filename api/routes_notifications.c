/* /api/chat/conversations/<pk>/notifications/: the caller's notification level and mute
 * for one conversation (docs/API.md "Notification levels"). */
#include <string.h>

#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "request.h"
#include "response.h"
#include "store.h"
#include "time_parse.h"

static const struct chat_field notifications_fields[] = {
    {"level", CHAT_FIELD_STRING, false, true, 16},
    {"muted_until", CHAT_FIELD_STRING, false, true, 64},
};

/* Both fields must be there (null is a value: the default level, no mute): a PUT
 * replaces the whole setting. */
static bool has_both(json_object *body)
{
    json_object *v;
    return json_object_object_get_ex(body, "level", &v) &&
           json_object_object_get_ex(body, "muted_until", &v);
}

CHAT_HANDLER(chat_handle_notifications_put)
{
    json_object *body, *conv = NULL;
    int rc = chat_read_json_body(req, res, notifications_fields, 2, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *level = chat_json_get_string(body, "level", NULL);
    const char *mute = chat_json_get_string(body, "muted_until", NULL);
    const char *detail = NULL;
    char muted_until[27];
    bool changed = false;
    /* A non-participant learns nothing, not even whether the body was valid. */
    rc = chat_conv_check_participant(&app->db, args->ids[0], req->user_id);
    if (rc == CHAT_OK && !has_both(body)) {
        rc = CHAT_E_MISSING_FIELD;
        detail = "error.notify.both_required";
    } else if (rc == CHAT_OK && level && strcmp(level, "all") && strcmp(level, "mentions") &&
               strcmp(level, "none")) {
        rc = CHAT_E_VALIDATION;
        detail = "error.notify.level_invalid";
    } else if (rc == CHAT_OK && mute && !chat_time_parse_rfc3339(mute, muted_until)) {
        rc = CHAT_E_VALIDATION;
        detail = "error.notify.muted_until_invalid";
    }
    if (rc == CHAT_OK)
        rc = chat_notify_level_set(&app->db, args->ids[0], req->user_id, level,
                                   mute ? muted_until : NULL, &changed, &conv, &detail);
    if (rc != CHAT_OK) {
        rc = chat_fail(req, res, rc,
                       rc == CHAT_E_NOT_FOUND ? CHAT_DETAIL_CONVERSATION_NOT_FOUND : detail);
        goto out;
    }
    if (changed)
        chat_app_wake_push(app);
    chat_respond_json(res, 200, conv);
out:
    json_object_put(body);
    return rc;
}
