/* The head of an HTTP/1.x request, as the metrics endpoint reads it from
 * clients it does not trust: bounded, and only what it needs (the method and
 * the path). */
#ifndef VSWITCH_CONTROL_HTTP_REQUEST_H
#define VSWITCH_CONTROL_HTTP_REQUEST_H

#include <stddef.h>

#define VS_HTTP_MAX_HEAD 4096 /* request line and headers */
#define VS_HTTP_MAX_PATH 256

struct vs_http_request {
    char method[16];
    char path[VS_HTTP_MAX_PATH];
};

/* Looks at the len bytes a client sent so far. Returns 0 when the head (up to
 * its blank line) is not complete yet, the head's length when it is (req
 * filled), or the negative HTTP status to answer with: -400 (malformed),
 * -414 (path too long), -431 (head longer than VS_HTTP_MAX_HEAD), -505 (not
 * HTTP/1.0 or 1.1). */
int vs_http_parse_request(const char *buf, size_t len, struct vs_http_request *req);

#endif
