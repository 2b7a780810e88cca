/* Device-side virtqueues for virtio-net (split and packed rings), shared by the
 * vhost-user and VDUSE ports. The driver side (for the VFIO virtio-pci NIC) lives
 * beside it in virtq_driver.h.
 *
 * The guest is not trusted: every descriptor is bounds-checked through the
 * vs_guest_mem table, chains are bounded by the queue size, indirect tables are
 * validated; an impossible index or descriptor marks the queue broken (counted,
 * logged once) and the queue stops moving until it is set up again. The process
 * and every other queue carry on.
 *
 * Threads: setup/teardown on the main thread while the queue is stopped (the owner
 * stops it, waits a grace period, changes it, starts it). dequeue/enqueue on the
 * one poller that serves the queue (enqueue callers serialise shared queues). */
#ifndef VS_PORTS_VIRTIO_VIRTQ_H
#define VS_PORTS_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/eventfd.h"
#include "vswitch/pkt.h"
#include "ports/virtio/guest_mem.h"

/* Why a queue broke or a frame was dropped; indices into vs_virtq.err[]. */
enum vs_virtq_error {
    VS_VQ_ERR_AVAIL_IDX,     /* avail idx moved more than the queue size */
    VS_VQ_ERR_DESC_INDEX,    /* descriptor index >= queue size */
    VS_VQ_ERR_DESC_ADDR,     /* buffer outside guest memory */
    VS_VQ_ERR_DESC_LOOP,     /* chain longer than the queue (a loop) */
    VS_VQ_ERR_INDIRECT,      /* bad indirect table (size, nesting, address) */
    VS_VQ_ERR_LEN,           /* length overflow or frame too large/small */
    VS_VQ_ERR_DIRECTION,     /* write-only descriptor on TX or read-only on RX */
    VS_VQ_ERR_RING_ADDR,     /* ring not inside guest memory */
    VS_VQ_ERR_OFFLOAD,       /* TX header asks for an offload not negotiated (or unknown) */
    VS_VQ_ERR_OVERSIZE,      /* TX frame longer than max_frame without a GSO request */
    VS_VQ_ERR__COUNT
};

struct vs_virtq_stats {
    uint64_t packets, bytes;
    uint64_t no_buffers;     /* switch → guest: the guest posted no (or too few) RX buffers */
    uint64_t no_mbufs;       /* guest → switch: our pool was empty */
    uint64_t kicks_sent;     /* interrupts given */
    uint64_t kicks_failed;   /* interrupts its eventfd did not take (vs_eventfd_signal) */
    uint64_t walk_cut;       /* switch → guest bursts cut short by the descriptor budget */
    uint64_t lent_chains;    /* guest → switch: frames lent as chains (VS_PKT_F_CHAIN) */
    uint64_t err[VS_VQ_ERR__COUNT];
};

struct vs_dirty_log; /* dirty-page logging for live migration, owned by the port */

/* A used entry not yet written to the ring (ports/virtio's shadow of the used ring). */
struct vs_vq_used {
    uint16_t id;    /* split: head descriptor index; packed: buffer id */
    uint16_t slots; /* packed: ring slots the chain took */
    uint32_t len;   /* bytes written into the buffer */
};

struct vs_virtq {
    /* Set up by the owner while stopped. */
    uint16_t size;             /* power of two for split rings; any for packed */
    bool packed;
    bool event_idx;            /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;             /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    bool mrg_rxbuf;            /* VIRTIO_NET_F_MRG_RXBUF negotiated */
    bool in_order;             /* VIRTIO_F_IN_ORDER negotiated: one used entry may stand
                                  for a batch (guest TX only; we always use in order) */
    uint16_t hdr_len;          /* 12 with VERSION_1 or MRG_RXBUF, else 10 */
    uint8_t tx_ol;             /* VS_OL_* requests the driver may make in its TX headers
                                  (vs_vnet_host_offloads); others drop the frame */
    bool guest_csum;           /* VIRTIO_NET_F_GUEST_CSUM: RX headers may say DATA_VALID */
    uint32_t max_frame;        /* longest TX frame without a GSO request (the port's mtu
                                  + 18), 0: VS_PKT_MAX_FRAME */
    void *desc, *avail, *used; /* host pointers (packed: desc, driver event, device event) */
    uint64_t used_gpa;         /* for dirty logging of used-ring writes */
    const struct vs_guest_mem *mem;
    struct vs_dirty_log *log;  /* NULL when not logging */
    /* How the driver is interrupted: the transport's way (an eventfd, an ioctl),
     * called by vs_virtq_notify on the poller only once the driver's event
     * suppression asks for an interrupt. Must not wait. 0, or -errno when none was
     * given (counted in kicks_failed, not retried). NULL: no interrupts. */
    int (*interrupt)(struct vs_virtq *vq);
    struct vs_eventfd_signal *call; /* the driver's eventfd, for vs_virtq_signal_call */
    int kickfd;                /* -1: none (polled) */
    bool late_mappings;        /* a buffer outside mem may be mapped later: that stop is
                                  logged at info level, the owner reports real failures */

    /* Ring state (the poller's). */
    uint16_t last_avail_idx;
    uint16_t last_used_idx;
    bool avail_wrap, used_wrap; /* packed ring wrap counters */
    uint16_t signalled_used;    /* for event idx */
    bool signalled_used_valid;

    /* Control. */
    bool enabled;              /* SET_VRING_ENABLE / ready */
    bool started;              /* rings set up and usable by the poller */
    bool broken;               /* see enum vs_virtq_error */
    bool broken_logged;
    const char *name;          /* "vm1 rxq0" for log lines */

    struct vs_virtq_stats stats;

