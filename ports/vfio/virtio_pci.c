/* Modern virtio-net-pci driver over VFIO (virtio 1.x §4.1 and §5.1): finds the
 * common/notify/ISR/device configuration through PCI capabilities, negotiates
 * features, sets up split rings (ports/virtio/virtq_driver.c) and polls them. */
#include <errno.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/vfio/nic.h"
#include "ports/vfio/virtio_pci.h"
#include "ports/virtio/net_hdr.h"
#include "ports/virtio/virtq_driver.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/mem.h"

#define HDR_LEN VS_VNET_HDR_LEN /* VERSION_1 makes num_buffers present */
_Static_assert(sizeof(struct virtio_net_hdr_v1) == HDR_LEN, "virtio-net header layout");
#define F(bit) (1ull << (bit))
/* Receive buffers of the large pool, at most this many per queue: they are 64 KiB
 * each and the switch needs the rest for TSO segments and jumbo frames in flight. */
#define RX_LARGE_MAX 64
_Static_assert(VS_PKT_HEADROOM >= HDR_LEN, "the virtio-net header goes in the headroom");
#define MAX_QSIZE 256
#define TX_RECLAIM 32
/* Longest wait for room in a full TX queue, per burst. Long enough to ride out
 * the device's thread being descheduled on a busy host (QEMU's main loop, for
 * one); a device that sends nothing in that time is stalled. */
#define TX_WAIT_NS 50000000
#define MAX_PAIRS 4
/* Layout of the first page of the ring region: the control queue's buffers. */
#define OFF_CTRL_CMD 64  /* control command: class, command, data */
#define OFF_CTRL_ACK 128 /* control ack byte, written by the device */

int vs_virtio_pci_parse_caps(const uint8_t cfg[256], struct vs_virtio_caps *caps)
{
    uint16_t status = (uint16_t)(cfg[PCI_STATUS] | cfg[PCI_STATUS + 1] << 8);
    uint8_t pos;

    memset(caps, 0, sizeof(*caps));
    if (!(status & PCI_STATUS_CAP_LIST))
        return -ENODEV;
    pos = cfg[PCI_CAPABILITY_LIST] & ~3u;
    /* At most 48 capabilities fit in 192 bytes: more means a loop. */
    for (int n = 0; pos >= 0x40 && n < 48; n++, pos = cfg[pos + 1] & ~3u) {
        struct vs_virtio_cap *c = NULL;

        if (pos > 256 - 16 || cfg[pos] != PCI_CAP_ID_VNDR)
            continue;
        uint8_t len = cfg[pos + VIRTIO_PCI_CAP_LEN], type = cfg[pos + VIRTIO_PCI_CAP_CFG_TYPE];
        uint8_t bar = cfg[pos + VIRTIO_PCI_CAP_BAR];
        if (len < 16 || bar >= 6)
            continue;
        switch (type) {
        case VIRTIO_PCI_CAP_COMMON_CFG: c = &caps->common; break;
        case VIRTIO_PCI_CAP_NOTIFY_CFG: c = &caps->notify; break;
        case VIRTIO_PCI_CAP_ISR_CFG: c = &caps->isr; break;
        case VIRTIO_PCI_CAP_DEVICE_CFG: c = &caps->device; break;
        default: continue;
        }
        if (c->present)
            continue; /* §4.1.4: the first of each type is the preferred one */
        if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
            if (len < 20 || pos > 256 - 20)
                continue;
            memcpy(&caps->notify_off_multiplier, &cfg[pos + 16], 4);
        }
        c->present = true;
        c->bar = bar;
        memcpy(&c->offset, &cfg[pos + VIRTIO_PCI_CAP_OFFSET], 4);
        memcpy(&c->length, &cfg[pos + VIRTIO_PCI_CAP_LENGTH], 4);
    }
    return caps->common.present && caps->notify.present && caps->device.present ? 0 : -ENODEV;
}

uint64_t vs_virtio_net_offload_features(uint64_t offered)
{
    uint64_t f = offered & (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM));

    if (f & F(VIRTIO_NET_F_CSUM))
        f |= offered &
             (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6) | F(VS_VIRTIO_NET_F_HOST_USO));
    if (f & (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6)))
        f |= offered & F(VIRTIO_NET_F_HOST_ECN);
    return f;
}

struct vq_stats {
    uint64_t packets, bytes, errors, no_mbufs, full, kicks, stalls;
    uint64_t offloaded; /* RX: frames with NEEDS_CSUM/DATA_VALID; TX: frames with requests */
};

struct vqueue {
    struct vs_virtq_drv vq;
    volatile uint16_t *notify;
    uint16_t index;
    struct vq_stats st;
    bool stalled; /* TX: the device sent nothing for TX_WAIT_NS; no waiting until it does */
    /* No-IOMMU mode only: RX buffers that cannot be DMA'ed in one piece, kept out
     * of the pool (which would hand them straight back) until fini. */
    uint16_t n_unusable;
    struct vs_pkt *unusable[16];
    int irq_fd;              /* RX: eventfd of the queue's MSI-X vector, or -1 */
    struct vs_pool *rx_pool; /* RX: where buffers come from (the large pool for jumbo frames) */
    uint16_t rx_max;         /* RX: most buffers posted at once */
    uint64_t interrupts;
};

