/* What uploads may be, and how they are served: content-type normalization and the
 * allow list, display filenames, and the headers of a download. Pure functions, unit
 * tested in tests/unit/test_multipart.c. */
#ifndef CHAT_ATTACHMENT_POLICY_H
#define CHAT_ATTACHMENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

/* Lower-cases `type/subtype` from a Content-Type value and drops its parameters. Returns
 * false when it is not one token, '/', one token (RFC 9110), or longer than outlen - 1. */
bool chat_content_type_normalize(const char *value, char *out, size_t outlen);

/* True when a normalized type matches the space-separated allow list, whose entries
 * are a full type, a major type with the subtype "*", or "*" over "*" (anything). */
bool chat_content_type_allowed(const char *type, const char *allow_list);

/* The Content-Type to serve a stored type with: raster images and a few inert types keep
 * theirs; everything a browser might interpret as a document or script (HTML, SVG, XML,
 * JavaScript, anything unknown) becomes application/octet-stream. *inline_ok is true
 * only for raster images. The result is type itself or a static string. */
const char *chat_content_type_served(const char *type, bool *inline_ok);

/* Makes the display filename from what the client sent: only the part after the last
 * '/' or '\', without control characters or bidirectional overrides, without leading
 * dots and surrounding spaces, at most max_chars characters (cut at a character
 * boundary); "file" when nothing is left. out must hold max_chars * 4 + 1 bytes.
 * Returns false when raw is not valid UTF-8. */
bool chat_filename_sanitize(const char *raw, char *out, size_t max_chars);

/* Content-Disposition for a download: `attachment` or `inline`, an ASCII fallback
 * filename="..." and the exact name as RFC 5987 filename*=UTF-8''... */
void chat_content_disposition(const char *filename, bool inline_ok, char *out, size_t outlen);

#endif