    /* Private to ports/virtio: zero them with the rest of the struct (memset or a
     * designated initializer) and leave them alone afterwards. */
    bool kick_suppressed;      /* vs_virtq_set_kick_suppression(true) is in force */
    bool used_pending;         /* something was used since the last notify */
    bool drop_logged;          /* a dropped frame (VS_VQ_ERR_LEN) was logged once */
    uint32_t lend_max;         /* longest frame a lending dequeue lends (from max_frame) */
    uint16_t avail_event_shadow; /* split + event idx: last avail_event we wrote */
    unsigned mem_hint;         /* region of the last translation (guest_mem.h) */
    uint64_t desc_gpa, avail_gpa, used_ring_gpa; /* of the rings, found by start */
    uint16_t avail_idx_shadow; /* split: the driver's avail idx when we last read it */
    /* A lending dequeue's used entries (one per chain consumed), published by
     * vs_virtq_dequeue_done(). */
    uint16_t lend_consumed;
    struct vs_vq_used lend_used[VS_BURST];
};

/* Validates ring addresses against the memory table and resets ring state from
 * base (last_avail_idx, with the wrap counter in bit 15 for packed rings: a fresh
 * packed ring starts at 0x8000, the counter being 1). Also checks the size (split:
 * a power of two; both: 1..32768), the alignment of the rings and hdr_len (10 or
 * 12). On failure returns -EINVAL/-EFAULT and marks the queue broken (counted in
 * err[VS_VQ_ERR_RING_ADDR], or VS_VQ_ERR_AVAIL_IDX for a packed base beyond the
 * ring); a later successful start clears broken. Applies the kick suppression
 * last set with vs_virtq_set_kick_suppression. */
int vs_virtq_start(struct vs_virtq *vq, uint16_t base);
/* Returns the index to report in GET_VRING_BASE. */
uint16_t vs_virtq_stop(struct vs_virtq *vq);

/* Guest TX → switch: copies up to n (at most VS_BURST per call) frames out of the
 * guest's buffers into pool buffers (the virtio-net header is stripped, its offload
 * requests go to the packet's metadata). A frame longer than a small buffer goes to
 * a large one of the pool's companion (vs_pkt_alloc_len): up to max_frame bytes, or
 * VS_PKT_LARGE_DATA_ROOM with a GSO request. Returns the count. A frame of a bad size
 * is dropped (err[VS_VQ_ERR_LEN], or VS_VQ_ERR_OVERSIZE beyond max_frame), one whose
 * header asks for what was not negotiated too (VS_VQ_ERR_OFFLOAD), and its buffer
 * returned to the guest; call vs_virtq_notify after a burst even when this returns
 * 0, since dropped frames are completions too. */
uint16_t vs_virtq_dequeue(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                          uint16_t n);
/* Like vs_virtq_dequeue, but frames are lent instead of copied where that pays: a
 * frame that sits whole in one guest buffer after its header (one descriptor: what
 * Linux and DPDK drivers post for linear frames), fits a small buffer and carries no
 * offload request is marked VS_PKT_F_EXTERNAL and points into guest memory; a chain
 * with offload requests (a TSO frame: header, linear part, page fragments) or longer
 * than a small buffer becomes a lent chain (VS_PKT_F_CHAIN: its pieces translated
 * and checked here, at most VS_PKT_CHAIN_MAX of them, else it is copied). A switch →
 * guest copy then reads the frame straight from the source guest (one copy instead
 * of two). No buffer of the burst goes back to the guest until
 * vs_virtq_dequeue_done(), which the caller must call after it is done with the
 * frames and before the next dequeue. The guest may still rewrite a lent buffer: the
 * frame's first bytes (VS_PKT_LEND_HEAD, or VS_PKT_CHAIN_HEAD for a chain: the
 * headers the switch decides on and checks the offload requests against) and its
 * virtio-net header are copied here, once, and used from those copies; later
 * changes reach only the rest of the guest's own frame, never its length. */
uint16_t vs_virtq_dequeue_lend(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                               uint16_t n);
/* Returns the last lending dequeue's buffers to the guest (used ring). Safe to call
 * when nothing is pending, and on a queue that was stopped meanwhile. */
void vs_virtq_dequeue_done(struct vs_virtq *vq);

/* Switch → guest RX: copies frames into the guest's buffers (with a virtio-net header
 * written from the packet's offload metadata, merged buffers when negotiated: a large
 * frame spreads over up to VS_VQ_RX_MAX_SEGS buffers, or needs one chain that holds
 * it all without MRG_RXBUF). Returns how many were delivered; the caller still
 * owns (and frees) all n buffers. Frames not delivered are a suffix of pkts, counted
 * in no_buffers: the burst stops at the first frame the next buffers cannot hold (the
 * ring ran dry, the chain is too small without MRG_RXBUF) or whose search for buffers
 * ran out of the per-burst descriptor budget (also counted in walk_cut). */
uint16_t vs_virtq_enqueue(struct vs_virtq *vq, struct vs_pkt *const *pkts, uint16_t n);
/* Interrupts the guest if it asked to be (flags / event idx) and anything was used
 * since the last call: one vq->interrupt call at most. */
void vs_virtq_notify(struct vs_virtq *vq);
/* An interrupt that signals vq->call (an eventfd; never waits). */
int vs_virtq_signal_call(struct vs_virtq *vq);
/* Tell the driver whether we want kicks (polling: no). */
void vs_virtq_set_kick_suppression(struct vs_virtq *vq, bool suppress);
/* Does the ring have available buffers we have not consumed? */
bool vs_virtq_has_work(const struct vs_virtq *vq);

/* A short name for an error counter ("avail_idx", "desc_loop", ...) for show/stats. */
const char *vs_virtq_error_name(enum vs_virtq_error e);

#endif
