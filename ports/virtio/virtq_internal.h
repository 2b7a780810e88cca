/* Shared by virtq.c, virtq_split.c and virtq_packed.c; not for other modules.
 *
 * Rules every ring walker follows:
 *  - a descriptor is read from guest memory exactly once, into a local copy, and
 *    only the copy is validated and used (the guest may rewrite the ring at any
 *    time: re-reading would let it change a value between check and use);
 *  - every buffer address goes through the guest memory table before it is
 *    touched, and may span regions (split into segments);
 *  - a broken ring (bad index, loop, address, indirect table, direction) stops
 *    the queue; a frame of a bad size is dropped and its buffer returned used. */
#ifndef VS_PORTS_VIRTIO_VIRTQ_INTERNAL_H
#define VS_PORTS_VIRTIO_VIRTQ_INTERNAL_H

#include <string.h>

#include <linux/virtio_ring.h>

#include "ports/virtio/dirty_log.h"
#include "ports/virtio/net_hdr.h"
#include "ports/virtio/virtq.h"
#include "vswitch/compiler.h"
#include "vswitch/pkt.h"

/* Ring fields are little-endian; we read and write them natively. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtqueues need a little-endian host");

#define VS_VQ_MAX_SIZE 32768u
#define VS_VQ_ETH_MIN 14u          /* shortest frame we accept: an Ethernet header */
/* Guest buffer pieces one RX frame may use: a 64 KB segment with its header takes 44
 * of Linux's smallest merged receive buffers (1518 bytes), 17 of 4 KB ones, and a
 * "big packets" chain (no MRG_RXBUF) has 19; a guest that posts smaller ones gets
 * such frames counted as no_buffers instead of a longer walk per frame. */
#define VS_VQ_RX_MAX_SEGS 64u
/* Descriptors one RX burst may examine while reserving guest buffers. A guest can
 * chain thousands of empty descriptors (and an indirect table of as many): without
 * a bound per burst, each frame would walk them all again. A burst of well-formed
 * frames needs at most VS_VQ_RX_MAX_SEGS buffers each, and each buffer costs one
 * load, two with the indirect descriptor pointing at it: twice that is spare. */
#define VS_VQ_RX_WALK_BUDGET (2u * VS_BURST * VS_VQ_RX_MAX_SEGS)
/* Used entries a burst collects before writing them out: a burst of one-chain frames
 * plus room for one frame of the most chains (an RX burst writes out early when less
 * room is left). */
#define VS_VQ_USED_BATCH (VS_BURST + VS_VQ_RX_MAX_SEGS)
#define VS_VQ_PACKED_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define VS_VQ_PACKED_USED (1u << VRING_PACKED_DESC_F_USED)

/* A piece of a guest buffer, translated. */
struct vs_vq_seg {
    uint8_t *hva;
    uint64_t gpa;
    uint32_t len;
};

/* Marks the queue broken (counted, logged once). Cold: only hostile or buggy guests. */
void vs_vq_fail(struct vs_virtq *vq, enum vs_virtq_error e, const char *fmt, ...)
    __attribute__((cold, format(printf, 3, 4)));
/* Counts a dropped frame (logged once per queue). */
void vs_vq_drop(struct vs_virtq *vq, enum vs_virtq_error e, const char *fmt, ...)
    __attribute__((cold, format(printf, 3, 4)));

static inline void vs_vq_log(struct vs_virtq *vq, uint64_t gpa, uint64_t len)
{
    if (vs_unlikely(vq->log != NULL))
        vs_dirty_log_mark(vq->log, gpa, len);
}

/* Copies a descriptor (split or packed: both 16 bytes) out of guest memory. The
 * compiler barrier stops the compiler from re-loading a field from guest memory
 * later instead of using the copy; memcpy tolerates a misaligned indirect table. */
static inline void vs_vq_read_desc(void *dst, const void *guest)
{
    memcpy(dst, guest, 16);
    vs_barrier();
}

/* Checks a descriptor that points at an indirect table and translates the table.
 * Spec 2.7.5.3 / 2.8.7: the table holds whole 16-byte descriptors (at most the
 * queue size here), is not nested, and the descriptor pointing at it does not
 * continue the chain. Returns the table, or NULL with the queue broken. */
