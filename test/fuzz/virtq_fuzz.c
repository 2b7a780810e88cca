/* libFuzzer target: device-side virtqueues (ports/virtio) on guest memory and rings
 * taken from the input, split or packed. The guest memory is two heap blocks, so
 * AddressSanitizer reports any access outside it.
 *
 * Input:
 *   u8  flags   bit 0 packed, 1 event idx, 2 indirect, 3 mrg_rxbuf, 4 10-byte header,
 *               5 dirty log, 6 second region present, 7 raw size
 *   u8  size    queue size: 1 << (size % 9), or the byte itself with flags bit 7
 *   u16 base    start base (packed: wrap counter in bit 15)
 *   u8  desc, avail, used   ring offsets in region 0, in 64-byte units
 *   u8  nops    length of the op script that follows
 *   ops[nops]   script, see run_ops(): dequeue, enqueue (frames up to 64 KB with
 *               offload metadata), notify, kick suppression, poll, guest memory
 *               write, restart (which may switch VIRTIO_F_IN_ORDER on or off, and
 *               change the offloads negotiated and max_frame, as a new negotiation
 *               would), driver posts k buffers
 *   rest        guest memory image: region 0 (32 KiB at gpa 0x1000), then region 1
 *               (4 KiB right after it in guest-physical space)
 * The driver's TX headers are whatever the guest memory holds: offload requests
 * and long chains (into the pool's large buffers) come from the input.
 * Checks: frames handed to the switch are 14..max_frame bytes (up to a large
 * buffer with a GSO request) and fit their buffer, carry only requests that were
 * negotiated, are lent with one only as a chain whose pieces lie in guest memory
 * and add up to the frame, no packet buffer (small or large) leaks,
 * a broken queue does nothing more, a split ring's used idx counts every buffer
 * consumed (also when IN_ORDER lets one entry stand for a burst). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "ports/virtio/dirty_log.h"
#include "ports/virtio/virtq.h"
#include "vswitch/log.h"
#include "vswitch/pkt.h"

#define R0_SIZE (32u << 10)
#define R1_SIZE (4u << 10)
#define GPA0 0x1000ull

static struct vs_pool *pool;
static unsigned pool_free, large_free;
static int callfd = -1;
static struct vs_eventfd_signal call;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    vs_log_set_level(VS_LOG_ERR);
    if (vs_pool_create(512, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 48, VS_PAGES_NONE) < 0)
        abort();
    pool_free = vs_pool_free_count(pool);
    large_free = vs_pool_free_count(vs_pool_large(pool));
    char why[100];
    callfd = eventfd(0, EFD_NONBLOCK);
    if (callfd < 0 || vs_eventfd_signal_open(&call, dup(callfd), why, sizeof(why)) < 0)
        abort();
    return 0;
}

struct script {
    const uint8_t *p;
    size_t n, i;
};

static uint8_t next(struct script *s)
{
    return s->i < s->n ? s->p[s->i++] : 0;
}

/* Driver side of the harness: where the next packed descriptor goes. */
static uint16_t drv_pos;
static bool drv_wrap;

/* Posts k (1..128) one-descriptor buffers of len*4 bytes with flags fl (low 3 bits:
 * NEXT, WRITE, INDIRECT) at spread-out addresses in region 0. Only on rings that
 * start accepted (so they lie inside region 0). */
static void post(struct vs_virtq *vq, uint8_t k, uint8_t len, uint8_t fl)
{
    if (!vq->started || vq->size == 0)
        return;
    if (drv_pos >= vq->size) /* restarted after a refused base */
        drv_pos = 0;
    k = (uint8_t)(k % 128 + 1);
    uint16_t f = fl & 7;
    for (unsigned i = 0; i < k; i++) {
        uint64_t addr = GPA0 + 0x1000 + (i * 0x1c0u + fl * 8u) % 0x6000;
        if (vq->packed) {
            struct vring_packed_desc *r = vq->desc;
            uint16_t bits = drv_wrap ? (1u << VRING_PACKED_DESC_F_AVAIL)
                                     : (1u << VRING_PACKED_DESC_F_USED);
            r[drv_pos] = (struct vring_packed_desc){ .addr = addr, .len = len * 4u,
                                                     .id = drv_pos, .flags = f | bits };
            if (++drv_pos >= vq->size) {
                drv_pos = 0;
                drv_wrap = !drv_wrap;
            }
        } else {
            struct vring_desc *d = vq->desc;
            struct vring_avail *a = vq->avail;
            uint16_t mask = vq->size - 1, idx = a->idx;
            uint16_t slot = (uint16_t)(idx + i) & mask;
            d[slot] = (struct vring_desc){ .addr = addr, .len = len * 4u, .flags = f,
                                           .next = (uint16_t)((slot + 1) & mask) };
            a->ring[slot] = slot;
            if (i + 1 == k)
                a->idx = (uint16_t)(idx + k);
        }
    }
}

