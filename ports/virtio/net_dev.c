/* Queue life cycle of the virtio-net device: pausing queues under a grace period,
 * translating ring addresses, starting a queue once the transport has given it
 * everything, and the link state that follows from the queues. Main thread only. */
#include "ports/virtio/net_dev.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/virtio/net_hdr.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/rcu.h"

void vs_vnet_queue_reset(struct vs_vnet_dev *dev, unsigned i)
{
    struct vs_vnet_queue *q = &dev->q[i];
    struct vs_virtq_stats stats = q->vq.stats; /* counters live as long as the port */
    uint64_t starts = q->starts, start_failures = q->start_failures;

    memset(q, 0, sizeof(*q));
    q->vq.stats = stats;
    q->starts = starts;
    q->start_failures = start_failures;
    q->vq.kickfd = -1;
    q->kickfd = -1;
    q->gate = VS_VNET_GATE_STOPPED;
    q->dev = dev;
    q->index = i;
    snprintf(q->name, sizeof(q->name), "%s %s%u", dev->name, (i & 1) ? "rxq" : "txq", i / 2);
    q->vq.name = q->name;
}

void vs_vnet_dev_init(struct vs_vnet_dev *dev, const char *name, unsigned n_qp,
                      const struct vs_vnet_ops *ops)
{
    memset(dev, 0, sizeof(*dev));
    dev->name = name;
    dev->ops = ops;
    dev->n_qp = n_qp < 1 ? 1 : n_qp > VS_VNET_MAX_QUEUE_PAIRS ? VS_VNET_MAX_QUEUE_PAIRS : n_qp;
    dev->wake_fd = -1;
    for (unsigned i = 0; i < VS_GUEST_MEM_MAX_REGIONS; i++)
        dev->mem.r[i].fd = -1;
    for (unsigned i = 0; i < VS_VNET_MAX_QUEUES; i++)
        vs_vnet_queue_reset(dev, i);
}

uint32_t vs_vnet_queues_pause(struct vs_vnet_dev *dev, uint32_t mask)
{
    uint32_t running = 0;
    bool wait = false;

    for (unsigned i = 0; i < VS_VNET_MAX_QUEUES; i++) {
        struct vs_vnet_queue *q = &dev->q[i];

        if (!(mask & (1u << i)))
            continue;
        if (vs_vnet_gate_get(q) != VS_VNET_GATE_STOPPED) {
            vs_vnet_gate_set(q, VS_VNET_GATE_STOPPED);
            wait = true;
        }
        if (q->vq.started)
            running |= 1u << i;
    }
    if (wait)
        vs_rcu_synchronize();
    for (unsigned i = 0; i < VS_VNET_MAX_QUEUES; i++) {
        struct vs_vnet_queue *q = &dev->q[i];

        if (running & (1u << i)) {
            uint16_t idx = vs_virtq_stop(&q->vq);

            q->vq.started = false;
            /* Split rings: the 16-bit avail index. Packed: the index with the wrap
             * counter in bit 15, which is what vhost-user's SET/GET_VRING_BASE and
             * VDUSE's GET_VQ_STATE carry too. */
            q->base = idx;
        }
    }
    return running;
}

/* Bytes of each ring area (split: avail and used carry an event field with EVENT_IDX). */
static void ring_sizes(uint32_t num, bool packed, bool event_idx, uint64_t *desc,
                       uint64_t *avail, uint64_t *used)
{
    uint64_t n = num, ev = event_idx ? 2 : 0;

    *desc = 16 * n;
    if (packed) {
        *avail = 4; /* driver event suppression */
        *used = 4;  /* device event suppression */
    } else {
        *avail = 4 + 2 * n + ev;
        *used = 4 + 8 * n + ev;
    }
}

