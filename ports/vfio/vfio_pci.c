/* VFIO container/group/device handling, DMA mapping and the sysfs checks that
 * turn a kernel errno into a command the user can run. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ports/vfio/vfio_pci.h"
#include "vswitch/log.h"
#include "vswitch/mem.h"

int vs_vfio_bdf_parse(const char *s, char out[VS_VFIO_BDF_LEN])
{
    unsigned dom = 0, bus, dev, fn;
    int n = 0;
    size_t len = s ? strlen(s) : 0;

    if (len == 12) {
        if (sscanf(s, "%4x:%2x:%2x.%1x%n", &dom, &bus, &dev, &fn, &n) != 4 || n != 12)
            return -EINVAL;
    } else if (len == 7) {
        if (sscanf(s, "%2x:%2x.%1x%n", &bus, &dev, &fn, &n) != 3 || n != 7)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
            return -EINVAL;
    if (dev > 0x1f || fn > 7)
        return -EINVAL;
    snprintf(out, VS_VFIO_BDF_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
    return 0;
}

/* Basename of the symlink at path, or "" when there is none. */
static int link_name(const char *path, char *out, size_t len)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);
    const char *slash;

    out[0] = 0;
    if (n < 0)
        return -errno;
    buf[n] = 0;
    slash = strrchr(buf, '/');
    if ((size_t)snprintf(out, len, "%s", slash ? slash + 1 : buf) >= len)
        out[0] = 0; /* not a name we know: treat as none */
    return 0;
}

static bool driver_blocks(const char *drv)
{
    /* vfio-pci owns it; pci-stub holds it without DMA; bridges (pcieport) are
     * tolerated by the kernel's viability rule. */
    return drv[0] && strcmp(drv, "vfio-pci") && strcmp(drv, "pci-stub") && strcmp(drv, "pcieport");
}

int vs_vfio_group_blockers(const char *root, const char *bdf, char *buf, size_t len)
{
    char path[PATH_MAX];
    DIR *dir;
    struct dirent *e;
    int n = 0;

    buf[0] = 0;
    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/iommu_group/devices", root, bdf);
    if (!(dir = opendir(path)))
        return -errno;
    while ((e = readdir(dir))) {
        char dpath[PATH_MAX], drv[64];

        if (e->d_name[0] == '.' || !strcmp(e->d_name, bdf))
            continue;
        if ((size_t)snprintf(dpath, sizeof(dpath), "%s/%s/driver", path, e->d_name) >=
            sizeof(dpath))
            continue;
        link_name(dpath, drv, sizeof(drv));
        if (!driver_blocks(drv))
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s (%s)", n ? ", " : "", e->d_name, drv);
        n++;
    }
    closedir(dir);
    return n;
}

