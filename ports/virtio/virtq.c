/* What split and packed rings share: start/stop, interrupts, kick suppression,
 * error accounting, and the RX segment writer. */
#include "ports/virtio/virtq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ports/virtio/virtq_internal.h"
#include "vswitch/log.h"

static const char *const error_names[VS_VQ_ERR__COUNT] = {
    [VS_VQ_ERR_AVAIL_IDX] = "avail_idx",   [VS_VQ_ERR_DESC_INDEX] = "desc_index",
    [VS_VQ_ERR_DESC_ADDR] = "desc_addr",   [VS_VQ_ERR_DESC_LOOP] = "desc_loop",
    [VS_VQ_ERR_INDIRECT] = "indirect",     [VS_VQ_ERR_LEN] = "len",
    [VS_VQ_ERR_DIRECTION] = "direction",   [VS_VQ_ERR_RING_ADDR] = "ring_addr",
    [VS_VQ_ERR_OFFLOAD] = "offload",       [VS_VQ_ERR_OVERSIZE] = "oversize",
};

const char *vs_virtq_error_name(enum vs_virtq_error e)
{
    return (unsigned)e < VS_VQ_ERR__COUNT && error_names[e] ? error_names[e] : "unknown";
}

/* Counts e and logs the first such event of the queue under *logged. */
static void count_and_log(struct vs_virtq *vq, enum vs_virtq_error e, bool *logged,
                          enum vs_log_level level, const char *what, const char *fmt,
                          va_list ap)
{
    char msg[160];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    vq->stats.err[e]++;
    vs_log_once(logged, level, "%s: %s (%s): %s", vs_vq_name(vq), what,
                vs_virtq_error_name(e), msg);
}

void vs_vq_fail(struct vs_virtq *vq, enum vs_virtq_error e, const char *fmt, ...)
{
    va_list ap;
    /* With late mappings, an address outside mem is usually one the owner has yet
     * to map: it maps it and restarts the queue, or logs why not. */
    bool later = vq->late_mappings && (e == VS_VQ_ERR_DESC_ADDR || e == VS_VQ_ERR_INDIRECT);
    va_start(ap, fmt);
    count_and_log(vq, e, &vq->broken_logged, later ? VS_LOG_INFO : VS_LOG_ERR,
                  later ? "queue paused until the address is mapped" : "queue stopped", fmt, ap);
    va_end(ap);
    vq->broken = true;
}

void vs_vq_drop(struct vs_virtq *vq, enum vs_virtq_error e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    count_and_log(vq, e, &vq->drop_logged, VS_LOG_WARN,
                  "dropping frame, logged once per queue", fmt, ap);
    va_end(ap);
}

/* The first of pieces s.. with bytes left, or n when none has. */
static inline unsigned rx_piece(const struct vs_pkt_piece *src, unsigned n, unsigned s)
{
    while (s < n && src[s].len == 0)
        s++;
    return s;
}

void vs_vq_rx_write(struct vs_virtq *vq, const struct vs_vq_rx *r, uint32_t hdr_len,
                    uint16_t num_buffers, const struct vs_pkt *p)
{
    /* Bytes 0..7 of the header and csum_offset (bytes 8..9, little-endian): zero for a
     * frame without offload metadata, the usual case. */
    uint64_t lo = 0;
    uint16_t csum_offset = 0;
    if (vs_unlikely(p->ol_flags != 0))
        lo = vs_vnet_hdr_build(p, vq->guest_csum, &csum_offset);
    if (vs_likely(r->seg[0].len >= hdr_len + p->len)) {
        /* The usual case: one guest buffer holds it all. The header is built in
         * registers and stored only where the buffer does not already hold it. A
         * driver recycles its buffers and leaves the last header in place (DPDK's
         * in the line before the frame, which nothing else writes), so the header
         * usually matches: then the line is only read, stays shared with the
         * driver's core, and the driver's read of num_buffers hits its own cache
         * instead of waiting for the line to come back from ours. Bytes 8..11 are
         * csum_offset and num_buffers (little-endian). */
        uint8_t *d = r->seg[0].hva;
        uint32_t hi = (uint32_t)num_buffers << 16 | csum_offset, was_hi = 0;
        uint64_t was_lo;
        memcpy(&was_lo, d, 8);
        if (was_lo != lo)
            memcpy(d, &lo, 8);
        memcpy(&was_hi, d + 8, hdr_len - 8);
        if (was_hi != (hdr_len == 12 ? hi : (uint16_t)hi))
            memcpy(d + 8, &hi, hdr_len - 8);
        vs_pkt_copy_out(p, d + hdr_len);
        vs_vq_log(vq, r->seg[0].gpa, hdr_len + p->len);
        return;
    }
    uint8_t hdr[12];
    memcpy(hdr, &lo, 8);
    memcpy(hdr + 8, &csum_offset, 2);
    memcpy(hdr + 10, &num_buffers, 2);
    /* The pieces in order: the header, the frame's head, then its rest (one run, or
     * a lent chain's pieces straight from the sending guest's memory). */
    uint32_t head = vs_pkt_head_len(p);
    struct vs_pkt_piece src[2 + VS_PKT_CHAIN_MAX];
    unsigned n = 0;
    src[n++] = (struct vs_pkt_piece){ hdr, hdr_len };
    src[n++] = (struct vs_pkt_piece){ p->data, head };
    if (vs_unlikely(p->flags & VS_PKT_F_CHAIN)) {
        const struct vs_pkt_chain *c = vs_pkt_chain(p);
        for (unsigned k = 0; k < c->n && k < VS_PKT_CHAIN_MAX; k++)
            src[n++] = c->piece[k];
    } else {
        src[n++] = (struct vs_pkt_piece){ vs_pkt_tail(p), p->len - head };
    }
    unsigned s = rx_piece(src, n, 0);
    for (unsigned i = 0; i < r->nseg && s < n; i++) {
        uint8_t *dst = r->seg[i].hva;
        uint32_t room = r->seg[i].len, used = 0;
        while (room && s < n) {
            uint32_t c = VS_MIN(room, src[s].len);
            vs_copy(dst + used, src[s].data, c);
            src[s].data += c;
            src[s].len -= c;
            used += c;
            room -= c;
            s = rx_piece(src, n, s);
        }
        vs_vq_log(vq, r->seg[i].gpa, used);
    }
}

