/* A JSON serializer for json-c trees that writes exactly what json-c's own does with
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE (chat_json_to_string), into a
 * strbuf the caller owns. json-c spends most of a page of messages' serialization in
 * per-chunk appends and snprintf for every integer; this writes each string's plain runs
 * in one append and formats integers by hand. Doubles, and integers json-c holds as
 * unsigned beyond INT64_MAX, are left to json-c (it keeps their exact text). */
#ifndef CHAT_JSON_WRITE_H
#define CHAT_JSON_WRITE_H

#include <json-c/json.h>

#include "strbuf.h"

/* Appends obj (NULL writes null) to out. */
void chat_json_write(struct strbuf *out, json_object *obj);

#endif