int vs_vfio_preflight(const char *root, const char *bdf, int *group_id, bool *noiommu,
                      struct vs_port_err *err)
{
    char path[PATH_MAX], drv[64], grp[32], blockers[160];
    struct stat st;
    int n;

    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s", root, bdf);
    if (stat(path, &st) < 0) {
        vs_port_err_set(err, -1, "no PCI device %s on this machine (lspci -D lists them)", bdf);
        return -ENODEV;
    }
    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/driver", root, bdf);
    link_name(path, drv, sizeof(drv));
    if (strcmp(drv, "vfio-pci")) {
        /* The three sysfs writes that hand a device to vfio-pci, for this BDF. */
        if (drv[0])
            vs_port_err_set(err, -1,
                            "%s is bound to %s, not vfio-pci; run: modprobe vfio-pci; echo "
                            "vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > "
                            "/sys/bus/pci/devices/%s/driver/unbind; echo %s > "
                            "/sys/bus/pci/drivers_probe",
                            bdf, drv, bdf, bdf, bdf, bdf);
        else
            vs_port_err_set(err, -1,
                            "%s is not bound to vfio-pci; run: modprobe vfio-pci; echo vfio-pci > "
                            "/sys/bus/pci/devices/%s/driver_override; echo %s > "
                            "/sys/bus/pci/drivers_probe",
                            bdf, bdf, bdf);
        return -ENXIO;
    }
    snprintf(path, sizeof(path), "%s/sys/bus/pci/devices/%s/iommu_group", root, bdf);
    if (link_name(path, grp, sizeof(grp)) < 0 || !grp[0]) {
        vs_port_err_set(err, -1,
                        "%s has no IOMMU group: boot with intel_iommu=on iommu=pt (AMD: "
                        "amd_iommu=on), or without isolation: modprobe vfio "
                        "enable_unsafe_noiommu_mode=1",
                        bdf);
        return -ENODEV;
    }
    *group_id = atoi(grp);
    n = vs_vfio_group_blockers(root, bdf, blockers, sizeof(blockers));
    if (n > 0) {
        char first[VS_VFIO_BDF_LEN];

        /* The list starts with a BDF: spell out the command for that one. */
        snprintf(first, sizeof(first), "%.12s", blockers);
        vs_port_err_set(err, -1,
                        "IOMMU group %d of %s is not viable: %s share%s it; unbind %s or bind "
                        "%s to vfio-pci too: echo %s > /sys/bus/pci/devices/%s/driver/unbind",
                        *group_id, bdf, blockers, n == 1 ? "s" : "", n == 1 ? "it" : "them",
                        n == 1 ? "it" : "them", first, first);
        return -EBUSY;
    }
    snprintf(path, sizeof(path), "%s/dev/vfio", root);
    if (stat(path, &st) < 0) {
        vs_port_err_set(err, -1, "no %s: the VFIO driver is not loaded; run: modprobe vfio-pci",
                        path);
        return -ENOENT;
    }
    snprintf(path, sizeof(path), "%s/dev/vfio/%d", root, *group_id);
    *noiommu = false;
    if (stat(path, &st) < 0) {
        snprintf(path, sizeof(path), "%s/dev/vfio/noiommu-%d", root, *group_id);
        if (stat(path, &st) < 0) {
            vs_port_err_set(err, -1,
                            "no %s/dev/vfio/%d for %s: is vfio-pci bound to it and udev done? "
                            "(ls -l /dev/vfio)",
                            root, *group_id, bdf);
            return -ENOENT;
        }
        *noiommu = true;
    }
    return 0;
}

int vs_vfio_memlock_check(uint64_t need, uint64_t locked, uint64_t limit, bool cap_ipc_lock,
                          struct vs_port_err *err)
{
    if (cap_ipc_lock || limit == UINT64_MAX || locked + need <= limit)
        return 0;
    vs_port_err_set(err, -1,
                    "RLIMIT_MEMLOCK is %" PRIu64 " KiB (%" PRIu64
                    " KiB already locked) but VFIO must pin %" PRIu64
                    " KiB of packet memory; run `ulimit -l unlimited` before vswitchd, or set "
                    "LimitMEMLOCK=infinity in its systemd unit",
                    limit >> 10, locked >> 10, need >> 10);
    return -ENOMEM;
}

/* VmLck from /proc/self/status (type1 accounts pinned pages there) and whether we
 * hold CAP_IPC_LOCK (which lifts the limit). */
static void lock_state(uint64_t *locked, bool *cap)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");

    *locked = 0;
    *cap = false;
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;

        if (sscanf(line, "VmLck: %llu kB", &v) == 1)
            *locked = (uint64_t)v << 10;
        else if (sscanf(line, "CapEff: %llx", &v) == 1)
            *cap = (v >> 14) & 1; /* CAP_IPC_LOCK */
    }
    fclose(f);
}

static void read_iommu_info(struct vs_vfio_container *c)
{
    struct vfio_iommu_type1_info *info;
    size_t sz = sizeof(*info);

    info = calloc(1, sz);
    if (!info)
        return;
    info->argsz = (uint32_t)sz;
    if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info) < 0)
        goto out;
    if (info->argsz > sz) {
        struct vfio_iommu_type1_info *bigger;

        sz = info->argsz;
        if (!(bigger = realloc(info, sz)))
            goto out;
        info = bigger;
        memset(info, 0, sz);
        info->argsz = (uint32_t)sz;
        if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info) < 0)
            goto out;
    }
    if (!(info->flags & VFIO_IOMMU_INFO_CAPS) || !info->cap_offset)
        goto out;
    for (uint32_t off = info->cap_offset; off && off + sizeof(struct vfio_info_cap_header) <= sz;) {
        struct vfio_info_cap_header *h = (void *)((char *)info + off);

        if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
            struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

            c->n_iova_ranges = 0;
            for (uint32_t i = 0; i < r->nr_iovas && i < VS_ARRAY_SIZE(c->iova_ranges); i++) {
                if ((char *)&r->iova_ranges[i + 1] > (char *)info + sz)
                    break;
                c->iova_ranges[i].start = r->iova_ranges[i].start;
                c->iova_ranges[i].end = r->iova_ranges[i].end;
                c->n_iova_ranges++;
            }
        } else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
            c->dma_avail = ((struct vfio_iommu_type1_info_dma_avail *)h)->avail;
        }
        if (h->next <= off)
            break;
        off = h->next;
    }