/* Checks one ring area and returns its guest-physical address. */
static int ring_area(struct vs_virtq *vq, const void *p, uint64_t len, uint64_t align,
                     const char *what, uint64_t *gpa)
{
    if (!p || ((uintptr_t)p & (align - 1))) {
        vs_vq_fail(vq, VS_VQ_ERR_RING_ADDR, "%s ring at %p is missing or misaligned", what, p);
        return -EINVAL;
    }
    if (!vs_guest_mem_hva_range(vq->mem, p, len, gpa)) {
        vs_vq_fail(vq, VS_VQ_ERR_RING_ADDR, "%s ring (%llu bytes) is not inside guest memory",
                   what, (unsigned long long)len);
        return -EFAULT;
    }
    return 0;
}

static void apply_kick_suppression(struct vs_virtq *vq);

int vs_virtq_start(struct vs_virtq *vq, uint16_t base)
{
    vq->started = false;
    vq->broken = false;
    vq->broken_logged = false;
    vq->drop_logged = false;
    vq->mem_hint = 0;
    vq->lend_consumed = 0;
    if (vq->max_frame == 0 || vq->max_frame > VS_PKT_LARGE_DATA_ROOM)
        vq->max_frame = VS_PKT_MAX_FRAME;
    vq->lend_max = VS_MIN(vq->max_frame, (uint32_t)VS_PKT_DATA_ROOM);
    uint32_t size = vq->size;
    if (!vq->mem || size == 0 || size > VS_VQ_MAX_SIZE ||
        (!vq->packed && (size & (size - 1)))) {
        vs_vq_fail(vq, VS_VQ_ERR_RING_ADDR, "bad queue size %u or no memory table", size);
        return -EINVAL;
    }
    if ((vq->hdr_len != 10 && vq->hdr_len != 12) || (vq->mrg_rxbuf && vq->hdr_len != 12)) {
        /* MRG_RXBUF needs the num_buffers field: a 12-byte header. */
        vs_vq_fail(vq, VS_VQ_ERR_RING_ADDR, "bad virtio-net header length %u", vq->hdr_len);
        return -EINVAL;
    }
    uint64_t used_gpa;
    int rc;
    if (!vq->packed) {
        uint64_t ev = vq->event_idx ? 2 : 0;
        if ((rc = ring_area(vq, vq->desc, 16ull * size, 16, "descriptor", &vq->desc_gpa)) ||
            (rc = ring_area(vq, vq->avail, 4 + 2ull * size + ev, 2, "avail", &vq->avail_gpa)) ||
            (rc = ring_area(vq, vq->used, 4 + 8ull * size + ev, 4, "used", &used_gpa)))
            return rc;
        vq->last_avail_idx = base;
        vq->avail_idx_shadow = base;
        vq->avail_wrap = vq->used_wrap = true;
    } else {
        if ((rc = ring_area(vq, vq->desc, 16ull * size, 16, "descriptor", &vq->desc_gpa)) ||
            (rc = ring_area(vq, vq->avail, 4, 4, "driver event", &vq->avail_gpa)) ||
            (rc = ring_area(vq, vq->used, 4, 4, "device event", &used_gpa)))
            return rc;
        if ((base & 0x7fff) >= size) {
            vs_vq_fail(vq, VS_VQ_ERR_AVAIL_IDX, "base %u beyond the ring (%u)", base & 0x7fff,
                       size);
            return -EINVAL;
        }
        vq->last_avail_idx = base & 0x7fff;
        vq->avail_wrap = vq->used_wrap = (base >> 15) & 1;
    }
    /* The owner may know the used ring's guest address (vhost-user log_guest_addr); it
     * is what the front-end expects logged. Otherwise use the one we found. */
    vq->used_ring_gpa = (!vq->packed && vq->used_gpa) ? vq->used_gpa : used_gpa;
    /* Everything we consumed was also used: the owner stops a queue only after a
     * grace period, in which a lending dequeue's held burst went back to the guest
     * (vs_virtq_dequeue_done). */
    vq->last_used_idx = vq->last_avail_idx;
    vq->signalled_used = vq->last_used_idx;
    vq->signalled_used_valid = false;
    vq->used_pending = false;
    apply_kick_suppression(vq);
    vq->started = true;
    return 0;
}

