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

#include "ports/virtio/net_hdr.h"
#include "vswitch/compiler.h"
#include "vswitch/log.h"

#define BIT(b) (1ull << (b))

static int kernel_ioctl(int fd, unsigned long req, void *arg) { return ioctl(fd, req, arg); }

const struct vs_vduse_sys vs_vduse_sys_kernel = {.ioctl = kernel_ioctl};

uint64_t vs_vduse_features_offered(void)
{
    /* The checksum and segmentation offloads as on vhost-user: the kernel (6.10 on,
     * vduse_dev.c features_is_valid) checks a virtio-net device's features against a
     * deny list, not an allow list: it requires VERSION_1 and ACCESS_PLATFORM and
     * refuses CTRL_VQ only, so all of them pass. */
    return VS_VNET_OFFLOAD_FEATURES | BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM) | BIT(VIRTIO_F_RING_PACKED) |
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

/* Ring addresses are IOVAs, the addresses descriptors carry too. */
static void *iova_ring_map(const struct vs_guest_mem *mem, uint64_t iova, uint64_t len)
{
    return vs_guest_mem_gpa_range(mem, iova, len);
}

/* A poller's interrupt for the driver: VDUSE injects it into the vDPA device (the
 * kernel defers the delivery; the ioctl does not wait for the driver). */
static int vduse_interrupt(struct vs_virtq *vq)
{
    struct vs_vnet_queue *nq = vs_vnet_queue_of(vq);
    struct vs_vduse_dev *dev = vs_container_of(nq->dev, struct vs_vduse_dev, net);
    uint32_t index = nq->index;

    return dev->sys->ioctl(dev->fd, VDUSE_VQ_INJECT_IRQ, &index) < 0 ? -errno : 0;
}

static const struct vs_vnet_ops vduse_vnet_ops = {
    .ring_map = iova_ring_map, .interrupt = vduse_interrupt, .late_mappings = true};

int vs_vduse_dev_init(struct vs_vduse_dev *dev, const char *name, const struct vs_vduse_sys *sys)
{
    int rc;

    memset(dev, 0, sizeof(*dev));
    dev->name = name;
    dev->fd = -1;
    dev->sys = sys;
    dev->offered = vs_vduse_features_offered();
    dev->max_map = VS_VDUSE_MAX_MAP;
    vs_vnet_dev_init(&dev->net, name, 1, &vduse_vnet_ops);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        dev->q[i].index = i;
        dev->q[i].kickfd = -1;
    }
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_vduse_queue *q = &dev->q[i];

        q->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->kickfd < 0) {
            rc = -errno;
            goto fail;
        }
    }
    dev->net.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (dev->net.wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    return 0;
fail:
    vs_vduse_dev_fini(dev);
    return rc;
}

void vs_vduse_dev_reset(struct vs_vduse_dev *dev)
{
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        vs_vnet_queue_reset(&dev->net, i);
        memset(&dev->q[i].info, 0, sizeof(dev->q[i].info));
    }
    vs_vduse_iotlb_unmap_all(dev);
    dev->features = dev->net.features = 0;
    vs_vnet_offloads_publish(&dev->net);
    dev->status = 0;
}

void vs_vduse_dev_fini(struct vs_vduse_dev *dev)
{
    vs_vduse_dev_reset(dev);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        close_fd(&dev->q[i].kickfd);
    }
    close_fd(&dev->net.wake_fd);
}