out:
    free(info);
}

static int read_regions(struct vs_vfio_dev *d, struct vs_port_err *err)
{
    struct vfio_device_info info = {.argsz = sizeof(info)};
    struct vfio_region_info reg = {.argsz = sizeof(reg)};
    struct vfio_irq_info irq = {.argsz = sizeof(irq)};

    if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
        vs_port_err_set(err, -1, "VFIO_DEVICE_GET_INFO on %s: %s", d->bdf, strerror(errno));
        return -errno;
    }
    if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
        vs_port_err_set(err, -1, "%s is not a VFIO PCI device", d->bdf);
        return -ENODEV;
    }
    d->can_reset = info.flags & VFIO_DEVICE_FLAGS_RESET;
    reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
    if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &reg) < 0) {
        vs_port_err_set(err, -1, "config region of %s: %s", d->bdf, strerror(errno));
        return -errno;
    }
    d->cfg_offset = reg.offset;
    d->cfg_size = reg.size;
    for (unsigned i = 0; i < VS_VFIO_MAX_BARS && i <= VFIO_PCI_BAR5_REGION_INDEX; i++) {
        struct vfio_region_info r = {.argsz = sizeof(r), .index = VFIO_PCI_BAR0_REGION_INDEX + i};

        if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &r) < 0)
            continue;
        d->bar[i].len = r.size;
        d->bar[i].offset = r.offset;
        d->bar[i].flags = r.flags;
    }
    irq.index = VFIO_PCI_REQ_IRQ_INDEX;
    if (info.num_irqs > VFIO_PCI_REQ_IRQ_INDEX && ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0)
        d->n_irqs_req = irq.count;
    irq = (struct vfio_irq_info){.argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX};
    if (info.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX &&
        ioctl(d->fd, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0 && (irq.flags & VFIO_IRQ_INFO_EVENTFD))
        d->n_msix = irq.count;
    return 0;
}

static struct vs_vfio_container container = {.fd = -1};
static struct {
    int id, fd;
    unsigned refs;
} groups[32];

/* Opens the container once; later devices must use the same IOMMU mode. */
static int container_get(const char *root, bool noiommu, struct vs_port_err *err)
{
    char path[PATH_MAX];
    int rc, version;

    if (container.fd >= 0) {
        if (container.noiommu != noiommu) {
            vs_port_err_set(err, -1,
                            "cannot mix no-IOMMU and IOMMU devices in one vswitchd (this one is "
                            "%s, the open ones are not)",
                            noiommu ? "no-IOMMU" : "behind an IOMMU");
            return -EINVAL;
        }
        return 0;
    }
    snprintf(path, sizeof(path), "%s/dev/vfio/vfio", root);
    container.fd = open(path, O_RDWR | O_CLOEXEC);
    if (container.fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "cannot open %s: %s%s", path, strerror(-rc),
                        rc == -EACCES   ? " (run vswitchd as root or chown /dev/vfio/*)"
                        : rc == -ENOENT ? " (run: modprobe vfio-pci)"
                                        : "");
        return rc;
    }
    version = ioctl(container.fd, VFIO_GET_API_VERSION);
    if (version != VFIO_API_VERSION) {
        vs_port_err_set(err, -1, "VFIO API version %d, expected %d: kernel too old or too new",
                        version, VFIO_API_VERSION);
        rc = -ENOTSUP;
    } else if (!noiommu && ioctl(container.fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
        vs_port_err_set(err, -1,
                        "the kernel's VFIO has no type1 v2 IOMMU: run: modprobe vfio_iommu_type1");
        rc = -ENOTSUP;
    } else if (noiommu && ioctl(container.fd, VFIO_CHECK_EXTENSION, VFIO_NOIOMMU_IOMMU) <= 0) {
        vs_port_err_set(err, -1, "/dev/vfio/noiommu-N exists but the container refuses no-IOMMU");
        rc = -ENOTSUP;
    } else {
        container.noiommu = noiommu;
        return 0;
    }
    close(container.fd);
    container.fd = -1;
    return rc;
}

