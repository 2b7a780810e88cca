/* Ring life cycle for the vhost-user device: pausing rings under a grace period,
 * translating ring addresses, starting a ring once the front-end has given it
 * everything, and the link state that follows from the rings. Main thread only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/vhost_user/dev.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/rcu.h"

/* Closes the gates of the rings in mask; after the grace period no poller is inside
 * them, and each running ring is stopped with its index saved in vr->base (its
 * kicked flag stays: vs_vhu_rings_resume() starts it again from there). Returns the rings
 * that were running. */
uint32_t vs_vhu_rings_pause(struct vs_vhu_dev *dev, uint32_t mask)
{
    uint32_t running = 0;
    bool wait = false;

    for (unsigned i = 0; i < VS_VHU_MAX_VRINGS; i++) {
        struct vs_vhu_vring *vr = &dev->vr[i];

        if (!(mask & (1u << i)))
            continue;
        if (vs_vhu_gate_get(vr) != VS_VHU_GATE_STOPPED) {
            vs_vhu_gate_set(vr, VS_VHU_GATE_STOPPED);
            wait = true;
        }
        if (vr->vq.started)
            running |= 1u << i;
    }
    if (wait)
        vs_rcu_synchronize();
    for (unsigned i = 0; i < VS_VHU_MAX_VRINGS; i++) {
        struct vs_vhu_vring *vr = &dev->vr[i];

        if (running & (1u << i)) {
            uint16_t idx = vs_virtq_stop(&vr->vq);

            vr->vq.started = false;
            /* Split rings: the 16-bit avail index. Packed: the index with the wrap
             * counter in bit 15, which is what SET/GET_VRING_BASE carry too. */
            vr->base = idx;
        }
    }
    return running;
}

/* Bytes of each ring area (split: avail and used carry an event field with EVENT_IDX). */
static void ring_sizes(const struct vs_vhu_dev *dev, const struct vs_vhu_vring *vr,
                       uint64_t *desc, uint64_t *avail, uint64_t *used)
{
    uint64_t n = vr->num, ev = vs_vhu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX) ? 2 : 0;

    *desc = 16 * n;
    if (vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED)) {
        *avail = 4; /* driver event suppression */
        *used = 4;  /* device event suppression */
    } else {
        *avail = 4 + 2 * n + ev;
        *used = 4 + 8 * n + ev;
    }
}

/* Translates the ring addresses through the memory table. 0 or -EFAULT/-EINVAL. */
int vs_vhu_ring_translate(const struct vs_vhu_dev *dev, const struct vs_vhu_vring *vr,
                          const struct vhost_vring_addr *a, void **desc, void **avail,
                          void **used, char *why, unsigned why_len)
{
    bool packed = vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED);
    uint64_t dsz, asz, usz;

    ring_sizes(dev, vr, &dsz, &asz, &usz);
    if ((a->desc_user_addr & 15) || (a->avail_user_addr & (packed ? 3 : 1)) ||
        (a->used_user_addr & 3)) {
        snprintf(why, why_len, "misaligned ring address (desc 0x%llx avail 0x%llx used 0x%llx)",
                 (unsigned long long)a->desc_user_addr, (unsigned long long)a->avail_user_addr,
                 (unsigned long long)a->used_user_addr);
        return -EINVAL;
    }
    *desc = vs_guest_mem_uva_range(&dev->mem, a->desc_user_addr, dsz);
    *avail = vs_guest_mem_uva_range(&dev->mem, a->avail_user_addr, asz);
    *used = vs_guest_mem_uva_range(&dev->mem, a->used_user_addr, usz);
    if (!*desc || !*avail || !*used) {
        snprintf(why, why_len,
                 "ring of %u entries not inside guest memory (desc 0x%llx%s avail 0x%llx%s "
                 "used 0x%llx%s)",
                 vr->num, (unsigned long long)a->desc_user_addr, *desc ? "" : " bad",
                 (unsigned long long)a->avail_user_addr, *avail ? "" : " bad",
                 (unsigned long long)a->used_user_addr, *used ? "" : " bad");
        return -EFAULT;
    }
    return 0;
}

static bool ring_complete(const struct vs_vhu_dev *dev, const struct vs_vhu_vring *vr)
{
    return vr->num && vr->addr_set && vr->kicked && dev->mem.n > 0;
}