uint16_t vs_virtq_stop(struct vs_virtq *vq)
{
    vq->started = false;
    if (vq->packed)
        return (uint16_t)((vq->last_avail_idx & 0x7fff) | (vq->avail_wrap ? 0x8000 : 0));
    return vq->last_avail_idx;
}

static inline bool usable(const struct vs_virtq *vq)
{
    return vq->started && vq->enabled && !vq->broken;
}

uint16_t vs_virtq_dequeue(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                          uint16_t n)
{
    if (vs_unlikely(!usable(vq)) || n == 0)
        return 0;
    if (n > VS_BURST)
        n = VS_BURST;
    return vq->packed ? vs_vq_packed_dequeue(vq, pool, pkts, n, false)
                      : vs_vq_split_dequeue(vq, pool, pkts, n, false);
}

uint16_t vs_virtq_dequeue_lend(struct vs_virtq *vq, struct vs_pool *pool, struct vs_pkt **pkts,
                               uint16_t n)
{
    /* A caller that skipped done would otherwise consume the same entries twice. */
    if (vs_unlikely(vq->lend_consumed))
        vs_virtq_dequeue_done(vq);
    if (vs_unlikely(!usable(vq)) || n == 0)
        return 0;
    if (n > VS_BURST)
        n = VS_BURST;
    return vq->packed ? vs_vq_packed_dequeue(vq, pool, pkts, n, true)
                      : vs_vq_split_dequeue(vq, pool, pkts, n, true);
}

void vs_virtq_dequeue_done(struct vs_virtq *vq)
{
    /* Not gated on usable(): the lent entries belong to the guest whatever happened
     * to the queue since (a stop waits for this call through the grace period). */
    if (!vq->lend_consumed || vq->broken)
        return;
    if (vq->packed)
        vs_vq_packed_dequeue_done(vq);
    else
        vs_vq_split_dequeue_done(vq);
}

uint16_t vs_virtq_enqueue(struct vs_virtq *vq, struct vs_pkt *const *pkts, uint16_t n)
{
    if (vs_unlikely(!usable(vq)) || n == 0)
        return 0;
    uint16_t done = 0;
    /* Bursts of VS_BURST keep the per-call state (used entries) small and local. */
    while (done < n) {
        uint16_t k = VS_MIN((uint16_t)(n - done), (uint16_t)VS_BURST);
        uint16_t got = vq->packed ? vs_vq_packed_enqueue(vq, pkts + done, k)
                                  : vs_vq_split_enqueue(vq, pkts + done, k);
        done += got;
        if (got < k || vq->broken)
            break;
    }
    return done;
}

/* Split rings: event idx rule of the spec (vring_need_event): interrupt when the
 * driver's used_event lies in [old, new). */
static inline bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

