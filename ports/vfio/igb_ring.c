/* 82576 advanced RX/TX descriptor ring logic (see igb_ring.h for the rules). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ports/vfio/igb_ring.h"
#include "vswitch/compiler.h"
#include "vswitch/offload.h"

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

static void drop_frags(struct vs_igb_rxq *q)
{
    vs_pkt_free_bulk(q->frags, q->n_frags);
    q->n_frags = 0;
    q->frags_len = 0;
}

/* The long frame whose last piece is p (len bytes): gathered into one large
 * buffer, the pieces freed. NULL (frame dropped, counted) when there is none. */
static struct vs_pkt *gather(struct vs_igb_rxq *q, struct vs_pkt *p, uint16_t len)
{
    uint32_t total = q->frags_len + len, off = 0;
    struct vs_pkt *big = vs_pkt_alloc_len(q->pool, total);

    if (vs_unlikely(!big)) {
        q->stats.no_large++;
        drop_frags(q);
        vs_pkt_free(p);
        return NULL;
    }
    for (uint8_t i = 0; i < q->n_frags; i++) {
        vs_copy(vs_pkt_data(big) + off, vs_pkt_data(q->frags[i]), q->frags[i]->len);
        off += q->frags[i]->len;
    }
    vs_copy(vs_pkt_data(big) + off, vs_pkt_data(p), len);
    big->len = total;
    drop_frags(q);
    vs_pkt_free(p);
    return big;
}

void vs_igb_rxq_fini(struct vs_igb_rxq *q)
{
    drop_frags(q);
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
            /* A piece of a long frame: every piece but the last fills its buffer. */
            if (q->discard || len != VS_IGB_RX_BUF || q->n_frags == VS_IGB_MAX_FRAGS - 1) {
                if (!q->discard)
                    q->stats.errors++;
                q->discard = true;
                drop_frags(q);
                vs_pkt_free(p);
                continue;
            }
            p->len = len;
            q->frags[q->n_frags++] = p;
            q->frags_len += len;
            continue;
        }
        if (vs_unlikely(q->discard || (status & VS_IGB_RXD_ERR_MASK) || len == 0 ||
                        len > VS_IGB_RX_BUF || q->frags_len + len < 14)) {
            if (!q->discard)
                q->stats.errors++;
            q->discard = false;
            drop_frags(q);
            vs_pkt_free(p);
            continue;
        }
        if (vs_unlikely(q->n_frags)) {
            if (!(p = gather(q, p, len)))
                continue;
        } else {
            p->len = len;
        }
        q->stats.bytes += p->len;
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
    q->last = calloc(size, sizeof(*q->last));
    if (!q->bufs || !q->last) {
        free(q->bufs);
        free(q->last);
        q->bufs = NULL;
        q->last = NULL;
        return -ENOMEM;
    }
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
    free(q->last);
    q->bufs = NULL;
    q->last = NULL;
}