bool vs_vduse_link_up(const struct vs_vduse_dev *dev) { return vs_vnet_link_up(&dev->net); }

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
    vq = &dev->net.q[i].vq;
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
    char why[200];
    int rc;

    if ((rc = vs_vduse_iotlb_refresh(dev)) < 0)
        return rc;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        struct vs_vduse_queue *q = &dev->q[i];
        struct vs_vnet_queue *nq = &dev->net.q[i];
        struct vduse_vq_eventfd kick = {.index = i, .fd = q->kickfd};

        memset(&q->info, 0, sizeof(q->info));
        q->info.index = i;
        if ((rc = dev_ioctl(dev, VDUSE_VQ_GET_INFO, &q->info, "VDUSE_VQ_GET_INFO")) < 0)
            return rc;
        if (!q->info.ready)
            continue;
        if (q->info.num == 0 || q->info.num > VS_VDUSE_VQ_SIZE) {
            vs_vduse_refuse(dev, VS_VDUSE_ERR_RING, "%s: size %u (we offered at most %u)", nq->name,
                            q->info.num, VS_VDUSE_VQ_SIZE);
            return -EINVAL;
        }
        if ((rc = dev_ioctl(dev, VDUSE_VQ_SETUP_KICKFD, &kick, "VDUSE_VQ_SETUP_KICKFD")) < 0)
            return rc;
        nq->num = q->info.num;
        nq->desc_addr = q->info.desc_addr;
        nq->avail_addr = q->info.driver_addr;
        nq->used_addr = q->info.device_addr;
        nq->addr_set = true;
        nq->base = (dev->features & BIT(VIRTIO_F_RING_PACKED))
                       ? (uint16_t)((q->info.packed.last_avail_idx & 0x7fff) |
                                    (q->info.packed.last_avail_counter ? 0x8000 : 0))
                       : q->info.split.avail_index;
        nq->kickfd = q->kickfd;
        nq->ready = nq->enabled = true;
    }
    dev->net.features = dev->features;
    vs_vnet_offloads_publish(&dev->net);
    if ((rc = vs_vnet_queues_resume(&dev->net, vs_vnet_all_queues(&dev->net), why, sizeof(why))) <
        0) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_RING, "%s", why);
        return rc;
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
        if ((rc = driver_ok(dev)) < 0) /* all or nothing: the driver sees a failed start */
            vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
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
    uint32_t running;

    if (start > last) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_RANGE, "UPDATE_IOTLB: range 0x%llx..0x%llx",
                        (unsigned long long)start, (unsigned long long)last);
        return -EINVAL;
    }
    /* Pollers may be reading any buffer in the range: stop every queue and wait for
     * them before the memory goes, as a vhost-user ring change does. */
    running = vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    dev->unmaps += vs_vduse_iotlb_invalidate(dev, start, last);
    /* The range may have been replaced (a remapped ring); whatever the kernel holds
     * now is mapped again before the queues restart. A queue whose ring went away
     * stays stopped until the next DRIVER_OK: the driver frees rings only on its way
     * to a reset. */
    if (running) {
        vs_vduse_iotlb_refresh(dev);
        vs_vnet_queues_resume_all(&dev->net);
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
    uint32_t broken = 0, running;
    unsigned restarted = 0;
    char why[200];

    if (!(dev->status & VIRTIO_CONFIG_S_DRIVER_OK))
        return 0;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        const struct vs_vnet_queue *q = &dev->net.q[i];

        if (vs_vnet_gate_get(q) != VS_VNET_GATE_STOPPED && VS_READ_ONCE(q->vq.broken) &&
            (q->vq.stats.err[VS_VQ_ERR_DESC_ADDR] || q->vq.stats.err[VS_VQ_ERR_INDIRECT]))
            broken |= 1u << i;
    }
    if (!broken)
        return 0;
    dev->iotlb_misses++;
    running = vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    /* Nothing new in the IOTLB: the driver really used an address it never mapped;
     * that queue stays stopped and broken (the ring code counted it). */
    if (vs_vduse_iotlb_refresh(dev) <= 0) {
        running &= ~broken;
        vs_vduse_refuse(dev, VS_VDUSE_ERR_RING,
                        "the driver used a buffer address outside every IOTLB entry; queue "
                        "mask 0x%x stopped until the device is reset",
                        (unsigned)broken);
    }
    /* A broken queue consumed nothing of the chain it failed on: it starts again at
     * that chain (pause saved its index). */
    if (vs_vnet_queues_resume(&dev->net, running, why, sizeof(why)) < 0)
        vs_vduse_refuse(dev, VS_VDUSE_ERR_RING, "%s", why);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++)
        if ((broken & running & (1u << i)) &&
            vs_vnet_gate_get(&dev->net.q[i]) != VS_VNET_GATE_STOPPED)
            restarted++;
    return restarted;
}
