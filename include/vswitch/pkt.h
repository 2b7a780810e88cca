/* Packet buffers and bursts.
 *
 * A buffer is one metadata cache line, VS_PKT_HEADROOM bytes of headroom and
 * VS_PKT_DATA_ROOM bytes of frame data, in hugepage memory, with a known IOVA.
 * A pool may have a companion of large buffers (VS_PKT_LARGE_DATA_ROOM: a 64 KB
 * TCP segment with its headers, or a jumbo frame) for the frames that do not fit;
 * the 64-byte path never touches it.
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
#define VS_PKT_MAX_FRAME (VS_PKT_DATA_ROOM) /* in one small buffer, without FCS */
/* A large buffer: an IPv4/IPv6 packet of 64 KiB (the most a GSO frame carries)
 * behind Ethernet and two VLAN tags, rounded up to cache lines. */
#define VS_PKT_LARGE_DATA_ROOM (65536 + 64)

struct vs_pool;

/* flags */
/* Lent: the frame is in a peer's memory (a guest's TX buffer) and only its first
 * ext_head bytes are in buf; read-only, not DMA-able, valid only until the rx
 * queue it came from is told rx_done (see port.h). */
#define VS_PKT_F_EXTERNAL 0x0001
/* Came out of an overlay tunnel (decapsulated by a VXLAN port): never flooded back
 * into one (split horizon). Kept by vs_pkt_copy. */
#define VS_PKT_F_OVERLAY 0x0002
/* With VS_PKT_F_EXTERNAL: a lent chain. The frame's rest after its private head is
 * not one run of the peer's memory but the pieces of a struct vs_pkt_chain (in buf,
 * at ext); vs_pkt_tail means nothing then. Only a port that says so (port.h
 * tx_chains) is handed such a frame; the dataplane copies it into a buffer of its
 * own for any other (vs_pkt_linear). A lent chain carries offload requests or is
 * longer than a small buffer, so that it always takes the dataplane's offload
 * path (dataplane/dp.h). */
#define VS_PKT_F_CHAIN 0x0004

/* A lent frame's first bytes, copied into buf when it is lent: the switch decides on
 * this copy and every destination sends it, so a peer that rewrites its buffer after
 * handing it over cannot change what the switch decided (Ethernet, VLAN tags). One
 * cache line, aligned in buf: Ethernet + two VLAN tags (22 bytes) leave room for an
 * IPv4 header with L4 ports or a whole fixed IPv6 header, and the copy costs about
 * what reading those bytes for the decision cost anyway. */
#define VS_PKT_LEND_HEAD 64
/* A lent chain's private head: every header the offload gate accepts (Ethernet, two
 * VLAN tags, IPv4 with options or IPv6, TCP with options: at most 142 bytes), so
 * that checking the requests, deciding and segmenting read only our copy. */
#define VS_PKT_CHAIN_HEAD 192
/* Pieces a lent chain may have: a Linux TSO frame is its linear part and at most 17
 * page fragments, each split where guest memory regions meet; a chain of more is
 * copied instead. */
#define VS_PKT_CHAIN_MAX 64

/* Offload requests a frame carries (ol_flags), with the virtio-net header's meaning:
 * the sender left work to whoever can do it, a NIC, the receiving guest's stack or
 * the switch's software fallback (include/vswitch/offload.h). A port's tx_offloads
 * (port.h) names the requests it takes as they are. */
#define VS_OL_CSUM 0x01      /* L4 checksum to complete: the 16-bit ones' complement
                                sum from csum_start to the end, stored at csum_start +
                                csum_offset (which holds the pseudo-header sum) */
#define VS_OL_TSO4 0x02      /* TCP over IPv4, cut into gso_size payloads */
#define VS_OL_TSO6 0x04      /* TCP over IPv6, likewise */
#define VS_OL_USO 0x08       /* UDP, cut into gso_size datagrams */
#define VS_OL_ECN 0x10       /* with TSO: the first segment carries CWR */
#define VS_OL_REQUESTS 0x1f
#define VS_OL_GSO (VS_OL_TSO4 | VS_OL_TSO6 | VS_OL_USO)
/* Not a request: the sender vouches that the checksums are right (virtio's
 * DATA_VALID); a receiver may pass it on or ignore it. */
#define VS_OL_CSUM_VALID 0x80

