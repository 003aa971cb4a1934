#include "json_write.h"

#include <stdint.h>
#include <string.h>

#include "json_util.h"

/* Appends without terminating: chat_json_write ends the text once, at the end. */
static inline void put(struct strbuf *out, const char *s, size_t n)
{
    if (out->len + n + 1 > out->cap)
        strbuf_reserve(out, n);
    memcpy(out->data + out->len, s, n);
    out->len += n;
}

/* json-c's escaping: the two-character forms for \b \n \r \t \f " and \, \u00xx (lower
 * case hex) for every other byte below 0x20, and every other byte as it is ('/' too,
 * for NOSLASHESCAPE). */
static void write_string(struct strbuf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    put(out, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(out, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '\b': esc[1] = 'b'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\f': esc[1] = 'f'; break;
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            n = 6;
        }
        put(out, esc, n);
    }
    put(out, s + run, len - run);
    put(out, "\"", 1);
}

static void write_int(struct strbuf *out, int64_t v)
{
    char buf[24], *p = buf + sizeof(buf);
    /* Digits of the magnitude as unsigned, so INT64_MIN needs no special case. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    put(out, p, (size_t)(buf + sizeof(buf) - p));
}

/* What json-c writes for obj itself (a double, an unsigned integer past INT64_MAX). */
static void write_as_json_c(struct strbuf *out, json_object *obj)
{
    size_t len;
    const char *s = chat_json_to_string(obj, &len);
    put(out, s, len);
}

static void write_value(struct strbuf *out, json_object *obj)
{
    switch (json_object_get_type(obj)) {
    case json_type_null:
        put(out, "null", 4);
        break;
    case json_type_boolean:
        if (json_object_get_boolean(obj))
            put(out, "true", 4);
        else
            put(out, "false", 5);
        break;
    case json_type_int: {
        int64_t v = json_object_get_int64(obj);
        if (v == INT64_MAX && json_object_get_uint64(obj) != (uint64_t)INT64_MAX)
            write_as_json_c(out, obj); /* held as an unsigned beyond INT64_MAX */
        else
            write_int(out, v);
        break;
    }
    case json_type_double:
        write_as_json_c(out, obj);
        break;
    case json_type_string:
        write_string(out, json_object_get_string(obj), (size_t)json_object_get_string_len(obj));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(obj);
        put(out, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                put(out, ",", 1);
            write_value(out, json_object_array_get_idx(obj, i));
        }
        put(out, "]", 1);
        break;
    }
    case json_type_object: {
        bool first = true;
        put(out, "{", 1);
        json_object_object_foreach(obj, key, val) {
            if (!first)
                put(out, ",", 1);
            first = false;
            write_string(out, key, strlen(key));
            put(out, ":", 1);
            write_value(out, val);
        }
        put(out, "}", 1);
        break;
    }
    }
}

void chat_json_write(struct strbuf *out, json_object *obj)
{
    write_value(out, obj);
    strbuf_reserve(out, 0);
    out->data[out->len] = '\0';
}
