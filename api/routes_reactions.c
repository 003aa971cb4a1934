/* /api/chat/conversations/<pk>/messages/<id>/reactions/<emoji>/: PUT adds the caller's
 * reaction, DELETE removes it; both are idempotent. */
#include <stdint.h>

#include "app_state.h"
#include "errors.h"
#include "handlers.h"
#include "request_decode.h"
#include "response.h"
#include "store.h"
#include "utf8.h"

/* Whitespace, control and invisible format characters, which would make reactions that
 * look alike or look empty. U+200D (zero-width joiner) stays allowed: emoji sequences
 * such as 👩‍💻 need it. */
static bool code_point_refused(uint32_t cp)
{
    return cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200C) || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 ||
           cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB);
}

/* Checks a decoded emoji that chat_utf8_valid accepted. */
static bool emoji_chars_allowed(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned len = s[i] < 0x80 ? 1 : s[i] < 0xE0 ? 2 : s[i] < 0xF0 ? 3 : 4;
        uint32_t cp = len == 1 ? s[i] : (uint32_t)(s[i] & (0x7F >> len));
        for (unsigned k = 1; k < len; k++)
            cp = (cp << 6) | (s[i + k] & 0x3F);
        if (code_point_refused(cp))
            return false;
        i += len;
    }
    return true;
}

/* Decodes and validates the {str} path segment into emoji (CHAT_EMOJI_MAX_BYTES + 1
 * bytes). On failure the error response is written and the error returned. */
static int read_emoji(const struct chat_request *req, struct chat_response *res,
                      const struct chat_route_args *args, char emoji[CHAT_EMOJI_MAX_BYTES + 1])
{
    size_t n = 0;
    int rc = chat_percent_decode(args->str, args->str_len, emoji, CHAT_EMOJI_MAX_BYTES + 1, &n);
    if (rc == CHAT_E_BAD_REQUEST)
        return chat_fail(req, res, rc, "error.reaction.bad_escape");
    if (rc != CHAT_OK || n == 0)
        return chat_fail(req, res, CHAT_E_VALIDATION, "error.reaction.emoji_length");
    if (!chat_utf8_valid(emoji, n))
        return chat_fail(req, res, CHAT_E_INVALID_UTF8, "error.reaction.emoji_not_utf8");
    if (!emoji_chars_allowed((const unsigned char *)emoji, n))
        return chat_fail(req, res, CHAT_E_VALIDATION,
                         "error.reaction.emoji_invisible");
    return CHAT_OK;
}

static const char *reaction_detail(int rc)
{
    switch (rc) {
    case CHAT_E_NOT_FOUND:
        return CHAT_DETAIL_MESSAGE_NOT_FOUND;
    case CHAT_E_CONFLICT:
        return "error.reaction.full";
    default:
        return NULL;
    }
}

CHAT_HANDLER(chat_handle_reaction_put)
{
    char emoji[CHAT_EMOJI_MAX_BYTES + 1];
    json_object *msg = NULL;
    bool added = false;
    int rc = read_emoji(req, res, args, emoji);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_reaction_add(&app->db, args->ids[0], args->ids[1], req->user_id, emoji, &added, &msg);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, reaction_detail(rc));
    chat_respond_created(app, res, added, msg);
    return CHAT_OK;
}

CHAT_HANDLER(chat_handle_reaction_delete)
{
    char emoji[CHAT_EMOJI_MAX_BYTES + 1];
    bool removed = false;
    int rc = read_emoji(req, res, args, emoji);
    if (rc != CHAT_OK)
        return rc;
    rc = chat_reaction_remove(&app->db, args->ids[0], args->ids[1], req->user_id, emoji, &removed);
    if (rc != CHAT_OK)
        return chat_fail(req, res, rc, reaction_detail(rc));
    if (removed)
        chat_app_wake_push(app);
    res->status = 204;
    return CHAT_OK;
}