/* Drops the container when no group uses it any more (the kernel then unmaps
 * and unpins everything). */
static void container_put_if_unused(void)
{
    if (container.fd < 0 || container.groups)
        return;
    for (unsigned i = 0; i < container.n_maps; i++)
        free(container.pa[i].pa);
    close(container.fd);
    memset(&container, 0, sizeof(container));
    container.fd = -1;
}

/* Opens (or takes another reference on) group id and attaches it to the container. */
static int group_get(const char *root, const char *bdf, int id, bool noiommu,
                     struct vs_port_err *err)
{
    char path[PATH_MAX];
    struct vfio_group_status st = {.argsz = sizeof(st)};
    int fd, rc, slot = -1;

    for (unsigned i = 0; i < VS_ARRAY_SIZE(groups); i++) {
        if (groups[i].refs && groups[i].id == id) {
            groups[i].refs++;
            return groups[i].fd;
        }
        if (!groups[i].refs && slot < 0)
            slot = (int)i;
    }
    if (slot < 0) {
        vs_port_err_set(err, -1, "too many IOMMU groups open");
        return -ENOSPC;
    }
    snprintf(path, sizeof(path), "%s/dev/vfio/%s%d", root, noiommu ? "noiommu-" : "", id);
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "cannot open %s: %s%s", path, strerror(-rc),
                        rc == -EBUSY ? " (another process, a VM or another vswitchd, holds it)"
                                     : "");
        return rc;
    }
    if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "VFIO_GROUP_GET_STATUS %s: %s", path, strerror(-rc));
        goto fail;
    }
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        char blockers[160];
        int n = vs_vfio_group_blockers(root, bdf, blockers, sizeof(blockers));

        vs_port_err_set(err, -1,
                        "IOMMU group %d of %s is not viable%s%s: bind every device of the group "
                        "to vfio-pci or unbind it",
                        id, bdf, n > 0 ? ": blocked by " : "", n > 0 ? blockers : "");
        rc = -EBUSY;
        goto fail;
    }
    if (ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container.fd) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "VFIO_GROUP_SET_CONTAINER: %s", strerror(-rc));
        goto fail;
    }
    /* The IOMMU model is chosen once, when the first group is in the container. */
    if (!container.iommu_set) {
        if (ioctl(container.fd, VFIO_SET_IOMMU, noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU) <
            0) {
            rc = -errno;
            vs_port_err_set(err, -1, "VFIO_SET_IOMMU: %s%s", strerror(-rc),
                            rc == -EPERM ? " (no interrupt remapping: enable it (intel-iommu "
                                           "intremap=on) or modprobe vfio_iommu_type1 "
                                           "allow_unsafe_interrupts=1)"
                                         : "");
            ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
            goto fail;
        }
        container.iommu_set = true;
        if (noiommu)
            vs_warn("VFIO no-IOMMU mode: devices can DMA anywhere in memory, no isolation; DMA "
                    "uses physical addresses");
        else
            read_iommu_info(&container);
    }
    container.groups++;
    groups[slot].id = id;
    groups[slot].fd = fd;
    groups[slot].refs = 1;
    return fd;
fail:
    close(fd);
    return rc;
}

static void group_put(int id)
{
    for (unsigned i = 0; i < VS_ARRAY_SIZE(groups); i++) {
        if (!groups[i].refs || groups[i].id != id)
            continue;
        if (--groups[i].refs == 0) {
            close(groups[i].fd); /* leaves the container */
            container.groups--;
        }
        return;
    }
}

