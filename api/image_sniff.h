/* Which raster image format a file is, from its first bytes (never from what the client
 * declared): avatars are accepted only when the two agree. */
#ifndef CHAT_IMAGE_SNIFF_H
#define CHAT_IMAGE_SNIFF_H

#include <stddef.h>

/* "image/png", "image/jpeg", "image/gif" or "image/webp" when data starts with that
 * format's signature, else NULL. */
const char *chat_image_sniff(const void *data, size_t len);

#endif