static void check_quiet(struct vs_virtq *vq, const struct vs_virtq_stats *before)
{
    /* A broken queue must not move: no counter changes at all. */
    if (memcmp(before, &vq->stats, sizeof(*before)) != 0)
        abort();
}

/* Split rings: between bursts every avail entry consumed has been counted used, and
 * an op that used buffers left used->idx saying so. */
static void check_used_idx(const struct vs_virtq *vq, uint16_t used_before)
{
    if (vq->packed || !vq->started || vq->broken || vq->lend_consumed)
        return;
    const struct vring_used *u = vq->used;
    if (vq->last_used_idx != vq->last_avail_idx ||
        (vq->last_used_idx != used_before && u->idx != vq->last_used_idx))
        abort();
}

/* What a frame handed to the switch may be (see the checks above). */
static void check_frame(const struct vs_virtq *vq, const struct vs_pkt *p)
{
    uint32_t max = (p->ol_flags & VS_OL_GSO) ? VS_PKT_LARGE_DATA_ROOM : vq->max_frame;
    bool req = p->ol_flags & VS_OL_REQUESTS;
    if (p->len < 14 || p->len > max)
        abort();
    if ((p->ol_flags & VS_OL_REQUESTS & ~vq->tx_ol) || (p->ol_flags & ~VS_OL_REQUESTS))
        abort();
    if (!(p->flags & VS_PKT_F_EXTERNAL)) {
        if (p->len > vs_pkt_tailroom(p) || (p->flags & VS_PKT_F_CHAIN))
            abort();
        return;
    }
    if (!(p->flags & VS_PKT_F_CHAIN)) {
        if (req || p->len > VS_PKT_DATA_ROOM || p->ext_head != VS_MIN(p->len, VS_PKT_LEND_HEAD))
            abort();
        return;
    }
    /* A lent chain: worth lending (always the dataplane's offload path), its pieces
     * inside guest memory and summing to the rest of the frame. */
    const struct vs_pkt_chain *c = vs_pkt_chain(p);
    if ((!req && p->len <= VS_PKT_DATA_ROOM) || p->ext_head != VS_PKT_CHAIN_HEAD ||
        p->len <= VS_PKT_CHAIN_HEAD || c->n == 0 || c->n > VS_PKT_CHAIN_MAX)
        abort();
    uint64_t sum = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->piece[i].len == 0 ||
            !vs_guest_mem_hva_range(vq->mem, c->piece[i].data, c->piece[i].len, NULL))
            abort();
        sum += c->piece[i].len;
    }
    if (sum != p->len - VS_PKT_CHAIN_HEAD)
        abort();
}

/* A frame for the guest: small, or (bit 6 of op) large with offload metadata. */
static struct vs_pkt *rx_frame(struct script *s, uint8_t op)
{
    struct vs_pkt *p;
    uint32_t len;
    if (op & 64) {
        len = 14 + next(s) * 256u;
        p = vs_pkt_alloc_len(pool, len);
        if (!p)
            return NULL;
        uint8_t ol = next(s);
        p->ol_flags = ol & (VS_OL_REQUESTS | VS_OL_CSUM_VALID);
        p->csum_start = next(s);
        p->csum_offset = next(s);
        p->gso_size = (uint16_t)(next(s) * 8u);
        p->hdr_len = next(s);
    } else {
        p = vs_pkt_alloc(pool);
        if (!p)
            return NULL;
        len = 14 + next(s) * 8u;
        if (len > VS_PKT_DATA_ROOM)
            len = VS_PKT_DATA_ROOM;
    }
    p->len = len;
    memset(vs_pkt_data(p), 0xab, len);
    return p;
}

