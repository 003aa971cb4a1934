/* A small template engine for the server-rendered pages. A template is text with tags:
 *
 *   {{ a.b.c }}            the value at that path, HTML-escaped (& < > " ' all escaped).
 *                          The only way to print: there is no "safe"/raw filter.
 *   {{ a.b|json }}         the value as JSON that may sit inside a
 *                          <script type="application/json"> element: < > & U+2028 U+2029
 *                          are written as \uXXXX so no "</script>" or "<!--" can appear.
 *   {% if a.b %} ... {% else %} ... {% endif %}     also `{% if not a.b %}`
 *   {% for item in a.list %} ... {% endfor %}       arrays only; anything else loops 0 times
 *   {% include "file.html" %}                       a plain file name in the same directory
 *   {# a comment #}
 *
 * Truthy: not missing, not null, not false, not 0 / 0.0, not "" and not []. A missing
 * variable prints nothing. A path segment of digits indexes an array ("list.0.name").
 * Loop variables shadow the context's top-level keys.
 *
 * Templates are read and parsed on every call: they are a few kilobytes, the pages are
 * not hot, and there is then no cache to invalidate or share between threads. */
#ifndef CHAT_TEMPLATE_H
#define CHAT_TEMPLATE_H

#include <json-c/json.h>
#include <stddef.h>

#include "strbuf.h"

/* Deepest nesting of if/for blocks and includes together. */
#define CHAT_TEMPLATE_MAX_DEPTH 32
/* Largest template file accepted. */
#define CHAT_TEMPLATE_MAX_SOURCE (256 * 1024)
/* Most bytes one render may append to its output. */
#define CHAT_TEMPLATE_MAX_OUTPUT (8 * 1024 * 1024)

/* Renders the template file `name` from directory `dir` with ctx (a json-c object, may be
 * NULL: every variable is then missing) and appends the result to out. name must be a
 * plain file name ([A-Za-z0-9_.-], not starting with '.'); includes follow the same rule
 * and are read from dir as well.
 *
 * Returns CHAT_OK, or CHAT_E_INTERNAL with a message such as "chat.html:12: unclosed
 * {% if %} (opened at line 5)" written to err (always NUL-terminated when errlen > 0):
 * an unreadable file, a syntax error, nesting past CHAT_TEMPLATE_MAX_DEPTH or output past
 * CHAT_TEMPLATE_MAX_OUTPUT. On error out is restored to its length before the call.
 * ctx is borrowed; out stays the caller's. */
int chat_template_render(const char *dir, const char *name, json_object *ctx,
                         struct strbuf *out, char *err, size_t errlen);

/* The same for a template held in memory (len bytes of src, NUL bytes rejected). `name`
 * labels error messages. `dir` is where includes are read from; NULL forbids includes. */
int chat_template_render_string(const char *src, size_t len, const char *name,
                                const char *dir, json_object *ctx, struct strbuf *out,
                                char *err, size_t errlen);

/* Appends val serialized as JSON that is safe inside a <script> element (see above).
 * NULL appends "null". Exposed for handlers that build such a payload directly. */
void chat_template_append_script_json(struct strbuf *out, json_object *val);

#endif
