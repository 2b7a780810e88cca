/* The VDUSE device's control requests: one table with each request type's facts,
 * and the device-wide state changes they cause. */
#include "ports/vduse/dev.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "vswitch/compiler.h"
#include "vswitch/log.h"

#define BIT(b) (1ull << (b))

static int kernel_ioctl(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }

const struct vs_vduse_sys vs_vduse_sys_kernel = {.ioctl = kernel_ioctl};

uint64_t vs_vduse_features_offered(void)
{
    /* No checksum or segmentation offloads: every frame we hand over is complete. */
    return BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) | BIT(VIRTIO_F_RING_PACKED) |
           BIT(VIRTIO_F_IN_ORDER) | BIT(VIRTIO_RING_F_EVENT_IDX) |
           BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_MTU) |
           BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_MAC);
}

void vs_vduse_refuse(struct vs_vduse_dev *dev, enum vs_vduse_error e, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dev->err[e]++;
    vs_log_once(&dev->err_logged, VS_LOG_WARN,
                "port %s: VDUSE: %s (%s; further refusals are counted in show, not logged)",
                dev->name, msg, vs_vduse_error_name(e));
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

int vs_vduse_dev_init(struct vs_vduse_dev *dev, const char *name, const struct vs_vduse_sys *sys)
{
    memset(dev, 0, sizeof(*dev));
    dev->name = name;
    dev->fd = -1;
    dev->sys = sys;
    dev->offered = vs_vduse_features_offered();
    dev->max_map = VS_VDUSE_MAX_MAP;
    dev->wake_fd = -1;
    for (unsigned i = 0; i < VS_GUEST_MEM_MAX_REGIONS; i++)
        dev->mem.r[i].fd = -1;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_vduse_queue *q = &dev->q[i];

        q->index = i;
        q->kickfd = q->irqfd = -1;
        vs_eventfd_signal_init(&q->irq);
        snprintf(q->name, sizeof(q->name), "%s %s", name, i == 0 ? "txq0" : "rxq0");
    }
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_vduse_queue *q = &dev->q[i];
        char why[96];
        int dup_fd, rc;

        q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        q->irqfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->kickfd < 0 || q->irqfd < 0 || (dup_fd = fcntl(q->irqfd, F_DUPFD_CLOEXEC, 0)) < 0) {
            rc = -errno;
            vs_vduse_dev_fini(dev);
            return rc;
        }
        if ((rc = vs_eventfd_signal_open(&q->irq, dup_fd, why, sizeof(why))) < 0) {
            vs_vduse_dev_fini(dev);
            return rc;
        }
    }
    dev->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (dev->wake_fd < 0) {
        int rc = -errno;
        vs_vduse_dev_fini(dev);
        return rc;
    }
    return 0;
}

void vs_vduse_dev_reset(struct vs_vduse_dev *dev)
{
    vs_vduse_queues_pause(dev);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_virtq_stats stats = dev->q[i].vq.stats; /* counters live with the port */

        memset(&dev->q[i].vq, 0, sizeof(dev->q[i].vq));
        dev->q[i].vq.stats = stats;
        dev->q[i].vq.kickfd = -1;
        memset(&dev->q[i].info, 0, sizeof(dev->q[i].info));
    }
    vs_vduse_iotlb_unmap_all(dev);
    dev->features = 0;
    dev->status = 0;
}

void vs_vduse_dev_fini(struct vs_vduse_dev *dev)
{
    vs_vduse_dev_reset(dev);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        close_fd(&dev->q[i].kickfd);
        close_fd(&dev->q[i].irqfd);
        vs_eventfd_signal_close(&dev->q[i].irq);
    }
    close_fd(&dev->wake_fd);
}

bool vs_vduse_link_up(const struct vs_vduse_dev *dev)
{
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++)
        if (vs_vduse_gate_get(&dev->q[i]) != VS_VDUSE_GATE_OPEN)
            return false;
    return true;
}

static int dev_ioctl(struct vs_vduse_dev *dev, unsigned long req, void *arg, const char *what)
{
    if (dev->sys->ioctl(dev->fd, req, arg) < 0) {
        int rc = -errno;
        vs_vduse_refuse(dev, VS_VDUSE_ERR_KERNEL, "%s: %s", what, strerror(errno));
        return rc;
    }
    return 0;
}

/* ---- requests --------------------------------------------------------------- */

static int get_vq_state(struct vs_vduse_dev *dev, const struct vduse_dev_request *req,
                        struct vduse_dev_response *resp)
{
    uint32_t i = req->vq_state.index;
    const struct vs_virtq *vq;