int vs_vfio_open(struct vs_vfio_dev *d, const char *bdf, const char *root, struct vs_port_err *err)
{
    int rc, gfd;

    memset(d, 0, sizeof(*d));
    d->fd = -1;
    if (!root)
        root = "";
    if (vs_vfio_bdf_parse(bdf, d->bdf) < 0) {
        vs_port_err_set(err, -1, "'%s' is not a PCI address like 0000:00:04.0", bdf);
        return -EINVAL;
    }
    if ((rc = vs_vfio_preflight(root, d->bdf, &d->group_id, &d->noiommu, err)) < 0)
        return rc;
    if ((rc = container_get(root, d->noiommu, err)) < 0)
        goto fail;
    d->c = &container;
    if ((gfd = group_get(root, d->bdf, d->group_id, d->noiommu, err)) < 0) {
        rc = gfd;
        goto fail;
    }
    d->group_held = true;
    d->fd = ioctl(gfd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
    if (d->fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "VFIO_GROUP_GET_DEVICE_FD %s: %s%s", d->bdf, strerror(-rc),
                        rc == -EBUSY ? " (already a port of this vswitchd, or used by another "
                                       "program)"
                                     : "");
        goto fail;
    }
    if ((rc = read_regions(d, err)) < 0)
        goto fail;
    if ((rc = vs_vfio_cfg_read(d, PCI_VENDOR_ID, &d->vendor, 2)) < 0 ||
        (rc = vs_vfio_cfg_read(d, PCI_DEVICE_ID, &d->device, 2)) < 0) {
        vs_port_err_set(err, -1, "cannot read the config space of %s: %s", d->bdf, strerror(-rc));
        goto fail;
    }
    return 0;
fail:
    vs_vfio_close(d);
    return rc;
}

void vs_vfio_close(struct vs_vfio_dev *d)
{
    for (unsigned i = 0; i < VS_VFIO_MAX_BARS; i++) {
        if (d->bar[i].va)
            munmap(d->bar[i].va, d->bar[i].len);
        d->bar[i].va = NULL;
    }
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    if (d->group_held)
        group_put(d->group_id);
    d->group_held = false;
    if (d->c == &container)
        container_put_if_unused();
    d->c = NULL;
}

int vs_vfio_map_bar(struct vs_vfio_dev *d, unsigned i, struct vs_port_err *err)
{
    void *va;

    if (i >= VS_VFIO_MAX_BARS)
        return -EINVAL;
    if (d->bar[i].va)
        return 0;
    if (!d->bar[i].len || !(d->bar[i].flags & VFIO_REGION_INFO_FLAG_MMAP)) {
        vs_port_err_set(err, -1, "BAR%u of %s is absent or cannot be mmap'ed", i, d->bdf);
        return -ENODEV;
    }
    va = mmap(NULL, d->bar[i].len, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
              (off_t)d->bar[i].offset);
    if (va == MAP_FAILED) {
        int rc = -errno;
        vs_port_err_set(err, -1, "mmap BAR%u of %s: %s", i, d->bdf, strerror(-rc));
        return rc;
    }
    d->bar[i].va = va;
    return 0;
}

