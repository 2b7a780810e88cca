/* Split virtqueues, device side (virtio 1.x, 2.7).
 *
 * Per burst: at most one read of avail->idx (none while the entries seen last time
 * last), the ring entries of the burst in one pass, each chain's descriptors once;
 * then the used elements from a shadow in one run, one write barrier and one
 * used->idx store. Both indices move together in split_flush, so last_used_idx ==
 * last_avail_idx between calls, but a lending dequeue holds its burst's buffers
 * (used elements in the shadow, neither index moved) until vs_virtq_dequeue_done
 * writes them out. Buffers are used in the order they were made available, so
 * VIRTIO_F_IN_ORDER costs nothing but lets one used entry stand for a TX burst. */
#include "ports/virtio/virtq_internal.h"
#include "vswitch/pkt.h"

/* Position in a descriptor chain: the ring's table, or an indirect one. */
struct split_walk {
    const struct vring_desc *table;
    uint32_t max;   /* entries in table: also the bound on hops (a longer chain loops) */
    uint32_t idx;   /* entry to load next */
    uint32_t hops;
    bool in_indirect;
};

/* Loads w->idx into d, stepping into an indirect table when d refers to one.
 * Returns 0, or -1 with the queue broken. */
static inline int split_load(struct vs_virtq *vq, struct split_walk *w, struct vring_desc *d)
{
    for (;;) {
        if (vs_unlikely(w->idx >= w->max)) {
            vs_vq_fail(vq, VS_VQ_ERR_DESC_INDEX, "descriptor %u beyond %s of %u", w->idx,
                       w->in_indirect ? "indirect table" : "ring", w->max);
            return -1;
        }
        if (vs_unlikely(++w->hops > w->max)) {
            vs_vq_fail(vq, VS_VQ_ERR_DESC_LOOP, "chain longer than %u descriptors%s", w->max,
                       w->in_indirect ? " in an indirect table" : "");
            return -1;
        }
        vs_vq_read_desc(d, &w->table[w->idx]);
        if (vs_likely(!(d->flags & VRING_DESC_F_INDIRECT)))
            return 0;
        const void *t = vs_vq_indirect_table(vq, d->addr, d->len, w->in_indirect,
                                             d->flags & VRING_DESC_F_NEXT);
        if (vs_unlikely(!t))
            return -1;
        w->table = t;
        w->max = d->len / sizeof(struct vring_desc);
        w->idx = 0;
        w->hops = 0;
        w->in_indirect = true;
    }
}

/* One TX chain into *pp (a long frame moves it to a large buffer; lending, a chain
 * worth it is lent). Returns 1 (frame in *pp), 0 (frame dropped, chain fine) or -1
 * (queue broken). Not inlined: the dequeue loop's one-descriptor lending path keeps
 * its registers (measured: 2 instructions a frame fewer at 64 bytes). */
static __attribute__((noinline)) int split_tx_chain(struct vs_virtq *vq, uint16_t head, struct vs_pool *pool,
                          struct vs_pkt **pp, bool lend)
{
    struct split_walk w = { .table = vq->desc, .max = vq->size, .idx = head };
    struct vs_vq_tx t;
    struct vring_desc d;
    vs_vq_tx_init(&t, vq, pool, pp, lend);
    if (split_load(vq, &w, &d))
        return -1;
    for (;;) {
        if (vs_unlikely(d.flags & VRING_DESC_F_WRITE)) {
            vs_vq_fail(vq, VS_VQ_ERR_DIRECTION, "device-writable descriptor in TX chain %u",
                       head);
            return -1;
        }
        if (vs_vq_tx_buf(vq, &t, d.addr, d.len))
            return -1;
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        w.idx = d.next;
        if (split_load(vq, &w, &d))
            return -1;
    }
    return vs_vq_tx_finish(vq, &t, head);
}

/* Collects the writable buffers of an RX chain into rx until it holds need bytes,
 * each descriptor load taken from *budget. Returns 0, 1 (budget spent: the chain is
 * left as it is) or -1 (queue broken). */
static int split_rx_chain(struct vs_virtq *vq, uint16_t head, struct vs_vq_rx *rx,
                          uint32_t need, unsigned *budget)
{
    struct split_walk w = { .table = vq->desc, .max = vq->size, .idx = head };
    struct vring_desc d;
    if (*budget == 0)
        return 1;
    --*budget;
    if (split_load(vq, &w, &d))
        return -1;
    for (;;) {
        if (vs_unlikely(!(d.flags & VRING_DESC_F_WRITE))) {
            vs_vq_fail(vq, VS_VQ_ERR_DIRECTION, "device-readable descriptor in RX chain %u",
                       head);
            return -1;
        }
        if (vs_vq_rx_buf(vq, rx, d.addr, d.len, need))
            return -1;
        /* The rest of the chain is not needed: leave it unread. */
        if (rx->cap >= need || rx->nseg == VS_VQ_RX_MAX_SEGS || !(d.flags & VRING_DESC_F_NEXT))
            return 0;
        if (*budget == 0)
            return 1;
        --*budget;
        w.idx = d.next;
        if (split_load(vq, &w, &d))
            return -1;
    }
}