/* Starts ring i when everything it needs has arrived, then opens its gate. */
static int ring_try_start(struct vs_vhu_dev *dev, unsigned i, char *why, unsigned why_len)
{
    struct vs_vhu_vring *vr = &dev->vr[i];
    struct vs_virtq *vq = &vr->vq;
    bool packed = vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED);
    void *desc, *avail, *used;
    int rc;

    if (!vq->started) {
        if (!ring_complete(dev, vr))
            return 0;
        if (!packed && (vr->num & (vr->num - 1))) {
            snprintf(why, why_len, "split ring size %u is not a power of two", vr->num);
            vr->start_failures++;
            return -EINVAL;
        }
        if ((rc = vs_vhu_ring_translate(dev, vr, &vr->addr, &desc, &avail, &used, why, why_len)) < 0) {
            vq->stats.err[VS_VQ_ERR_RING_ADDR]++;
            vr->start_failures++;
            return rc;
        }
        vq->size = (uint16_t)vr->num;
        vq->packed = packed;
        vq->event_idx = vs_vhu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
        vq->indirect = vs_vhu_has_feature(dev, VIRTIO_RING_F_INDIRECT_DESC);
        vq->mrg_rxbuf = vs_vhu_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
        vq->in_order = vs_vhu_has_feature(dev, VIRTIO_F_IN_ORDER);
        vq->hdr_len = (vs_vhu_has_feature(dev, VIRTIO_F_VERSION_1) ||
                       vs_vhu_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF))
                          ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
                          : sizeof(struct virtio_net_hdr);
        vq->desc = desc;
        vq->avail = avail;
        vq->used = used;
        vq->used_gpa = vr->addr.log_guest_addr;
        vq->mem = &dev->mem;
        vq->log = (vs_vhu_has_feature(dev, VHOST_F_LOG_ALL) && dev->log.bitmap) ? &dev->log : NULL;
        vq->call = vr->call.fd >= 0 ? &vr->call : NULL;
        vq->kickfd = vr->kickfd;
        vq->name = vr->name;
        /* Enabling is our gate's business: a disabled ring is still drained. */
        vq->enabled = true;
        if ((rc = vs_virtq_start(vq, (uint16_t)vr->base)) < 0) {
            snprintf(why, why_len, "ring failed to start: %s", strerror(-rc));
            vr->start_failures++;
            return rc;
        }
        vq->started = true;
        vr->starts++;
        /* We poll: ask the driver not to kick us (saves the guest a VM exit per burst). */
        vs_virtq_set_kick_suppression(vq, true);
    }
    vs_vhu_gate_set(vr, vr->enabled ? VS_VHU_GATE_OPEN : VS_VHU_GATE_DISABLED);
    vs_eventfd_wake(dev->wake_fd);
    return 0;
}

/* (Re)starts every ring in mask that the front-end has kicked and that is complete:
 * the ones vs_vhu_rings_pause() stopped, and ones that were waiting for something (memory,
 * an address). A ring that cannot start stays stopped; the first reason is returned. */
int vs_vhu_rings_resume(struct vs_vhu_dev *dev, uint32_t mask, char *why, unsigned why_len)
{
    int first = 0;

    for (unsigned i = 0; i < VS_VHU_MAX_VRINGS; i++) {
        if ((mask & (1u << i)) && dev->vr[i].kicked) {
            char w[160];
            int rc = ring_try_start(dev, i, w, sizeof(w));

            if (rc < 0 && !first) {
                first = rc;
                snprintf(why, why_len, "vring %u: %s", i, w);
            }
        }
    }
    return first;
}

/* After a device-wide change (features, memory, log) the message itself succeeded;
 * a ring that cannot run with the new state waits, stopped, for the next change
 * (QEMU removes and re-adds memory regions one message at a time). */
void vs_vhu_rings_resume_all(struct vs_vhu_dev *dev)
{
    char why[200];

    if (vs_vhu_rings_resume(dev, (uint32_t)((1ull << (2 * dev->n_qp)) - 1), why, sizeof(why)) < 0)
        vs_debug("port %s: %s; it stays stopped for now", dev->name, why);
}

uint32_t vs_vhu_all_rings(const struct vs_vhu_dev *dev)
{
    return (uint32_t)((1ull << (2 * dev->n_qp)) - 1);
}

bool vs_vhu_dev_link_up(const struct vs_vhu_dev *dev)
{
    for (unsigned q = 0; q < dev->n_qp; q++)
        if (vs_vhu_gate_get(&dev->vr[2 * q]) == VS_VHU_GATE_OPEN &&
            vs_vhu_gate_get(&dev->vr[2 * q + 1]) == VS_VHU_GATE_OPEN)
            return true;
    return false;
}

