/* libFuzzer: control request parsing and reply formatting on arbitrary bytes.
 * Every outcome must produce one valid JSON reply line; nothing may leak. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *id, *params, *reply;
    const char *command;
    char err[512], *line;
    int ret;

    ret = vs_ctl_parse_request((const char *)data, size, &id, &command, &params, err,
                               sizeof(err));
    if (ret == 0) {
        if (!command || !json_is_object(params))
            abort();
        /* What a handler would answer: echo the params back as the result. */
        line = vs_ctl_format_reply(id, 0, json_incref(params), NULL);
    } else {
        if (ret != -EPROTO || command || params || strchr(err, '\n'))
            abort();
        line = vs_ctl_format_reply(id, ret, NULL, err);
    }
    if (!line || strchr(line, '\n'))
        abort();
    reply = json_loads(line, 0, NULL);
    if (!json_is_object(reply) || !json_is_boolean(json_object_get(reply, "ok")))
        abort();
    json_decref(reply);
    free(line);
    json_decref(id);
    json_decref(params);
    free((char *)command);
    return 0;
}