/* Reads avail->idx and returns how many entries are new, or -1 (queue broken). The
 * driver writes that line on every post, so each read moves it between the cores:
 * callers first use what the last read told them (avail_idx_shadow). */
static int split_avail_read(struct vs_virtq *vq)
{
    const struct vring_avail *avail = vq->avail;
    uint16_t idx = VS_READ_ONCE(avail->idx);
    /* Acquire: the driver filled the ring entries and descriptors before it stored
     * idx; none of them may be read before idx (a compiler barrier on x86-64). */
    vs_smp_rmb();
    uint16_t pending = (uint16_t)(idx - vq->last_avail_idx);
    if (vs_unlikely(pending > vq->size)) {
        vs_vq_fail(vq, VS_VQ_ERR_AVAIL_IDX, "avail idx %u is %u ahead of %u (ring of %u)", idx,
                   pending, vq->last_avail_idx, vq->size);
        return -1;
    }
    vq->avail_idx_shadow = idx;
    return pending;
}

/* Entries known to be available, read again from the driver only when fewer than want
 * are known (*read says whether it was). -1: queue broken. */
static inline int split_avail(struct vs_virtq *vq, uint16_t want, bool *read)
{
    uint16_t known = (uint16_t)(vq->avail_idx_shadow - vq->last_avail_idx);
    *read = known < want;
    return *read ? split_avail_read(vq) : known;
}

/* The avail ring entries of a burst, read VS_BURST at a time: one pass over the lines
 * the driver writes, no entry read twice. Positions count from base. */
struct split_heads {
    uint16_t base, from, n;
    uint16_t h[VS_BURST];
};

static inline uint16_t split_head(const struct vs_virtq *vq, struct split_heads *c, uint16_t pos,
                                  uint16_t pending)
{
    if (vs_unlikely((uint16_t)(pos - c->from) >= c->n)) {
        const struct vring_avail *avail = vq->avail;
        uint16_t mask = vq->size - 1;
        c->from = pos;
        c->n = VS_MIN((uint16_t)(pending - pos), (uint16_t)VS_BURST);
        for (uint16_t k = 0; k < c->n; k++)
            c->h[k] = VS_READ_ONCE(avail->ring[(uint16_t)(c->base + pos + k) & mask]);
    }
    return c->h[(uint16_t)(pos - c->from)];
}

/* Writes the used entries u[0..nu) into the ring and hands them to the driver with
 * the consumed avail entries. The shadow goes out in one run just before used->idx,
 * so the lines the driver polls are written once per burst, not once per buffer.
 * batch (guest TX, where every length is 0): with IN_ORDER one entry, the last
 * buffer's, stands for all nu at the first slot while used->idx still advances by nu;
 * the driver counts buffers by idx and takes every buffer up to that id as used. */
static void split_flush(struct vs_virtq *vq, uint16_t consumed, const struct vs_vq_used *u,
                        uint16_t nu, bool batch)
{
    struct vring_used *used = vq->used;
    uint16_t mask = vq->size - 1, start = vq->last_used_idx, nw = nu;
    if (batch && vq->in_order && nu > 1) {
        u += nu - 1;
        nw = 1;
    }
    for (uint16_t j = 0; j < nw; j++)
        used->ring[(uint16_t)(start + j) & mask] =
            (struct vring_used_elem){ .id = u[j].id, .len = u[j].len };
    vq->last_avail_idx += consumed;
    vq->last_used_idx += nu;
    /* Release: the elements must be visible before the idx that hands them over. */
    vs_smp_wmb();
    VS_WRITE_ONCE(used->idx, vq->last_used_idx);
    vq->used_pending = true;
    if (vs_unlikely(vq->log != NULL)) {
        uint16_t s = start & mask;
        uint32_t first = VS_MIN((uint32_t)nw, (uint32_t)vq->size - s);
        uint64_t base = vq->used_ring_gpa + 4;
        vs_vq_log(vq, base + 8ull * s, 8ull * first);
        if (nw > first)
            vs_vq_log(vq, base, 8ull * (nw - first));
        vs_vq_log(vq, vq->used_ring_gpa + 2, 2);
    }
    if (vq->event_idx) {
        uint16_t *slot = (uint16_t *)&used->ring[vq->size];
        uint16_t ev;
        if (!vq->kick_suppressed)
            ev = vq->last_avail_idx; /* kick me on the next buffer */
        else if ((uint16_t)(vq->last_avail_idx - vq->avail_event_shadow) >= 0x4000)
            ev = (uint16_t)(vq->last_avail_idx - 1); /* keep the event out of reach */
        else
            return;
        if (ev != vq->avail_event_shadow) {
            VS_WRITE_ONCE(*slot, ev);
            vq->avail_event_shadow = ev;
            vs_vq_log(vq, vq->used_ring_gpa + 4 + 8ull * vq->size, 2);
        }
    }
}

