/* One AF_XDP queue's rings and the buffers it lends the kernel, without the
 * socket calls that made them (port.c): rings in memory are enough to test it.
 *
 * The UMEM is the pool's whole region, in unaligned-chunk mode: a buffer's
 * address is the offset of its buf[0] from the region's start, and its chunk is
 * buf[0..VS_XDP_CHUNK), headroom and data (args.h). The fill ring gets buf[0],
 * so a received frame starts at data_off VS_XDP_RX_HEADROOM; a TX descriptor
 * carries data_off in the address's offset bits (the kernel adds them), so a
 * frame anywhere in a pool buffer goes out as it lies.
 *
 * Which buffers the kernel holds is kept in two bitmaps indexed like the pool,
 * one per side, because neither the kernel nor the rings say so once the socket
 * is gone: the RX side's (fill ring to RX ring) written only by the queue's
 * poller, the TX side's (TX ring to completion ring) only by tx_burst's callers,
 * who take turns (the dataplane's per-queue lock). */
#ifndef VS_PORTS_AF_XDP_XQ_H
#define VS_PORTS_AF_XDP_XQ_H

#include <stdint.h>
#include <xdp/xsk.h>

#include "ports/af_xdp/args.h"
#include "vswitch/pkt.h"

/* The pool's region as a UMEM. */
struct vs_xq_area {
    struct vs_pool *pool; /* small buffers of VS_PKT_SIZE bytes from base */
    uint8_t *base;
    uint64_t len;
    unsigned n_bufs;
    uint64_t page_size; /* of the region: a zero-copy NIC sees one page at a time */
};

struct vs_xq {
    /* RX side: the queue's poller (and the main thread before it polls). */
    struct xsk_ring_cons rx;
    struct xsk_ring_prod fill;
    uint64_t *held_rx;    /* bit per pool buffer: posted to the fill ring, not back yet */
    uint32_t rx_held;     /* buffers with their bit set there */
    uint64_t rx_bad_desc; /* an RX descriptor outside the buffers we posted */
    uint64_t rx_wakeups;  /* recvfrom() for a fill ring that asked for one */
    uint64_t fill_short;  /* refills the pool could not complete */
    uint64_t tx_rekicks;  /* kicks for frames an earlier kick left on the TX ring */
    /* Zero-copy: the driver DMAs per page, and pages of the region need not be
     * contiguous, so a chunk across a page boundary is refused by the kernel (a
     * fill entry it would swallow, a frame it would drop). Such buffers (about
     * one per 2 MiB hugepage) are set aside instead of posted. */
    bool zc;
    unsigned n_aside, max_aside;
    struct vs_pkt **aside;

    /* TX side: tx_burst's callers, one at a time. */
    struct xsk_ring_prod tx vs_cache_aligned;
    struct xsk_ring_cons comp;
    uint64_t *held_tx; /* bit per pool buffer: on the TX ring, not completed yet */
    uint32_t tx_held;
    uint64_t tx_copied;        /* lent, shared twice or foreign frames copied into the UMEM */
    uint64_t tx_no_buffer;     /* a copy found no free buffer: the rest of the burst waits */
    uint64_t tx_oversize;      /* longer than a chunk: dropped */
    uint64_t tx_straddle;      /* zero-copy: across a page boundary even when copied */
    uint64_t tx_wakeups;       /* sendto() kicks */
    uint64_t tx_wakeup_errors; /* kicks that failed other than by a full queue */

    const struct vs_xq_area *area;
    int fd; /* the socket, for wake-ups; -1: none */
};

/* Allocates the bitmaps; zc: the socket is in zero-copy mode. 0 or -ENOMEM. */
int vs_xq_init(struct vs_xq *q, const struct vs_xq_area *area, int fd, bool zc);
/* Posts free pool buffers to the fill ring, at most max. Returns how many it
 * posted or set aside (zc). */
unsigned vs_xq_refill(struct vs_xq *q, unsigned max);
/* Takes up to n received frames, refills the fill ring for them and wakes the
 * kernel when the fill ring asks for it. */
uint16_t vs_xq_rx(struct vs_xq *q, struct vs_pkt **pkts, uint16_t n);
/* Puts frames on the TX ring (after reaping completions): frames of the pool as
 * they lie, others copied into a pool buffer first. Returns how many it took (as
 * tx_burst); kicks the kernel once when the TX ring asks for it. */
uint16_t vs_xq_tx(struct vs_xq *q, struct vs_pkt **pkts, uint16_t n);
/* Frees the buffers the completion ring gave back. Returns how many. */
unsigned vs_xq_complete(struct vs_xq *q);
/* Once the kernel holds nothing any more (the socket is closed): frees every
 * buffer still marked and the bitmaps. */
void vs_xq_release(struct vs_xq *q);

/* Entries on a ring: what the producer put there and the consumer did not take. */
static inline uint32_t vs_xq_ring_level(const uint32_t *producer, const uint32_t *consumer)
{
    return __atomic_load_n(producer, __ATOMIC_RELAXED) -
           __atomic_load_n(consumer, __ATOMIC_RELAXED);
}

#endif
