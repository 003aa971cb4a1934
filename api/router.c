/* The route table and the matcher. */
#include "router.h"

#include <stdio.h>
#include <string.h>

#include "handlers.h"

const struct chat_route chat_routes[] = {
    {"GET", "/", chat_handle_root, CHAT_ROUTE_PUBLIC},
    {"GET", "/chat/", chat_handle_chat_page, CHAT_ROUTE_PUBLIC},
    {"GET", "/chat/{id}/", chat_handle_conversation_page, CHAT_ROUTE_PUBLIC},
    /* Public: the handler checks the session and the form's csrf_token itself (a plain
     * form post cannot send the X-CSRFToken header). */
    {"POST", "/chat/{id}/send", chat_handle_conversation_send, CHAT_ROUTE_PUBLIC},
    {"GET", "/static/{*}", chat_handle_static, CHAT_ROUTE_PUBLIC | CHAT_ROUTE_NO_DB},
    {"POST", "/api/auth/register", chat_handle_register, CHAT_ROUTE_PUBLIC | CHAT_ROUTE_RATE_AUTH},
    {"POST", "/api/auth/login", chat_handle_login, CHAT_ROUTE_PUBLIC | CHAT_ROUTE_RATE_AUTH},
    {"POST", "/api/auth/logout", chat_handle_logout, CHAT_ROUTE_AUTH},
    {"GET", "/api/auth/me", chat_handle_me, CHAT_ROUTE_AUTH},
    {"GET", "/api/users/", chat_handle_user_search, CHAT_ROUTE_AUTH},
    {"GET", "/api/users/{id}/presence/", chat_handle_user_presence, CHAT_ROUTE_AUTH},
    {"GET", "/api/chat/conversations/", chat_handle_conversation_list, CHAT_ROUTE_AUTH},
    {"POST", "/api/chat/conversations/", chat_handle_conversation_create, CHAT_ROUTE_AUTH},
    {"GET", "/api/chat/conversations/{id}/", chat_handle_conversation_get, CHAT_ROUTE_AUTH},
    {"PATCH", "/api/chat/conversations/{id}/", chat_handle_conversation_rename, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/chat/conversations/{id}/", chat_handle_conversation_leave, CHAT_ROUTE_AUTH},
    {"PUT", "/api/chat/conversations/{id}/notifications/", chat_handle_notifications_put, CHAT_ROUTE_AUTH},
    {"GET", "/api/chat/conversations/{id}/participants/", chat_handle_participant_list, CHAT_ROUTE_AUTH},
    {"POST", "/api/chat/conversations/{id}/participants/", chat_handle_participant_add, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/chat/conversations/{id}/participants/{id}/", chat_handle_participant_remove, CHAT_ROUTE_AUTH},
    {"POST", "/api/chat/conversations/{id}/read/", chat_handle_receipt_read, CHAT_ROUTE_AUTH},
    {"POST", "/api/chat/conversations/{id}/delivered/", chat_handle_receipt_delivered, CHAT_ROUTE_AUTH},
    {"GET", "/api/chat/conversations/{id}/messages/", chat_handle_message_list, CHAT_ROUTE_AUTH},
    {"POST", "/api/chat/conversations/{id}/messages/", chat_handle_message_create,
     CHAT_ROUTE_AUTH | CHAT_ROUTE_MEMBER_IN_HANDLER},
    {"GET", "/api/chat/conversations/{id}/messages/{id}/", chat_handle_message_get, CHAT_ROUTE_AUTH},
    {"PATCH", "/api/chat/conversations/{id}/messages/{id}/", chat_handle_message_edit, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/chat/conversations/{id}/messages/{id}/", chat_handle_message_delete, CHAT_ROUTE_AUTH},
    {"GET", "/api/chat/conversations/{id}/messages/{id}/status/", chat_handle_message_status, CHAT_ROUTE_AUTH},
    {"PUT", "/api/chat/conversations/{id}/messages/{id}/reactions/{str}/", chat_handle_reaction_put, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/chat/conversations/{id}/messages/{id}/reactions/{str}/", chat_handle_reaction_delete, CHAT_ROUTE_AUTH},
    {"POST", "/api/chat/attachments/", chat_handle_attachment_upload, CHAT_ROUTE_AUTH | CHAT_ROUTE_BODY_FILE},
    {"GET", "/api/chat/attachments/{id}/", chat_handle_attachment_get, CHAT_ROUTE_AUTH},
    {"GET", "/api/chat/search/", chat_handle_search, CHAT_ROUTE_AUTH},
    {"PATCH", "/api/chat/conversations/{id}/participants/{id}/", chat_handle_participant_role, CHAT_ROUTE_AUTH},
    /* Site administration: app.c answers 404 under /api/admin/ to anyone but a site admin,
     * before these are matched. */
    {"GET", "/api/admin/users/", chat_handle_admin_user_list, CHAT_ROUTE_AUTH},
    {"GET", "/api/admin/users/{id}/", chat_handle_admin_user_get, CHAT_ROUTE_AUTH},
    {"POST", "/api/admin/users/{id}/deactivate/", chat_handle_admin_user_deactivate, CHAT_ROUTE_AUTH},
    {"POST", "/api/admin/users/{id}/reactivate/", chat_handle_admin_user_reactivate, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/admin/messages/{id}/", chat_handle_admin_message_delete, CHAT_ROUTE_AUTH},
    {"GET", "/api/admin/audit/", chat_handle_admin_audit, CHAT_ROUTE_AUTH},
    {"GET", "/api/users/blocks/", chat_handle_block_list, CHAT_ROUTE_AUTH},
    {"POST", "/api/users/blocks/", chat_handle_block_add, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/users/blocks/{id}/", chat_handle_block_remove, CHAT_ROUTE_AUTH},
    {"PATCH", "/api/users/me/", chat_handle_profile_update, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/users/me/", chat_handle_account_delete, CHAT_ROUTE_AUTH},
    {"PUT", "/api/users/me/avatar/", chat_handle_avatar_put, CHAT_ROUTE_AUTH | CHAT_ROUTE_BODY_FILE},
    {"DELETE", "/api/users/me/avatar/", chat_handle_avatar_delete, CHAT_ROUTE_AUTH},
    {"POST", "/api/users/me/password/", chat_handle_password_change, CHAT_ROUTE_AUTH},
    {"GET", "/api/users/me/sessions/", chat_handle_session_list, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/users/me/sessions/", chat_handle_session_end_others, CHAT_ROUTE_AUTH},
    {"DELETE", "/api/users/me/sessions/{id}/", chat_handle_session_end, CHAT_ROUTE_AUTH},
    {"GET", "/api/users/{id}/", chat_handle_user_get, CHAT_ROUTE_AUTH},
    {"GET", "/api/users/{id}/avatar/", chat_handle_avatar_get, CHAT_ROUTE_AUTH},
};
const unsigned chat_routes_count = sizeof(chat_routes) / sizeof(chat_routes[0]);

bool chat_route_match(const char *pattern, const char *path, struct chat_route_args *args)
{
    args->nids = 0;
    args->rest = NULL;
    args->str = NULL;
    args->str_len = 0;
    const char *p = pattern, *s = path;
    while (*p) {
        if (*p != '{') { /* most of a pattern is literal bytes */
            if (*p != *s)
                return false;
            p++;
            s++;
            continue;
        }
        if (strncmp(p, "{*}", 3) == 0) {
            args->rest = s;
            return *s != '\0';
        }
        if (strncmp(p, "{str}", 5) == 0) {
            size_t n = strcspn(s, "/");
            if (n == 0 || args->str)
                return false;
            args->str = s;
            args->str_len = n;
            s += n;
            p += 5;
            continue;
        }
        if (strncmp(p, "{id}", 4) == 0) {
            long long v = 0;
            int digits = 0;
            while (*s >= '0' && *s <= '9') {
                if (++digits > 18)
                    return false;
                v = v * 10 + (*s - '0');
                s++;
            }
            if (digits == 0 || v == 0 || args->nids >= CHAT_ROUTE_MAX_IDS)
                return false;
            args->ids[args->nids++] = v;
            p += 4;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return *s == '\0';
}

enum chat_rate_class chat_route_rate_class(const struct chat_route *route)
{
    if (route->flags & CHAT_ROUTE_RATE_AUTH)
        return CHAT_RATE_AUTH;
    if (route->flags & CHAT_ROUTE_BODY_FILE)
        return CHAT_RATE_UPLOAD;
    return strcmp(route->method, "GET") == 0 ? CHAT_RATE_READ : CHAT_RATE_WRITE;
}

const struct chat_route *chat_route_find(const char *method, const char *path,
                                         struct chat_route_args *args, bool *method_mismatch,
                                         char *allow, size_t allow_len)
{
    *method_mismatch = false;
    if (allow && allow_len)
        allow[0] = '\0';
    for (unsigned i = 0; i < chat_routes_count; i++) {
        struct chat_route_args tmp;
        if (!chat_route_match(chat_routes[i].pattern, path, &tmp))
            continue;
        if (strcmp(chat_routes[i].method, method) == 0) {
            *args = tmp;
            *method_mismatch = false;
            return &chat_routes[i]; /* the other methods' Allow list is not needed */
        }
        *method_mismatch = true;
        if (allow && allow_len) {
            size_t n = strlen(allow);
            snprintf(allow + n, allow_len - n, "%s%s", n ? ", " : "", chat_routes[i].method);
        }
    }
    return NULL;
}
