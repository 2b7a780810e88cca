/* 82576 advanced RX/TX descriptor ring logic (see igb_ring.h for the rules). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ports/vfio/igb_ring.h"
#include "vswitch/compiler.h"

/* Bus address of a buffer's data room; 0 when not DMA-able in one piece (only in
 * no-IOMMU mode, when a buffer straddles two non-adjacent hugepages). */
static inline uint64_t buf_dma(const struct vs_vfio_dev *dev, struct vs_pkt *p, uint32_t len)
{
    if (vs_likely(!dev || !dev->noiommu))
        return vs_pkt_data_iova(p);
    return vs_vfio_dma_addr_slow(dev, vs_pkt_data(p), len);
}

/* Posts p in descriptor i. Writing hdr_addr also clears the write-back status (the
 * same 8 bytes), so a stale DD can never be seen for the new buffer. */
static inline void rx_post(struct vs_igb_rxq *q, uint16_t i, struct vs_pkt *p, uint64_t addr)
{
    q->bufs[i] = p;
    q->ring[i].read.pkt_addr = addr;
    q->ring[i].read.hdr_addr = 0;
}

/* Sets p aside (see vs_igb_rxq.unusable); false when there is no room left. */
static bool set_aside(struct vs_igb_rxq *q, struct vs_pkt *p)
{
    if (q->n_unusable == VS_ARRAY_SIZE(q->unusable))
        return false;
    q->unusable[q->n_unusable++] = p;
    return true;
}

int vs_igb_rxq_init(struct vs_igb_rxq *q, void *ring, uint16_t size, volatile uint32_t *rdt,
                    const struct vs_vfio_dev *dev, struct vs_pool *pool)
{
    if (size < 8 || (size & (size - 1)))
        return -EINVAL;
    memset(q, 0, sizeof(*q));
    q->ring = ring;
    q->rdt = rdt;
    q->dev = dev;
    q->pool = pool;
    q->size = size;
    q->mask = size - 1;
    q->bufs = calloc(size, sizeof(*q->bufs));
    if (!q->bufs)
        return -ENOMEM;
    memset(ring, 0, (size_t)size * sizeof(union vs_igb_rx_desc));
    for (uint16_t i = 0; i < size; i++) {
        struct vs_pkt *p;
        uint64_t addr = 0;

        while ((p = vs_pkt_alloc(pool)) && !(addr = buf_dma(dev, p, VS_IGB_RX_BUF))) {
            if (!set_aside(q, p)) { /* no-IOMMU: too many split buffers */
                vs_pkt_free(p);
                p = NULL;
                break;
            }
        }
        if (!p) {
            vs_igb_rxq_fini(q);
            return -ENOMEM;
        }
        rx_post(q, i, p, addr);
    }
    vs_io_wmb();       /* descriptors (DMA memory) before the tail register (MMIO) */
    *q->rdt = q->mask; /* every descriptor but the last belongs to the NIC */
    return 0;
}

void vs_igb_rxq_fini(struct vs_igb_rxq *q)
{
    vs_pkt_free_bulk(q->unusable, q->n_unusable);
    q->n_unusable = 0;
    if (!q->bufs)
        return;
    for (uint16_t i = 0; i < q->size; i++)
        if (q->bufs[i])
            vs_pkt_free(q->bufs[i]);
    free(q->bufs);
    q->bufs = NULL;
}

uint16_t vs_igb_rx_burst(struct vs_igb_rxq *q, struct vs_pkt **pkts, uint16_t n)
{
    struct vs_pkt *fresh[VS_BURST];
    uint16_t idx = q->next, rx = 0, used = 0, posted = 0;
    unsigned got;

    if (n > VS_BURST)
        n = VS_BURST;
    /* Refills first: a descriptor is only taken from the NIC when its replacement
     * is in hand, so a dry pool leaves frames in the ring instead of losing them. */
    got = vs_pkt_alloc_bulk(q->pool, fresh, n);
    if (vs_unlikely(got < n))
        q->stats.no_mbufs++;
    while (used < got) {
        volatile union vs_igb_rx_desc *d = &q->ring[idx];
        uint64_t upper = VS_READ_ONCE(d->wb.upper);
        uint32_t status = (uint32_t)upper;
        uint16_t len = (uint16_t)(upper >> 32);
        struct vs_pkt *p, *nf;
        uint64_t addr;

        if (!(status & VS_IGB_RXD_STAT_DD))
            break;
        vs_dma_rmb(); /* buffer contents after the status that covers them */
        nf = fresh[used++];
        addr = buf_dma(q->dev, nf, VS_IGB_RX_BUF);
        if (vs_unlikely(!addr)) {
            /* Leave the frame for the next burst, which gets other buffers. */
            if (!set_aside(q, nf))
                vs_pkt_free(nf);
            break;
        }
        posted++;
        p = q->bufs[idx];
        rx_post(q, idx, nf, addr);
        idx = (idx + 1) & q->mask;

        if (vs_unlikely(!(status & VS_IGB_RXD_STAT_EOP))) {
            /* Longer than one buffer: cannot happen with LPE off; drop it whole. */
            q->discard = true;
            q->stats.errors++;
            vs_pkt_free(p);
            continue;
        }
        if (vs_unlikely(q->discard || (status & VS_IGB_RXD_ERR_MASK) || len < 14 ||
                        len > VS_IGB_RX_BUF)) {
            if (!q->discard)
                q->stats.errors++;
            q->discard = false;
            vs_pkt_free(p);
            continue;
        }
        p->len = len;
        q->stats.bytes += len;
        pkts[rx++] = p;
        if (rx == n)
            break;
    }
    if (used < got)
        vs_pkt_free_bulk(&fresh[used], got - used);
    if (posted) {
        q->next = idx;
        vs_io_wmb(); /* descriptors (DMA memory) before the tail (MMIO) that hands them over */
        *q->rdt = (uint16_t)((idx - 1) & q->mask);
    }
    q->stats.packets += rx;
    return rx;
}