int vs_vfio_cfg_read(const struct vs_vfio_dev *d, unsigned off, void *buf, size_t len)
{
    ssize_t n = pread(d->fd, buf, len, (off_t)(d->cfg_offset + off));

    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int vs_vfio_cfg_write(const struct vs_vfio_dev *d, unsigned off, const void *buf, size_t len)
{
    ssize_t n = pwrite(d->fd, buf, len, (off_t)(d->cfg_offset + off));

    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int vs_vfio_enable_bus_master(const struct vs_vfio_dev *d)
{
    uint16_t cmd;
    int rc;

    if ((rc = vs_vfio_cfg_read(d, PCI_COMMAND, &cmd, 2)) < 0)
        return rc;
    cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    return vs_vfio_cfg_write(d, PCI_COMMAND, &cmd, 2);
}

int vs_vfio_reset(const struct vs_vfio_dev *d)
{
    if (!d->can_reset)
        return 0;
    return ioctl(d->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
}

int vs_vfio_request_eventfd(const struct vs_vfio_dev *d)
{
    char buf[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
    struct vfio_irq_set *set = (void *)buf;
    int efd;

    if (!d->n_irqs_req)
        return -ENOTSUP;
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return -errno;
    set->argsz = sizeof(buf);
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFIO_PCI_REQ_IRQ_INDEX;
    set->start = 0;
    set->count = 1;
    memcpy(set->data, &efd, sizeof(int32_t));
    if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set) < 0) {
        int rc = -errno;
        close(efd);
        return rc;
    }
    return efd;
}

int vs_vfio_msix_enable(const struct vs_vfio_dev *d, unsigned n, int *fds)
{
    char buf[sizeof(struct vfio_irq_set) + 32 * sizeof(int32_t)];
    struct vfio_irq_set *set = (void *)buf;
    int32_t efd[32];
    int rc = 0;

    if (n == 0 || n > 32 || n > d->n_msix)
        return -ENOTSUP;
    for (unsigned i = 0; i < n; i++) {
        efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (efd[i] < 0) {
            rc = -errno;
            while (i--)
                close(efd[i]);
            return rc;
        }
    }
    set->argsz = (uint32_t)(sizeof(*set) + n * sizeof(int32_t));
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFIO_PCI_MSIX_IRQ_INDEX;
    set->start = 0;
    set->count = n;
    memcpy(set->data, efd, n * sizeof(int32_t));
    if (ioctl(d->fd, VFIO_DEVICE_SET_IRQS, set) < 0) {
        rc = -errno;
        for (unsigned i = 0; i < n; i++)
            close(efd[i]);
        return rc;
    }
    for (unsigned i = 0; i < n; i++)
        fds[i] = efd[i];
    return 0;
}

void vs_vfio_msix_disable(const struct vs_vfio_dev *d)
{
    struct vfio_irq_set set = {.argsz = sizeof(set),
                               .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
                               .index = VFIO_PCI_MSIX_IRQ_INDEX};

    if (d->fd >= 0)
        ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &set);
}

static bool iova_ok(const struct vs_vfio_container *c, uint64_t start, uint64_t len)
{
    if (!c->n_iova_ranges)
        return true; /* kernel too old to say: let MAP_DMA decide */
    for (unsigned i = 0; i < c->n_iova_ranges; i++)
        if (start >= c->iova_ranges[i].start && start + len - 1 <= c->iova_ranges[i].end)
            return true;
    return false;
}

/* Physical addresses of each page of [va, va+len) from /proc/self/pagemap. */
static int build_pa_table(struct vs_vfio_pa_table *t, uintptr_t va, size_t len, size_t page)
{
    size_t n = len / page;
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    t->pa = calloc(n, sizeof(*t->pa));
    if (!t->pa) {
        close(fd);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t e;
        uintptr_t a = va + i * page;

        if (pread(fd, &e, sizeof(e), (off_t)(a / 4096 * sizeof(e))) != sizeof(e) || !(e >> 63) ||
            !(e & ((1ull << 55) - 1))) {
            free(t->pa);
            t->pa = NULL;
            close(fd);
            return -EPERM; /* not present, or PFNs hidden without CAP_SYS_ADMIN */
        }
        t->pa[i] = (e & ((1ull << 55) - 1)) * 4096;
    }
    close(fd);
    t->va = va;
    t->len = len;
    t->page = page;
    return 0;
}

uint64_t vs_vfio_dma_addr_slow(const struct vs_vfio_dev *d, const void *ptr, size_t len)
{
    uintptr_t va = (uintptr_t)ptr;
    const struct vs_vfio_container *c = d->c;

    if (!c)
        return 0;
    /* Newest first: a region at a reused VA shadows the freed one's table. The
     * table only grows while pollers run (see map_one). */
    for (unsigned i = __atomic_load_n(&c->n_maps, __ATOMIC_ACQUIRE); i-- > 0;) {
        const struct vs_vfio_pa_table *t = &c->pa[i];

        if (!t->pa || va < t->va || va + len > t->va + t->len)
            continue;
        size_t first = (va - t->va) / t->page, last = (va + len - 1 - t->va) / t->page;
        for (size_t p = first; p < last; p++)
            if (t->pa[p] + t->page != t->pa[p + 1])
                return 0; /* straddles two pages that are not physically adjacent */
        return t->pa[first] + (va - t->va) % t->page;
    }
    return 0;
}

/* Physical address of the page at va now, or 0. */
static uint64_t pa_now(uintptr_t va)
{
    struct vs_vfio_pa_table t = {0};
    uint64_t pa = 0;

    if (build_pa_table(&t, va, 4096, 4096) == 0)
        pa = t.pa[0];
    free(t.pa);
    return pa;
}

static bool is_mapped(const struct vs_vfio_container *c, uintptr_t va, size_t len)
{
    for (unsigned i = c->n_maps; i-- > 0;) {
        if (c->maps[i].va != va || c->maps[i].len != len)
            continue;
        /* No-IOMMU tables are never removed (pollers read them): a freed region
         * whose VA came back is recognised by its pages having moved. */
        return !c->noiommu || (c->pa[i].pa && pa_now(va) == c->pa[i].pa[0]);
    }
    return false;
}

/* type1 only: no-IOMMU tables stay until the container closes. */
static void unmap_entry(struct vs_vfio_container *c, unsigned i)
{
    if (!c->noiommu) {
        struct vfio_iommu_type1_dma_unmap um = {
            .argsz = sizeof(um), .iova = c->maps[i].va, .size = c->maps[i].len};
        ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &um);
    }
    free(c->pa[i].pa);
    c->n_maps--;
    c->maps[i] = c->maps[c->n_maps];
    c->pa[i] = c->pa[c->n_maps];
    memset(&c->pa[c->n_maps], 0, sizeof(c->pa[0]));
}

