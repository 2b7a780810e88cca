/* Option checking for vhost-user ports: path, mode, queues, max_memory, in_order,
 * offloads, mtu.
 * No side effects. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ports/vhost_user/port_args.h"
#include "ports/virtio/net_dev.h"

const char *const vs_vhu_keys[] = {"path",     "mode",     "queues", "max_memory",
                                   "in_order", "offloads", "mtu",    NULL};

/* Finds the deepest existing ancestor of path's parent and checks that we could
 * create the missing directories below it (server mode creates them). */
static int check_parent(const char *path, char *why, size_t why_len)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct stat st;
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        return -EINVAL;
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    for (;;) {
        if (stat(dir, &st) == 0) {
            if (!S_ISDIR(st.st_mode)) {
                snprintf(why, why_len, "'%s' exists and is not a directory", dir);
                return -ENOTDIR;
            }
            if (access(dir, W_OK | X_OK) < 0) {
                snprintf(why, why_len, "directory '%s' is not writable by this process", dir);
                return -EACCES;
            }
            return 0;
        }
        if (errno != ENOENT) {
            snprintf(why, why_len, "cannot check directory '%s': %s", dir, strerror(errno));
            return -errno;
        }
        slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            return 0; /* "/" always exists; reaching here means a race, let open() report */
        *slash = '\0';
    }
}

int vs_vhu_parse_args(const struct vs_port_args *args, struct vs_vhu_args *out,
                      struct vs_port_err *err)
{
    int rc, idx, midx;
    const char *path, *mode;
    char why[200];

    if ((rc = vs_port_args_check_keys(args, vs_vhu_keys, err)) < 0)
        return rc;
    path = vs_port_args_get(args, "path", &idx);
    if (!path) {
        vs_port_err_set(err, -1,
                        "missing option 'path' (the vhost-user socket, e.g. "
                        "path=/run/vswitch/vm1.sock)");
        return -EINVAL;
    }
    if (path[0] != '/') {
        vs_port_err_set(err, idx, "path: '%s' is not an absolute path (start it with '/')", path);
        return -EINVAL;
    }
    if (strlen(path) >= sizeof(out->path)) {
        vs_port_err_set(err, idx,
                        "path: '%s' is %zu characters long; a UNIX socket path must be "
                        "shorter than %zu",
                        path, strlen(path), sizeof(out->path));
        return -EINVAL;
    }
    if (path[strlen(path) - 1] == '/') {
        vs_port_err_set(err, idx, "path: '%s' names a directory, not a socket file", path);
        return -EINVAL;
    }
    snprintf(out->path, sizeof(out->path), "%s", path);

    mode = vs_port_args_get(args, "mode", &midx);
    if (!mode || !strcmp(mode, "server")) {
        out->server = true;
    } else if (!strcmp(mode, "client")) {
        out->server = false;
    } else {
        vs_port_err_set(err, midx,
                        "mode: '%s' is not a mode; use 'server' (vswitchd listens, QEMU "
                        "connects) or 'client' (QEMU listens with server=on)",
                        mode);
        return -EINVAL;
    }
    if ((rc = vs_port_args_uint(args, "queues", 1, VS_VHU_MAX_QUEUE_PAIRS, 1, &out->queues,
                                err)) < 0)
        return rc;
    if ((rc = vs_port_args_size(args, "max_memory", VS_VHU_MAX_MEMORY_MIN, VS_VHU_MAX_MEMORY_MAX,
                                VS_VHU_MAX_MEMORY_DEFAULT, &out->max_memory, err)) < 0)
        return rc;
    if ((rc = vs_port_args_bool(args, "in_order", true, &out->in_order, err)) < 0)
        return rc;
    if ((rc = vs_port_args_bool(args, "offloads", true, &out->offloads, err)) < 0)
        return rc;
    if ((rc = vs_port_args_mtu(args, VS_VNET_MTU_MAX, &out->mtu, err)) < 0)
        return rc;

    if (out->server) {
        struct stat st;

        if ((rc = check_parent(out->path, why, sizeof(why))) < 0) {
            vs_port_err_set(err, idx, "path: %s", why);
            return rc;
        }
        if (lstat(out->path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            vs_port_err_set(err, idx,
                            "path: '%s' exists and is not a socket; refusing to replace it",
                            out->path);
            return -EEXIST;
        }
    }
    return 0;
}