/* Lends a single-descriptor TX chain (see vs_vq_tx_lend). */
static inline bool split_tx_lend(struct vs_virtq *vq, uint16_t head, struct vs_pkt *pkt)
{
    struct vring_desc d;
    if (vs_unlikely(head >= vq->size))
        return false;
    vs_vq_read_desc(&d, &((const struct vring_desc *)vq->desc)[head]);
    return vs_vq_tx_lend(vq, d.addr, d.len, d.flags, pkt);
}

void vs_vq_split_dequeue_done(struct vs_virtq *vq)
{
    uint16_t n = vq->lend_consumed;
    vq->lend_consumed = 0;
    split_flush(vq, n, vq->lend_used, n, true);
}

uint16_t vs_vq_split_dequeue(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                             uint16_t n, bool lend)
{
    bool read;
    int pending = split_avail(vq, n, &read);
    if (pending <= 0)
        return 0;
    if (n > pending)
        n = (uint16_t)pending;
    unsigned got = vs_pkt_alloc_bulk(pool, pkts, n);
    if (vs_unlikely(got < n))
        vq->stats.no_mbufs += n - got;
    if (got == 0)
        return 0;

    const struct vring_desc *desc = vq->desc;
    const struct vring_avail *avail = vq->avail;
    uint16_t mask = vq->size - 1;
    /* The used entries, in order; a lending burst keeps them until done. */
    struct vs_vq_used local[VS_BURST], *u = lend ? vq->lend_used : local;
    for (unsigned i = 0; i < got; i++)
        u[i] = (struct vs_vq_used){
            .id = VS_READ_ONCE(avail->ring[(uint16_t)(vq->last_avail_idx + i) & mask]) };
    /* The frames' first lines (after the header), fetched together. */
    for (unsigned i = 0; i < got; i++)
        vs_vq_prefetch_buf(vq, VS_READ_ONCE(desc[u[i].id & mask].addr), vq->hdr_len, false);

    uint16_t out = 0, lent = 0;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < got; i++) {
        struct vs_pkt *p = pkts[i];
        if (i + 1 < got) {
            vs_prefetch(&desc[u[i + 1].id & mask]);
            vs_prefetch_w(vs_pkt_data(pkts[i + 1]));
        }
        int rc = 1;
        if (lend && split_tx_lend(vq, u[i].id, p)) {
            lent++;
        } else {
            rc = split_tx_chain(vq, u[i].id, pool, &pkts[i], lend);
            lent += rc > 0 && (pkts[i]->flags & VS_PKT_F_EXTERNAL);
        }
        p = pkts[i];
        if (vs_unlikely(rc < 0)) {
            /* Broken: nothing of this burst reaches the used ring or the switch. */
            vs_pkt_free_bulk(pkts, out);
            vs_pkt_free_bulk(pkts + i, got - i);
            return 0;
        }
        if (rc > 0) {
            pkts[out++] = p;
            bytes += p->len;
        } else {
            vs_pkt_free(p);
        }
    }
    /* With lent frames the buffers go back only when the caller is done reading them;
     * the copied ones wait with them, so the guest sees its buffers used in order. */
    if (lent)
        vq->lend_consumed = (uint16_t)got;
    else
        split_flush(vq, (uint16_t)got, u, (uint16_t)got, true);
    vq->stats.packets += out;
    vq->stats.bytes += bytes;
    return out;
}

/* The lines a short frame touches in the buffers of the next k chains, for writing
 * (see vs_vq_prefetch_buf). */