static int map_one(struct vs_vfio_container *c, uintptr_t va, size_t len, size_t page,
                   struct vs_port_err *err)
{
    int rc;

    if (c->n_maps == VS_VFIO_MAX_MAPS) {
        vs_port_err_set(err, -1, "more than %d memory regions to DMA-map", VS_VFIO_MAX_MAPS);
        return -ENOSPC;
    }
    if (c->noiommu) {
        if (page < (2u << 20)) {
            vs_port_err_set(err, -1,
                            "no-IOMMU mode needs hugepage memory (buffers must be physically "
                            "contiguous): echo 1024 > /proc/sys/vm/nr_hugepages");
            return -EINVAL;
        }
        if ((rc = build_pa_table(&c->pa[c->n_maps], va, len, page)) < 0) {
            vs_port_err_set(err, -1,
                            "no-IOMMU mode: cannot read physical addresses from "
                            "/proc/self/pagemap (needs CAP_SYS_ADMIN)");
            return rc;
        }
    } else {
        struct vfio_iommu_type1_dma_map m = {
            .argsz = sizeof(m),
            .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
            .vaddr = va,
            .iova = va,
            .size = len,
        };

        if (!iova_ok(c, va, len)) {
            vs_port_err_set(err, -1,
                            "memory at 0x%" PRIxPTR " is outside the IOMMU's address range (its "
                            "address width is too small for IOVA == VA; on QEMU use -device "
                            "intel-iommu,aw-bits=48)",
                            va);
            return -ERANGE;
        }
        if (ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &m) < 0) {
            rc = -errno;
            vs_port_err_set(err, -1, "VFIO_IOMMU_MAP_DMA %zu KiB at 0x%" PRIxPTR ": %s%s",
                            len >> 10, va, strerror(-rc),
                            rc == -ENOMEM   ? " (memlock limit: run `ulimit -l unlimited`)"
                            : rc == -ENOSPC ? " (the kernel's DMA entry limit, vfio_iommu_type1 "
                                              "dma_entry_limit, is reached)"
                                            : "");
            return rc;
        }
    }
    c->maps[c->n_maps].va = va;
    c->maps[c->n_maps].len = len;
    /* Pollers look entries up without a lock: publish the entry after filling it. */
    __atomic_store_n(&c->n_maps, c->n_maps + 1, __ATOMIC_RELEASE);
    return 0;
}

int vs_vfio_dma_map(struct vs_vfio_dev *d, void *ptr, size_t len, size_t page,
                    struct vs_port_err *err)
{
    uintptr_t va = (uintptr_t)ptr;
    struct vs_vfio_container *c = d->c;

    if (!c || c->fd < 0)
        return -ENODEV;
    /* The region was just allocated: a mapping over its addresses can only be
     * left from freed memory (its VA reused) and points at the old pages.
     * No-IOMMU: the new table is appended and shadows the old one. */
    for (unsigned i = 0; i < c->n_maps && !c->noiommu;) {
        if (c->maps[i].va < va + len && va < c->maps[i].va + c->maps[i].len)
            unmap_entry(c, i);
        else
            i++;
    }
    return map_one(c, va, len, page, err);
}