static inline const void *vs_vq_indirect_table(struct vs_virtq *vq, uint64_t addr, uint32_t len,
                                               bool nested, bool has_next)
{
    const char *bad = NULL;
    const void *t = NULL;
    if (!vq->indirect)
        bad = "indirect descriptor not negotiated";
    else if (nested)
        bad = "nested indirect table";
    else if (has_next)
        bad = "indirect descriptor with NEXT";
    else if (len == 0 || len % 16 || len / 16 > vq->size)
        bad = "indirect table length";
    if (!bad) {
        uint64_t l = len;
        t = vs_guest_mem_gpa_hint(vq->mem, addr, &l, &vq->mem_hint);
        if (!t || l != len)
            bad = "indirect table outside guest memory";
    }
    if (vs_unlikely(bad != NULL)) {
        vs_vq_fail(vq, VS_VQ_ERR_INDIRECT, "%s (addr 0x%llx len %u)", bad,
                   (unsigned long long)addr, len);
        return NULL;
    }
    return t;
}

/* A buffer whose last byte lies past 2^64 breaks the queue (len > 0). */
static inline bool vs_vq_buf_wraps(struct vs_virtq *vq, uint64_t addr, uint32_t len)
{
    if (vs_likely(addr + (len - 1) >= addr))
        return false;
    vs_vq_fail(vq, VS_VQ_ERR_DESC_ADDR, "buffer 0x%llx+%u wraps the address space",
               (unsigned long long)addr, len);
    return true;
}

/* Guest TX → packet buffer, one descriptor at a time. The frame goes into the
 * small buffer it was given; one that outgrows it moves to a large buffer of the
 * pool's companion on the way (a 2 KB copy, only for long frames: the walk reads
 * each descriptor once and cannot know the length before the end).
 * Lending (chain set), only the frame's first VS_PKT_CHAIN_HEAD bytes are copied
 * (the private head) and the rest is recorded as pieces of guest memory, translated
 * and checked here; vs_vq_tx_finish then lends the chain or, when lending does not
 * pay, copies the pieces after all. */
struct vs_vq_tx {
    struct vs_pkt **pp;  /* the frame's buffer (replaced when it moves) */
    struct vs_pool *pool;
    uint8_t *dst;        /* frame data in *pp */
    uint32_t room;       /* bytes dst holds */
    uint32_t skip;       /* header bytes still to skip */
    uint32_t hdr_len;
    uint32_t copied;     /* frame bytes copied (at most room; lending: the head) */
    uint64_t total;      /* bytes of the chain, header included (64 bits: no wrap) */
    bool no_room;        /* the frame outgrew its buffer and no large one was free */
    uint8_t hdr[12];     /* the driver's virtio-net header */
    uint32_t npiece;     /* lending: pieces in chain */
    struct vs_pkt_chain *chain; /* lending: the pieces, in *pp's buffer; NULL: copying */
};

static inline void vs_vq_tx_init(struct vs_vq_tx *t, const struct vs_virtq *vq,
                                 struct vs_pool *pool, struct vs_pkt **pp, bool lend)
{
    t->pp = pp;
    t->pool = pool;
    t->dst = vs_pkt_data(*pp);
    t->room = VS_PKT_DATA_ROOM;
    t->skip = t->hdr_len = vq->hdr_len;
    t->copied = 0;
    t->total = 0;
    t->no_room = false;
    t->npiece = 0;
    t->chain = lend ? vs_pkt_chain_room(*pp) : NULL;
}

/* The frame does not fit *t->pp: move what was copied to a large buffer. false when
 * there is none (already large, no companion, or it ran dry). Cold: long frames. */
static inline __attribute__((cold)) bool vs_vq_tx_grow(struct vs_vq_tx *t)
{
    if (t->room != VS_PKT_DATA_ROOM || t->no_room)
        return false;
    struct vs_pkt *big = vs_pkt_alloc_len(t->pool, VS_PKT_LARGE_DATA_ROOM);
    if (!big) {
        t->no_room = true;
        return false;
    }
    vs_copy(vs_pkt_data(big), t->dst, t->copied);
    vs_pkt_free(*t->pp);
    *t->pp = big;
    t->dst = vs_pkt_data(big);
    t->room = VS_PKT_LARGE_DATA_ROOM;
    return true;
}

