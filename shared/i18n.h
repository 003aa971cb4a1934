/* Message catalogs: the page's and the API's texts in every supported language.
 *
 * A catalog directory holds one folder per locale (en, pt-BR, es), each with area files
 * <area>.json: a flat JSON object of "area.key": "text with {name} placeholders". A key
 * is two or more dot-separated segments of [A-Za-z0-9_] (the template engine's path
 * syntax, so templates print them as {{ t.area.key }}). chat_i18n_load() reads every
 * locale once at start and refuses a directory in which the locales differ: a key
 * missing from one, an extra one, a placeholder set that differs from English's, a key
 * in two files of one locale, or a key that is another key's prefix. The tables are
 * then read-only, shared by every thread of the process.
 *
 * Locale choice (chat_i18n_negotiate): the user's setting, else the best
 * Accept-Language match (q-values, then order; a language's other regions count, so
 * "pt-PT" and "pt" give pt-BR), else en. */
#ifndef CHAT_I18N_H
#define CHAT_I18N_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

enum chat_locale { CHAT_LOCALE_EN, CHAT_LOCALE_PT_BR, CHAT_LOCALE_ES, CHAT_LOCALE_COUNT };

/* Longest locale tag plus its NUL ("pt-BR"). */
#define CHAT_LOCALE_CHARS 8
/* Longest catalog key and text accepted. */
#define CHAT_I18N_KEY_MAX 96
#define CHAT_I18N_TEXT_MAX 2048
/* Most keys per locale. */
#define CHAT_I18N_MAX_KEYS 4096
/* The Accept-Language bytes looked at, and the entries of it considered. */
#define CHAT_ACCEPT_LANGUAGE_MAX 1024
#define CHAT_ACCEPT_LANGUAGE_ENTRIES 32

/* Reads the catalogs of every locale from dir. Returns 0, or -1 with the first problem
 * written to err (always NUL-terminated): an unreadable file, a file that is not a flat
 * object of strings, a bad key, or locales that differ as described above. Replaces the
 * tables loaded before only on success. Call before starting threads or workers. */
int chat_i18n_load(const char *dir, char *err, size_t errlen);

/* chat_i18n_load for a program's start: logs the problem (naming i18n_dir) and returns
 * -1, or logs the key count at debug level and returns 0. */
int chat_i18n_load_logged(const char *dir);

/* Frees the loaded tables (at exit, for leak checkers). */
void chat_i18n_free(void);

/* The tag of a locale ("en", "pt-BR", "es"). */
const char *chat_i18n_locale_tag(enum chat_locale locale);

/* The locale whose tag is exactly tag (case-insensitively), or -1. For validating the
 * user's setting. */
int chat_i18n_locale_from_tag(const char *tag);

/* The locale for a request: the user's setting (a tag or NULL/""), else the best match
 * of the Accept-Language header (NULL when absent), else CHAT_LOCALE_EN. */
enum chat_locale chat_i18n_negotiate(const char *user_setting, const char *accept_language);

/* The text of key in locale, else in English, else NULL. Valid until chat_i18n_load
 * or chat_i18n_free. */
const char *chat_i18n_text(enum chat_locale locale, const char *key);

/* True when s has the form of a catalog key (see above). */
bool chat_i18n_key_valid(const char *s);

/* Appends text with each {name} replaced by params' member name (strings as they are,
 * numbers in their JSON form); a placeholder params lacks stays as written. params is
 * borrowed and may be NULL. */
void chat_i18n_format(struct strbuf *out, const char *text, json_object *params);

/* Error details. A function that explains a refusal in a caller's buffer writes a
 * catalog key and its placeholder values, not a sentence: "key", or "key" followed by
 * "\x1fname=value" for each placeholder. chat_detail_printf() writes one (params_fmt is
 * a printf format of the name=value pairs joined by CHAT_DETAIL_SEP, or NULL); the
 * text is made where the language is known (chat_fail(), the push daemon's frames). */
#define CHAT_DETAIL_SEP "\x1f"
void chat_detail_printf(char *detail, size_t len, const char *key, const char *params_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Appends the text of an error in locale: detail's catalog text with its values when
 * detail is a key (with values or not), detail itself when it is not key-shaped (a
 * sentence), else the text of "error.<code>" (the built-in English of shared/errors.h
 * when the catalogs lack it). A key the catalogs lack falls back to error.<code> and
 * is logged. detail may be NULL. */
void chat_i18n_error_text(struct strbuf *out, enum chat_locale locale, int err, const char *detail);

/* The same text as a new json-c string, for a "detail" member. Caller puts. */
json_object *chat_i18n_error_json(enum chat_locale locale, int err, const char *detail);

/* A new flat object {key: text} of the locale's catalog, for the page's script. Caller
 * puts. */
json_object *chat_i18n_catalog_json(enum chat_locale locale);

/* A new object of the catalog nested at the dots ({"page": {"title": ...}}), for
 * templates ({{ t.page.title }}). Caller puts. */
json_object *chat_i18n_catalog_tree(enum chat_locale locale);

/* The number of keys each locale has (0 before a load). */
size_t chat_i18n_key_count(void);

#endif
