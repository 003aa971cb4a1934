/* The version of the static files that versioned asset URLs carry
 * (/static/v/<version>/chat.js). */
#ifndef CHAT_ASSET_VERSION_H
#define CHAT_ASSET_VERSION_H

#include "config.h"

/* The version string of the static files (16 hex digits); static storage. Thread-safe;
 * hashes static_dir on the first call only. */
const char *chat_asset_version(const struct chat_config *cfg);

#endif