struct vs_pkt {
    uint64_t iova;         /* IOVA of buf[0] */
    struct vs_pool *pool;
    uint8_t *data;         /* frame start: buf + data_off (a lent frame's private head) */
    const uint8_t *ext;    /* VS_PKT_F_EXTERNAL: the whole frame in the peer's memory */
    uint32_t len;          /* frame length in bytes */
    uint32_t index;        /* buffer number in its pool */
    uint32_t room;         /* bytes of buf after the headroom (fixed by the pool) */
    uint16_t data_off;     /* frame start, from buf[0] */
    uint16_t refcnt;       /* 1 when one owner; see vs_pkt_ref() */
    uint16_t in_port;      /* ingress port id, set by the dataplane */
    uint16_t vlan;         /* VLAN id parsed by the dataplane, 0 when untagged */
    uint16_t flags;
    uint8_t ol_flags;      /* VS_OL_*; 0 for a plain frame (reset on allocation) */
    uint8_t ext_head;      /* VS_PKT_F_EXTERNAL: bytes of the frame at data (its head) */
    /* Meaningful only with the matching ol_flags; offsets from the frame start. */
    uint16_t csum_start, csum_offset; /* VS_OL_CSUM */
    uint16_t gso_size;     /* VS_OL_GSO: payload bytes per segment */
    uint16_t hdr_len;      /* VS_OL_GSO: bytes of headers (Ethernet to L4) per segment */
    uint8_t buf[];         /* VS_PKT_HEADROOM + room bytes */
} vs_cache_aligned;

_Static_assert(sizeof(struct vs_pkt) == VS_CACHE_LINE, "packet metadata must be one cache line");
_Static_assert(__builtin_offsetof(struct vs_pkt, buf) == VS_CACHE_LINE,
               "packet metadata must be one cache line");
/* Bytes a small buffer takes in its pool. */
#define VS_PKT_SIZE (VS_CACHE_LINE + VS_PKT_HEADROOM + VS_PKT_DATA_ROOM)
_Static_assert((VS_CACHE_LINE + VS_PKT_HEADROOM) % VS_CACHE_LINE == 0,
               "a lent frame's head is one aligned cache line");

/* A piece of a lent chain: bytes of the peer's memory, translated and checked. */
struct vs_pkt_piece {
    const uint8_t *data;
    uint32_t len;
};
/* A lent chain's rest (VS_PKT_F_CHAIN), kept in the packet's own buffer after its
 * head: the peer cannot change where the pieces are or how long they are. */
struct vs_pkt_chain {
    uint32_t n;
    struct vs_pkt_piece piece[VS_PKT_CHAIN_MAX];
};
/* Where a lent chain's pieces go in its buffer: after the head, aligned. */
#define VS_PKT_CHAIN_OFF 256
_Static_assert(VS_PKT_CHAIN_HEAD <= VS_PKT_CHAIN_OFF &&
                   VS_PKT_CHAIN_OFF + sizeof(struct vs_pkt_chain) <= VS_PKT_DATA_ROOM,
               "a lent chain's head and pieces fit a small buffer");
_Static_assert(VS_PKT_CHAIN_HEAD <= 255, "ext_head holds a head length");

/* The frame's first bytes, in buf: all of it, or a lent frame's private head
 * (vs_pkt_head_len bytes; the rest is at vs_pkt_tail, or in the pieces of a chain). */
static inline uint8_t *vs_pkt_data(struct vs_pkt *p) { return p->data; }
/* Only for frames in buf (not VS_PKT_F_EXTERNAL). */
static inline uint64_t vs_pkt_data_iova(const struct vs_pkt *p) { return p->iova + p->data_off; }

/* Bytes of the frame at vs_pkt_data: all of them unless the frame is lent. */
static inline uint32_t vs_pkt_head_len(const struct vs_pkt *p)
{
    if (vs_likely(!(p->flags & VS_PKT_F_EXTERNAL)))
        return p->len;
    return p->ext_head;
}
/* The bytes after the head (p->len - vs_pkt_head_len(p) of them, maybe none): a
 * lent frame's rest in the peer's memory. Not for a lent chain (VS_PKT_F_CHAIN). */
static inline const uint8_t *vs_pkt_tail(const struct vs_pkt *p)
{
    return (p->flags & VS_PKT_F_EXTERNAL) ? p->ext + p->ext_head : p->data + p->len;
}
/* A lent chain's pieces (VS_PKT_F_CHAIN only). */
static inline const struct vs_pkt_chain *vs_pkt_chain(const struct vs_pkt *p)
{
    return (const struct vs_pkt_chain *)(const void *)p->ext;
}
/* Copies the first n bytes of a lent chain's rest (after its head) to dst. */
void vs_pkt_chain_read(const struct vs_pkt *p, uint8_t *dst, uint32_t n);
/* Copies the whole frame (p->len bytes) to dst: what a destination sends. */
static inline void vs_pkt_copy_out(const struct vs_pkt *p, uint8_t *dst)
{
    if (vs_likely(!(p->flags & VS_PKT_F_EXTERNAL))) {
        vs_copy(dst, p->data, p->len);
        return;
    }
    uint32_t head = p->ext_head;
    vs_copy(dst, p->data, head);
    if (vs_unlikely(p->flags & VS_PKT_F_CHAIN))
        vs_pkt_chain_read(p, dst + head, p->len - head);
    else
        vs_copy(dst + head, p->ext + head, p->len - head);
}
/* Lends the len bytes of a peer's memory at frame to p, whose frame is still in buf
 * (a fresh buffer): its head is copied into buf here, once, and never read again
 * from the peer. */