int vs_igb_txq_init(struct vs_igb_txq *q, void *ring, uint16_t size, volatile uint32_t *tdt,
                    const struct vs_vfio_dev *dev)
{
    if (size < 8 || (size & (size - 1)))
        return -EINVAL;
    memset(q, 0, sizeof(*q));
    q->ring = ring;
    q->tdt = tdt;
    q->dev = dev;
    q->size = size;
    q->mask = size - 1;
    q->bufs = calloc(size, sizeof(*q->bufs));
    if (!q->bufs)
        return -ENOMEM;
    memset(ring, 0, (size_t)size * sizeof(union vs_igb_tx_desc));
    *q->tdt = 0;
    return 0;
}

void vs_igb_txq_fini(struct vs_igb_txq *q)
{
    if (!q->bufs)
        return;
    while (q->in_flight) {
        if (q->bufs[q->clean])
            vs_pkt_free(q->bufs[q->clean]);
        q->bufs[q->clean] = NULL;
        q->clean = (q->clean + 1) & q->mask;
        q->in_flight--;
    }
    free(q->bufs);
    q->bufs = NULL;
}

uint16_t vs_igb_tx_reclaim(struct vs_igb_txq *q)
{
    struct vs_pkt *done[VS_BURST];
    uint16_t n = 0, total = 0;

    while (q->in_flight) {
        uint32_t status = VS_READ_ONCE(q->ring[q->clean].wb.status);

        if (!(status & VS_IGB_TXD_STAT_DD))
            break;
        if (q->bufs[q->clean])
            done[n++] = q->bufs[q->clean];
        q->bufs[q->clean] = NULL;
        q->clean = (q->clean + 1) & q->mask;
        q->in_flight--;
        if (n == VS_BURST) {
            vs_pkt_free_bulk(done, n);
            total += n;
            n = 0;
        }
    }
    if (n)
        vs_pkt_free_bulk(done, n);
    return total + n;
}

/* Fills one data descriptor: len bytes at addr of a frame of frame_len bytes; eop
 * on its last. RS on every one, so that each gets DD and reclaim walks them in
 * order. */
static inline void tx_desc(volatile union vs_igb_tx_desc *d, uint64_t addr, uint32_t len,
                           uint32_t frame_len, bool eop)
{
    d->read.buffer_addr = addr;
    d->read.cmd_type_len = len | VS_IGB_TXD_DTYP_DATA | VS_IGB_TXD_CMD_DEXT | VS_IGB_TXD_CMD_IFCS |
                           VS_IGB_TXD_CMD_RS | (eop ? VS_IGB_TXD_CMD_EOP : 0);
    d->read.olinfo_status = frame_len << VS_IGB_TXD_PAYLEN_SHIFT;
}

uint16_t vs_igb_tx_burst(struct vs_igb_txq *q, struct vs_pkt **pkts, uint16_t n)
{
    uint16_t space, tx = 0, idx = q->next;

    if (q->in_flight >= VS_IGB_TX_RECLAIM || q->size - 1 - q->in_flight < 2 * n)
        vs_igb_tx_reclaim(q);
    /* One slot stays empty: TDT == TDH means "nothing to send" to the NIC. */
    space = q->size - 1 - q->in_flight;
    for (; tx < n; tx++) {
        struct vs_pkt *p = pkts[tx];
        uint64_t addr = buf_dma(q->dev, p, p->len);
        /* A buffer that crosses a 4 KiB boundary goes out as two descriptors, each
         * within one page: a device (QEMU's igb, for one) may translate each
         * descriptor's buffer through the IOMMU in one piece and drop the frame
         * when it spans two translations; 4 KiB is the smallest IOMMU page. */
        uint32_t first = VS_MIN(p->len, VS_IGB_TX_PAGE - (uint32_t)(addr & (VS_IGB_TX_PAGE - 1)));
        uint16_t descs = first < p->len ? 2 : 1;

        if (vs_unlikely(!addr || p->len == 0 || p->len > VS_PKT_DATA_ROOM)) {
            /* Taken and dropped: the caller only frees what we refuse at the end. */
            q->stats.errors++;
            vs_pkt_free(p);
            continue;
        }
        if (descs > space)
            break;
        if (descs == 2) {
            tx_desc(&q->ring[idx], addr, first, p->len, false);
            q->bufs[idx] = NULL; /* the frame is freed with its last descriptor */
            idx = (idx + 1) & q->mask;
            addr += first;
        }
        tx_desc(&q->ring[idx], addr, descs == 2 ? p->len - first : p->len, p->len, true);
        q->bufs[idx] = p;
        idx = (idx + 1) & q->mask;
        space -= descs;
        q->in_flight += descs;
        q->stats.bytes += p->len;
        q->stats.packets++;
    }
    q->stats.full += n - tx;
    if (idx != q->next) {
        q->next = idx;
        vs_io_wmb(); /* descriptors (DMA memory) before the doorbell (MMIO) */
        *q->tdt = idx;
    }
    return tx;
}