struct vnet {
    volatile uint8_t *common, *devcfg, *isr, *notify_base;
    uint32_t notify_mult, notify_len;
    uint64_t features;
    uint8_t tx_offloads; /* VS_OL_* the device takes (from features) */
    uint8_t rx_allowed;  /* GUEST_CSUM: received headers may carry NEEDS_CSUM, DATA_VALID */
    struct vs_mem_region mem;
    uint16_t pairs; /* queue pairs in use */
    struct vqueue rxq[MAX_PAIRS], txq[MAX_PAIRS];
    struct vqueue ctrl; /* control queue, when CTRL_VQ was negotiated */
    bool irqs;          /* MSI-X vector k signals rxq[k].irq_fd */
    bool broken_logged;
};

static inline uint8_t c8(struct vnet *v, unsigned off)
{
    return *(volatile uint8_t *)(v->common + off);
}
static inline uint16_t c16(struct vnet *v, unsigned off)
{
    return *(volatile uint16_t *)(v->common + off);
}
static inline uint32_t c32(struct vnet *v, unsigned off)
{
    return *(volatile uint32_t *)(v->common + off);
}
static inline void w8(struct vnet *v, unsigned off, uint8_t x)
{
    *(volatile uint8_t *)(v->common + off) = x;
}
static inline void w16(struct vnet *v, unsigned off, uint16_t x)
{
    *(volatile uint16_t *)(v->common + off) = x;
}
static inline void w32(struct vnet *v, unsigned off, uint32_t x)
{
    *(volatile uint32_t *)(v->common + off) = x;
}
/* 64-bit fields are written as two 32-bit halves, low first (§4.1.3.1). */
static inline void w64(struct vnet *v, unsigned off, uint64_t x)
{
    w32(v, off, (uint32_t)x);
    w32(v, off + 4, (uint32_t)(x >> 32));
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)ms * 1000000};
    nanosleep(&ts, NULL);
}

/* §4.1.4.3.2: after writing 0 the driver waits until status reads back 0. */
static bool device_reset(struct vnet *v)
{
    w8(v, VIRTIO_PCI_COMMON_STATUS, 0);
    for (int i = 0; i < 1000; i++) {
        uint8_t s = c8(v, VIRTIO_PCI_COMMON_STATUS);
        if (s == 0)
            return true;
        if (s == 0xff)
            return false;
        sleep_ms(1);
    }
    return false;
}

static void add_status(struct vnet *v, uint8_t bits)
{
    w8(v, VIRTIO_PCI_COMMON_STATUS, c8(v, VIRTIO_PCI_COMMON_STATUS) | bits);
}

static int map_cap(struct vs_nic *nic, const struct vs_virtio_cap *c, volatile uint8_t **out,
                   struct vs_port_err *err)
{
    struct vs_vfio_dev *dev = nic->dev;
    int rc = vs_vfio_map_bar(dev, c->bar, err);

    if (rc < 0)
        return rc;
    if ((uint64_t)c->offset + c->length > dev->bar[c->bar].len) {
        vs_port_err_set(err, -1, "virtio %s: capability outside BAR%u", dev->bdf, c->bar);
        return -EINVAL;
    }
    *out = (volatile uint8_t *)dev->bar[c->bar].va + c->offset;
    return 0;
}

