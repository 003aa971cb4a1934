/* Strict parsing and validation of JSON request bodies. */
#ifndef CHAT_JSON_UTIL_H
#define CHAT_JSON_UTIL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* Parses body as exactly one JSON object: well-formed UTF-8, no trailing data, nesting
 * bounded. On success *out is a new reference the caller puts. On failure returns
 * CHAT_E_INVALID_UTF8, CHAT_E_PARSE or CHAT_E_INVALID_TYPE (not an object) and writes a
 * human-readable reason into detail. */
int chat_json_parse_object(const char *body, size_t len, json_object **out, char *detail,
                           size_t detail_len);

enum chat_field_type {
    CHAT_FIELD_STRING,
    CHAT_FIELD_INT,  /* a JSON integer, not a float, string or boolean */
    CHAT_FIELD_BOOL,
    CHAT_FIELD_INT_ARRAY,
};

struct chat_field {
    const char *name;
    enum chat_field_type type;
    bool required;
    bool nullable;     /* null is accepted (and treated as absent) */
    size_t max_chars;  /* strings: maximum code points; arrays: maximum items; 0 = no bound */
};

/* Checks obj against the field list: unknown fields (CHAT_E_UNKNOWN_FIELD), missing
 * required ones (CHAT_E_MISSING_FIELD), wrong types (CHAT_E_INVALID_TYPE) and strings or
 * arrays over their bound (CHAT_E_VALIDATION). Returns CHAT_OK or the error with detail. */
int chat_json_check_fields(json_object *obj, const struct chat_field *fields, size_t nfields,
                           char *detail, size_t detail_len);

/* Field accessors for a validated object; absent or null gives the fallback. */
const char *chat_json_get_string(json_object *obj, const char *name, const char *fallback);
long long chat_json_get_int(json_object *obj, const char *name, long long fallback);
bool chat_json_get_bool(json_object *obj, const char *name, bool fallback);

/* Serializes without escaping '/' and without spaces. The returned string belongs to obj. */
const char *chat_json_to_string(json_object *obj, size_t *len);

/* Adds val (taken) under key to an object being built: key is a string literal that obj
 * does not hold yet, so json-c neither copies the key nor looks for it first (the row ->
 * object builders of a page of messages add some 1,000 keys). */
static inline void chat_json_put(json_object *obj, const char *key, json_object *val)
{
    json_object_object_add_ex(obj, key, val,
                              JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_ADD_CONSTANT_KEY);
}

/* chat_json_put of a new string, or of null when val is NULL. */
static inline void chat_json_put_string_or_null(json_object *obj, const char *key, const char *val)
{
    chat_json_put(obj, key, val ? json_object_new_string(val) : NULL);
}

/* Adds a key with a new json object; helpers that take ownership of val. */
void chat_json_add_nullable_string(json_object *obj, const char *key, const char *val);
void chat_json_add_nullable_int(json_object *obj, const char *key, long long val, bool is_null);

#endif