/* Copies want frame bytes at src into t's buffer (as many as it holds). */
static inline void vs_vq_tx_copy(struct vs_vq_tx *t, const uint8_t *src, uint32_t want)
{
    if (vs_unlikely(want > t->room - t->copied))
        vs_vq_tx_grow(t);
    uint32_t c = VS_MIN(want, t->room - t->copied);
    if (c) {
        vs_copy(t->dst + t->copied, src, c);
        t->copied += c;
    }
}

/* Stops lending: the recorded pieces are copied after the head, and so is the rest
 * of the walk. Cold: a chain of too many pieces, or one not worth lending. */
static inline __attribute__((cold)) void vs_vq_tx_unlend(struct vs_vq_tx *t)
{
    struct vs_pkt_piece piece[VS_PKT_CHAIN_MAX];
    uint32_t n = t->npiece;

    /* The pieces live where the copy goes (or in a buffer a move frees). */
    memcpy(piece, t->chain->piece, n * sizeof(piece[0]));
    t->chain = NULL;
    t->npiece = 0;
    for (uint32_t i = 0; i < n; i++)
        vs_vq_tx_copy(t, piece[i].data, piece[i].len);
}

/* Lending: the frame bytes at src (guest memory, checked) after the head go down as a
 * piece. */
static inline void vs_vq_tx_piece(struct vs_vq_tx *t, const uint8_t *src, uint32_t len)
{
    if (vs_unlikely(t->npiece == VS_PKT_CHAIN_MAX)) {
        vs_vq_tx_unlend(t);
        vs_vq_tx_copy(t, src, len);
        return;
    }
    t->chain->piece[t->npiece++] = (struct vs_pkt_piece){ .data = src, .len = len };
}

/* Copies (or, lending, records) a device-readable buffer into t. Returns 0, or -1
 * with the queue broken. */
static inline int vs_vq_tx_buf(struct vs_virtq *vq, struct vs_vq_tx *t, uint64_t addr,
                               uint32_t len)
{
    if (len == 0)
        return 0;
    if (vs_vq_buf_wraps(vq, addr, len))
        return -1;
    t->total += len;
    while (len) {
        uint64_t l = len;
        const uint8_t *p = vs_guest_mem_gpa_hint(vq->mem, addr, &l, &vq->mem_hint);
        if (vs_unlikely(!p)) {
            vs_vq_fail(vq, VS_VQ_ERR_DESC_ADDR, "buffer 0x%llx+%u outside guest memory",
                       (unsigned long long)addr, len);
            return -1;
        }
        uint32_t chunk = (uint32_t)l;
        uint32_t s = VS_MIN(t->skip, chunk);
        if (s) {
            memcpy(t->hdr + (t->hdr_len - t->skip), p, s);
            t->skip -= s;
        }
        uint32_t want = chunk - s;
        const uint8_t *src = p + s;
        if (t->chain && want) {
            uint32_t h = VS_MIN(want, VS_PKT_CHAIN_HEAD - t->copied);
            vs_copy(t->dst + t->copied, src, h);
            t->copied += h;
            /* A frame beyond a large buffer is dropped at the end: its pieces are
             * not kept. */
            if (want > h && t->total <= (uint64_t)t->hdr_len + VS_PKT_LARGE_DATA_ROOM)
                vs_vq_tx_piece(t, src + h, want - h);
        } else if (want) {
            vs_vq_tx_copy(t, src, want);
        }
        addr += l;
        len -= (uint32_t)l;
    }
    return 0;
}

/* After the walk: the frame's size and header decide. Returns 1 (frame in *t->pp,
 * metadata set; lending, maybe lent) or 0 (dropped and counted; *t->pp is still the
 * caller's to free). A lending walk lends a frame with offload requests or one
 * longer than a small buffer: such frames always take the dataplane's offload path,
 * which copies them for ports that cannot send a chain (VS_PKT_F_CHAIN); others are
 * copied here, as the copying walk would have. */