static int setup_queue(struct vs_nic *nic, struct vnet *v, struct vqueue *q, uint16_t index,
                       void *mem, uint16_t size, uint16_t chain, uint64_t hdr_iova,
                       uint32_t hdr_len, uint16_t vector, struct vs_port_err *err)
{
    uint64_t iova = vs_vfio_dma_addr(nic->dev, mem, vs_virtq_drv_mem_size(size));
    uint16_t noff;
    int rc;

    if ((rc = vs_virtq_drv_init(&q->vq, mem, iova, size, chain, hdr_iova, hdr_len)) < 0)
        return rc;
    w16(v, VIRTIO_PCI_COMMON_Q_SELECT, index);
    w16(v, VIRTIO_PCI_COMMON_Q_SIZE, size);
    w16(v, VIRTIO_PCI_COMMON_Q_MSIX, vector);
    if (vector != VIRTIO_MSI_NO_VECTOR && c16(v, VIRTIO_PCI_COMMON_Q_MSIX) != vector) {
        /* §4.1.5.1.2: the device could not take the vector: poll only. */
        vs_warn("port %s: virtio: queue %u refused MSI-X vector %u: adaptive pollers cannot "
                "sleep on it",
                nic->name, index, vector);
        w16(v, VIRTIO_PCI_COMMON_Q_MSIX, VIRTIO_MSI_NO_VECTOR);
        v->irqs = false;
    }
    w64(v, VIRTIO_PCI_COMMON_Q_DESCLO, q->vq.desc_iova);
    w64(v, VIRTIO_PCI_COMMON_Q_AVAILLO, q->vq.avail_iova);
    w64(v, VIRTIO_PCI_COMMON_Q_USEDLO, q->vq.used_iova);
    noff = c16(v, VIRTIO_PCI_COMMON_Q_NOFF);
    if ((uint64_t)noff * v->notify_mult + 2 > v->notify_len) {
        vs_port_err_set(err, -1, "virtio: queue %u notify offset outside the notify area", index);
        return -EINVAL;
    }
    q->notify = (volatile uint16_t *)(v->notify_base + (size_t)noff * v->notify_mult);
    q->index = index;
    w16(v, VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    return 0;
}

static void kick(struct vqueue *q)
{
    vs_io_wmb(); /* the ring (DMA memory) before the doorbell (MMIO) that sends the device to it */
    *q->notify = q->index;
    q->st.kicks++;
}

/* Posts fresh buffers in every free RX slot: the header lands in the headroom,
 * the frame at data_off. */
static void rx_refill(struct vs_nic *nic, struct vqueue *q)
{
    struct vs_pkt *fresh[VS_BURST];
    uint16_t free_slots = vs_virtq_drv_free_slots(&q->vq), posted = q->vq.size - free_slots;
    unsigned want =
        posted >= q->rx_max ? 0 : VS_MIN(VS_MIN(free_slots, VS_BURST), q->rx_max - posted);
    unsigned got;

    if (!want)
        return;
    got = vs_pkt_alloc_bulk(q->rx_pool, fresh, want);
    if (got < want)
        q->st.no_mbufs++;
    for (unsigned i = 0; i < got; i++) {
        struct vs_pkt *p = fresh[i];
        uint32_t len = HDR_LEN + vs_pkt_tailroom(p);
        uint64_t addr = vs_vfio_dma_addr(nic->dev, vs_pkt_data(p) - HDR_LEN, len);

        if (vs_unlikely(!addr)) {
            if (q->n_unusable < VS_ARRAY_SIZE(q->unusable))
                q->unusable[q->n_unusable++] = p;
            else
                vs_pkt_free(p);
            continue;
        }
        if (vs_virtq_drv_add(&q->vq, addr, len, true, p) < 0) {
            vs_pkt_free_bulk(&fresh[i], got - i);
            break;
        }
    }
    if (vs_virtq_drv_publish(&q->vq))
        kick(q);
}

/* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET over the control queue (§5.1.6.5.5): the
 * device processes it when notified; wait for the used entry and check the ack. */
static int set_pairs(struct vs_nic *nic, struct vnet *v, struct vs_port_err *err)
{
    uint8_t *base = v->mem.va;
    volatile uint8_t *ack = base + OFF_CTRL_ACK;
    void *cookie;

    base[OFF_CTRL_CMD] = VIRTIO_NET_CTRL_MQ;
    base[OFF_CTRL_CMD + 1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
    memcpy(base + OFF_CTRL_CMD + 2, &v->pairs, 2);
    *ack = 0xff;
    if (vs_virtq_drv_add(&v->ctrl.vq, vs_vfio_dma_addr(nic->dev, base + OFF_CTRL_ACK, 1), 1, true,
                         &v->ctrl) < 0)
        return -ENOSPC;
    if (vs_virtq_drv_publish(&v->ctrl.vq))
        kick(&v->ctrl);
    for (int i = 0; i < 1000; i++) {
        if (vs_virtq_drv_get_used(&v->ctrl.vq, &cookie, NULL, 1) == 1) {
            if (*ack != VIRTIO_NET_OK) {
                vs_port_err_set(err, -1, "virtio %s: the device refused %u queue pairs",
                                nic->dev->bdf, v->pairs);
                return -EIO;
            }
            return 0;
        }
        sleep_ms(1);
    }
    vs_port_err_set(err, -1, "virtio %s: no answer to the queue-pairs command within 1 s",
                    nic->dev->bdf);
    return -ETIMEDOUT;
}

static int vnet_init(struct vs_nic *nic, struct vs_port_err *err)
{
    struct vs_vfio_dev *dev = nic->dev;
    uint8_t cfg[256];
    struct vs_virtio_caps caps;
    struct vnet *v;
    uint64_t offered, want;
    int rc;

    if ((rc = vs_vfio_cfg_read(dev, 0, cfg, sizeof(cfg))) < 0) {
        vs_port_err_set(err, -1, "virtio %s: cannot read config space: %s", dev->bdf,
                        strerror(-rc));
        return rc;
    }
    if (vs_virtio_pci_parse_caps(cfg, &caps) < 0) {
        vs_port_err_set(err, -1,
                        "virtio %s: no modern virtio capabilities (a legacy-only device? on QEMU "
                        "use -device virtio-net-pci,disable-legacy=on)",
                        dev->bdf);
        return -ENODEV;
    }
    if (!(v = calloc(1, sizeof(*v))))
        return -ENOMEM;
    for (unsigned p = 0; p < MAX_PAIRS; p++)
        v->rxq[p].irq_fd = v->txq[p].irq_fd = -1;
    v->ctrl.irq_fd = -1;
    nic->priv = v;
    if ((rc = map_cap(nic, &caps.common, &v->common, err)) < 0 ||
        (rc = map_cap(nic, &caps.notify, &v->notify_base, err)) < 0 ||
        (rc = map_cap(nic, &caps.device, &v->devcfg, err)) < 0)
        return rc;
    if (caps.isr.present && (rc = map_cap(nic, &caps.isr, &v->isr, err)) < 0)
        return rc;
    v->notify_mult = caps.notify_off_multiplier;
    v->notify_len = caps.notify.length;
    if ((rc = vs_vfio_enable_bus_master(dev)) < 0) {
        vs_port_err_set(err, -1, "virtio %s: cannot enable bus mastering: %s", dev->bdf,
                        strerror(-rc));
        return rc;
    }

    /* §3.1.1 initialisation: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK. */
    if (!device_reset(v)) {
        vs_port_err_set(err, -1, "virtio %s: device reset did not complete", dev->bdf);
        return -EIO;
    }
    add_status(v, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    add_status(v, VIRTIO_CONFIG_S_DRIVER);
    w32(v, VIRTIO_PCI_COMMON_DFSELECT, 0);
    offered = c32(v, VIRTIO_PCI_COMMON_DF);
    w32(v, VIRTIO_PCI_COMMON_DFSELECT, 1);
    offered |= (uint64_t)c32(v, VIRTIO_PCI_COMMON_DF) << 32;
    if (!(offered & (1ull << VIRTIO_F_VERSION_1))) {
        vs_port_err_set(err, -1,
                        "virtio %s: the device does not offer VIRTIO_F_VERSION_1 "
                        "(legacy devices are not supported)",
                        dev->bdf);
        return -ENOTSUP;
    }
    /* Not INDIRECT_DESC: every frame is one descriptor already (header in the
     * headroom), and an indirect table would only add a DMA read per frame. Not
     * EVENT_IDX: TX completions are polled and RX interrupts are armed only by a
     * poller about to sleep on an empty ring, where the NO_INTERRUPT flag already
     * says "the next used entry"; doorbells are one per burst and skipped while
     * the device says NO_NOTIFY. With EVENT_IDX the device ignores NO_INTERRUPT,
     * so every polled queue would have to push used_event ahead on each burst to
     * stay quiet: more stores in the hot path for no fewer notifications. */
    want =
        (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS);
    /* Behind an IOMMU the device must translate our IOVAs: ACCESS_PLATFORM. A
     * device offering it must get it back or it may refuse FEATURES_OK. */
    want |= 1ull << VIRTIO_F_ACCESS_PLATFORM;
    v->features = offered & want;
    if (!dev->noiommu && !(v->features & (1ull << VIRTIO_F_ACCESS_PLATFORM)))
        vs_warn("port %s: virtio %s does not offer ACCESS_PLATFORM: it bypasses the IOMMU and "
                "our IOVAs will not work (on QEMU add iommu_platform=on)",
                nic->name, dev->bdf);
    if (nic->n_rxq > 1 || nic->n_txq > 1) {
        /* Several pairs need MQ, and CTRL_VQ to tell the device how many (§5.1.6.5.5). */
        uint64_t mq = (1ull << VIRTIO_NET_F_MQ) | (1ull << VIRTIO_NET_F_CTRL_VQ);
        if ((offered & mq) == mq)
            v->features |= mq;
        else
            vs_warn("port %s: virtio %s offers no multiqueue (MQ and CTRL_VQ): using 1 queue "
                    "pair (on QEMU: mq=on and a netdev with queues=N)",
                    nic->name, dev->bdf);
    }
    /* Checksum and segmentation offloads where the device has them, so that a TSO
     * segment leaves the NIC in one piece; the device's MTU when it states one. */
    v->features |= vs_virtio_net_offload_features(offered) | (offered & F(VIRTIO_NET_F_MTU));
    w32(v, VIRTIO_PCI_COMMON_GFSELECT, 0);
    w32(v, VIRTIO_PCI_COMMON_GF, (uint32_t)v->features);
    w32(v, VIRTIO_PCI_COMMON_GFSELECT, 1);
    w32(v, VIRTIO_PCI_COMMON_GF, (uint32_t)(v->features >> 32));
    add_status(v, VIRTIO_CONFIG_S_FEATURES_OK);
    if (!(c8(v, VIRTIO_PCI_COMMON_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK)) {
        vs_port_err_set(err, -1, "virtio %s: the device refused features 0x%llx", dev->bdf,
                        (unsigned long long)v->features);
        return -ENOTSUP;
    }

    /* MAC from device configuration, consistent across config_generation (§4.1.4.3). */
    if (v->features & (1ull << VIRTIO_NET_F_MAC)) {
        uint8_t gen;
        do {
            gen = c8(v, VIRTIO_PCI_COMMON_CFGGENERATION);
            for (int i = 0; i < 6; i++)
                nic->mac[i] = v->devcfg[offsetof(struct virtio_net_config, mac) + i];
        } while (gen != c8(v, VIRTIO_PCI_COMMON_CFGGENERATION));
    }

    /* §5.1.4.1: with VIRTIO_NET_F_MTU the device says the largest packet it takes. */
    if (v->features & F(VIRTIO_NET_F_MTU)) {
        uint16_t dev_mtu =
            *(volatile uint16_t *)(v->devcfg + offsetof(struct virtio_net_config, mtu));

        if (dev_mtu < nic->mtu) {
            if (nic->mtu_set || dev_mtu < 68) {
                vs_port_err_set(err, -1,
                                "virtio %s: mtu %u is more than the device's %u (on QEMU: "
                                "virtio-net-pci,host_mtu=%u)",
                                dev->bdf, nic->mtu, dev_mtu, nic->mtu);
                return -EINVAL;
            }
            vs_info("port %s: virtio %s: mtu %u, the device's (VIRTIO_NET_F_MTU)", nic->name,
                    dev->bdf, dev_mtu);
            nic->mtu = dev_mtu;
        }
    }
    v->tx_offloads = vs_vnet_host_offloads(v->features);
    v->rx_allowed = (v->features & F(VIRTIO_NET_F_GUEST_CSUM)) ? VS_OL_CSUM | VS_OL_CSUM_VALID : 0;
    nic->tx_offloads = v->tx_offloads;
    /* One buffer per received frame (no MRG_RXBUF): longer frames than a small
     * buffer holds need large ones. */
    struct vs_pool *rx_pool = nic->pool;
    uint16_t rx_max = MAX_QSIZE;
    if ((uint32_t)nic->mtu + VS_ETH_OVERHEAD > VS_PKT_DATA_ROOM) {
        if (!(rx_pool = vs_pool_large(nic->pool))) {
            vs_port_err_set(err, -1,
                            "virtio %s: mtu %u needs large receive buffers, and there are none "
                            "(memory.large_buffers is 0)",
                            dev->bdf, nic->mtu);
            return -EINVAL;
        }
        rx_max = RX_LARGE_MAX;
    }

    /* Rings: queue 2k receives and 2k+1 transmits for pair k; the control queue
     * follows the last pair the device supports (§5.1.2). */
    uint16_t max_pairs = 1, ctrl_index = 0, nq = c16(v, VIRTIO_PCI_COMMON_NUMQ);
    bool has_ctrl = v->features & (1ull << VIRTIO_NET_F_CTRL_VQ);
    if (v->features & (1ull << VIRTIO_NET_F_MQ)) {
        max_pairs = *(volatile uint16_t *)(v->devcfg +
                                           offsetof(struct virtio_net_config, max_virtqueue_pairs));
        if (max_pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN ||
            max_pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX) {
            vs_port_err_set(err, -1, "virtio %s: max_virtqueue_pairs %u is out of range", dev->bdf,
                            max_pairs);
            return -EINVAL;
        }
    }
    v->pairs = (uint16_t)VS_MIN(VS_MIN(VS_MAX(nic->n_rxq, nic->n_txq), max_pairs), MAX_PAIRS);
    ctrl_index = (uint16_t)(2 * max_pairs);
    if (nq < 2 * v->pairs + (has_ctrl ? 1 : 0) || (has_ctrl && ctrl_index >= nq)) {
        vs_port_err_set(err, -1, "virtio %s: the device has %u queues, too few for %u pairs%s",
                        dev->bdf, nq, v->pairs, has_ctrl ? " and the control queue" : "");
        return -ENODEV;
    }
    uint16_t sizes[2 * MAX_PAIRS + 1], count = (uint16_t)(2 * v->pairs + (has_ctrl ? 1 : 0));
    size_t total = 4096, off[2 * MAX_PAIRS + 1];
    for (uint16_t i = 0; i < count; i++) {
        uint16_t index = i < 2 * v->pairs ? i : ctrl_index, sz;

        w16(v, VIRTIO_PCI_COMMON_Q_SELECT, index);
        sz = VS_MIN(c16(v, VIRTIO_PCI_COMMON_Q_SIZE), MAX_QSIZE);
        while (sz & (sz - 1)) /* split rings: powers of two; round down */
            sz &= sz - 1;
        if (sz < 2) {
            vs_port_err_set(err, -1, "virtio %s: queue %u is missing", dev->bdf, index);
            return -ENODEV;
        }
        sizes[i] = sz;
        off[i] = total;
        total += vs_virtq_drv_mem_size(sz);
    }
    /* One region: the control buffers in the first page, then the rings. */
    if ((rc = vs_vfio_dma_alloc(dev, total, "virtio rings", &v->mem, err)) < 0)
        return rc;
    memset(v->mem.va, 0, 4096);
    uint8_t *base = v->mem.va;
    /* MSI-X: one vector per RX queue, none for TX, control or config changes. */
    int fds[MAX_PAIRS];
    if ((rc = vs_vfio_msix_enable(dev, v->pairs, fds)) == 0) {
        v->irqs = true;
        for (unsigned p = 0; p < v->pairs; p++)
            v->rxq[p].irq_fd = fds[p];
    } else {
        vs_warn("port %s: virtio: no MSI-X interrupts (%s): adaptive pollers cannot sleep on it",
                nic->name, strerror(-rc));
    }
    w16(v, VIRTIO_PCI_COMMON_MSIX, VIRTIO_MSI_NO_VECTOR);
    for (uint16_t p = 0; p < v->pairs; p++) {
        if ((rc = setup_queue(nic, v, &v->rxq[p], (uint16_t)(2 * p), base + off[2 * p],
                              sizes[2 * p], 1, 0, 0, v->irqs ? p : VIRTIO_MSI_NO_VECTOR, err)) <
                0 ||
            (rc = setup_queue(nic, v, &v->txq[p], (uint16_t)(2 * p + 1), base + off[2 * p + 1],
                              sizes[2 * p + 1], 1, 0, 0, VIRTIO_MSI_NO_VECTOR, err)) < 0)
            return rc;
    }
    if (has_ctrl &&
        (rc = setup_queue(nic, v, &v->ctrl, ctrl_index, base + off[count - 1], sizes[count - 1], 2,
                          vs_vfio_dma_addr(dev, base + OFF_CTRL_CMD, 4), 4, VIRTIO_MSI_NO_VECTOR,
                          err)) < 0)
        return rc;
    add_status(v, VIRTIO_CONFIG_S_DRIVER_OK);
    if (c8(v, VIRTIO_PCI_COMMON_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET) {
        vs_port_err_set(err, -1, "virtio %s: the device needs a reset right after DRIVER_OK",
                        dev->bdf);
        return -EIO;
    }
    if (v->pairs > 1 && (rc = set_pairs(nic, v, err)) < 0)
        return rc;
    for (uint16_t p = 0; p < v->pairs; p++) {
        v->rxq[p].rx_pool = rx_pool;
        v->rxq[p].rx_max = rx_max;
        while (vs_virtq_drv_free_slots(&v->rxq[p].vq)) {
            unsigned before = vs_virtq_drv_free_slots(&v->rxq[p].vq);
            rx_refill(nic, &v->rxq[p]);
            if (vs_virtq_drv_free_slots(&v->rxq[p].vq) == before)
                break; /* pool dry: run with what we have */
        }
    }
    nic->n_rxq = nic->n_txq = v->pairs;
    return 0;
}

static void free_cookies(struct vs_virtq_drv *vq)
{
    void *c[VS_BURST];
    uint16_t n;

    while ((n = vs_virtq_drv_drain(vq, c, VS_BURST)))
        vs_pkt_free_bulk((struct vs_pkt **)c, n);
}

static void vnet_fini(struct vs_nic *nic)
{
    struct vnet *v = nic->priv;

    if (!v)
        return;
    /* Reset stops the device's DMA before buffers return to the pool. */
    if (v->common && nic->dev && nic->dev->fd >= 0 && c8(v, VIRTIO_PCI_COMMON_STATUS) != 0xff) {
        device_reset(v);
        vs_vfio_msix_disable(nic->dev);
    }
    for (unsigned p = 0; p < MAX_PAIRS; p++)
        if (v->rxq[p].irq_fd >= 0)
            close(v->rxq[p].irq_fd);
    for (unsigned p = 0; p < MAX_PAIRS; p++) {
        vs_pkt_free_bulk(v->rxq[p].unusable, v->rxq[p].n_unusable);
        free_cookies(&v->rxq[p].vq);
        free_cookies(&v->txq[p].vq);
        vs_virtq_drv_fini(&v->rxq[p].vq);
        vs_virtq_drv_fini(&v->txq[p].vq);
    }
    vs_virtq_drv_fini(&v->ctrl.vq); /* its only cookie is the vnet itself */
    vs_vfio_dma_free(nic->dev, &v->mem);
    free(v);
    nic->priv = NULL;
}

static uint16_t vnet_rx(struct vs_nic *nic, uint16_t qi, struct vs_pkt **pkts, uint16_t n)
{
    struct vnet *v = nic->priv;
    struct vqueue *q = &v->rxq[qi];
    uint32_t lens[VS_BURST];
    uint16_t got, rx = 0;

    if (n > VS_BURST)
        n = VS_BURST;
    got = vs_virtq_drv_get_used(&q->vq, (void **)pkts, lens, n);
    for (uint16_t i = 0; i < got; i++) {
        struct vs_pkt *p = pkts[i];
        uint32_t len = lens[i];

        if (vs_unlikely(len < HDR_LEN + 14 || len > HDR_LEN + vs_pkt_tailroom(p))) {
            q->st.errors++;
            vs_pkt_free(p);
            continue;
        }
        const uint8_t *hdr = vs_pkt_data(p) - HDR_LEN;
        if (vs_unlikely(hdr[0] | hdr[1])) { /* flags, gso_type */
            /* The device's word, for what we negotiated only (no GUEST_TSO/UFO/USO;
             * the dataplane checks the offsets against the frame). */
            if (!vs_vnet_hdr_parse(hdr, v->rx_allowed, p)) {
                q->st.errors++;
                vs_pkt_free(p);
                continue;
            }
            q->st.offloaded++;
        }
        p->len = len - HDR_LEN;
        q->st.bytes += p->len;
        pkts[rx++] = p;
    }
    q->st.packets += rx;
    if (got)
        rx_refill(nic, q);
    return rx;
}

/* Frees what the device has sent; returns how many. */
static uint16_t tx_reclaim(struct vqueue *q)
{
    void *done[VS_BURST];
    uint16_t n, total = 0;

    while ((n = vs_virtq_drv_get_used(&q->vq, done, NULL, VS_BURST))) {
        vs_pkt_free_bulk((struct vs_pkt **)done, n);
        total += n;
    }
    if (total)
        q->stalled = false;
    return total;
}

/* Queues as many of pkts as fit and notifies the device; returns how many it
 * took (sent or dropped as unmappable). */
static uint16_t tx_add(struct vs_nic *nic, struct vnet *v, struct vqueue *q, struct vs_pkt **pkts,
                       uint16_t n)
{
    uint16_t tx = 0;

    for (; tx < n; tx++) {
        struct vs_pkt *p = pkts[tx];
        /* One descriptor per frame, so a queue holds as many frames as it has
         * entries: VERSION_1 lets the header share the frame's buffer (§2.6.4), and
         * the headroom has room for it. It depends on the frame's offload metadata
         * only (num_buffers is for RX), so a frame flooded to several virtio NICs
         * gets the same bytes from each, and no device can read a half-written
         * header. */
        uint8_t *hdr = vs_pkt_data(p) - HDR_LEN;
        uint64_t addr = vs_vfio_dma_addr(nic->dev, hdr, HDR_LEN + p->len);

        if (vs_unlikely(!addr)) {
            q->st.errors++;
            vs_pkt_free(p);
            continue;
        }
        if (vs_likely(!(p->ol_flags & VS_OL_REQUESTS))) {
            memset(hdr, 0, HDR_LEN);
        } else if (p->ol_flags & VS_OL_REQUESTS & ~v->tx_offloads) {
            q->st.errors++; /* a request the device did not take: cannot go out as it is */
            vs_pkt_free(p);
            continue;
        } else {
            vs_vnet_hdr_write(p, false, hdr);
            q->st.offloaded++;
        }
        if (vs_virtq_drv_add(&q->vq, addr, HDR_LEN + p->len, false, p) < 0)
            break;
        q->st.packets++;
        q->st.bytes += p->len;
    }
    if (vs_virtq_drv_publish(&q->vq))
        kick(q);
    return tx;
}

static uint16_t vnet_tx(struct vs_nic *nic, uint16_t qi, struct vs_pkt **pkts, uint16_t n)
{
    struct vnet *v = nic->priv;
    struct vqueue *q = &v->txq[qi];
    uint16_t tx, slots = (uint16_t)(q->vq.size / q->vq.chain);

    if (slots - vs_virtq_drv_free_slots(&q->vq) >= TX_RECLAIM ||
        vs_virtq_drv_free_slots(&q->vq) < n)
        tx_reclaim(q);
    tx = tx_add(nic, v, q, pkts, n);
    /* The ring is full: the device is behind, as a virtio device is after a
     * burst (QEMU, for one, empties the ring from its main loop, in batches).
     * Rather than drop, wait for room, up to TX_WAIT_NS. A device that sends
     * nothing in that time is stalled: drop, and do not wait on it again until
     * it sends something (a stuck NIC costs its poller one wait, not one per
     * burst). */
    if (vs_unlikely(tx < n) && !q->stalled) {
        uint64_t deadline = vs_now_ns() + TX_WAIT_NS;
        bool progress = false;

        while (tx < n) {
            if (tx_reclaim(q)) {
                progress = true;
                tx += tx_add(nic, v, q, pkts + tx, n - tx);
            } else if (vs_now_ns() > deadline) {
                break;
            } else {
                vs_cpu_relax(); /* spinning on the used index */
            }
        }
        if (!progress) {
            q->stalled = true;
            q->st.stalls++;
        }
    }
    q->st.full += n - tx;
    return tx;
}

static int vnet_poll(struct vs_nic *nic)
{
    struct vnet *v = nic->priv;
    uint8_t s = c8(v, VIRTIO_PCI_COMMON_STATUS);

    if (s == 0xff)
        return -ENODEV;
    bool broken = false;
    for (unsigned p = 0; p < v->pairs; p++)
        broken |= v->rxq[p].vq.broken || v->txq[p].vq.broken;
    if ((s & VIRTIO_CONFIG_S_NEEDS_RESET) || broken) {
        if (!v->broken_logged) {
            v->broken_logged = true;
            vs_err("port %s: virtio-net device %s %s; port stopped (del-port and add it again)",
                   nic->name, nic->dev->bdf,
                   (s & VIRTIO_CONFIG_S_NEEDS_RESET) ? "needs a reset"
                                                     : "returned an impossible used ring entry");
        }
        return 0;
    }
    if (!(v->features & (1ull << VIRTIO_NET_F_STATUS)))
        return 1;
    uint16_t st = *(volatile uint16_t *)(v->devcfg + offsetof(struct virtio_net_config, status));
    return (st & VIRTIO_NET_S_LINK_UP) ? 1 : 0;
}

static int vnet_rx_wait_fd(struct vs_nic *nic, uint16_t q)
{
    struct vnet *v = nic->priv;

    return v->irqs ? v->rxq[q].irq_fd : -1;
}

static void vnet_rx_notify(struct vs_nic *nic, uint16_t qi, bool enable)
{
    struct vnet *v = nic->priv;
    struct vqueue *q = &v->rxq[qi];

    if (!v->irqs)
        return;
    q->interrupts += vs_eventfd_drain(q->irq_fd);
    vs_virtq_drv_set_interrupt(&q->vq, enable);
}

static void show_q(json_t *arr, const char *dir, unsigned pair, const struct vqueue *q)
{
    json_t *o = json_object();

    json_object_set_new(o, "dir", json_string(dir));
    json_object_set_new(o, "pair", json_integer(pair));
    json_object_set_new(o, "size", json_integer(q->vq.size));
    json_object_set_new(o, "packets", json_integer((json_int_t)q->st.packets));
    json_object_set_new(o, "bytes", json_integer((json_int_t)q->st.bytes));
    json_object_set_new(o, "errors", json_integer((json_int_t)q->st.errors));
    json_object_set_new(o, "no_mbufs", json_integer((json_int_t)q->st.no_mbufs));
    json_object_set_new(o, "ring_full", json_integer((json_int_t)q->st.full));
    json_object_set_new(o, "notifications", json_integer((json_int_t)q->st.kicks));
    json_object_set_new(o, "offloaded", json_integer((json_int_t)q->st.offloaded));
    if (!strcmp(dir, "tx"))
        json_object_set_new(o, "stalls", json_integer((json_int_t)q->st.stalls));
    json_object_set_new(o, "broken", json_boolean(q->vq.broken));
    if (q->irq_fd >= 0)
        json_object_set_new(o, "interrupts", json_integer((json_int_t)q->interrupts));
    json_array_append_new(arr, o);
}

static void vnet_show(struct vs_nic *nic, json_t *out)
{
    struct vnet *v = nic->priv;
    json_t *qs = json_array();
    char feat[24];

    if (!v)
        return;
    snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)v->features);
    json_object_set_new(out, "features", json_string(feat));
    json_object_set_new(out, "offloads",
                        json_pack("{s:b,s:b,s:b,s:b,s:b,s:b}", "csum",
                                  (int)!!(v->features & F(VIRTIO_NET_F_CSUM)), "guest_csum",
                                  (int)(v->rx_allowed != 0), "host_tso4",
                                  (int)!!(v->tx_offloads & VS_OL_TSO4), "host_tso6",
                                  (int)!!(v->tx_offloads & VS_OL_TSO6), "host_ecn",
                                  (int)!!(v->tx_offloads & VS_OL_ECN), "host_uso",
                                  (int)!!(v->tx_offloads & VS_OL_USO)));
    json_object_set_new(
        out, "rx_buffers",
        json_string(v->pairs && v->rxq[0].rx_pool != nic->pool ? "large" : "small"));
    for (unsigned p = 0; p < v->pairs; p++) {
        show_q(qs, "rx", p, &v->rxq[p]);
        show_q(qs, "tx", p, &v->txq[p]);
    }
    json_object_set_new(out, "queues", qs);
}

const struct vs_nic_ops vs_nic_virtio_ops = {
    .name = "virtio-net",
    .init = vnet_init,
    .fini = vnet_fini,
    .rx_burst = vnet_rx,
    .tx_burst = vnet_tx,
    .poll = vnet_poll,
    .show = vnet_show,
    .rx_wait_fd = vnet_rx_wait_fd,
    .rx_notify = vnet_rx_notify,
};
