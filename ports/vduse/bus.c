/* vDPA bus attach/detach (generic netlink) and sysfs lookups. */
#include "ports/vduse/bus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ports/vduse/control.h"
#include "ports/vduse/vdpa_nl.h"

#define MGMTDEV "vduse"

/* Copies s into buf, cut to fit (sysfs names are short; a cut one simply misses). */
static void copy_name(char *buf, size_t len, const char *s)
{
    size_t n = strnlen(s, len - 1);

    memcpy(buf, s, n);
    buf[n] = '\0';
}

static const char *driver_name(enum vs_vduse_driver d)
{
    return d == VS_VDUSE_VHOST_VDPA ? "vhost_vdpa" : "virtio_vdpa";
}

/* sysfs only: a netlink request to the vdpa family waits while another device's
 * DEV_NEW probes, and that probe waits for the main thread, which calls this. */
int vs_vduse_bus_check(enum vs_vduse_driver driver, char *why, size_t why_len)
{
    char path[128];

    if (access(VS_VDPA_SYSFS, F_OK) < 0) {
        snprintf(why, why_len,
                 "the kernel has no vDPA bus (no %s): modprobe vduse (it loads "
                 "vdpa)",
                 VS_VDPA_SYSFS);
        return -ENOENT;
    }
    snprintf(path, sizeof(path), VS_VDPA_SYSFS "/drivers/%s", driver_name(driver));
    if (access(path, F_OK) < 0) {
        snprintf(why, why_len, "the vDPA bus driver %s is not loaded (no %s): modprobe %s",
                 driver_name(driver), path, driver_name(driver));
        return -ENOENT;
    }
    return 0;
}

bool vs_vduse_bus_has(const char *name)
{
    char path[160];

    snprintf(path, sizeof(path), VS_VDPA_SYSFS "/devices/%s", name);
    return access(path, F_OK) == 0;
}

static int write_file(const char *path, const char *s, char *why, size_t why_len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        return -errno;
    }
    n = write(fd, s, strlen(s));
    if (n < 0) {
        int rc = -errno;
        snprintf(why, why_len, "writing '%s' to %s: %s", s, path, strerror(errno));
        close(fd);
        return rc;
    }
    close(fd);
    return 0;
}

/* The driver bound to the device now, into buf ("" when none). */
static void bound_driver(const char *name, char *buf, size_t len)
{
    char path[160], target[256];
    ssize_t n;

    buf[0] = '\0';
    snprintf(path, sizeof(path), VS_VDPA_SYSFS "/devices/%s/driver", name);
    n = readlink(path, target, sizeof(target) - 1);
    if (n <= 0)
        return;
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    copy_name(buf, len, slash ? slash + 1 : target);
}

/* Moves the device to vhost_vdpa: whatever bound it on arrival lets go first. Each
 * sysfs write resets the device, which waits for our replies: worker thread. */
static int bind_vhost(const char *name, char *why, size_t why_len)
{
    char path[160], drv[64];
    int rc;

    bound_driver(name, drv, sizeof(drv));
    if (!strcmp(drv, "vhost_vdpa"))
        return 0;
    snprintf(path, sizeof(path), VS_VDPA_SYSFS "/devices/%s/driver_override", name);
    if ((rc = write_file(path, "vhost_vdpa", why, why_len)) < 0)
        return rc;
    if (drv[0]) {
        snprintf(path, sizeof(path), VS_VDPA_SYSFS "/drivers/%s/unbind", drv);
        if ((rc = write_file(path, name, why, why_len)) < 0)
            return rc;
    }
    snprintf(path, sizeof(path), VS_VDPA_SYSFS "/drivers/vhost_vdpa/bind");
    return write_file(path, name, why, why_len);
}

int vs_vduse_bus_attach(void *arg, char *why, unsigned why_len)
{
    const struct vs_vduse_args *a = arg;
    int rc = vs_vdpa_mgmtdev_check(MGMTDEV, why, why_len);

    if (rc == 0)
        rc = vs_vdpa_dev_new(MGMTDEV, a->name, why, why_len);
    if (rc < 0 || a->driver != VS_VDUSE_VHOST_VDPA)
        return rc;
    return bind_vhost(a->name, why, why_len);
}

int vs_vduse_bus_detach(void *arg, char *why, unsigned why_len)
{
    const struct vs_vduse_args *a = arg;
    int rc = vs_vdpa_dev_del(a->name, why, why_len);

    return rc == -ENODEV ? 0 : rc;
}

/* The first entry of dir (not . or ..) whose name starts with prefix, into buf. */
static int first_entry(const char *dir, const char *prefix, char *buf, size_t len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = -ENOENT;

    if (!d)
        return -errno;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        copy_name(buf, len, e->d_name);
        rc = 0;
        break;
    }
    closedir(d);
    return rc;
}

int vs_vduse_bus_ifname(const char *name, char *buf, size_t len)
{
    char dir[192], virtio[64];
    int rc;

    /* virtio_vdpa registers a virtio device under the vDPA device; virtio_net puts
     * its netdev under that. */
    snprintf(dir, sizeof(dir), VS_VDPA_SYSFS "/devices/%s", name);
    if ((rc = first_entry(dir, "virtio", virtio, sizeof(virtio))) < 0)
        return rc;
    snprintf(dir, sizeof(dir), VS_VDPA_SYSFS "/devices/%s/%s/net", name, virtio);
    return first_entry(dir, "", buf, len);
}

int vs_vduse_bus_vhost_dev(const char *name, char *buf, size_t len)
{
    char dir[192];

    snprintf(dir, sizeof(dir), VS_VDPA_SYSFS "/devices/%s", name);
    return first_entry(dir, "vhost-vdpa-", buf, len);
}
