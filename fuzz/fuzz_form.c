/* libFuzzer target: the urlencoded form parser of the no-JavaScript send form. The
 * input is the body as is (not NUL-terminated, so reads past it are caught). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "errors.h"
#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct chat_form_field fields[] = {
        {"text", 64, true},
        {"csrf_token", 16, true},
        {"client_msg_id", 16, false},
    };
    char *values[3];
    char detail[128];
    int rc = chat_form_parse((const char *)data, size, fields, 3, values, detail, sizeof(detail));
    if (rc == CHAT_OK) {
        for (size_t i = 0; i < 3; i++)
            if (values[i] && strlen(values[i]) > fields[i].max_bytes)
                __builtin_trap();
        chat_form_free(values, 3);
    }
    return 0;
}