void vs_vfio_dma_unmap(struct vs_vfio_dev *d, void *ptr, size_t len)
{
    struct vs_vfio_container *c = d->c;

    if (!c || c->fd < 0 || c->noiommu)
        return;
    for (unsigned i = 0; i < c->n_maps; i++) {
        if (c->maps[i].va == (uintptr_t)ptr && c->maps[i].len == len) {
            unmap_entry(c, i);
            return;
        }
    }
}

int vs_vfio_dma_alloc(struct vs_vfio_dev *d, size_t len, const char *what,
                      struct vs_mem_region *out, struct vs_port_err *err)
{
    int rc = vs_mem_alloc(len, VS_PAGES_2M, out);

    if (rc < 0) {
        vs_port_err_set(err, -1, "cannot allocate %s: %s", what, strerror(-rc));
        return rc;
    }
    return vs_vfio_dma_map(d, out->va, out->len, out->page_size, err);
}

void vs_vfio_dma_free(struct vs_vfio_dev *d, struct vs_mem_region *r)
{
    if (!r->va)
        return;
    if (d)
        vs_vfio_dma_unmap(d, r->va, r->len);
    vs_mem_free(r);
}

struct region_list {
    unsigned n;
    struct {
        uintptr_t va;
        size_t len;
    } r[VS_VFIO_MAX_MAPS];
};

static int collect_region(const struct vs_mem_region *r, void *arg)
{
    struct region_list *l = arg;

    if (l->n < VS_VFIO_MAX_MAPS) {
        l->r[l->n].va = (uintptr_t)r->va;
        l->r[l->n].len = r->len;
        l->n++;
    }
    return 0;
}

/* Unmaps what belongs to regions the runtime freed since they were mapped. */
static void prune_stale(struct vs_vfio_container *c)
{
    struct region_list live = {0};

    if (c->noiommu)
        return; /* pollers may be reading the tables */
    vs_mem_foreach(collect_region, &live);
    for (unsigned i = 0; i < c->n_maps;) {
        bool found = false;

        for (unsigned j = 0; j < live.n && !found; j++)
            found = live.r[j].va == c->maps[i].va && live.r[j].len == c->maps[i].len;
        if (found)
            i++;
        else
            unmap_entry(c, i);
    }
}

struct map_ctx {
    struct vs_vfio_container *c;
    struct vs_port_err *err;
    uint64_t need;
    unsigned n;
};

static int sum_region(const struct vs_mem_region *r, void *arg)
{
    struct map_ctx *m = arg;

    if (!is_mapped(m->c, (uintptr_t)r->va, r->len)) {
        m->need += r->len;
        m->n++;
    }
    return 0;
}

static int map_region(const struct vs_mem_region *r, void *arg)
{
    struct map_ctx *m = arg;

    if (is_mapped(m->c, (uintptr_t)r->va, r->len))
        return 0;
    return map_one(m->c, (uintptr_t)r->va, r->len, r->page_size, m->err);
}

int vs_vfio_dma_map_all(struct vs_vfio_dev *d, struct vs_port_err *err)
{
    struct map_ctx m = {.c = d->c, .err = err};
    struct rlimit rl;
    uint64_t locked;
    bool cap;
    int rc;

    if (!m.c || m.c->fd < 0)
        return -ENODEV;
    prune_stale(m.c);
    vs_mem_foreach(sum_region, &m);
    if (!m.n)
        return 0;
    if (!m.c->noiommu) {
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
            rl.rlim_cur = RLIM_INFINITY;
        lock_state(&locked, &cap);
        if ((rc = vs_vfio_memlock_check(m.need, locked,
                                        rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur,
                                        cap, err)) < 0)
            return rc;
        if (m.c->dma_avail && m.n > m.c->dma_avail) {
            vs_port_err_set(err, -1,
                            "%u regions to map but the kernel allows only %u more DMA mappings "
                            "(vfio_iommu_type1 dma_entry_limit)",
                            m.n, m.c->dma_avail);
            return -ENOSPC;
        }
    }
    return vs_mem_foreach(map_region, &m);
}

int vs_vfio_dma_sync(struct vs_vfio_dev *d, struct vs_port_err *err)
{
    return vs_vfio_dma_map_all(d, err);
}
