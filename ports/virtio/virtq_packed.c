/* Packed virtqueues, device side (virtio 1.x, 2.8).
 *
 * A chain is available when its first descriptor's AVAIL bit equals our wrap
 * counter and its USED bit does not; the driver writes that first flags word last,
 * so after seeing it (and a read barrier) the whole chain is readable. We use
 * chains in order, so the used descriptor of a chain goes where the chain started,
 * and VIRTIO_F_IN_ORDER costs nothing but lets one used descriptor stand for a TX
 * burst. Used descriptors are collected in a shadow and written once per burst
 * (packed_publish). */
#include "ports/virtio/virtq_internal.h"
#include "vswitch/pkt.h"

/* Position in a chain: ring slots, then possibly an indirect table. */
struct packed_walk {
    uint16_t pos;      /* next ring slot */
    bool wrap;         /* wrap counter at pos */
    bool more;         /* the last ring descriptor had NEXT (true before the first) */
    uint16_t slots;    /* ring slots taken by the chain so far */
    uint16_t id;       /* buffer id: the last ring descriptor's */
    const struct vring_packed_desc *itab;
    uint32_t imax, iidx;
};

static inline bool desc_avail(uint16_t flags, bool wrap)
{
    return (bool)(flags & VS_VQ_PACKED_AVAIL) == wrap && (bool)(flags & VS_VQ_PACKED_USED) != wrap;
}

/* Is a chain available at (pos, wrap)? Includes the acquire barrier. */
static inline bool packed_head_avail(const struct vs_virtq *vq, uint16_t pos, bool wrap)
{
    const struct vring_packed_desc *ring = vq->desc;
    uint16_t flags = VS_READ_ONCE(ring[pos].flags);
    if (!desc_avail(flags, wrap))
        return false;
    /* Acquire: the driver wrote the chain's descriptors (and addr/len/id of this
     * one) before this flags word; do not read them earlier. */
    vs_smp_rmb();
    return true;
}

/* Next buffer descriptor of the chain into d. Returns 0, 1 at the end of the chain,
 * or -1 with the queue broken. */
static inline int packed_next(struct vs_virtq *vq, struct packed_walk *w,
                              struct vring_packed_desc *d)
{
    if (w->itab) {
        if (w->iidx == w->imax)
            return 1;
        vs_vq_read_desc(d, &w->itab[w->iidx++]);
        if (vs_unlikely(d->flags & VRING_DESC_F_INDIRECT)) {
            vs_vq_fail(vq, VS_VQ_ERR_INDIRECT, "nested indirect table (buffer %u)", w->id);
            return -1;
        }
        return 0;
    }
    if (!w->more)
        return 1;
    if (vs_unlikely(++w->slots > vq->size)) {
        vs_vq_fail(vq, VS_VQ_ERR_DESC_LOOP, "chain longer than the ring (%u)", vq->size);
        return -1;
    }
    const struct vring_packed_desc *ring = vq->desc;
    vs_vq_read_desc(d, &ring[w->pos]);
    /* Every descriptor of a chain carries the availability of its own slot; one
     * that does not was never made available (the guest lost track of its ring). */
    if (vs_unlikely(!desc_avail(d->flags, w->wrap))) {
        vs_vq_fail(vq, VS_VQ_ERR_AVAIL_IDX,
                   "descriptor %u in a chain is not available (flags 0x%x, wrap %d)", w->pos,
                   d->flags, w->wrap);
        return -1;
    }
    if (++w->pos == vq->size) {
        w->pos = 0;
        w->wrap = !w->wrap;
    }
    w->id = d->id;
    w->more = d->flags & VRING_DESC_F_NEXT;
    if (vs_likely(!(d->flags & VRING_DESC_F_INDIRECT)))
        return 0;
    const void *t = vs_vq_indirect_table(vq, d->addr, d->len, false, w->more);
    if (vs_unlikely(!t))
        return -1;
    w->itab = t;
    w->imax = d->len / sizeof(*d);
    w->iidx = 1;
    vs_vq_read_desc(d, &w->itab[0]);
    if (vs_unlikely(d->flags & VRING_DESC_F_INDIRECT)) {
        vs_vq_fail(vq, VS_VQ_ERR_INDIRECT, "nested indirect table (buffer %u)", w->id);
        return -1;
    }
    return 0;
}

