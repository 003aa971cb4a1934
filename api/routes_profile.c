/* /api/users/me/ and /api/users/<id>/: the caller's profile (display name, avatar),
 * deleting the account, and other users as the caller may see them: only the users who
 * share a conversation with the caller, everyone else (unknown ids too) a 404. */
#include <stdio.h>
#include <string.h>

#include "app_state.h"
#include "attachment_policy.h"
#include "auth.h"
#include "errors.h"
#include "handlers.h"
#include "i18n.h"
#include "image_sniff.h"
#include "json_util.h"
#include "reauth.h"
#include "request.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "upload.h"

#define DETAIL_USER_NOT_FOUND "error.user_not_found"

/* Answers 200 with the user object after a change others see (its user.updated event is
 * committed), waking the push daemons. Takes ownership of user. */
static int respond_changed(struct chat_app *app, struct chat_response *res, json_object *user)
{
    chat_app_wake_push(app);
    chat_respond_json(res, 200, user);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_user_get)
{
    json_object *user = NULL;
    int rc = chat_user_check_visible(&app->db, req->user_id, args->ids[0]);
    if (rc == CHAT_OK)
        rc = chat_user_get_json(&app->db, args->ids[0], &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? DETAIL_USER_NOT_FOUND : NULL);
    chat_respond_json(res, 200, user);
    return CHAT_OK;
}

static const struct chat_field profile_fields[] = {
    {"display_name", CHAT_FIELD_STRING, false, false, CHAT_DISPLAY_NAME_MAX},
    {"locale", CHAT_FIELD_STRING, false, true, CHAT_LOCALE_CHARS},
};

/* The caller's own user object carries their locale setting (null for none), as in
 * GET /api/auth/me. */
static void add_locale(json_object *user, const char *locale)
{
    chat_json_add_nullable_string(user, "locale", *locale ? locale : NULL);
}

CHAT_HANDLER(chat_handle_profile_update)
{
    (void)args;
    json_object *body, *user = NULL, *v = NULL;
    int rc = chat_read_json_body(req, res, profile_fields, 2, &body);
    if (rc != CHAT_OK)
        return rc;
    const char *name = json_object_object_get_ex(body, "display_name", &v)
                           ? json_object_get_string(v) : NULL;
    /* null clears the setting (""); absent keeps it (NULL). */
    bool has_locale = json_object_object_get_ex(body, "locale", &v);
    const char *locale = !has_locale ? NULL : v ? json_object_get_string(v) : "";
    int known = has_locale && v ? chat_i18n_locale_from_tag(locale) : 0;
    if (!name && !locale)
        rc = chat_fail(req, res, CHAT_E_MISSING_FIELD, "error.profile.nothing_to_change");
    else if (known < 0)
        rc = chat_fail(req, res, CHAT_E_VALIDATION, "error.profile.locale_unknown");
    if (rc != CHAT_OK) {
        json_object_put(body);
        return rc;
    }
    char chosen[CHAT_LOCALE_CHARS];
    snprintf(chosen, sizeof(chosen), "%s",
             !locale ? req->user_locale : *locale ? chat_i18n_locale_tag(known) : "");
    rc = chat_user_set_profile(&app->db, req->user_id, name, locale ? chosen : NULL, &user);
    json_object_put(body);
    if (rc == CHAT_E_VALIDATION)
        return chat_fail(req, res, rc, "error.profile.display_name_empty");
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    add_locale(user, chosen);
    if (locale) /* the cached sessions carry the old setting */
        chat_app_sessions_ended(app, req->user_id);
    return respond_changed(app, res, user);
}

/* Checks the avatar (declared type and first bytes agree on an image type, size) and
 * stores it. */
static int store_avatar(struct chat_app *app, struct chat_request *req, struct chat_response *res,
                        const struct chat_upload *up)
{
    char type[CHAT_CONTENT_TYPE_MAX + 1], detail[160];
    const char *sniffed = chat_image_sniff(up->data, up->len);
    if (up->len > (size_t)app->cfg->avatar_max_bytes) {
        chat_detail_printf(detail, sizeof(detail), "error.avatar.too_large", "max=%d",
                           app->cfg->avatar_max_bytes);
        return chat_fail(req, res, CHAT_E_TOO_LARGE, detail);
    }
    if (!up->raw_type || !chat_content_type_normalize(up->raw_type, type, sizeof(type)) ||
        !sniffed || strcmp(type, sniffed) != 0)
        return chat_fail(req, res, CHAT_E_UNSUPPORTED_MEDIA,
                         "error.avatar.type");
    json_object *user = NULL;
    int rc = chat_user_set_avatar(&app->db, req->user_id, sniffed, up->data, up->len, &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    return respond_changed(app, res, user);
}

CHAT_HANDLER(chat_handle_avatar_put)
{
    (void)args;
    struct chat_upload up;
    int rc = chat_upload_open(req, res, &up);
    if (rc == CHAT_OK)
        rc = store_avatar(app, req, res, &up);
    chat_upload_close(&up);
    return rc;
}

CHAT_HANDLER(chat_handle_avatar_delete)
{
    (void)args;
    json_object *user = NULL;
    int rc = chat_user_set_avatar(&app->db, req->user_id, NULL, NULL, 0, &user);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    return respond_changed(app, res, user);
}

CHAT_HANDLER(chat_handle_avatar_get)
{
    struct chat_db_result r;
    int rc = chat_avatar_get(&app->db, req->user_id, args->ids[0], &r);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, rc == CHAT_E_NOT_FOUND ? "error.avatar.not_found" : NULL);
    char etag[72], version[20] = "";
    const char *sha = chat_db_cell(&r, 0, 1);
    snprintf(etag, sizeof(etag), "\"%s\"", sha);
    chat_query_param(req->query, "v", version, sizeof(version));
    /* The URL in user objects carries the image's hash: that URL's bytes never change, so
     * it is cached for good; any other URL (no or an old version) is revalidated. */
    bool current = strlen(version) == 16 && strncmp(version, sha, 16) == 0;
    chat_response_header(res, "ETag", etag);
    chat_response_header(res, "Cache-Control", current ? "private, max-age=31536000, immutable"
                                                       : "private, no-cache");
    chat_response_header(res, "X-Content-Type-Options", "nosniff");
    chat_response_header(res, "Content-Security-Policy", "default-src 'none'; sandbox");
    if (req->if_none_match && strstr(req->if_none_match, etag)) {
        res->status = 304;
        res->content_type = NULL;
    } else {
        res->status = 200;
        res->content_type = NULL; /* per image: a header below */
        chat_response_header(res, "Content-Type", chat_db_cell(&r, 0, 0));
        strbuf_append(&res->body, chat_db_cell(&r, 0, 2), r.lens[2]);
    }
    chat_db_result_free(&r);
    return CHAT_OK;
}

static const struct chat_field delete_fields[] = {
    {"password", CHAT_FIELD_STRING, true, false, CHAT_PASSWORD_MAX},
};

CHAT_HANDLER(chat_handle_account_delete)
{
    (void)args;
    json_object *body;
    int rc = chat_read_json_body(req, res, delete_fields, 1, &body);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_reauthenticate(app, req, res, chat_json_get_string(body, "password", ""));
    json_object_put(body);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_account_delete(&app->db, req->user_id);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, NULL);
    chat_app_sessions_ended(app, req->user_id);
    chat_app_wake_push(app); /* session.revoked ends every socket of the account */
    chat_session_cookies_clear(app, res);
    res->status = 204;
    return CHAT_OK;
}
