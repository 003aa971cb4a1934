/* libFuzzer target: a request body through strict parsing and field validation, the
 * path every JSON endpoint takes before any handler logic; and whatever parses is
 * serialized by chat_json_write, which must write json-c's bytes exactly. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json_util.h"
#include "json_write.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct chat_field fields[] = {
    {"text", CHAT_FIELD_STRING, true, false, 4000},
    {"client_msg_id", CHAT_FIELD_STRING, false, true, 64},
    {"reply_to", CHAT_FIELD_INT, false, true, 0},
    {"participant_ids", CHAT_FIELD_INT_ARRAY, false, false, 256},
    {"is_group", CHAT_FIELD_BOOL, false, true, 0},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char detail[256];
    json_object *obj = NULL;
    if (chat_json_parse_object((const char *)data, size, &obj, detail, sizeof(detail)) != CHAT_OK)
        return 0;
    if (chat_json_check_fields(obj, fields, sizeof(fields) / sizeof(fields[0]), detail,
                               sizeof(detail)) == CHAT_OK) {
        (void)chat_json_get_string(obj, "text", "");
        (void)chat_json_get_int(obj, "reply_to", 0);
    }
    struct strbuf mine = {0};
    chat_json_write(&mine, obj);
    size_t len;
    const char *theirs = chat_json_to_string(obj, &len);
    if (mine.len != len || memcmp(mine.data, theirs, len) != 0)
        abort();
    strbuf_free(&mine);
    json_object_put(obj);
    return 0;
}
