/* Encode and decode of the typing relay datagram "T<conversation_id> <user_id> <frame>"
 * (see typing_wire.h). */
#include "typing_wire.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* The typing frame itself, into buf (cap bytes, NUL-terminated); its length or -1. */
static int write_frame(char *buf, size_t cap, long long conv, const char *user_json, bool typing)
{
    int n = snprintf(buf, cap,
                     "{\"type\":\"typing\",\"conversation_id\":%lld,\"user\":%s,"
                     "\"is_typing\":%s}",
                     conv, user_json ? user_json : "null", typing ? "true" : "false");
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int push_typing_wire_encode(char *buf, size_t cap, long long conv, long long user_id,
                            const char *user_json, bool typing, size_t *frame_offset)
{
    int head = snprintf(buf, cap, "T%lld %lld ", conv, user_id);
    if (head < 0 || (size_t)head >= cap)
        return -1;
    int n = write_frame(buf + head, cap - (size_t)head, conv, user_json, typing);
    if (n < 0)
        return -1;
    *frame_offset = (size_t)head;
    return head + n;
}

/* obj's member `name` when it has type t, else NULL. */
static json_object *member(json_object *obj, const char *name, json_type t)
{
    json_object *v;
    return json_object_object_get_ex(obj, name, &v) && json_object_is_type(v, t) ? v : NULL;
}

int push_typing_wire_rebuild(const struct push_typing_wire *w, char *buf, size_t cap)
{
    int n = -1;
    json_tokener *tok = json_tokener_new();
    json_object *frame = tok ? json_tokener_parse_ex(tok, w->frame, (int)w->frame_len) : NULL;
    bool whole = tok && json_tokener_get_error(tok) == json_tokener_success &&
                 json_tokener_get_parse_end(tok) == w->frame_len;
    if (tok)
        json_tokener_free(tok);
    json_object *user = NULL, *id, *name, *display, *type, *conv, *typing;
    if (!whole || !json_object_is_type(frame, json_type_object) ||
        !(type = member(frame, "type", json_type_string)) ||
        strcmp(json_object_get_string(type), "typing") != 0 ||
        !(conv = member(frame, "conversation_id", json_type_int)) ||
        json_object_get_int64(conv) != w->conversation_id ||
        !(typing = member(frame, "is_typing", json_type_boolean)))
        goto out;
    json_object *u = member(frame, "user", json_type_object);
    if (!u || !(id = member(u, "id", json_type_int)) || json_object_get_int64(id) != w->user_id ||
        !(name = member(u, "username", json_type_string)) ||
        !(display = member(u, "display_name", json_type_string)) ||
        json_object_get_string_len(name) > PUSH_TYPING_NAME_MAX ||
        json_object_get_string_len(display) > PUSH_TYPING_NAME_MAX)
        goto out;
    /* Only these fields, serialized by us: nothing of the datagram's text goes out as is. */
    user = json_object_new_object();
    json_object_object_add(user, "id", json_object_new_int64(w->user_id));
    json_object_object_add(user, "username", json_object_new_string(json_object_get_string(name)));
    json_object_object_add(user, "display_name",
                           json_object_new_string(json_object_get_string(display)));
    n = write_frame(buf, cap, w->conversation_id,
                    json_object_to_json_string_ext(user, JSON_C_TO_STRING_PLAIN),
                    json_object_get_boolean(typing));
out:
    json_object_put(user);
    json_object_put(frame);
    return n;
}

bool push_typing_wire_decode(const char *datagram, size_t len, struct push_typing_wire *out)
{
    long long conv, user;
    int used = 0;
    if (len < 2 || datagram[0] != 'T' ||
        sscanf(datagram + 1, "%lld %lld %n", &conv, &user, &used) != 2 || used <= 0 ||
        conv <= 0 || user <= 0)
        return false;
    const char *frame = datagram + 1 + used;
    if (*frame != '{')
        return false;
    out->conversation_id = conv;
    out->user_id = user;
    out->frame = frame;
    out->frame_len = strlen(frame);
    return true;
}
