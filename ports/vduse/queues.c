/* Starting and stopping the device's virtqueues around the pollers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/vduse/dev.h"
#include "vswitch/rcu.h"

static void gate_set(struct vs_vduse_queue *q, int g)
{
    __atomic_store_n(&q->gate, g, __ATOMIC_RELEASE);
}

unsigned vs_vduse_queues_pause(struct vs_vduse_dev *dev)
{
    unsigned open = 0;

    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        if (vs_vduse_gate_get(&dev->q[i]) != VS_VDUSE_GATE_STOPPED) {
            gate_set(&dev->q[i], VS_VDUSE_GATE_STOPPED);
            open |= 1u << i;
        }
    }
    if (!open)
        return 0;
    /* After this no poller is inside a queue we closed, nor holds a pointer into the
     * IOTLB through one. */
    vs_rcu_synchronize();
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++)
        if (open & (1u << i))
            vs_virtq_stop(&dev->q[i].vq);
    return open;
}

/* Bytes of each ring area for a queue of size n (split: with the event idx words). */
static void ring_sizes(bool packed, uint32_t n, uint64_t sz[3])
{
    if (packed) {
        sz[0] = 16ull * n;
        sz[1] = sz[2] = 4;
        return;
    }
    sz[0] = 16ull * n;
    sz[1] = 4 + 2ull * n + 2;
    sz[2] = 4 + 8ull * n + 2;
}

int vs_vduse_queue_start(struct vs_vduse_dev *dev, unsigned i, uint16_t base, char *why,
                         size_t why_len)
{
    struct vs_vduse_queue *q = &dev->q[i];
    struct vs_virtq *vq = &q->vq;
    uint64_t f = dev->features, sz[3];
    const uint64_t iova[3] = {q->info.desc_addr, q->info.driver_addr, q->info.device_addr};
    void *hva[3];
    bool packed = f & (1ull << VIRTIO_F_RING_PACKED);

    if (q->info.num == 0 || q->info.num > VS_VDUSE_VQ_SIZE) {
        snprintf(why, why_len, "queue size %u (we offered at most %u)", q->info.num,
                 VS_VDUSE_VQ_SIZE);
        return -EINVAL;
    }
    ring_sizes(packed, q->info.num, sz);
    for (unsigned k = 0; k < 3; k++) {
        hva[k] = vs_guest_mem_gpa_range(&dev->mem, iova[k], sz[k]);
        if (!hva[k]) {
            snprintf(why, why_len, "ring area %u at IOVA 0x%llx+%llu is not in the IOTLB", k,
                     (unsigned long long)iova[k], (unsigned long long)sz[k]);
            return -EFAULT;
        }
    }
    vq->size = (uint16_t)q->info.num;
    vq->packed = packed;
    vq->event_idx = f & (1ull << VIRTIO_RING_F_EVENT_IDX);
    vq->indirect = f & (1ull << VIRTIO_RING_F_INDIRECT_DESC);
    vq->mrg_rxbuf = f & (1ull << VIRTIO_NET_F_MRG_RXBUF);
    vq->in_order = f & (1ull << VIRTIO_F_IN_ORDER);
    vq->hdr_len = 12; /* VERSION_1 is required */
    vq->desc = hva[0];
    vq->avail = hva[1];
    vq->used = hva[2];
    vq->used_gpa = 0;
    vq->mem = &dev->mem;
    vq->log = NULL;
    vq->call = &q->irq;
    vq->kickfd = q->kickfd;
    vq->enabled = true;
    vq->name = q->name;
    if (vs_virtq_start(vq, base) < 0) {
        snprintf(why, why_len, "the ring code refused the ring (see the queue's errors)");
        return -EINVAL;
    }
    q->starts++;
    gate_set(q, VS_VDUSE_GATE_OPEN);
    vs_eventfd_wake(dev->wake_fd);
    return 0;
}