static inline void vs_pkt_set_external(struct vs_pkt *p, const uint8_t *frame, uint32_t len)
{
    uint32_t head = len < VS_PKT_LEND_HEAD ? len : VS_PKT_LEND_HEAD;

    p->ext = frame;
    p->len = len;
    p->ext_head = (uint8_t)head;
    p->flags |= VS_PKT_F_EXTERNAL;
    vs_copy(p->data, frame, head);
    /* Keeps the compiler from reading the head again from the peer's memory (where
     * the copy came from) instead of from the copy. */
    vs_barrier();
}
/* The chain being built in p's buffer by a lending dequeue (see VS_PKT_F_CHAIN). */
static inline struct vs_pkt_chain *vs_pkt_chain_room(struct vs_pkt *p)
{
    return (struct vs_pkt_chain *)(void *)(p->data + VS_PKT_CHAIN_OFF);
}
/* Makes p, whose first VS_PKT_CHAIN_HEAD bytes are in buf and whose rest is in the
 * pieces at vs_pkt_chain_room(p), a lent chain of len bytes. */
static inline void vs_pkt_set_chain(struct vs_pkt *p, uint32_t len)
{
    p->ext = (const uint8_t *)vs_pkt_chain_room(p);
    p->len = len;
    p->ext_head = VS_PKT_CHAIN_HEAD;
    p->flags |= VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN;
}
/* Bytes available from the frame start to the end of the buffer. */
static inline uint32_t vs_pkt_tailroom(const struct vs_pkt *p)
{
    return VS_PKT_HEADROOM + p->room - p->data_off;
}

/* Creates the pool with n buffers. Returns 0 or -errno. */
int vs_pool_create(unsigned n, enum vs_page_kind kind, struct vs_pool **out);
/* Gives pool a companion of n large buffers (VS_PKT_LARGE_DATA_ROOM each), where
 * vs_pkt_alloc_len finds room for long frames; destroyed with pool. 0 or -errno. */
int vs_pool_add_large(struct vs_pool *pool, unsigned n, enum vs_page_kind kind);
/* The companion, or NULL (VFIO maps its region for DMA too). */
struct vs_pool *vs_pool_large(const struct vs_pool *pool);
void vs_pool_destroy(struct vs_pool *pool);

/* Buffers not held by anyone (global free list plus every thread cache). */
unsigned vs_pool_free_count(const struct vs_pool *pool);
unsigned vs_pool_size(const struct vs_pool *pool);
const struct vs_mem_region *vs_pool_region(const struct vs_pool *pool);

/* Allocates up to n buffers (data_off = VS_PKT_HEADROOM, len = 0, refcnt = 1).
 * Returns how many were allocated (fewer when the pool runs dry). */
unsigned vs_pkt_alloc_bulk(struct vs_pool *pool, struct vs_pkt **pkts, unsigned n);
struct vs_pkt *vs_pkt_alloc(struct vs_pool *pool);
/* A buffer with room for a frame of len bytes: a small one, or a large one from the
 * pool's companion. NULL when that pool ran dry, there is no companion, or len is
 * beyond VS_PKT_LARGE_DATA_ROOM. */
struct vs_pkt *vs_pkt_alloc_len(struct vs_pool *pool, uint32_t len);

/* A private copy of p's frame (lent or not) and its metadata (length, VLAN, ingress
 * port, offload requests, VS_PKT_F_OVERLAY), in a buffer of p's pool (its large companion when the
 * frame is longer than a small buffer holds): for changing a frame others share, or
 * keeping a lent one. NULL when no buffer is free. */
struct vs_pkt *vs_pkt_copy(const struct vs_pkt *p);

/* p's frame in a buffer of our own, for a port that cannot send a lent chain (or
 * work that writes or reads the whole frame): p itself unless it is a lent chain,
 * else a copy (vs_pkt_copy) for which p's reference is given up. NULL when no
 * buffer is free; p is then still the caller's. */
struct vs_pkt *vs_pkt_linear(struct vs_pkt *p);

/* Adds n references (caller owns the buffer; no other thread sees it yet). */
static inline void vs_pkt_ref(struct vs_pkt *p, uint16_t n) { p->refcnt += n; }

void vs_pkt_free(struct vs_pkt *p);
void vs_pkt_free_bulk(struct vs_pkt **pkts, unsigned n);

/* Returns this thread's cached buffers to the pool; call before a thread exits. */
void vs_pool_thread_flush(void);

#endif