    if (i >= VS_VDUSE_N_VQ) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_INDEX, "GET_VQ_STATE: virtqueue %u of %u", i,
                        VS_VDUSE_N_VQ);
        return -EINVAL;
    }
    vq = &dev->q[i].vq;
    resp->vq_state.index = i;
    /* A started queue's indices belong to its poller; the driver asks for them when it
     * has stopped using the queue (suspend, vhost-vdpa GET_VRING_BASE), so a racy read
     * returns the value it will find anyway. */
    if (vq->packed) {
        uint16_t idx = VS_READ_ONCE(vq->last_avail_idx);
        bool wrap = VS_READ_ONCE(vq->avail_wrap);

        resp->vq_state.packed.last_avail_idx = idx;
        resp->vq_state.packed.last_avail_counter = wrap;
        resp->vq_state.packed.last_used_idx = idx;
        resp->vq_state.packed.last_used_counter = wrap;
    } else {
        resp->vq_state.split.avail_index = VS_READ_ONCE(vq->last_avail_idx);
    }
    return 0;
}

/* DRIVER_OK: the driver has set up the rings. Map what the IOTLB holds, then start
 * every ready queue. */
static int driver_ok(struct vs_vduse_dev *dev)
{
    char why[160];
    int rc;

    if ((rc = vs_vduse_iotlb_refresh(dev)) < 0)
        return rc;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_vduse_queue *q = &dev->q[i];
        struct vduse_vq_eventfd kick = {.index = i, .fd = q->kickfd};
        uint16_t base;

        memset(&q->info, 0, sizeof(q->info));
        q->info.index = i;
        if ((rc = dev_ioctl(dev, VDUSE_VQ_GET_INFO, &q->info, "VDUSE_VQ_GET_INFO")) < 0)
            return rc;
        if (!q->info.ready)
            continue;
        if ((rc = dev_ioctl(dev, VDUSE_VQ_SETUP_KICKFD, &kick, "VDUSE_VQ_SETUP_KICKFD")) < 0)
            return rc;
        base = (dev->features & BIT(VIRTIO_F_RING_PACKED))
                   ? (uint16_t)((q->info.packed.last_avail_idx & 0x7fff) |
                                (q->info.packed.last_avail_counter ? 0x8000 : 0))
                   : q->info.split.avail_index;
        if ((rc = vs_vduse_queue_start(dev, i, base, why, sizeof(why))) < 0) {
            vs_vduse_refuse(dev, VS_VDUSE_ERR_RING, "%s: %s", q->name, why);
            return rc;
        }
    }
    return 0;
}

static int features_ok(struct vs_vduse_dev *dev)
{
    uint64_t f = 0;
    int rc;

    if ((rc = dev_ioctl(dev, VDUSE_DEV_GET_FEATURES, &f, "VDUSE_DEV_GET_FEATURES")) < 0)
        return rc;
    if (f & ~dev->offered) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_FEATURES,
                        "the driver accepted features 0x%llx that were not offered (0x%llx)",
                        (unsigned long long)f, (unsigned long long)dev->offered);
        return -EINVAL;
    }
    if (!(f & BIT(VIRTIO_F_VERSION_1)) || !(f & BIT(VIRTIO_F_ACCESS_PLATFORM))) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_FEATURES,
                        "the driver did not accept VERSION_1 and ACCESS_PLATFORM (0x%llx)",
                        (unsigned long long)f);
        return -EINVAL;
    }
    dev->features = f;
    return 0;
}

static int set_status(struct vs_vduse_dev *dev, const struct vduse_dev_request *req,
                      struct vduse_dev_response *resp)
{
    uint8_t s = req->s.status, old = dev->status;
    int rc = 0;

    if (s == 0) {
        /* Reset: the driver is taking the device down or starting over. */
        vs_vduse_dev_reset(dev);
        return 0;
    }
    if ((s & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK))
        rc = features_ok(dev);
    if (!rc && (s & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
        if (!(dev->features & BIT(VIRTIO_F_VERSION_1)) && (rc = features_ok(dev)) < 0)
            return rc;
        if ((rc = driver_ok(dev)) < 0)
            vs_vduse_queues_pause(dev); /* all or nothing: the driver sees a failed start */
    }
    if (rc < 0)
        return rc;
    dev->status = s;
    return 0;
}

static int update_iotlb(struct vs_vduse_dev *dev, const struct vduse_dev_request *req,
                        struct vduse_dev_response *resp)
{
    uint64_t start = req->iova.start, last = req->iova.last;
    unsigned open;
    char why[160];

