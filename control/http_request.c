/* HTTP request heads (http_request.h). */
#include "control/http_request.h"

#include <string.h>

/* The end of the head: just past its blank line ("\r\n\r\n" or "\n\n"), or 0. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

int vs_http_parse_request(const char *buf, size_t len, struct vs_http_request *req)
{
    size_t end, i = 0, n;
    const char *line_end;

    if (len > VS_HTTP_MAX_HEAD)
        len = VS_HTTP_MAX_HEAD;
    if (memchr(buf, '\0', len))
        return -400;
    if (!(end = head_end(buf, len)))
        return len == VS_HTTP_MAX_HEAD ? -431 : 0;
    line_end = memchr(buf, '\n', end);
    /* method: upper-case letters */
    for (n = 0; i < end && buf[i] >= 'A' && buf[i] <= 'Z'; i++, n++)
        if (n + 1 >= sizeof(req->method))
            return -400;
    if (!n || buf[i] != ' ')
        return -400;
    memcpy(req->method, buf, n);
    req->method[n] = '\0';
    i++;
    /* path: visible characters up to the space */
    if (buf[i] != '/')
        return -400;
    for (n = 0; buf + i < line_end && buf[i] > ' ' && buf[i] < 0x7f; i++, n++)
        if (n + 1 >= sizeof(req->path))
            return -414;
    if (buf[i] != ' ')
        return -400;
    memcpy(req->path, buf + i - n, n);
    req->path[n] = '\0';
    i++;
    if ((size_t)(line_end - (buf + i)) < 8 || strncmp(buf + i, "HTTP/1.", 7))
        return -400;
    if ((buf[i + 7] != '0' && buf[i + 7] != '1'))
        return -505;
    i += 8;
    if (buf[i] == '\r')
        i++;
    if (buf + i != line_end)
        return -400;
    return (int)end;
}