static inline int packed_check_id(struct vs_virtq *vq, const struct packed_walk *w)
{
    if (vs_unlikely(w->id >= vq->size)) {
        vs_vq_fail(vq, VS_VQ_ERR_DESC_INDEX, "buffer id %u beyond the ring (%u)", w->id,
                   vq->size);
        return -1;
    }
    return 0;
}

/* One TX chain into *pp (a long frame moves it to a large buffer; lending, a chain
 * worth it is lent): 1 (frame), 0 (dropped), -1 (broken). */
static int packed_tx_chain(struct vs_virtq *vq, struct packed_walk *w, struct vs_pool *pool,
                           struct vs_pkt **pp, bool lend)
{
    struct vs_vq_tx t;
    struct vring_packed_desc d;
    int rc;
    vs_vq_tx_init(&t, vq, pool, pp, lend);
    while ((rc = packed_next(vq, w, &d)) == 0) {
        if (vs_unlikely(d.flags & VRING_DESC_F_WRITE)) {
            vs_vq_fail(vq, VS_VQ_ERR_DIRECTION, "device-writable descriptor in TX buffer %u",
                       w->id);
            return -1;
        }
        if (vs_vq_tx_buf(vq, &t, d.addr, d.len))
            return -1;
    }
    if (rc < 0 || packed_check_id(vq, w))
        return -1;
    return vs_vq_tx_finish(vq, &t, w->id);
}

/* One RX chain: collects writable buffers into rx up to need bytes, but walks the
 * whole chain (its length decides where the next one starts), each descriptor taken
 * from *budget. 0, 1 (budget spent: the chain is left as it is) or -1 (broken). */
static int packed_rx_chain(struct vs_virtq *vq, struct packed_walk *w, struct vs_vq_rx *rx,
                           uint32_t need, unsigned *budget)
{
    struct vring_packed_desc d;
    int rc;
    for (;;) {
        if (*budget == 0)
            return 1;
        --*budget;
        if ((rc = packed_next(vq, w, &d)) != 0)
            break;
        if (vs_unlikely(!(d.flags & VRING_DESC_F_WRITE))) {
            vs_vq_fail(vq, VS_VQ_ERR_DIRECTION, "device-readable descriptor in RX buffer %u",
                       w->id);
            return -1;
        }
        if (vs_vq_rx_buf(vq, rx, d.addr, d.len, need))
            return -1;
    }
    if (rc < 0 || packed_check_id(vq, w))
        return -1;
    return 0;
}

/* Writes the used descriptors u[0..nu) where their chains started. Ids and lengths
 * first, then the flags of all but the first, then (after a barrier) the first's
 * flags: the driver, which reads in order and looks at nothing past a descriptor
 * that is not used yet, never sees part of a batch. batch (guest TX, where every
 * length is 0): with IN_ORDER only one descriptor is written, at the first chain's
 * slot with the last chain's id, and we skip over the slots of all nu chains; the
 * driver takes every buffer up to that id as used. */
static void packed_publish(struct vs_virtq *vq, const struct vs_vq_used *u, unsigned nu,
                           bool batch)
{
    if (nu == 0)
        return;
    struct vring_packed_desc *ring = vq->desc;
    uint16_t pos = vq->last_used_idx;
    bool wrap = vq->used_wrap;
    uint16_t at[VS_VQ_USED_BATCH];
    uint16_t fl[VS_VQ_USED_BATCH];
    unsigned nw = 0;
    bool one = batch && vq->in_order;
    for (unsigned j = 0; j < nu; j++) {
        if (!one || j + 1 == nu) {
            /* In order, the batch's one descriptor goes to the first chain's slot. */
            uint16_t slot = one ? vq->last_used_idx : pos;
            bool w = one ? vq->used_wrap : wrap;
            at[nw] = slot;
            fl[nw++] = w ? (uint16_t)(VS_VQ_PACKED_AVAIL | VS_VQ_PACKED_USED) : 0;
            ring[slot].id = u[j].id;
            ring[slot].len = u[j].len;
        }
        pos += u[j].slots;
        if (pos >= vq->size) {
            pos -= vq->size;
            wrap = !wrap;
        }
    }
    /* Release: ids and lengths before the flags that hand them over (the driver
     * reads a descriptor's id and len only after seeing its flags turn used). */
    vs_smp_wmb();
    for (unsigned j = 1; j < nw; j++)
        VS_WRITE_ONCE(ring[at[j]].flags, fl[j]);
    /* Release again: the first descriptor's flags last. Until it turns used the
     * driver looks at none of the others, so it never sees half a batch. */
    vs_smp_wmb();
    VS_WRITE_ONCE(ring[at[0]].flags, fl[0]);
    vq->last_used_idx = pos;
    vq->used_wrap = wrap;
    vq->used_pending = true;
    if (vs_unlikely(vq->log != NULL))
        for (unsigned j = 0; j < nw; j++)
            vs_vq_log(vq, vq->desc_gpa + 16ull * at[j], 16);
}

