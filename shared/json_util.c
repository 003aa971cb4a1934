#include "json_util.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "i18n.h"
#include "utf8.h"

#define MAX_DEPTH 16

/* json-c 0.16 accepts single-quoted strings even in strict mode; RFC 8259 does not. */
static bool has_single_quote_outside_strings(const char *s, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = false;
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '\'') {
            return true;
        }
    }
    return false;
}

int chat_json_parse_object(const char *body, size_t len, json_object **out, char *detail,
                           size_t detail_len)
{
    *out = NULL;
    if (!chat_utf8_valid(body, len)) {
        chat_detail_printf(detail, detail_len, "error.json.body_not_utf8", NULL);
        return CHAT_E_INVALID_UTF8;
    }
    /* Strict mode rejects trailing white space, which clients commonly send. */
    while (len > 0 && strchr(" \t\r\n", body[len - 1]))
        len--;
    if (len == 0) {
        chat_detail_printf(detail, detail_len, "error.json.body_empty", NULL);
        return CHAT_E_PARSE;
    }
    if (has_single_quote_outside_strings(body, len)) {
        chat_detail_printf(detail, detail_len, "error.json.single_quotes", NULL);
        return CHAT_E_PARSE;
    }
    json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
    if (!tok)
        return CHAT_E_NOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *obj = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t consumed = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr != json_tokener_success || !obj) {
        if (jerr == json_tokener_continue)
            chat_detail_printf(detail, detail_len, "error.json.truncated", NULL);
        else
            chat_detail_printf(detail, detail_len, "error.json.malformed", "reason=%s",
                               json_tokener_error_desc(jerr));
        json_object_put(obj);
        return CHAT_E_PARSE;
    }
    for (size_t i = consumed; i < len; i++) {
        if (!strchr(" \t\r\n", body[i])) {
            json_object_put(obj);
            chat_detail_printf(detail, detail_len, "error.json.trailing_data", NULL);
            return CHAT_E_PARSE;
        }
    }
    if (!json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        chat_detail_printf(detail, detail_len, "error.json.not_object", NULL);
        return CHAT_E_INVALID_TYPE;
    }
    *out = obj;
    return CHAT_OK;
}

/* The detail key of a field of type t that is null (when it may not be) or of another
 * type. */
static const char *type_key(enum chat_field_type t, bool null)
{
    switch (t) {
    case CHAT_FIELD_STRING:
        return null ? "error.json.null_not_string" : "error.json.not_string";
    case CHAT_FIELD_INT:
        return null ? "error.json.null_not_integer" : "error.json.not_integer";
    case CHAT_FIELD_BOOL:
        return null ? "error.json.null_not_boolean" : "error.json.not_boolean";
    case CHAT_FIELD_INT_ARRAY:
        return null ? "error.json.null_not_int_array" : "error.json.not_int_array";
    }
    return "error.json.not_string";
}

static bool type_matches(json_object *v, enum chat_field_type t)
{
    switch (t) {
    case CHAT_FIELD_STRING:
        return json_object_is_type(v, json_type_string);
    case CHAT_FIELD_INT:
        return json_object_is_type(v, json_type_int);
    case CHAT_FIELD_BOOL:
        return json_object_is_type(v, json_type_boolean);
    case CHAT_FIELD_INT_ARRAY:
        if (!json_object_is_type(v, json_type_array))
            return false;
        for (size_t i = 0; i < json_object_array_length(v); i++)
            if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_int))
                return false;
        return true;
    }
    return false;
}

int chat_json_check_fields(json_object *obj, const struct chat_field *fields, size_t nfields,
                           char *detail, size_t detail_len)
{
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        bool known = false;
        for (size_t i = 0; i < nfields && !known; i++)
            known = strcmp(fields[i].name, key) == 0;
        if (!known) {
            chat_detail_printf(detail, detail_len, "error.json.unknown_field", "name=%.64s", key);
            return CHAT_E_UNKNOWN_FIELD;
        }
    }
    for (size_t i = 0; i < nfields; i++) {
        const struct chat_field *f = &fields[i];
        json_object *v = NULL;
        bool present = json_object_object_get_ex(obj, f->name, &v);
        if (present && v == NULL && !f->nullable) {
            chat_detail_printf(detail, detail_len, type_key(f->type, true), "name=%s", f->name);
            return CHAT_E_INVALID_TYPE;
        }
        if (!present || v == NULL) {
            if (f->required) {
                chat_detail_printf(detail, detail_len, "error.json.field_required", "name=%s", f->name);
                return CHAT_E_MISSING_FIELD;
            }
            continue;
        }
        if (!type_matches(v, f->type)) {
            chat_detail_printf(detail, detail_len, type_key(f->type, false), "name=%s", f->name);
            return CHAT_E_INVALID_TYPE;
        }
        /* "\u0000" is valid JSON but would silently cut the C string where it is stored. */
        if (f->type == CHAT_FIELD_STRING &&
            strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v)) {
            chat_detail_printf(detail, detail_len, "error.json.field_nul", "name=%s", f->name);
            return CHAT_E_INVALID_UTF8;
        }
        if (f->max_chars && f->type == CHAT_FIELD_STRING) {
            const char *s = json_object_get_string(v);
            size_t n = chat_utf8_length(s, (size_t)json_object_get_string_len(v));
            if (n > f->max_chars) {
                chat_detail_printf(detail, detail_len, "error.json.field_too_long",
                                   "name=%s" CHAT_DETAIL_SEP "max=%zu", f->name, f->max_chars);
                return CHAT_E_VALIDATION;
            }
        }
        if (f->max_chars && f->type == CHAT_FIELD_INT_ARRAY &&
            json_object_array_length(v) > f->max_chars) {
            chat_detail_printf(detail, detail_len, "error.json.field_too_many",
                               "name=%s" CHAT_DETAIL_SEP "max=%zu", f->name, f->max_chars);
            return CHAT_E_VALIDATION;
        }
    }
    return CHAT_OK;
}

const char *chat_json_get_string(json_object *obj, const char *name, const char *fallback)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string))
        return fallback;
    return json_object_get_string(v);
}

long long chat_json_get_int(json_object *obj, const char *name, long long fallback)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_int))
        return fallback;
    return (long long)json_object_get_int64(v);
}

bool chat_json_get_bool(json_object *obj, const char *name, bool fallback)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_boolean))
        return fallback;
    return json_object_get_boolean(v);
}

const char *chat_json_to_string(json_object *obj, size_t *len)
{
    return json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                             len);
}

void chat_json_add_nullable_string(json_object *obj, const char *key, const char *val)
{
    json_object_object_add(obj, key, val ? json_object_new_string(val) : NULL);
}

void chat_json_add_nullable_int(json_object *obj, const char *key, long long val, bool is_null)
{
    json_object_object_add(obj, key, is_null ? NULL : json_object_new_int64(val));
}
