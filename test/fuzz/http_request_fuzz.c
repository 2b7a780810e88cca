/* libFuzzer: the metrics endpoint's HTTP request head parser on arbitrary bytes.
 * It must stay inside the bytes given, and what it accepts must be what the
 * server relies on: an upper-case method, a path of visible characters starting
 * with '/', a head no longer than VS_HTTP_MAX_HEAD that ends in a blank line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vs_http_request req;
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees any overread */
    int rc;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    rc = vs_http_parse_request(copy, size, &req);
    if (rc > 0) {
        size_t n = strlen(req.method);

        if ((size_t)rc > size || rc > VS_HTTP_MAX_HEAD || copy[rc - 1] != '\n' ||
            (copy[rc - 2] != '\n' && copy[rc - 2] != '\r'))
            abort();
        if (!n || n >= sizeof(req.method) || strspn(req.method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
            abort();
        if (req.path[0] != '/' || strlen(req.path) >= sizeof(req.path))
            abort();
        for (const char *p = req.path; *p; p++)
            if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
                abort();
    } else if (rc != 0 && rc != -400 && rc != -414 && rc != -431 && rc != -505) {
        abort();
    } else if (rc == 0 && size >= VS_HTTP_MAX_HEAD) {
        abort(); /* a full buffer must be decided, never waited on */
    }
    free(copy);
    return 0;
}