static inline int vs_vq_tx_finish(struct vs_virtq *vq, struct vs_vq_tx *t, unsigned id)
{
    struct vs_pkt *pkt = *t->pp;

    if (vs_unlikely(t->total < (uint64_t)t->hdr_len + VS_VQ_ETH_MIN ||
                    t->total - t->hdr_len > VS_PKT_LARGE_DATA_ROOM)) {
        vs_vq_drop(vq, VS_VQ_ERR_LEN, "TX buffer %u holds %llu bytes", id,
                   (unsigned long long)t->total);
        return 0;
    }
    /* No request (flags and gso_type zero) is the usual case: one branch. */
    uint16_t req;
    memcpy(&req, t->hdr, 2);
    if (vs_unlikely(req != 0) &&
        !vs_vnet_hdr_parse(t->hdr, vq->tx_ol, pkt)) {
        vs_vq_drop(vq, VS_VQ_ERR_OFFLOAD,
                   "TX buffer %u: header flags 0x%x gso_type 0x%x not negotiated", id,
                   t->hdr[0], t->hdr[1]);
        return 0;
    }
    uint64_t len = t->total - t->hdr_len;
    if (vs_unlikely(len > vq->max_frame) && !(pkt->ol_flags & VS_OL_GSO)) {
        vs_vq_drop(vq, VS_VQ_ERR_OVERSIZE,
                   "TX buffer %u: %llu-byte frame above the %u the MTU allows", id,
                   (unsigned long long)len, vq->max_frame);
        return 0;
    }
    if (t->npiece) {
        if ((pkt->ol_flags & VS_OL_REQUESTS) || len > VS_PKT_DATA_ROOM) {
            t->chain->n = t->npiece;
            vs_pkt_set_chain(pkt, (uint32_t)len);
            vq->stats.lent_chains++;
            /* The head and the header were copied out of guest memory: the
             * compiler must not read them there again instead of from the copies. */
            vs_barrier();
            return 1;
        }
        vs_vq_tx_unlend(t);
        pkt = *t->pp;
    }
    if (vs_unlikely(t->no_room)) {
        vq->stats.no_mbufs++;
        return 0;
    }
    pkt->len = t->copied;
    return 1;
}

/* Guest RX buffers, collected before anything is written so that a frame that does
 * not fit leaves the guest's memory untouched. */
struct vs_vq_rx {
    struct vs_vq_seg seg[VS_VQ_RX_MAX_SEGS];
    unsigned nseg;
    uint32_t cap;      /* bytes in seg[] */
};

/* Adds a device-writable buffer to r until r->cap reaches need. Returns 0 (check
 * r->cap: it stays below need when the segments ran out), or -1 with the queue broken. */
static inline int vs_vq_rx_buf(struct vs_virtq *vq, struct vs_vq_rx *r, uint64_t addr,
                               uint32_t len, uint32_t need)
{
    if (len == 0)
        return 0;
    if (vs_vq_buf_wraps(vq, addr, len))
        return -1;
    while (len && r->cap < need && r->nseg < VS_VQ_RX_MAX_SEGS) {
        uint64_t l = VS_MIN(len, need - r->cap);
        uint8_t *p = vs_guest_mem_gpa_hint(vq->mem, addr, &l, &vq->mem_hint);
        if (vs_unlikely(!p)) {
            vs_vq_fail(vq, VS_VQ_ERR_DESC_ADDR, "buffer 0x%llx+%u outside guest memory",
                       (unsigned long long)addr, len);
            return -1;
        }
        r->seg[r->nseg++] = (struct vs_vq_seg){ .hva = p, .gpa = addr, .len = (uint32_t)l };
        r->cap += (uint32_t)l;
        addr += l;
        len -= (uint32_t)l;
    }
    return 0;
}

/* Writes the virtio-net header (no offloads: all zero but num_buffers, present when
 * hdr_len is 12) then the frame of p (a lent frame: its private head, then the rest
 * from the peer, a lent chain piece by piece) across r's segments in order (r->cap >= hdr_len + p->len), logging
 * what it wrote. */
void vs_vq_rx_write(struct vs_virtq *vq, const struct vs_vq_rx *r, uint32_t hdr_len,
                    uint16_t num_buffers, const struct vs_pkt *p);