int vs_vnet_ring_translate(const struct vs_vnet_dev *dev, uint64_t desc, uint64_t avail,
                           uint64_t used, uint32_t num, bool packed, bool event_idx,
                           void **desc_p, void **avail_p, void **used_p, char *why,
                           unsigned why_len)
{
    uint64_t dsz, asz, usz;

    ring_sizes(num, packed, event_idx, &dsz, &asz, &usz);
    if ((desc & 15) || (avail & (packed ? 3 : 1)) || (used & 3)) {
        snprintf(why, why_len, "misaligned ring address (desc 0x%llx avail 0x%llx used 0x%llx)",
                 (unsigned long long)desc, (unsigned long long)avail,
                 (unsigned long long)used);
        return -EINVAL;
    }
    *desc_p = dev->ops->ring_map(&dev->mem, desc, dsz);
    *avail_p = dev->ops->ring_map(&dev->mem, avail, asz);
    *used_p = dev->ops->ring_map(&dev->mem, used, usz);
    if (!*desc_p || !*avail_p || !*used_p) {
        snprintf(why, why_len,
                 "ring of %u entries not inside guest memory (desc 0x%llx%s avail 0x%llx%s "
                 "used 0x%llx%s)",
                 num, (unsigned long long)desc, *desc_p ? "" : " bad",
                 (unsigned long long)avail, *avail_p ? "" : " bad", (unsigned long long)used,
                 *used_p ? "" : " bad");
        return -EFAULT;
    }
    return 0;
}

static bool queue_complete(const struct vs_vnet_dev *dev, const struct vs_vnet_queue *q)
{
    return q->num && q->addr_set && q->ready && dev->mem.n > 0;
}

/* Starts queue i when everything it needs has arrived, then opens its gate. */
static int queue_try_start(struct vs_vnet_dev *dev, unsigned i, char *why, unsigned why_len)
{
    struct vs_vnet_queue *q = &dev->q[i];
    struct vs_virtq *vq = &q->vq;
    bool packed = vs_vnet_has_feature(dev, VIRTIO_F_RING_PACKED);
    bool event_idx = vs_vnet_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
    void *desc, *avail, *used;
    int rc;

    if (!vq->started) {
        if (!queue_complete(dev, q))
            return 0;
        if (!packed && (q->num & (q->num - 1))) {
            snprintf(why, why_len, "split ring size %u is not a power of two", q->num);
            q->start_failures++;
            return -EINVAL;
        }
        if ((rc = vs_vnet_ring_translate(dev, q->desc_addr, q->avail_addr, q->used_addr, q->num,
                                         packed, event_idx, &desc, &avail, &used, why,
                                         why_len)) < 0) {
            vq->stats.err[VS_VQ_ERR_RING_ADDR]++;
            q->start_failures++;
            return rc;
        }
        vq->size = (uint16_t)q->num;
        vq->packed = packed;
        vq->event_idx = event_idx;
        vq->indirect = vs_vnet_has_feature(dev, VIRTIO_RING_F_INDIRECT_DESC);
        vq->mrg_rxbuf = vs_vnet_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
        vq->in_order = vs_vnet_has_feature(dev, VIRTIO_F_IN_ORDER);
        vq->tx_ol = vs_vnet_host_offloads(dev->features);
        vq->guest_csum = vs_vnet_has_feature(dev, VIRTIO_NET_F_GUEST_CSUM);
        vq->max_frame = dev->mtu ? (uint32_t)dev->mtu + VS_ETH_OVERHEAD : 0;
        vq->hdr_len = (vs_vnet_has_feature(dev, VIRTIO_F_VERSION_1) ||
                       vs_vnet_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF))
                          ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
                          : sizeof(struct virtio_net_hdr);
        vq->desc = desc;
        vq->avail = avail;
        vq->used = used;
        vq->used_gpa = q->log_addr;
        vq->mem = &dev->mem;
        vq->log = dev->log;
        vq->call = q->call;
        vq->interrupt = dev->ops->interrupt ? dev->ops->interrupt
                        : q->call           ? vs_virtq_signal_call
                                            : NULL;
        vq->kickfd = q->kickfd;
        vq->late_mappings = dev->ops->late_mappings;
        vq->name = q->name;
        /* Enabling is our gate's business: a disabled queue is still drained. */
        vq->enabled = true;
        if ((rc = vs_virtq_start(vq, (uint16_t)q->base)) < 0) {
            snprintf(why, why_len, "ring failed to start: %s", strerror(-rc));
            q->start_failures++;
            return rc;
        }
        vq->started = true;
        q->starts++;
        /* We poll: ask the driver not to kick us (saves the guest a VM exit per burst). */
        vs_virtq_set_kick_suppression(vq, true);
    }
    vs_vnet_gate_set(q, q->enabled ? VS_VNET_GATE_OPEN : VS_VNET_GATE_DISABLED);
    vs_eventfd_wake(dev->wake_fd);
    return 0;
}