static void run_ops(struct vs_virtq *vq, struct script *s, uint8_t *r0, uint8_t *r1)
{
    struct vs_pkt *pkts[VS_BURST];
    while (s->i < s->n) {
        bool was_broken = vq->broken;
        struct vs_virtq_stats before = vq->stats;
        uint16_t used_before = vq->last_used_idx;
        uint8_t op = next(s);
        switch (op % 8) {
        case 0: { /* guest TX → switch */
            uint16_t n = vs_virtq_dequeue(vq, pool, pkts, (uint16_t)(op >> 3) + 1);
            for (uint16_t i = 0; i < n; i++)
                check_frame(vq, pkts[i]);
            vs_pkt_free_bulk(pkts, n);
            break;
        }
        case 1: { /* switch → guest RX */
            unsigned k = (op >> 3) % 8 + 1, got = 0;
            for (unsigned i = 0; i < k; i++) {
                struct vs_pkt *p = rx_frame(s, op);
                if (!p)
                    break;
                pkts[got++] = p;
            }
            if (vs_virtq_enqueue(vq, pkts, (uint16_t)got) > got)
                abort();
            vs_pkt_free_bulk(pkts, got);
            break;
        }
        case 2:
            vs_virtq_notify(vq);
            break;
        case 3:
            vs_virtq_set_kick_suppression(vq, op & 8);
            break;
        case 4: /* as a poller would; odd ops lend frames instead of copying */
            if (vs_virtq_has_work(vq)) {
                bool lend = op & 8;
                uint16_t n = lend ? vs_virtq_dequeue_lend(vq, pool, pkts, VS_BURST)
                                  : vs_virtq_dequeue(vq, pool, pkts, VS_BURST);
                /* A lent frame must lie inside guest memory: read all of it. */
                static uint8_t frame[VS_PKT_LARGE_DATA_ROOM];
                unsigned sum = 0;
                for (uint16_t i = 0; i < n; i++) {
                    check_frame(vq, pkts[i]);
                    vs_pkt_copy_out(pkts[i], frame);
                    sum += frame[0] + frame[pkts[i]->len - 1];
                }
                __asm__ __volatile__("" ::"r"(sum)); /* keep the reads */
                vs_pkt_free_bulk(pkts, n);
                if (lend)
                    vs_virtq_dequeue_done(vq);
                vs_virtq_notify(vq);
            }
            break;
        case 5: { /* the guest writes its memory between two calls */
            uint16_t off = (uint16_t)(next(s) | next(s) << 8);
            uint8_t v = next(s);
            if (off < R0_SIZE)
                r0[off] = v;
            else if (r1 && off - R0_SIZE < R1_SIZE)
                r1[off - R0_SIZE] = v;
            break;
        }
        case 6: { /* the owner restarts the queue, IN_ORDER switched with op bit 4, the
                     offloads and max_frame (mtu + 18) taken from the script with bit 5 */
            uint16_t base = vs_virtq_stop(vq);
            if (op & 8)
                base = (uint16_t)(next(s) | next(s) << 8);
            if (op & 16)
                vq->in_order = !vq->in_order;
            if (op & 32) {
                uint8_t ol = next(s);
                vq->tx_ol = ol & VS_OL_REQUESTS;
                vq->guest_csum = ol & 0x80;
                vq->max_frame = next(s) * 64u;
            }
            (void)vs_virtq_start(vq, base);
            was_broken = false;
            used_before = vq->last_used_idx; /* a new start, nothing used yet */
            break;
        }
        default: /* the driver posts k buffers: many chains are hard to find by mutation */
            post(vq, next(s), next(s), next(s));
            break;
        }
        if (was_broken)
            check_quiet(vq, &before);
        else
            check_used_idx(vq, used_before);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint8_t flags = data[0];
    struct script s = { .p = data + 8, .n = VS_MIN((size_t)data[7], size - 8) };
    const uint8_t *img = data + 8 + s.n;
    size_t img_len = size - 8 - s.n;

    uint8_t *r0 = malloc(R0_SIZE);
    uint8_t *r1 = (flags & 0x40) ? malloc(R1_SIZE) : NULL;
    if (!r0 || ((flags & 0x40) && !r1))
        abort();
    memset(r0, 0, R0_SIZE);
    memcpy(r0, img, VS_MIN(img_len, (size_t)R0_SIZE));
    struct vs_guest_mem mem = { .n = 1 };
    mem.r[0] = (struct vs_guest_mem_region){ .gpa = GPA0, .size = R0_SIZE, .hva = r0, .fd = -1 };
    if (r1) {
        memset(r1, 0, R1_SIZE);
        if (img_len > R0_SIZE)
            memcpy(r1, img + R0_SIZE, VS_MIN(img_len - R0_SIZE, (size_t)R1_SIZE));
        mem.r[1] = (struct vs_guest_mem_region){ .gpa = GPA0 + R0_SIZE, .size = R1_SIZE,
                                                 .hva = r1, .fd = -1 };
        mem.n = 2;
    }
    uint8_t bitmap[64]; /* covers gpa 0..2 MiB: logged writes beyond are ignored */
    struct vs_dirty_log log = { .bitmap = bitmap, .size_bytes = sizeof(bitmap) };

    struct vs_virtq vq;
    memset(&vq, 0, sizeof(vq));
    /* Mostly powers of two (1..256) so that split rings start; raw sizes with bit 7. */
    vq.size = (flags & 0x80) ? data[1] : (uint16_t)(1u << (data[1] % 9));
    vq.packed = flags & 1;
    vq.event_idx = flags & 2;
    vq.indirect = flags & 4;
    vq.mrg_rxbuf = flags & 8;
    vq.hdr_len = (flags & 16) ? 10 : 12;
    vq.tx_ol = VS_OL_REQUESTS; /* until a restart op negotiates otherwise */
    vq.guest_csum = true;
    vq.log = (flags & 32) ? &log : NULL;
    vq.desc = r0 + (size_t)data[4] * 64;
    vq.avail = r0 + (size_t)data[5] * 64;
    vq.used = r0 + (size_t)data[6] * 64;
    vq.mem = &mem;
    vq.call = &call;
    vq.interrupt = vs_virtq_signal_call;
    vq.kickfd = -1;
    vq.enabled = true;
    vq.name = "fuzz";
    uint16_t base = (uint16_t)(data[2] | data[3] << 8);
    drv_pos = base & 0x7fff;
    drv_wrap = base >> 15;
    (void)vs_virtq_start(&vq, base);
    run_ops(&vq, &s, r0, r1);
    vs_virtq_stop(&vq);
    if (getenv("VIRTQ_FUZZ_VERBOSE")) /* to check what a seed exercises */
        fprintf(stderr, "virtq_fuzz: started %d broken %d packets %llu no_buffers %llu "
                "kicks %llu errors %llu/%llu/%llu/%llu/%llu/%llu/%llu/%llu/%llu/%llu\n",
                vq.started, vq.broken, (unsigned long long)vq.stats.packets,
                (unsigned long long)vq.stats.no_buffers,
                (unsigned long long)vq.stats.kicks_sent,
                (unsigned long long)vq.stats.err[0], (unsigned long long)vq.stats.err[1],
                (unsigned long long)vq.stats.err[2], (unsigned long long)vq.stats.err[3],
                (unsigned long long)vq.stats.err[4], (unsigned long long)vq.stats.err[5],
                (unsigned long long)vq.stats.err[6], (unsigned long long)vq.stats.err[7],
                (unsigned long long)vq.stats.err[8], (unsigned long long)vq.stats.err[9]);

    uint64_t v;
    while (read(callfd, &v, sizeof(v)) == sizeof(v))
        ;
    free(r0);
    free(r1);
    if (vs_pool_free_count(pool) != pool_free ||
        vs_pool_free_count(vs_pool_large(pool)) != large_free)
        abort(); /* a packet buffer leaked */
    return 0;
}
