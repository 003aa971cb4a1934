/* libFuzzer target: the template engine on arbitrary template source, rendered against a
 * small fixed context (nested objects, arrays, hostile strings). */
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_object *ctx;
    if (!ctx)
        ctx = json_tokener_parse(
            "{\"user\":{\"name\":\"<b>&'\\\"\",\"id\":7},\"list\":[1,\"</script>\",{\"a\":[]}],"
            "\"flag\":true,\"zero\":0,\"empty\":\"\",\"none\":null}");
    struct strbuf out = {0};
    char err[256];
    (void)chat_template_render_string((const char *)data, size, "fuzz", NULL, ctx, &out, err,
                                       sizeof(err));
    strbuf_free(&out);
    return 0;
}