/* Lends a one-descriptor chain at w->pos (see vs_vq_tx_lend) and steps w past it. */
static inline bool packed_tx_lend(struct vs_virtq *vq, struct packed_walk *w, struct vs_pkt *pkt)
{
    const struct vring_packed_desc *ring = vq->desc;
    struct vring_packed_desc d;
    vs_vq_read_desc(&d, &ring[w->pos]);
    if (d.id >= vq->size || !desc_avail(d.flags, w->wrap) ||
        !vs_vq_tx_lend(vq, d.addr, d.len, d.flags, pkt))
        return false;
    w->id = d.id;
    w->slots = 1;
    w->more = false;
    if (++w->pos == vq->size) {
        w->pos = 0;
        w->wrap = !w->wrap;
    }
    return true;
}

void vs_vq_packed_dequeue_done(struct vs_virtq *vq)
{
    unsigned nu = vq->lend_consumed;
    vq->lend_consumed = 0;
    packed_publish(vq, vq->lend_used, nu, true);
}

/* The lines a short frame touches in the next k available buffers (for writing: RX;
 * for reading: TX), see vs_vq_prefetch_buf. */
static void packed_prefetch(struct vs_virtq *vq, uint16_t k, uint32_t off, bool write)
{
    const struct vring_packed_desc *ring = vq->desc;
    uint16_t pos = vq->last_avail_idx;
    bool wrap = vq->avail_wrap;
    for (uint16_t i = 0; i < k && packed_head_avail(vq, pos, wrap); i++) {
        vs_vq_prefetch_buf(vq, VS_READ_ONCE(ring[pos].addr), off, write);
        if (++pos == vq->size) {
            pos = 0;
            wrap = !wrap;
        }
    }
}

uint16_t vs_vq_packed_dequeue(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                              uint16_t n, bool lend)
{
    if (!packed_head_avail(vq, vq->last_avail_idx, vq->avail_wrap))
        return 0;
    unsigned got = vs_pkt_alloc_bulk(pool, pkts, n);
    if (vs_unlikely(got < n))
        vq->stats.no_mbufs += n - got;
    if (got == 0)
        return 0;

    const struct vring_packed_desc *ring = vq->desc;
    packed_prefetch(vq, (uint16_t)got, vq->hdr_len, false);
    /* The used entries, in order; a lending burst keeps them until done. */
    struct vs_vq_used local[VS_BURST], *u = lend ? vq->lend_used : local;
    unsigned nu = 0, i;
    uint16_t out = 0, lent = 0;
    uint64_t bytes = 0;
    uint16_t pos = vq->last_avail_idx;
    bool wrap = vq->avail_wrap;
    for (i = 0; i < got; i++) {
        if (i > 0 && !packed_head_avail(vq, pos, wrap))
            break;
        struct vs_pkt *p = pkts[i];
        struct packed_walk w = { .pos = pos, .wrap = wrap, .more = true };
        int rc = 1;
        if (lend && packed_tx_lend(vq, &w, p)) {
            lent++;
        } else {
            rc = packed_tx_chain(vq, &w, pool, &pkts[i], lend);
            lent += rc > 0 && (pkts[i]->flags & VS_PKT_F_EXTERNAL);
        }
        p = pkts[i];
        if (vs_unlikely(rc < 0)) {
            vs_pkt_free_bulk(pkts, out);
            vs_pkt_free_bulk(pkts + i, got - i);
            return 0;
        }
        /* The next chain starts where this one ended: fetch its line early. */
        vs_prefetch(&ring[w.pos]);
        u[nu++] = (struct vs_vq_used){ .id = w.id, .slots = w.slots, .len = 0 };
        pos = w.pos;
        wrap = w.wrap;
        if (rc > 0) {
            pkts[out++] = p;
            bytes += p->len;
        } else {
            vs_pkt_free(p);
        }
    }
    if (i < got)
        vs_pkt_free_bulk(pkts + i, got - i);
    vq->last_avail_idx = pos;
    vq->avail_wrap = wrap;
    /* With lent frames the buffers go back (flags turned used) only when the caller
     * is done reading; the copied ones wait with them, keeping the order. */
    if (lent)
        vq->lend_consumed = (uint16_t)nu;
    else
        packed_publish(vq, u, nu, true);
    vq->stats.packets += out;
    vq->stats.bytes += bytes;
    return out;
}