    if (start > last) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_RANGE, "UPDATE_IOTLB: range 0x%llx..0x%llx",
                        (unsigned long long)start, (unsigned long long)last);
        return -EINVAL;
    }
    /* Pollers may be reading any buffer in the range: close every gate and wait for
     * them before the memory goes, as a vhost-user ring change does. */
    open = vs_vduse_queues_pause(dev);
    dev->unmaps += vs_vduse_iotlb_invalidate(dev, start, last);
    /* The range may have been replaced (a remapped ring); whatever the kernel holds
     * now is mapped again before the queues restart. */
    if (open)
        vs_vduse_iotlb_refresh(dev);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        if (!(open & (1u << i)))
            continue;
        struct vs_vduse_queue *q = &dev->q[i];
        /* A queue whose ring went away stays stopped until the next DRIVER_OK: the
         * driver frees rings only on the way to a reset. */
        if (vs_vduse_queue_start(dev, i, vs_virtq_stop(&q->vq), why, sizeof(why)) < 0)
            vs_debug("port %s: %s stays stopped after UPDATE_IOTLB: %s", dev->name, q->name, why);
    }
    return 0;
}

static const struct vs_vduse_req_type {
    const char *name;
    int (*handle)(struct vs_vduse_dev *dev, const struct vduse_dev_request *req,
                  struct vduse_dev_response *resp);
} req_types[] = {
    [VDUSE_GET_VQ_STATE] = {"GET_VQ_STATE", get_vq_state},
    [VDUSE_SET_STATUS] = {"SET_STATUS", set_status},
    [VDUSE_UPDATE_IOTLB] = {"UPDATE_IOTLB", update_iotlb},
};

int vs_vduse_handle_request(struct vs_vduse_dev *dev, const void *buf, size_t len,
                            struct vduse_dev_response *resp)
{
    struct vduse_dev_request req;

    memset(resp, 0, sizeof(*resp));
    if (len < offsetof(struct vduse_dev_request, reserved)) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_SIZE, "a request of %zu bytes", len);
        return 0;
    }
    memset(&req, 0, sizeof(req));
    memcpy(&req, buf, VS_MIN(len, sizeof(req)));
    resp->request_id = req.request_id;
    resp->result = VDUSE_REQ_RESULT_FAILED;
    if (len != sizeof(req)) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_SIZE, "a request of %zu bytes (expected %zu)", len,
                        sizeof(req));
        return 1;
    }
    if (req.type >= VS_ARRAY_SIZE(req_types) || !req_types[req.type].handle) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_TYPE, "unknown request type %u", req.type);
        return 1;
    }
    dev->requests[req.type]++;
    vs_debug("port %s: VDUSE %s", dev->name, req_types[req.type].name);
    if (req_types[req.type].handle(dev, &req, resp) == 0)
        resp->result = VDUSE_REQ_RESULT_OK;
    return 1;
}

const char *vs_vduse_request_name(uint32_t type)
{
    return type < VS_ARRAY_SIZE(req_types) && req_types[type].name ? req_types[type].name
                                                                   : "unknown";
}

unsigned vs_vduse_recover(struct vs_vduse_dev *dev)
{
    unsigned broken = 0, restarted = 0, open;
    char why[160];

    if (!(dev->status & VIRTIO_CONFIG_S_DRIVER_OK))
        return 0;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++)
        if (vs_vduse_gate_get(&dev->q[i]) == VS_VDUSE_GATE_OPEN &&
            VS_READ_ONCE(dev->q[i].vq.broken) &&
            (dev->q[i].vq.stats.err[VS_VQ_ERR_DESC_ADDR] ||
             dev->q[i].vq.stats.err[VS_VQ_ERR_INDIRECT]))
            broken |= 1u << i;
    if (!broken)
        return 0;
    dev->iotlb_misses++;
    open = vs_vduse_queues_pause(dev);
    /* Nothing new in the IOTLB: the driver really used an address it never mapped;
     * the queue stays broken (the ring code counted and logged it). */
    bool more = vs_vduse_iotlb_refresh(dev) > 0;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_vduse_queue *q = &dev->q[i];
        bool was_broken = broken & (1u << i);

        if (!(open & (1u << i)) || (was_broken && !more))
            continue;
        /* A broken queue consumed nothing of the chain it failed on: it starts again
         * at that chain. */
        if (vs_vduse_queue_start(dev, i, vs_virtq_stop(&q->vq), why, sizeof(why)) < 0)
            vs_vduse_refuse(dev, VS_VDUSE_ERR_RING, "%s: %s", q->name, why);
        else if (was_broken)
            restarted++;
    }
    return restarted;
}
