/* Listening UNIX sockets created without a path-name race (see listen.h).
 *
 * Every step after the private directory exists goes through directory fds:
 * the socket is bound as /proc/self/fd/<private dir>/s, its mode and group are
 * set with fchmodat/fchownat relative to that fd (nobody else can add or swap
 * entries in a 0700 directory we own), and renameat moves it to its name in the
 * parent, whose fd was opened once. Swapping the private directory's own name
 * for a symlink changes nothing: it is never looked up by name again, except to
 * remove it, which then fails harmlessly. */
#include "vswitch/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/un.h>
#include <unistd.h>

#include "vswitch/loop.h"

#define SOCK_NAME "s"

static int step_fail(char *what, size_t whatlen, const char *step, int err)
{
    snprintf(what, whatlen, "%s", step);
    return -err;
}

static int mkdir_parents(const char *dir)
{
    char d[PATH_MAX];

    snprintf(d, sizeof(d), "%s", dir);
    for (char *p = d + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(d, 0755) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(d, 0755) && errno != EEXIST)
        return -errno;
    return 0;
}

/* 0: nothing there or a stale socket (the rename replaces it); -EADDRINUSE:
 * somebody accepts on it; -EEXIST: not a socket; other -errno: cannot tell. */
static int check_existing(int dfd, const char *base, const struct sockaddr_un *sa)
{
    struct stat st;
    int fd, rc;

    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW))
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) ? -errno : 0;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    return rc == -ECONNREFUSED || rc == -ENOENT ? 0 : rc;
}

/* A fresh 0700 directory in dfd that we own, opened as *pfd; its name in tmp. */
static int make_private_dir(int dfd, char *tmp, size_t tmplen, int *pfd)
{
    static unsigned seq;
    struct stat st;

    for (int tries = 0;; tries++) {
        snprintf(tmp, tmplen, ".vs-listen.%d.%u.%llx", (int)getpid(), seq++,
                 (unsigned long long)(vs_now_ns() & 0xffffff));
        if (mkdirat(dfd, tmp, 0700) == 0)
            break;
        if (errno != EEXIST || tries == 8)
            return -errno;
    }
    *pfd = openat(dfd, tmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*pfd < 0)
        return -errno;
    /* Someone who can write to the parent may have put their own directory
     * under that name between mkdirat and openat. */
    if (fstat(*pfd, &st) || st.st_uid != geteuid() || (st.st_mode & 077)) {
        close(*pfd);
        *pfd = -1;
        return -EPERM;
    }
    return 0;
}

int vs_listen_unix(const char *path, unsigned mode, gid_t gid, int backlog, struct vs_listener *out,
                   char *what, size_t whatlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX}, tmp_sa = {.sun_family = AF_UNIX};
    char dir[PATH_MAX], tmp[64];
    const char *base;
    int dfd = -1, pfd = -1, fd = -1, rc;
    struct stat st;

    out->fd = -1;
    if (!path[0] || strlen(path) >= sizeof(sa.sun_path))
        return step_fail(what, whatlen, "path", path[0] ? ENAMETOOLONG : EINVAL);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    snprintf(out->path, sizeof(out->path), "%s", path);
    base = strrchr(path, '/');
    if (!base) {
        snprintf(dir, sizeof(dir), ".");
        base = path;
    } else {
        snprintf(dir, sizeof(dir), "%.*s", base == path ? 1 : (int)(base - path), path);
        base++;
    }
    if (!base[0])
        return step_fail(what, whatlen, "path", EINVAL);
    if ((rc = mkdir_parents(dir)) < 0)
        return step_fail(what, whatlen, "create its directory", -rc);
    dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return step_fail(what, whatlen, "open its directory", errno);
    if ((rc = check_existing(dfd, base, &sa)) < 0) {
        close(dfd);
        return step_fail(what, whatlen, "check the existing file", -rc);
    }
    if ((rc = make_private_dir(dfd, tmp, sizeof(tmp), &pfd)) < 0) {
        close(dfd);
        return step_fail(what, whatlen, "make a private directory", -rc);
    }
    snprintf(tmp_sa.sun_path, sizeof(tmp_sa.sun_path), "/proc/self/fd/%d/" SOCK_NAME, pfd);

    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        rc = step_fail(what, whatlen, "socket", errno);
        goto out;
    }
    if (bind(fd, (const struct sockaddr *)&tmp_sa, sizeof(tmp_sa))) {
        rc = step_fail(what, whatlen, "bind", errno);
        goto out;
    }
    if (fchmodat(pfd, SOCK_NAME, mode & 07777, 0)) {
        rc = step_fail(what, whatlen, "chmod", errno);
        goto out;
    }
    if (gid != (gid_t)-1 && fchownat(pfd, SOCK_NAME, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW)) {
        rc = step_fail(what, whatlen, "chown", errno);
        goto out;
    }
    if (fstatat(pfd, SOCK_NAME, &st, AT_SYMLINK_NOFOLLOW)) {
        rc = step_fail(what, whatlen, "stat", errno);
        goto out;
    }
    if (listen(fd, backlog)) {
        rc = step_fail(what, whatlen, "listen", errno);
        goto out;
    }
    if (renameat(pfd, SOCK_NAME, dfd, base)) {
        rc = step_fail(what, whatlen, "rename into place", errno);
        goto out;
    }
    out->fd = fd;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    fd = -1;
    rc = 0;
out:
    if (fd >= 0) {
        unlinkat(pfd, SOCK_NAME, 0);
        close(fd);
    }
    close(pfd);
    /* Fails (harmlessly) when someone renamed the directory away meanwhile. */
    unlinkat(dfd, tmp, AT_REMOVEDIR);
    close(dfd);
    return rc;
}

void vs_listen_close(struct vs_listener *l)
{
    struct stat st;

    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    /* Another process may have replaced the file since: leave theirs alone. */
    if (lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
}

int vs_parse_addr_port(const char *s, struct sockaddr_storage *ss, unsigned *len)
{
    char host[64], *end;
    const char *colon;
    unsigned long port;
    size_t hl;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hl = (size_t)(close - s - 1);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, hl);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof(host))
            return -EINVAL;
        hl = (size_t)(colon - s);
        memcpy(host, s, hl);
    }
    host[hl] = '\0';
    if (colon[1] < '0' || colon[1] > '9')
        return -EINVAL;
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno || *end || port < 1 || port > 65535)
        return -EINVAL;
    if (s[0] == '[') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -EINVAL;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -EINVAL;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *len = sizeof(*a);
    }
    return 0;
}

int vs_listen_tcp(const char *addr_port, int backlog, char *what, size_t whatlen)
{
    struct sockaddr_storage ss;
    unsigned len;
    int fd, one = 1, e;

    if (vs_parse_addr_port(addr_port, &ss, &len) < 0)
        return step_fail(what, whatlen, "address", EINVAL);
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return step_fail(what, whatlen, "socket", errno);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog)) {
        e = errno;
        close(fd);
        return step_fail(what, whatlen, "bind", e);
    }
    return fd;
}
