/* A connection to vswitchd's control socket for the commands that keep one. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "src/ctl.h"

int vs_ctl_connect(const char *sock)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(sock) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "vswitchctl: cannot connect to %s: socket path too long\n", sock);
        exit(1);
    }
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        fprintf(stderr, "vswitchctl: cannot connect to %s: %s (is vswitchd running? see -s)\n",
                sock, strerror(errno));
        exit(1);
    }
    return fd;
}

int vs_ctl_send(int fd, json_t *request)
{
    char *line = json_dumps(request, JSON_COMPACT);
    size_t len, off = 0;

    if (!line)
        return -ENOMEM;
    len = strlen(line);
    line[len++] = '\n'; /* the NUL's byte */
    while (off < len) {
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(line);
            return -e;
        }
        off += (size_t)n;
    }
    free(line);
    return 0;
}

json_t *vs_ctl_recv(int fd, char *buf, size_t cap, size_t *len, int timeout_ms)
{
    json_error_t jerr;
    json_t *reply;
    char *nl;

    while (!(nl = memchr(buf, '\n', *len))) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int r;

        if (*len == cap) {
            fprintf(stderr, "vswitchctl: reply from vswitchd longer than %zu bytes\n", cap);
            return NULL;
        }
        r = poll(&p, 1, timeout_ms);
        if (r == 0) {
            fprintf(stderr, "vswitchctl: no reply from vswitchd within %d ms\n", timeout_ms);
            return NULL;
        }
        if (r < 0 && errno == EINTR)
            continue;
        n = recv(fd, buf + *len, cap - *len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "vswitchctl: vswitchd closed the connection%s%s\n", n < 0 ? ": " : "",
                    n < 0 ? strerror(errno) : "");
            return NULL;
        }
        *len += (size_t)n;
    }
    reply = json_loadb(buf, (size_t)(nl - buf), 0, &jerr);
    *len -= (size_t)(nl + 1 - buf);
    memmove(buf, nl + 1, *len);
    if (!json_is_object(reply)) {
        fprintf(stderr, "vswitchctl: bad reply from vswitchd: %s\n",
                reply ? "not an object" : jerr.text);
        json_decref(reply);
        return NULL;
    }
    return reply;
}

const char *vs_ctl_reply_error(const json_t *reply)
{
    const json_t *err = json_object_get(reply, "error");
    const json_t *msg = json_object_get(err, "message");

    if (json_is_true(json_object_get(reply, "ok")))
        return NULL;
    return json_is_string(msg) ? json_string_value(msg) : "vswitchd refused the request";
}