uint16_t vs_vq_packed_enqueue(struct vs_virtq *vq, struct vs_pkt *const *pkts, uint16_t n)
{
    struct vs_vq_used u[VS_VQ_USED_BATCH];
    unsigned nu = 0;
    uint16_t delivered = 0, flushed = 0;
    uint64_t bytes = 0, flushed_bytes = 0;
    uint16_t pos = vq->last_avail_idx;
    bool wrap = vq->avail_wrap;
    unsigned budget = VS_VQ_RX_WALK_BUDGET;
    struct vs_vq_rx rx;

    packed_prefetch(vq, n, vq->hdr_len, true);
    for (uint16_t i = 0; i < n; i++) {
        if (nu > VS_VQ_USED_BATCH - VS_VQ_RX_MAX_SEGS) {
            /* Hand over what is complete; those chains are consumed for good. */
            vq->last_avail_idx = pos;
            vq->avail_wrap = wrap;
            packed_publish(vq, u, nu, false);
            nu = 0;
            flushed = delivered;
            flushed_bytes = bytes;
        }
        /* This frame's chains are recorded straight into u[nu..]; they count only
         * once the frame is written. */
        struct vs_vq_used *ch = &u[nu];
        struct vs_pkt *p = pkts[i];
        uint32_t need = (uint32_t)vq->hdr_len + p->len;
        uint16_t cpos = pos;
        bool cwrap = wrap;
        unsigned nch = 0;
        rx.nseg = 0;
        rx.cap = 0;
        /* nch is bounded on its own: a chain of zero-length buffers adds no segment. */
        while (rx.cap < need && rx.nseg < VS_VQ_RX_MAX_SEGS && nch < VS_VQ_RX_MAX_SEGS &&
               (vq->mrg_rxbuf || nch == 0)) {
            if (!packed_head_avail(vq, cpos, cwrap))
                break;
            struct packed_walk w = { .pos = cpos, .wrap = cwrap, .more = true };
            uint32_t before = rx.cap;
            int rc = packed_rx_chain(vq, &w, &rx, need, &budget);
            if (vs_unlikely(rc < 0))
                goto broken;
            if (vs_unlikely(rc > 0)) {
                vq->stats.walk_cut++;
                break;
            }
            ch[nch++] = (struct vs_vq_used){ .id = w.id, .slots = w.slots,
                                              .len = rx.cap - before };
            cpos = w.pos;
            cwrap = w.wrap;
        }
        if (vs_unlikely(rx.cap < need)) {
            /* Out of buffers, out of budget, or too small for this frame: the rest of
             * the burst would walk the same chains again. */
            vq->stats.no_buffers += n - i;
            break;
        }
        vs_vq_rx_write(vq, &rx, vq->hdr_len, vq->mrg_rxbuf ? (uint16_t)nch : 1, p);
        nu += nch;
        pos = cpos;
        wrap = cwrap;
        delivered++;
        bytes += p->len;
    }
    vq->last_avail_idx = pos;
    vq->avail_wrap = wrap;
    packed_publish(vq, u, nu, false);
    vq->stats.packets += delivered;
    vq->stats.bytes += bytes;
    return delivered;

broken:
    /* Frames already handed over in a mid-burst batch stay delivered (counted); the
     * rest is abandoned with the queue, and the caller frees every buffer anyway. */
    vq->stats.packets += flushed;
    vq->stats.bytes += flushed_bytes;
    return 0;
}