static inline const char *vs_vq_name(const struct vs_virtq *vq)
{
    return vq->name ? vq->name : "virtq";
}

/* lend: see vs_virtq_dequeue_lend. */
uint16_t vs_vq_split_dequeue(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                             uint16_t n, bool lend);
void vs_vq_split_dequeue_done(struct vs_virtq *vq);
uint16_t vs_vq_split_enqueue(struct vs_virtq *vq, struct vs_pkt *const *pkts, uint16_t n);
uint16_t vs_vq_packed_dequeue(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                              uint16_t n, bool lend);
void vs_vq_packed_dequeue_done(struct vs_virtq *vq);

/* Starts fetching, ahead of a burst's copies, the lines of a buffer at guest address
 * addr that a short frame touches: the header's (addr), the frame's first (addr +
 * off, off the header length) and the one holding the frame's 64th byte, each once.
 * For writing (RX) in exclusive state, except a header line that holds no frame
 * byte: vs_vq_rx_write usually only reads that one, and taking it exclusive would
 * take it from the driver, which reads it next. The driver's core holds most of
 * these lines (it wrote the frame or the header, or read our last one); asked for
 * all at once, before the copies, the transfers overlap instead of stalling the
 * copy loop one frame at a time (a store that misses fills the store buffer, and
 * the next store waits). DPDK puts the header in the mbuf's headroom, the line
 * before the frame.
 * A hint only: addr is not trusted or kept (the walk reads and checks every
 * descriptor again), and an address outside guest memory is ignored. */
static inline void vs_vq_prefetch_buf(struct vs_virtq *vq, uint64_t addr, uint32_t off,
                                      bool write)
{
    uint64_t len = (uint64_t)off + VS_CACHE_LINE;
    const uint8_t *p = vs_guest_mem_gpa_hint(vq->mem, addr, &len, &vq->mem_hint);
    if (!p || len < (uint64_t)off + VS_CACHE_LINE)
        return;
    uintptr_t line[3] = { (uintptr_t)p, (uintptr_t)p + off, (uintptr_t)p + off + VS_CACHE_LINE - 1 };
    for (unsigned i = 0; i < 3; i++) {
        if (i > 0 && (line[i] ^ line[i - 1]) < VS_CACHE_LINE)
            continue;
        if (write && (i > 0 || (line[0] ^ line[1]) < VS_CACHE_LINE))
            vs_prefetch_w((const void *)line[i]);
        else
            vs_prefetch((const void *)line[i]);
    }
}

/* The fast path of a lending dequeue: a TX buffer of one descriptor (d, already
 * copied out of the ring) whose frame is contiguous in guest memory, no longer than
 * lend_max and without offload requests in its header is lent to pkt.
 * Returns true when lent; false sends the chain down the walk (vs_vq_tx), which
 * re-reads and fully validates it (so nothing is decided here that the walk would
 * refuse) and lends it as a chain when that pays. */
static inline bool vs_vq_tx_lend(struct vs_virtq *vq, uint64_t addr, uint32_t len,
                                 uint16_t flags, struct vs_pkt *pkt)
{
    if (flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE))
        return false;
    if (len < (uint32_t)vq->hdr_len + VS_VQ_ETH_MIN || len - vq->hdr_len > vq->lend_max)
        return false;
    uint64_t l = len;
    uint8_t *p = vs_guest_mem_gpa_hint(vq->mem, addr, &l, &vq->mem_hint);
    if (!p || l != len)
        return false;
    /* A frame with offload requests (flags, gso_type) goes down the walk, which takes
     * the requests (and may lend it as a chain). Read once; a later change by the
     * guest reaches only its header, which nobody reads again. */
    uint16_t req;
    memcpy(&req, p, 2);
    if (vs_unlikely(req != 0))
        return false;
    /* A destination's copy reads the rest soon after: start fetching the last line
     * while the head is copied. */
    vs_prefetch(p + len - 1);
    vs_pkt_set_external(pkt, p + vq->hdr_len, len - vq->hdr_len);
    return true;
}
uint16_t vs_vq_packed_enqueue(struct vs_virtq *vq, struct vs_pkt *const *pkts, uint16_t n);

#endif
