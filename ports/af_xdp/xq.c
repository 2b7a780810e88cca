#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ports/af_xdp/xq.h"

/* Refills per RX burst, of up to 2 * VS_BURST buffers each: the kernel may have
 * taken many more fill entries than the poller took frames (a NAPI poll of 64,
 * several between two bursts). */
#define REFILL_ROUNDS 4

/* Completions reaped per call: the TX ring's worth never needs more than a few. */
#define COMP_BATCH 64

static inline void bit_set(uint64_t *b, uint32_t i) { b[i / 64] |= 1ull << (i % 64); }
static inline void bit_clear(uint64_t *b, uint32_t i) { b[i / 64] &= ~(1ull << (i % 64)); }
static inline bool bit_test(const uint64_t *b, uint32_t i) { return b[i / 64] >> (i % 64) & 1; }

int vs_xq_init(struct vs_xq *q, const struct vs_xq_area *area, int fd, bool zc)
{
    size_t words = (area->n_bufs + 63) / 64;

    q->area = area;
    q->fd = fd;
    q->zc = zc;
    q->held_rx = calloc(words, sizeof(uint64_t));
    q->held_tx = calloc(words, sizeof(uint64_t));
    /* At most one buffer starts before and ends after each page boundary. */
    q->max_aside = zc ? (unsigned)(area->len / area->page_size) + 1 : 0;
    q->aside = zc ? calloc(q->max_aside, sizeof(*q->aside)) : NULL;
    if (!q->held_rx || !q->held_tx || (zc && !q->aside)) {
        free(q->held_rx);
        free(q->held_tx);
        free(q->aside);
        q->held_rx = q->held_tx = NULL;
        q->aside = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* Whether [off, off + len) of the UMEM crosses a page boundary. */
static inline bool straddles(const struct vs_xq_area *a, uint64_t off, uint32_t len)
{
    return (off & (a->page_size - 1)) + len > a->page_size;
}

/* A buffer's UMEM address: its buf[0] from the region's start. */
static inline uint64_t umem_addr(const struct vs_xq_area *a, const struct vs_pkt *p)
{
    return (uint64_t)(p->buf - a->base);
}

/* The pool buffer whose buf[0] is at UMEM address addr, or NULL when addr is not
 * one (the kernel gives back only what we posted, but a wrong pointer here would
 * corrupt the pool for every port: one multiplication to be sure). */
static inline struct vs_pkt *addr_pkt(const struct vs_xq_area *a, uint64_t addr)
{
    uint64_t off = xsk_umem__extract_addr(addr) - VS_CACHE_LINE;
    uint64_t i = off / VS_PKT_SIZE;

    if (vs_unlikely(off % VS_PKT_SIZE || i >= a->n_bufs))
        return NULL;
    return (struct vs_pkt *)(a->base + off);
}

unsigned vs_xq_refill(struct vs_xq *q, unsigned max)
{
    struct vs_pkt *pkts[2 * VS_BURST];
    uint32_t idx;
    unsigned want = xsk_prod_nb_free(&q->fill, 1), got;

    if (want > max)
        want = max;
    if (want > VS_ARRAY_SIZE(pkts))
        want = VS_ARRAY_SIZE(pkts);
    if (!want)
        return 0;
    got = vs_pkt_alloc_bulk(q->area->pool, pkts, want);
    if (got < want)
        q->fill_short++;
    if (!got || xsk_ring_prod__reserve(&q->fill, got, &idx) != got) {
        vs_pkt_free_bulk(pkts, got);
        return 0;
    }
    unsigned posted = 0, aside = 0;

    for (unsigned i = 0; i < got; i++) {
        uint64_t addr = umem_addr(q->area, pkts[i]);

        if (vs_unlikely(q->zc && straddles(q->area, addr, VS_XDP_CHUNK)) &&
            q->n_aside < q->max_aside) {
            q->aside[q->n_aside++] = pkts[i];
            aside++;
            continue;
        }
        *xsk_ring_prod__fill_addr(&q->fill, idx + posted++) = addr;
        bit_set(q->held_rx, pkts[i]->index);
    }
    q->fill.cached_prod -= got - posted; /* the reservations not used */
    xsk_ring_prod__submit(&q->fill, posted);
    q->rx_held += posted;
    return posted + aside;
}

uint16_t vs_xq_rx(struct vs_xq *q, struct vs_pkt **pkts, uint16_t n)
{
    uint32_t idx;
    unsigned got = xsk_ring_cons__peek(&q->rx, n, &idx), rx = 0;

    for (unsigned i = 0; i < got; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
        struct vs_pkt *p = addr_pkt(q->area, d->addr);
        uint64_t off = xsk_umem__extract_offset(d->addr);

        if (vs_unlikely(!p || !bit_test(q->held_rx, p->index) || off + d->len > VS_XDP_CHUNK ||
                        d->len < 14)) {
            /* Not a buffer this queue posted, or a frame beyond its chunk: leave the
             * buffer alone (if it is one of ours it stays marked, freed on close). */
            q->rx_bad_desc++;
            continue;
        }
        bit_clear(q->held_rx, p->index);
        q->rx_held--;
        p->data_off = (uint16_t)off;
        p->data = p->buf + off;
        p->len = d->len;
        __builtin_prefetch(p->data);
        pkts[rx++] = p;
    }
    if (got)
        xsk_ring_cons__release(&q->rx, got);
    /* Every frame received took a fill entry: give them back, and catch up on what
     * an earlier burst could not get from the pool. An idle queue with a full
     * fill ring does not even look at it. */
    if (got || q->rx_held < q->fill.size)
        for (unsigned i = 0; i < REFILL_ROUNDS && vs_xq_refill(q, 2 * VS_BURST); i++)
            ;
    if (xsk_ring_prod__needs_wakeup(&q->fill)) {
        q->rx_wakeups++;
        if (q->fd >= 0)
            recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
    }
    /* A kick sends at most 32 frames in copy mode and fails while the device is
     * busy: what it left on the TX ring would wait for the next tx_burst, maybe
     * for ever on a quiet port. The socket's poller kicks again (the kernel
     * serialises sends; tx_burst's callers keep the ring itself). */
    if (vs_unlikely(xsk_ring_prod__needs_wakeup(&q->tx) &&
                    vs_xq_ring_level(q->tx.producer, q->tx.consumer))) {
        q->tx_rekicks++;
        if (q->fd >= 0)
            sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
    }
    return (uint16_t)rx;
}

unsigned vs_xq_complete(struct vs_xq *q)
{
    struct vs_pkt *done[COMP_BATCH];
    uint32_t idx;
    unsigned got = xsk_ring_cons__peek(&q->comp, COMP_BATCH, &idx), n = 0;

    for (unsigned i = 0; i < got; i++) {
        struct vs_pkt *p = addr_pkt(q->area, *xsk_ring_cons__comp_addr(&q->comp, idx + i));

        if (vs_unlikely(!p || !bit_test(q->held_tx, p->index)))
            continue; /* not ours to free: never free a buffer twice */
        bit_clear(q->held_tx, p->index);
        done[n++] = p;
    }
    if (got)
        xsk_ring_cons__release(&q->comp, got);
    q->tx_held -= n;
    vs_pkt_free_bulk(done, n);
    return n;
}

/* p as a frame the kernel may read from the UMEM (*out): itself when it lies in
 * a pool buffer not already on this TX ring, else a copy (p freed). -ENOBUFS: no
 * buffer for the copy (p untouched); -ERANGE: the copy would cross a page
 * boundary in zero-copy mode (p freed; rare enough to drop). */
static inline int tx_frame(struct vs_xq *q, struct vs_pkt *p, struct vs_pkt **out)
{
    struct vs_pkt *c;

    if (vs_likely(p->pool == q->area->pool && !(p->flags & VS_PKT_F_EXTERNAL) &&
                  !bit_test(q->held_tx, p->index)) &&
        (vs_likely(!q->zc) || !straddles(q->area, umem_addr(q->area, p) + p->data_off, p->len))) {
        *out = p;
        return 0;
    }
    /* A lent frame lives in a peer's memory, a large buffer outside the UMEM, and a
     * frame sent twice on one queue would be completed twice. */
    c = vs_pkt_alloc(q->area->pool);
    if (!c)
        return -ENOBUFS;
    if (vs_unlikely(q->zc && straddles(q->area, umem_addr(q->area, c) + c->data_off, p->len))) {
        q->tx_straddle++;
        vs_pkt_free(c);
        vs_pkt_free(p);
        return -ERANGE;
    }
    vs_pkt_copy_out(p, vs_pkt_data(c));
    c->len = p->len;
    vs_pkt_free(p);
    q->tx_copied++;
    *out = c;
    return 0;
}

uint16_t vs_xq_tx(struct vs_xq *q, struct vs_pkt **pkts, uint16_t n)
{
    uint32_t idx;
    unsigned room, i = 0, put = 0;

    vs_xq_complete(q);
    room = xsk_prod_nb_free(&q->tx, n);
    if (room > n)
        room = n;
    if (room && xsk_ring_prod__reserve(&q->tx, room, &idx) == room) {
        for (; i < room; i++) {
            struct vs_pkt *p = pkts[i];
            struct xdp_desc *d;

            if (vs_unlikely(p->len > VS_PKT_DATA_ROOM || p->len == 0)) {
                /* Longer than a chunk holds: the kernel would refuse it. */
                q->tx_oversize++;
                vs_pkt_free(p);
                continue;
            }
            int rc = tx_frame(q, p, &p);

            if (vs_unlikely(rc == -ERANGE))
                continue;
            if (vs_unlikely(rc < 0)) {
                q->tx_no_buffer++;
                break;
            }
            d = xsk_ring_prod__tx_desc(&q->tx, idx + put++);
            d->addr = umem_addr(q->area, p) | (uint64_t)p->data_off
                                                  << XSK_UNALIGNED_BUF_OFFSET_SHIFT;
            d->len = p->len;
            d->options = 0;
            bit_set(q->held_tx, p->index);
        }
        /* Unused reservations go back (libxdp has no call for it). */
        q->tx.cached_prod -= room - put;
        if (put)
            xsk_ring_prod__submit(&q->tx, put);
        q->tx_held += put;
    }
    /* Also when the ring was full: the kernel may be waiting for a kick to drain it. */
    if (xsk_ring_prod__needs_wakeup(&q->tx)) {
        q->tx_wakeups++;
        if (q->fd >= 0 && sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
            errno != EBUSY && errno != ENOBUFS && errno != EINTR)
            q->tx_wakeup_errors++;
    }
    return (uint16_t)i;
}

static void release_marked(const struct vs_xq_area *a, uint64_t *bits)
{
    if (!bits)
        return;
    for (unsigned w = 0; w < (a->n_bufs + 63) / 64; w++) {
        while (bits[w]) {
            unsigned b = (unsigned)__builtin_ctzll(bits[w]);

            bits[w] &= bits[w] - 1;
            vs_pkt_free((struct vs_pkt *)(a->base + ((size_t)w * 64 + b) * VS_PKT_SIZE));
        }
    }
    free(bits);
}

void vs_xq_release(struct vs_xq *q)
{
    if (!q->area)
        return;
    release_marked(q->area, q->held_rx);
    release_marked(q->area, q->held_tx);
    q->held_rx = q->held_tx = NULL;
    if (q->aside)
        vs_pkt_free_bulk(q->aside, q->n_aside);
    free(q->aside);
    q->aside = NULL;
    q->n_aside = 0;
    q->rx_held = q->tx_held = 0;
}