uint16_t vs_igb_tx_reclaim(struct vs_igb_txq *q)
{
    struct vs_pkt *done[VS_BURST];
    uint16_t n = 0, total = 0;

    while (q->in_flight) {
        uint16_t last = q->last[q->clean];
        uint32_t status = VS_READ_ONCE(q->ring[last].wb.status);

        if (!(status & VS_IGB_TXD_STAT_DD))
            break;
        done[n++] = q->bufs[last];
        q->bufs[last] = NULL;
        q->in_flight -= (uint16_t)(((last - q->clean) & q->mask) + 1);
        q->clean = (last + 1) & q->mask;
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

/* What the NIC's checksum offload needs of a VS_OL_CSUM frame: TCP (offset 16) or
 * UDP (offset 6) right behind an IPv4 header or a plain IPv6 header (no extension
 * headers), behind Ethernet and up to two VLAN tags. Fills the context's lens and
 * TUCMD and returns true; false when the NIC cannot do it. */
static bool csum_ctx(const struct vs_pkt *p, uint32_t *lens, uint32_t *tucmd)
{
    const uint8_t *d = p->data;
    uint32_t l2 = 14, l3, proto;
    uint16_t et;

    if (p->len < 14)
        return false;
    et = (uint16_t)(d[12] << 8 | d[13]);
    for (int tags = 0; tags < 2 && (et == 0x8100 || et == 0x88a8); tags++) {
        if (p->len < l2 + 4)
            return false;
        et = (uint16_t)(d[l2 + 2] << 8 | d[l2 + 3]);
        l2 += 4;
    }
    if (et == 0x0800 && p->len >= l2 + 20 && d[l2] >> 4 == 4) {
        l3 = (d[l2] & 0xfu) * 4u;
        proto = d[l2 + 9];
        *tucmd = VS_IGB_CTX_TUCMD_IPV4;
    } else if (et == 0x86dd && p->len >= l2 + 40 && d[l2] >> 4 == 6) {
        l3 = 40;
        proto = d[l2 + 6];
        *tucmd = 0;
    } else {
        return false;
    }
    if (l3 < 20 || p->csum_start != l2 + l3)
        return false;
    if (proto == 6 && p->csum_offset == 16)
        *tucmd |= VS_IGB_CTX_TUCMD_L4T_TCP;
    else if (!(proto == 17 && p->csum_offset == 6))
        return false;
    *lens = l3 | l2 << VS_IGB_CTX_MACLEN_SHIFT;
    return true;
}

/* Completes p's checksum request in software (vs_offload_csum). A frame shared
 * with other ports is copied first: they may send it with the request still open.
 * Returns the frame to send, or NULL (dropped: no buffer for the copy). */
static struct vs_pkt *csum_sw(struct vs_pkt *p)
{
    if (p->refcnt != 1) {
        struct vs_pkt *cp = vs_pkt_copy(p);

        if (!cp)
            return NULL;
        vs_pkt_free(p);
        p = cp;
    }
    vs_offload_csum(p);
    p->ol_flags |= VS_OL_CSUM_VALID;
    return p;
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
        uint32_t olinfo = p->len << VS_IGB_TXD_PAYLEN_SHIFT, lens = 0, tucmd = 0, left, off;
        uint8_t req = p->ol_flags & VS_OL_REQUESTS;
        bool ctx = false;
        /* A buffer that crosses a 4 KiB boundary goes out as one descriptor per page:
         * a device (QEMU's igb, for one) may translate each descriptor's buffer
         * through the IOMMU in one piece and drop the frame when it spans two
         * translations; 4 KiB is the smallest IOMMU page. */
        uint16_t descs =
            (uint16_t)((addr + p->len - 1) / VS_IGB_TX_PAGE - addr / VS_IGB_TX_PAGE + 1);

        if (vs_unlikely(!addr || p->len == 0 || p->len > vs_pkt_tailroom(p) ||
                        p->len > VS_IGB_MAX_FRAME || (req & (uint8_t)~VS_OL_CSUM) ||
                        (req && (uint32_t)p->csum_start + p->csum_offset + 2 > p->len))) {
            /* Taken and dropped: the caller only frees what we refuse at the end. */
            q->stats.errors++;
            vs_pkt_free(p);
            continue;
        }
        if (vs_unlikely(req)) {
            if (csum_ctx(p, &lens, &tucmd)) {
                olinfo |= VS_IGB_TXD_POPTS_TXSM;
                ctx = !q->ctx_valid || q->ctx_lens != lens || q->ctx_tucmd != tucmd;
            } else if (descs <= space) {
                if (!(pkts[tx] = p = csum_sw(p))) {
                    q->stats.errors++;
                    continue;
                }
                addr = buf_dma(q->dev, p, p->len);
                descs =
                    (uint16_t)((addr + p->len - 1) / VS_IGB_TX_PAGE - addr / VS_IGB_TX_PAGE + 1);
                if (vs_unlikely(!addr)) {
                    q->stats.errors++;
                    vs_pkt_free(p);
                    continue;
                }
                q->stats.csum_sw++;
            }
        }
        if (descs + ctx > space)
            break;
        uint16_t first = idx;
        if (ctx) {
            volatile union vs_igb_tx_desc *c = &q->ring[idx];

            c->ctx.vlan_macip_lens = lens;
            c->ctx.seqnum_seed = 0;
            c->ctx.type_tucmd_mlhl = tucmd | VS_IGB_TXD_DTYP_CTXT | VS_IGB_TXD_CMD_DEXT;
            c->ctx.mss_l4len_idx = 0; /* slot 0 */
            q->bufs[idx] = NULL;
            q->ctx_valid = true;
            q->ctx_lens = lens;
            q->ctx_tucmd = tucmd;
            idx = (idx + 1) & q->mask;
        }
        if (olinfo & VS_IGB_TXD_POPTS_TXSM)
            q->stats.csum_hw++;
        for (left = p->len, off = 0; left;) {
            uint32_t chunk =
                VS_MIN(left, VS_IGB_TX_PAGE - (uint32_t)((addr + off) & (VS_IGB_TX_PAGE - 1)));
            volatile union vs_igb_tx_desc *d = &q->ring[idx];

            left -= chunk;
            d->read.buffer_addr = addr + off;
            d->read.cmd_type_len = chunk | VS_IGB_TXD_DTYP_DATA | VS_IGB_TXD_CMD_DEXT |
                                   VS_IGB_TXD_CMD_IFCS |
                                   (left ? 0 : VS_IGB_TXD_CMD_EOP | VS_IGB_TXD_CMD_RS);
            d->read.olinfo_status = olinfo; /* the NIC reads POPTS from the first */
            q->bufs[idx] = left ? NULL : p; /* the frame is freed with its last descriptor */
            off += chunk;
            if (left)
                idx = (idx + 1) & q->mask;
        }
        q->last[first] = idx;
        idx = (idx + 1) & q->mask;
        space -= descs + ctx;
        q->in_flight += descs + ctx;
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
