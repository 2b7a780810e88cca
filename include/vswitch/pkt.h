/* Packet buffers and bursts.
 *
 * A buffer is one metadata cache line, VS_PKT_HEADROOM bytes of headroom and
 * VS_PKT_DATA_ROOM bytes of frame data, in hugepage memory, with a known IOVA.
 * Buffers come from a pool with per-thread caches: allocation and free touch
 * no lock and no shared cache line in the common case (a cache refill or flush
 * moves VS_POOL_CACHE_BATCH buffers under one lock).
 *
 * Ownership: whoever holds a buffer frees it once. A frame flooded to several
 * ports is shared by reference: the owner calls vs_pkt_ref() before handing it
 * to extra destinations, and each destination frees it once. */
#ifndef VSWITCH_PKT_H
#define VSWITCH_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/compiler.h"
#include "vswitch/mem.h"

#define VS_BURST 32
#define VS_PKT_HEADROOM 128
#define VS_PKT_DATA_ROOM 2048
#define VS_PKT_MAX_FRAME (VS_PKT_DATA_ROOM) /* without FCS */

struct vs_pool;

/* flags */
/* Lent: the frame is in a peer's memory (a guest's TX buffer) and only its first
 * VS_PKT_LEND_HEAD bytes are in buf; read-only, not DMA-able, valid only until the rx
 * queue it came from is told rx_done (see port.h). */
#define VS_PKT_F_EXTERNAL 0x0001

/* A lent frame's first bytes, copied into buf when it is lent: the switch decides on
 * this copy and every destination sends it, so a peer that rewrites its buffer after
 * handing it over cannot change what the switch decided (Ethernet, VLAN tags). One
 * cache line, aligned in buf: Ethernet + two VLAN tags (22 bytes) leave room for an
 * IPv4 header with L4 ports or a whole fixed IPv6 header, and the copy costs about
 * what reading those bytes for the decision cost anyway. */
#define VS_PKT_LEND_HEAD 64

struct vs_pkt {
    uint64_t iova;         /* IOVA of buf[0] */
    struct vs_pool *pool;
    uint8_t *data;         /* frame start: buf + data_off (a lent frame's private head) */
    uint16_t data_off;     /* frame start, from buf[0] */
    uint16_t len;          /* frame length in bytes */
    uint16_t refcnt;       /* 1 when one owner; see vs_pkt_ref() */
    uint16_t in_port;      /* ingress port id, set by the dataplane */
    uint16_t vlan;         /* VLAN id parsed by the dataplane, 0 when untagged */
    uint16_t flags;
    uint32_t index;        /* buffer number in its pool */
    const uint8_t *ext;    /* VS_PKT_F_EXTERNAL: the whole frame in the peer's memory */
    uint8_t pad[VS_CACHE_LINE - 48];
    uint8_t buf[VS_PKT_HEADROOM + VS_PKT_DATA_ROOM];
} vs_cache_aligned;

_Static_assert(__builtin_offsetof(struct vs_pkt, buf) == VS_CACHE_LINE,
               "packet metadata must be one cache line");
_Static_assert((VS_CACHE_LINE + VS_PKT_HEADROOM) % VS_CACHE_LINE == 0,
               "a lent frame's head is one aligned cache line");

/* The frame's first bytes, in buf: all of it, or a lent frame's private head
 * (vs_pkt_head_len bytes; the rest is at vs_pkt_tail). */
static inline uint8_t *vs_pkt_data(struct vs_pkt *p) { return p->data; }
/* Only for frames in buf (not VS_PKT_F_EXTERNAL). */
static inline uint64_t vs_pkt_data_iova(const struct vs_pkt *p) { return p->iova + p->data_off; }

/* Bytes of the frame at vs_pkt_data: all of them unless the frame is lent. */
static inline uint16_t vs_pkt_head_len(const struct vs_pkt *p)
{
    if (vs_likely(!(p->flags & VS_PKT_F_EXTERNAL)) || p->len < VS_PKT_LEND_HEAD)
        return p->len;
    return VS_PKT_LEND_HEAD;
}
/* The bytes after the head (p->len - vs_pkt_head_len(p) of them, maybe none): a
 * lent frame's rest in the peer's memory. */
static inline const uint8_t *vs_pkt_tail(const struct vs_pkt *p)
{
    return (p->flags & VS_PKT_F_EXTERNAL) ? p->ext + vs_pkt_head_len(p) : p->data + p->len;
}
/* Copies the whole frame (p->len bytes) to dst: what a destination sends. */
static inline void vs_pkt_copy_out(const struct vs_pkt *p, uint8_t *dst)
{
    uint16_t head = vs_pkt_head_len(p);

    vs_copy(dst, p->data, head);
    vs_copy(dst + head, vs_pkt_tail(p), p->len - head);
}
/* Lends the len bytes of a peer's memory at frame to p, whose frame is still in buf
 * (a fresh buffer): its head is copied into buf here, once, and never read again
 * from the peer. */
static inline void vs_pkt_set_external(struct vs_pkt *p, const uint8_t *frame, uint16_t len)
{
    p->ext = frame;
    p->len = len;
    p->flags |= VS_PKT_F_EXTERNAL;
    vs_copy(p->data, frame, vs_pkt_head_len(p));
    /* Keeps the compiler from reading the head again from the peer's memory (where
     * the copy came from) instead of from the copy. */
    vs_barrier();
}
/* Bytes available from the frame start to the end of the buffer. */
static inline uint32_t vs_pkt_tailroom(const struct vs_pkt *p)
{
    return (uint32_t)sizeof(p->buf) - p->data_off;
}

/* Creates the pool with n buffers. Returns 0 or -errno. */
int vs_pool_create(unsigned n, enum vs_page_kind kind, struct vs_pool **out);
void vs_pool_destroy(struct vs_pool *pool);

/* Buffers not held by anyone (global free list plus every thread cache). */
unsigned vs_pool_free_count(const struct vs_pool *pool);
unsigned vs_pool_size(const struct vs_pool *pool);
const struct vs_mem_region *vs_pool_region(const struct vs_pool *pool);

/* Allocates up to n buffers (data_off = VS_PKT_HEADROOM, len = 0, refcnt = 1).
 * Returns how many were allocated (fewer when the pool runs dry). */
unsigned vs_pkt_alloc_bulk(struct vs_pool *pool, struct vs_pkt **pkts, unsigned n);
struct vs_pkt *vs_pkt_alloc(struct vs_pool *pool);

/* Adds n references (caller owns the buffer; no other thread sees it yet). */
static inline void vs_pkt_ref(struct vs_pkt *p, uint16_t n) { p->refcnt += n; }

void vs_pkt_free(struct vs_pkt *p);
void vs_pkt_free_bulk(struct vs_pkt **pkts, unsigned n);

/* Returns this thread's cached buffers to the pool; call before a thread exits. */
void vs_pool_thread_flush(void);

#endif