/* (Re)starts every queue in mask that is ready and complete: the ones
 * vs_vnet_queues_pause() stopped, and ones that were waiting for something (memory,
 * an address). A queue that cannot start stays stopped; the first reason is
 * returned. */
int vs_vnet_queues_resume(struct vs_vnet_dev *dev, uint32_t mask, char *why, unsigned why_len)
{
    int first = 0;

    for (unsigned i = 0; i < VS_VNET_MAX_QUEUES; i++) {
        if ((mask & (1u << i)) && dev->q[i].ready) {
            char w[160];
            int rc = queue_try_start(dev, i, w, sizeof(w));

            if (rc < 0 && !first) {
                first = rc;
                snprintf(why, why_len, "vring %u: %s", i, w);
            }
        }
    }
    return first;
}

/* After a device-wide change (features, memory, log) the change itself succeeded;
 * a queue that cannot run with the new state waits, stopped, for the next change
 * (QEMU removes and re-adds memory regions one message at a time). */
void vs_vnet_queues_resume_all(struct vs_vnet_dev *dev)
{
    char why[200];

    if (vs_vnet_queues_resume(dev, vs_vnet_all_queues(dev), why, sizeof(why)) < 0)
        vs_debug("port %s: %s; it stays stopped for now", dev->name, why);
}

void vs_vnet_queue_enable(struct vs_vnet_dev *dev, unsigned i, bool enabled)
{
    struct vs_vnet_queue *q = &dev->q[i];

    q->enabled = enabled;
    if (!q->vq.started)
        return;
    if (!enabled && vs_vnet_gate_get(q) == VS_VNET_GATE_OPEN) {
        /* Once the driver hears back, nothing more may land in this queue. */
        vs_vnet_gate_set(q, VS_VNET_GATE_DISABLED);
        vs_rcu_synchronize();
    } else if (enabled) {
        vs_vnet_gate_set(q, VS_VNET_GATE_OPEN);
    }
}

bool vs_vnet_link_up(const struct vs_vnet_dev *dev)
{
    for (unsigned p = 0; p < dev->n_qp; p++)
        if (vs_vnet_gate_get(&dev->q[2 * p]) == VS_VNET_GATE_OPEN &&
            vs_vnet_gate_get(&dev->q[2 * p + 1]) == VS_VNET_GATE_OPEN)
            return true;
    return false;
}

void vs_vnet_offloads_publish(struct vs_vnet_dev *dev)
{
    if (dev->tx_offloads)
        VS_WRITE_ONCE(*dev->tx_offloads, vs_vnet_guest_offloads(dev->features));
}

int vs_vnet_port_options(struct vs_vnet_dev *dev, struct vs_port *port, uint16_t mtu,
                         bool offloads, uint64_t *offered, const struct vs_port_args *args,
                         struct vs_port_err *err)
{
    bool large = port->pool && vs_pool_large(port->pool);

    if (mtu > VS_VNET_MTU_MAX_SMALL && !large) {
        int idx = -1;

        vs_port_args_get(args, "mtu", &idx);
        vs_port_err_set(err, idx,
                        "mtu: %u needs large buffers (memory.large_buffers is 0); without them "
                        "the largest is %u",
                        mtu, VS_VNET_MTU_MAX_SMALL);
        return -EINVAL;
    }
    if (!offloads) {
        *offered &= ~VS_VNET_OFFLOAD_FEATURES;
    } else if (!large) {
        *offered &= ~(VS_VNET_OFFLOAD_FEATURES & ~VS_VNET_OFFLOAD_FEATURES_SMALL);
        vs_info("port %s: no large buffers (memory.large_buffers is 0): checksum offloads "
                "only, the driver segments TCP itself",
                port->name);
    }
    port->mtu = mtu;
    /* The guest's RX copies every frame out of the packet, a lent chain piece by
     * piece: guest to guest stays one copy for TSO frames too. */
    port->tx_chains = true;
    VS_WRITE_ONCE(port->tx_offloads, 0);
    dev->mtu = mtu;
    dev->tx_offloads = &port->tx_offloads;
    return 0;
}