static void split_rx_prefetch(struct vs_virtq *vq, struct split_heads *hc, uint16_t k)
{
    const struct vring_desc *desc = vq->desc;
    struct vring_used *used = vq->used;
    uint16_t mask = vq->size - 1;
    for (uint16_t i = 0; i < k; i++)
        vs_vq_prefetch_buf(vq, VS_READ_ONCE(desc[split_head(vq, hc, i, k) & mask].addr),
                           vq->hdr_len, true);
    /* The used entries this burst will write, 8 to a line (the driver read the lines
     * since we last wrote them). Not used->idx's line: the driver polls it, and taking
     * it early would only make it move twice. */
    for (uint16_t i = 0; i < k; i += VS_CACHE_LINE / sizeof(used->ring[0]))
        vs_prefetch_w(&used->ring[(uint16_t)(vq->last_used_idx + i) & mask]);
    if (k)
        vs_prefetch_w(&used->ring[(uint16_t)(vq->last_used_idx + k - 1) & mask]);
}

uint16_t vs_vq_split_enqueue(struct vs_virtq *vq, struct vs_pkt *const *pkts, uint16_t n)
{
    bool refreshed;
    int pending = split_avail(vq, n, &refreshed);
    if (pending < 0)
        return 0;
    if (pending == 0) {
        vq->stats.no_buffers += n;
        return 0;
    }
    const struct vring_desc *desc = vq->desc;
    uint16_t mask = vq->size - 1;
    struct split_heads hc = { .base = vq->last_avail_idx };
    struct vs_vq_used u[VS_VQ_USED_BATCH];
    /* pos: avail entries consumed since base; flushed: of those, written out. */
    uint16_t pos = 0, flushed = 0, nu = 0, delivered = 0, flushed_delivered = 0;
    uint64_t bytes = 0, flushed_bytes = 0;
    unsigned budget = VS_VQ_RX_WALK_BUDGET;
    struct vs_vq_rx rx;

    split_rx_prefetch(vq, &hc, VS_MIN((uint16_t)pending, n));
    for (uint16_t i = 0; i < n; i++) {
        if (nu > VS_VQ_USED_BATCH - VS_VQ_RX_MAX_SEGS) {
            /* Hand over what is complete; those chains are consumed for good. */
            split_flush(vq, (uint16_t)(pos - flushed), u, nu, false);
            flushed = pos;
            nu = 0;
            flushed_delivered = delivered;
            flushed_bytes = bytes;
        }
        /* This frame's chains are recorded straight into u[nu..]; they count only
         * once the frame is written. */
        struct vs_vq_used *ch = &u[nu];
        struct vs_pkt *p = pkts[i];
        uint32_t need = (uint32_t)vq->hdr_len + p->len;
        uint16_t cpos = pos;
        unsigned nch = 0;
        rx.nseg = 0;
        rx.cap = 0;
        /* nch is bounded on its own: a chain of zero-length buffers adds no segment. */
        while (rx.cap < need && rx.nseg < VS_VQ_RX_MAX_SEGS && nch < VS_VQ_RX_MAX_SEGS &&
               (vq->mrg_rxbuf || nch == 0)) {
            if (cpos == pending && !refreshed) {
                /* The entries we knew of ran out: ask the driver once per burst. */
                refreshed = true;
                int more = split_avail_read(vq);
                if (more < 0)
                    goto broken;
                pending = flushed + more;
            }
            if (cpos == pending)
                break;
            uint16_t head = split_head(vq, &hc, cpos, (uint16_t)pending);
            cpos++;
            uint32_t before = rx.cap;
            int rc = split_rx_chain(vq, head, &rx, need, &budget);
            if (vs_unlikely(rc < 0))
                goto broken;
            if (vs_unlikely(rc > 0)) {
                vq->stats.walk_cut++;
                break;
            }
            ch[nch++] = (struct vs_vq_used){ .id = head, .len = rx.cap - before };
        }
        if (vs_unlikely(rx.cap < need)) {
            /* Out of buffers, out of budget, or the chain (or 64 pieces) cannot hold
             * this frame: the rest of the burst would walk the same chains again. */
            vq->stats.no_buffers += n - i;
            break;
        }
        if (cpos < pending)
            vs_prefetch(&desc[split_head(vq, &hc, cpos, (uint16_t)pending) & mask]);
        vs_vq_rx_write(vq, &rx, vq->hdr_len, vq->mrg_rxbuf ? (uint16_t)nch : 1, p);
        nu += nch;
        pos = cpos;
        delivered++;
        bytes += p->len;
    }
    if (nu)
        split_flush(vq, (uint16_t)(pos - flushed), u, nu, false);
    vq->stats.packets += delivered;
    vq->stats.bytes += bytes;
    return delivered;

broken:
    /* Frames handed over in a mid-burst flush stay delivered (counted); the rest is
     * abandoned with the queue, and the caller frees every buffer anyway. */
    vq->stats.packets += flushed_delivered;
    vq->stats.bytes += flushed_bytes;
    return 0;
}