static bool split_want_interrupt(struct vs_virtq *vq)
{
    const struct vring_avail *avail = vq->avail;
    if (!vq->event_idx)
        return !(VS_READ_ONCE(avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
    uint16_t used_event = VS_READ_ONCE(avail->ring[vq->size]);
    bool want = !vq->signalled_used_valid ||
                need_event(used_event, vq->last_used_idx, vq->signalled_used);
    return want;
}

static bool packed_want_interrupt(struct vs_virtq *vq)
{
    const struct vring_packed_desc_event *ev = vq->avail;
    uint16_t flags = VS_READ_ONCE(ev->flags);
    if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
        return false;
    if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !vq->signalled_used_valid)
        return true;
    /* off_wrap is read after flags; a torn pair at worst costs one extra or one
     * delayed interrupt that the next notify corrects, as in the kernel. */
    uint16_t off_wrap = VS_READ_ONCE(ev->off_wrap);
    uint16_t off = off_wrap & 0x7fff;
    uint16_t new_idx = vq->last_used_idx, old = vq->signalled_used;
    /* Positions are ring slots; unfold the wrap so the split-ring rule applies. */
    if (new_idx <= old)
        old = (uint16_t)(old - vq->size);
    if ((bool)(off_wrap >> 15) != vq->used_wrap)
        off = (uint16_t)(off - vq->size);
    return need_event(off, new_idx, old);
}

void vs_virtq_notify(struct vs_virtq *vq)
{
    if (!vq->used_pending || !vq->interrupt || !vq->started || vq->broken)
        return;
    /* Our used-ring stores (used idx / used descriptor flags) must be visible to the
     * driver before we read its interrupt request: the driver writes used_event (or
     * clears NO_INTERRUPT), fences, then re-reads the used idx. Without a full fence
     * (store → load: even x86 reorders that) both sides could read stale values and
     * the interrupt would be lost with the guest asleep. */
    vs_smp_mb();
    bool want = vq->packed ? packed_want_interrupt(vq) : split_want_interrupt(vq);
    vq->used_pending = false;
    vq->signalled_used = vq->last_used_idx;
    vq->signalled_used_valid = true;
    if (!want)
        return;
    /* The transport's interrupt never waits. A failure (an eventfd's full counter:
     * an interrupt is pending anyway) is counted, not retried. */
    if (vq->interrupt(vq) == 0)
        vq->stats.kicks_sent++;
    else
        vq->stats.kicks_failed++;
}

int vs_virtq_signal_call(struct vs_virtq *vq)
{
    /* Never waits, whatever the guest's side did to its eventfd. */
    return vs_eventfd_signal(vq->call);
}

static void apply_kick_suppression(struct vs_virtq *vq)
{
    bool suppress = vq->kick_suppressed;
    if (vq->packed) {
        struct vring_packed_desc_event *ev = vq->used;
        /* ENABLE rather than DESC: we want a kick for any new buffer. */
        VS_WRITE_ONCE(ev->flags, suppress ? VRING_PACKED_EVENT_FLAG_DISABLE
                                           : VRING_PACKED_EVENT_FLAG_ENABLE);
        vs_vq_log(vq, vq->used_ring_gpa, sizeof(*ev));
        return;
    }
    struct vring_used *used = vq->used;
    /* Drivers without event idx look at the flag; with it they ignore the flag and
     * compare against avail_event. Keep both coherent. */
    uint16_t flags = VS_READ_ONCE(used->flags);
    flags = suppress ? (flags | VRING_USED_F_NO_NOTIFY) : (flags & ~VRING_USED_F_NO_NOTIFY);
    VS_WRITE_ONCE(used->flags, flags);
    vs_vq_log(vq, vq->used_ring_gpa, 2);
    if (vq->event_idx) {
        /* Suppressed: an event just behind us is crossed only after 65535 more
         * buffers; the dequeue path refreshes it long before. Enabled: kick on the
         * next buffer the driver adds. */
        uint16_t ev = suppress ? (uint16_t)(vq->last_avail_idx - 1) : vq->last_avail_idx;
        uint16_t *slot = (uint16_t *)&used->ring[vq->size];
        VS_WRITE_ONCE(*slot, ev);
        vq->avail_event_shadow = ev;
        vs_vq_log(vq, vq->used_ring_gpa + 4 + 8ull * vq->size, 2);
    }
}

void vs_virtq_set_kick_suppression(struct vs_virtq *vq, bool suppress)
{
    vq->kick_suppressed = suppress;
    if (!vq->started || vq->broken)
        return;
    apply_kick_suppression(vq);
    /* Re-enabling: the driver may have added buffers before it saw our request and
     * so not kicked; the caller re-checks vs_virtq_has_work() after this, and that
     * load must not pass our store. */
    if (!suppress)
        vs_smp_mb();
}

bool vs_virtq_has_work(const struct vs_virtq *vq)
{
    if (!usable(vq))
        return false;
    if (vq->packed) {
        const struct vring_packed_desc *d = vq->desc;
        uint16_t flags = VS_READ_ONCE(d[vq->last_avail_idx].flags);
        return (bool)(flags & VS_VQ_PACKED_AVAIL) == vq->avail_wrap &&
               (bool)(flags & VS_VQ_PACKED_USED) != vq->avail_wrap;
    }
    const struct vring_avail *avail = vq->avail;
    return VS_READ_ONCE(avail->idx) != vq->last_avail_idx;
}
