/* /dev/vduse/control and the kernel checks. */
#include "ports/vduse/control.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vduse.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "ports/vduse/dev.h"

int vs_vduse_check_kernel(const char *release, char *why, size_t why_len)
{
    unsigned major = 0, minor = 0;

    if (sscanf(release, "%u.%u", &major, &minor) != 2) {
        snprintf(why, why_len, "cannot read the kernel version from '%s'", release);
        return -EINVAL;
    }
    if (major < 6 || (major == 6 && minor < 10)) {
        snprintf(why, why_len,
                 "this kernel (%s) is older than 6.10, which first let VDUSE serve virtio-net "
                 "devices; boot Linux 6.10 or newer",
                 release);
        return -EOPNOTSUPP;
    }
    return 0;
}

static int control_open(char *why, size_t why_len)
{
    int fd = open(VS_VDUSE_CONTROL, O_RDWR | O_CLOEXEC);
    uint64_t version = 0;

    if (fd < 0) {
        int rc = -errno;
        if (errno == ENOENT)
            snprintf(why, why_len,
                     "%s does not exist: load the VDUSE module (modprobe vduse; it needs "
                     "CONFIG_VDPA_USER)",
                     VS_VDUSE_CONTROL);
        else
            snprintf(why, why_len, "cannot open %s: %s", VS_VDUSE_CONTROL, strerror(errno));
        return rc;
    }
    if (ioctl(fd, VDUSE_GET_API_VERSION, &version) < 0) {
        snprintf(why, why_len, "VDUSE_GET_API_VERSION: %s (version %llu)", strerror(errno),
                 (unsigned long long)version);
        close(fd);
        return -EOPNOTSUPP;
    }
    /* We speak version 0: the requests and ioctls of linux/vduse.h as we use them. */
    version = VDUSE_API_VERSION;
    if (ioctl(fd, VDUSE_SET_API_VERSION, &version) < 0) {
        int rc = -errno;
        snprintf(why, why_len, "VDUSE_SET_API_VERSION %llu: %s", (unsigned long long)version,
                 strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

int vs_vduse_create(const struct vs_vduse_args *a, uint64_t features, char *why, size_t why_len)
{
    struct virtio_net_config cfg;
    struct vduse_dev_config *dc;
    char path[sizeof(VS_VDUSE_DEV_DIR) + VS_VDUSE_NAME_MAX + 1];
    int ctl, fd, rc;

    if ((ctl = control_open(why, why_len)) < 0)
        return ctl;
    dc = calloc(1, sizeof(*dc) + sizeof(cfg));
    if (!dc) {
        close(ctl);
        return -ENOMEM;
    }
    memset(&cfg, 0, sizeof(cfg));
    memcpy(cfg.mac, a->mac, 6);
    cfg.status = VIRTIO_NET_S_LINK_UP; /* little-endian: VERSION_1, and x86 */
    cfg.max_virtqueue_pairs = 1;
    cfg.mtu = (uint16_t)a->mtu;
    snprintf(dc->name, sizeof(dc->name), "%s", a->name);
    dc->device_id = VIRTIO_ID_NET;
    dc->vendor_id = 0;
    dc->features = features;
    dc->vq_num = VS_VDUSE_N_VQ;
    dc->vq_align = (uint32_t)sysconf(_SC_PAGESIZE);
    dc->config_size = sizeof(cfg);
    memcpy(dc->config, &cfg, sizeof(cfg));
    rc = ioctl(ctl, VDUSE_CREATE_DEV, dc) < 0 ? -errno : 0;
    free(dc);
    close(ctl);
    if (rc == -EEXIST) {
        snprintf(why, why_len,
                 "a VDUSE device named '%s' exists already and is served by another process; "
                 "choose another name or stop that process",
                 a->name);
        return rc;
    }
    if (rc == -EINVAL) {
        snprintf(why, why_len,
                 "the kernel refused the device (VDUSE_CREATE_DEV: features 0x%llx, %u "
                 "queues of %u, config %zu bytes); a kernel older than 6.10 refuses "
                 "virtio-net devices",
                 (unsigned long long)features, VS_VDUSE_N_VQ, VS_VDUSE_VQ_SIZE, sizeof(cfg));
        return rc;
    }
    if (rc < 0) {
        snprintf(why, why_len, "VDUSE_CREATE_DEV: %s", strerror(-rc));
        return rc;
    }
    snprintf(path, sizeof(path), "%s/%s", VS_VDUSE_DEV_DIR, a->name);
    /* devtmpfs creates the node as the device registers; give udev a moment if it
     * owns /dev. */
    for (int tries = 0;; tries++) {
        fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0 || errno != ENOENT || tries == 50)
            break;
        usleep(10000);
    }
    if (fd < 0) {
        rc = -errno;
        snprintf(why, why_len, "cannot open %s: %s", path, strerror(errno));
        vs_vduse_destroy(a->name);
        return rc;
    }
    for (uint32_t i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vduse_vq_config vc = {.index = i, .max_size = VS_VDUSE_VQ_SIZE};

        if (ioctl(fd, VDUSE_VQ_SETUP, &vc) < 0) {
            rc = -errno;
            snprintf(why, why_len, "VDUSE_VQ_SETUP %u: %s", i, strerror(errno));
            close(fd);
            vs_vduse_destroy(a->name);
            return rc;
        }
    }
    return fd;
}

int vs_vduse_destroy(const char *name)
{
    char buf[VDUSE_NAME_MAX] = {0};
    int ctl, rc;

    ctl = open(VS_VDUSE_CONTROL, O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return -errno;
    snprintf(buf, sizeof(buf), "%s", name);
    rc = ioctl(ctl, VDUSE_DESTROY_DEV, buf) < 0 ? -errno : 0;
    close(ctl);
    return rc;
}
