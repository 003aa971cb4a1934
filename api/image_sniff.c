/* Image signatures (see image_sniff.h). Only formats every browser renders as an <img>
 * and none of which can carry script: SVG is left out on purpose. */
#include "image_sniff.h"

#include <string.h>

const char *chat_image_sniff(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (!p)
        return NULL;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "image/png";
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return "image/jpeg";
    if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return "image/gif";
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return "image/webp";
    return NULL;
}
