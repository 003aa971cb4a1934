#include "errors.h"

struct err_entry {
    int status;
    const char *code;
    const char *message;
};

static const struct err_entry table[CHAT_ERR_INDEX_COUNT] = {
#define CHAT_X(name, status, code, msg) [CHAT_ERR_INDEX_##name] = {status, code, msg},
    CHAT_ERROR_MAP(CHAT_X)
#undef CHAT_X
};

static const struct err_entry *lookup(int err)
{
    int idx = -1 - err;
    if (idx < 0 || idx >= CHAT_ERR_INDEX_COUNT)
        idx = CHAT_ERR_INDEX_INTERNAL;
    return &table[idx];
}

int chat_err_status(int err) { return lookup(err)->status; }
const char *chat_err_code(int err) { return lookup(err)->code; }
const char *chat_err_message(int err) { return lookup(err)->message; }
