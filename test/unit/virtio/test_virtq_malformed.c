/* Hostile and buggy rings: each case must leave the process alive, touch nothing
 * outside guest memory (run under ASan), count the right error, and either stop
 * the queue (a broken ring) or drop just the frame and return its buffer (a bad
 * frame in a sound ring). A stopped queue stays quiet: later calls do nothing. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ports/virtio/virtq_internal.h"
#include "test_virtq_env.h"

/* A sound TX buffer of buffer slot k: zero header + frame; returns its gpa. */
static uint64_t tx_buf(struct env *e, unsigned k, uint32_t frame_len)
{
    uint64_t gpa = e->drv.bufs[k].area_gpa;
    uint8_t *p = vs_vdrv_mem_hva(&e->mem, gpa);
    memset(p, 0, 12);
    make_frame(p + 12, frame_len, k);
    return gpa;
}

static unsigned pool_free_before;

static void begin(struct env *e, uint16_t size, unsigned flags)
{
    env_setup(e, size, flags);
    pool_free_before = vs_pool_free_count(test_pool);
}

static void dequeue_none(struct env *e)
{
    struct vs_pkt *p[8];
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&e->vq, test_pool, p, 8), 0);
}

static void enqueue_none(struct env *e)
{
    struct vs_pkt *p = make_pkt(100, 1);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e->vq, &p, 1), 0);
    vs_pkt_free(p);
}

/* The queue stopped with exactly one error of kind err; nothing was used, no buffer
 * leaked, and from now on nothing happens. */
static void expect_broken(struct env *e, enum vs_virtq_error err)
{
    CU_ASSERT(e->vq.broken);
    CU_ASSERT_EQUAL(e->vq.stats.err[err], 1);
    CU_ASSERT_EQUAL(err_total(&e->vq), 1);
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), pool_free_before);
    uint16_t id;
    uint32_t len;
    CU_ASSERT_EQUAL(vs_vdrv_get_used(&e->drv, &id, &len), 0);
    int fd = eventfd(0, EFD_NONBLOCK);
    struct vs_eventfd_signal call;
    char why[100];
    CU_ASSERT_EQUAL_FATAL(vs_eventfd_signal_open(&call, dup(fd), why, sizeof(why)), 0);
    e->vq.call = &call;
    e->vq.interrupt = vs_virtq_signal_call;
    vs_vdrv_want_interrupts(&e->drv, true);
    dequeue_none(e);
    enqueue_none(e);
    dequeue_none(e);
    vs_virtq_notify(&e->vq);
    vs_virtq_set_kick_suppression(&e->vq, true);
    uint64_t v;
    CU_ASSERT(read(fd, &v, sizeof(v)) < 0); /* no interrupt */
    CU_ASSERT(!vs_virtq_has_work(&e->vq));
    CU_ASSERT_EQUAL(err_total(&e->vq), 1);
    CU_ASSERT(e->vq.broken_logged);
    CU_ASSERT_EQUAL(e->vq.stats.packets, 0);
    CU_ASSERT_EQUAL(vs_vdrv_get_used(&e->drv, &id, &len), 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), pool_free_before);
    vs_eventfd_signal_close(&call);
    close(fd);
    e->vq.call = NULL;
    e->vq.interrupt = NULL;
}

/* The frame was dropped, its buffer returned used, the queue still works. */
static void expect_dropped(struct env *e, enum vs_virtq_error err)
{
    CU_ASSERT(!e->vq.broken);
    CU_ASSERT_EQUAL(e->vq.stats.err[err], 1);
    CU_ASSERT_EQUAL(err_total(&e->vq), 1);
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), pool_free_before);
    /* The raw chain at head / slot 0 came back used with length 0; the driver did
     * not post it, so read the ring directly and move the driver past it. */
    if (e->vq.packed) {
        const struct vring_packed_desc *r = e->drv.desc;
        uint16_t both = (1u << VRING_PACKED_DESC_F_AVAIL) | (1u << VRING_PACKED_DESC_F_USED);
        CU_ASSERT_EQUAL(r[0].flags & both, both);
        CU_ASSERT_EQUAL(r[0].len, 0);
        CU_ASSERT_EQUAL(e->vq.last_used_idx, 1);
        e->drv.next_pos = e->drv.used_pos = 1;
        e->drv.free_slots--;
    } else {
        const struct vring_used *u = e->drv.used;
        CU_ASSERT_EQUAL(u->idx, 1);
        CU_ASSERT_EQUAL(u->ring[0].id, 0);
        CU_ASSERT_EQUAL(u->ring[0].len, 0);
        e->drv.used_idx = 1;
    }
    uint8_t f[100];
    make_frame(f, 100, 3);
    CU_ASSERT(vs_vdrv_post_tx(&e->drv, f, 100, 1, false) >= 0);
    CU_ASSERT(dequeue_expect(e, 100, 3));
    CU_ASSERT_EQUAL(e->vq.stats.packets, 1);
}

/* Split: a one-descriptor... chain from raw descriptors, published at head 0. */
static void split_tx_case(uint16_t size, unsigned flags, void (*build)(struct env *),
                          enum vs_virtq_error err, bool drop)
{
    struct env e;
    begin(&e, size, flags);
    build(&e);
    dequeue_none(&e);
    if (drop)
        expect_dropped(&e, err);
    else
        expect_broken(&e, err);
    env_teardown(&e);
}

static void b_loop_self(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, tx_buf(e, 0, 60), 20, VRING_DESC_F_NEXT, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_loop_two(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, tx_buf(e, 0, 60), 20, VRING_DESC_F_NEXT, 1);
    vs_vdrv_split_set_desc(&e->drv, 1, tx_buf(e, 1, 60), 20, VRING_DESC_F_NEXT, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_next_range(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, tx_buf(e, 0, 60), 20, VRING_DESC_F_NEXT, 16);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_head_range(struct env *e)
{
    vs_vdrv_split_publish(&e->drv, 0xffff);
}
static void b_addr_outside(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, 0x1000, 100, 0, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_addr_wrap(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, UINT64_MAX - 0x0f, 0x100, 0, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_addr_straddle(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, VS_VDRV_GPA_BASE + ENV_REGION_SIZE - 10, 100, 0, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_avail_jump(struct env *e)
{
    struct vring_avail *avail = e->drv.avail;
    avail->idx = 17; /* 17 new entries in a ring of 16 */
}
/* An indirect descriptor at 0 whose table (in slot 1's area) holds n entries; the
 * first entry's flags and next are given. */
static void indirect(struct env *e, uint32_t table_len, uint16_t d0flags, uint16_t t0flags,
                     uint16_t t0next)
{
    uint64_t tgpa = e->drv.bufs[1].area_gpa;
    struct vring_desc *t = vs_vdrv_mem_hva(&e->mem, tgpa);
    for (unsigned i = 0; i < 32; i++)
        t[i] = (struct vring_desc){ .addr = tx_buf(e, 2, 60), .len = 72 };
    t[0].flags = t0flags;
    t[0].next = t0next;
    vs_vdrv_split_set_desc(&e->drv, 0, tgpa, table_len, VRING_DESC_F_INDIRECT | d0flags, 1);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_ind_len20(struct env *e) { indirect(e, 20, 0, 0, 0); }
static void b_ind_len0(struct env *e) { indirect(e, 0, 0, 0, 0); }
static void b_ind_big(struct env *e) { indirect(e, 16 * 17, 0, 0, 0); }
static void b_ind_nested(struct env *e) { indirect(e, 32, 0, VRING_DESC_F_INDIRECT, 0); }
static void b_ind_next(struct env *e) { indirect(e, 32, VRING_DESC_F_NEXT, 0, 0); }
static void b_ind_entry_range(struct env *e) { indirect(e, 32, 0, VRING_DESC_F_NEXT, 2); }
static void b_ind_loop(struct env *e) { indirect(e, 32, 0, VRING_DESC_F_NEXT, 0); }
static void b_ind_outside(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, VS_VDRV_GPA_BASE + ENV_REGION_SIZE - 16, 32,
                           VRING_DESC_F_INDIRECT, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_tx_writable(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, tx_buf(e, 0, 60), 12, VRING_DESC_F_NEXT, 1);
    vs_vdrv_split_set_desc(&e->drv, 1, tx_buf(e, 1, 60), 60, VRING_DESC_F_WRITE, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_too_large(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, tx_buf(e, 0, VS_PKT_DATA_ROOM + 1),
                           12 + VS_PKT_DATA_ROOM + 1, 0, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}
static void b_too_short(struct env *e)
{
    vs_vdrv_split_set_desc(&e->drv, 0, tx_buf(e, 0, 13), 12 + 13, 0, 0);
    vs_vdrv_split_publish(&e->drv, 0);
}

static void test_loop_self(void) { split_tx_case(16, 0, b_loop_self, VS_VQ_ERR_DESC_LOOP, false); }
static void test_loop_two(void) { split_tx_case(16, 0, b_loop_two, VS_VQ_ERR_DESC_LOOP, false); }
static void test_next_range(void) { split_tx_case(16, 0, b_next_range, VS_VQ_ERR_DESC_INDEX, false); }
static void test_head_range(void) { split_tx_case(16, 0, b_head_range, VS_VQ_ERR_DESC_INDEX, false); }
static void test_addr_outside(void) { split_tx_case(16, 0, b_addr_outside, VS_VQ_ERR_DESC_ADDR, false); }
static void test_addr_wrap(void) { split_tx_case(16, 0, b_addr_wrap, VS_VQ_ERR_DESC_ADDR, false); }
static void test_addr_straddle(void) { split_tx_case(16, 0, b_addr_straddle, VS_VQ_ERR_DESC_ADDR, false); }
static void test_avail_jump(void) { split_tx_case(16, 0, b_avail_jump, VS_VQ_ERR_AVAIL_IDX, false); }
static void test_ind_len20(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_len20, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_len0(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_len0, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_big(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_big, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_nested(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_nested, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_next(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_next, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_unnegotiated(void) { split_tx_case(16, 0, b_ind_len20, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_outside(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_outside, VS_VQ_ERR_INDIRECT, false); }
static void test_ind_entry_range(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_entry_range, VS_VQ_ERR_DESC_INDEX, false); }
static void test_ind_loop(void) { split_tx_case(16, VS_VDRV_INDIRECT, b_ind_loop, VS_VQ_ERR_DESC_LOOP, false); }
static void test_tx_writable(void) { split_tx_case(16, 0, b_tx_writable, VS_VQ_ERR_DIRECTION, false); }
/* One byte beyond max_frame (the queue's default: VS_PKT_MAX_FRAME), no GSO request. */
static void test_too_large(void) { split_tx_case(16, 0, b_too_large, VS_VQ_ERR_OVERSIZE, true); }
static void test_too_short(void) { split_tx_case(16, 0, b_too_short, VS_VQ_ERR_LEN, true); }

/* A chain whose lengths add up past 2^32: two 4 GiB - 1 buffers in a sparse 9 GiB
 * region (never touched beyond the first bytes). Dropped, not broken. */
static void test_len_overflow_32(void)
{
    struct env e;
    begin(&e, 16, 0);
    uint64_t big = 9ull << 30;
    uint8_t *p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    CU_ASSERT_FATAL(p != MAP_FAILED);
    uint64_t gpa = 0x4000000000ull;
    e.mem.gm.r[1] = (struct vs_guest_mem_region){ .gpa = gpa, .size = big, .hva = p, .fd = -1 };
    e.mem.gm.n = 2;
    vs_vdrv_split_set_desc(&e.drv, 0, gpa, UINT32_MAX, VRING_DESC_F_NEXT, 1);
    vs_vdrv_split_set_desc(&e.drv, 1, gpa + (4ull << 30), UINT32_MAX, VRING_DESC_F_NEXT, 2);
    vs_vdrv_split_set_desc(&e.drv, 2, gpa + (8ull << 30), 100, 0, 0);
    vs_vdrv_split_publish(&e.drv, 0);
    dequeue_none(&e);
    expect_dropped(&e, VS_VQ_ERR_LEN);
    e.mem.gm.n = 1;
    munmap(p, big);
    env_teardown(&e);
}

/* RX chains: a device-readable descriptor, and a loop, found while enqueueing. */
static void rx_case(unsigned flags, uint16_t d0flags, uint16_t next, enum vs_virtq_error err)
{
    struct env e;
    begin(&e, 16, flags);
    uint64_t gpa = e.drv.bufs[0].area_gpa;
    /* 4 bytes: a looping chain never holds the frame, so the walk must hit the bound
     * (a loop that already holds the frame is used as is: the guest only hurts itself). */
    vs_vdrv_split_set_desc(&e.drv, 0, gpa, 4, d0flags, next);
    vs_vdrv_split_publish(&e.drv, 0);
    enqueue_none(&e);
    expect_broken(&e, err);
    env_teardown(&e);
}
static void test_rx_readonly(void) { rx_case(0, 0, 0, VS_VQ_ERR_DIRECTION); }
static void test_rx_loop(void)
{
    rx_case(VS_VDRV_MRG_RXBUF, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0, VS_VQ_ERR_DESC_LOOP);
}
static void test_rx_avail_jump(void)
{
    struct env e;
    begin(&e, 16, 0);
    b_avail_jump(&e);
    enqueue_none(&e);
    expect_broken(&e, VS_VQ_ERR_AVAIL_IDX);
    env_teardown(&e);
}

/* Merged RX buffers of zero length: chains that add no room must not make the
 * device track an unbounded number of chains for one frame. The frame is not
 * delivered (no_buffers), the ring is not broken, nothing is consumed. */
static void test_rx_zero_length_chains(void)
{
    for (unsigned packed = 0; packed < 2; packed++) {
        struct env e;
        begin(&e, 128, VS_VDRV_MRG_RXBUF | (packed ? VS_VDRV_PACKED : 0));
        for (uint16_t i = 0; i < 100; i++) {
            if (packed)
                vs_vdrv_packed_set_desc(&e.drv, i, e.drv.bufs[i].area_gpa, 0, i,
                                        VRING_DESC_F_WRITE, true);
            else {
                vs_vdrv_split_set_desc(&e.drv, i, e.drv.bufs[i].area_gpa, 0, VRING_DESC_F_WRITE, 0);
                vs_vdrv_split_publish(&e.drv, i);
            }
        }
        struct vs_pkt *p = make_pkt(1000, 1);
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 0);
        vs_pkt_free(p);
        CU_ASSERT(!e.vq.broken);
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 1);
        CU_ASSERT_EQUAL(e.vq.last_avail_idx, 0);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* RX chains padded with empty descriptors: 32 chains, each an indirect table of 200
 * zero-length descriptors and one buffer that holds the frame. Every chain would do
 * for one frame, but the burst examines at most VS_VQ_RX_WALK_BUDGET descriptors in
 * all (a bound per chain would let the guest multiply it by the burst), so the burst
 * stops after the chains the budget covers; the rest waits, counted, ring sound. */
#define PAD_DESCS 200u
static void test_rx_walk_budget(void)
{
    for (unsigned packed = 0; packed < 2; packed++) {
        struct env e;
        begin(&e, 256, VS_VDRV_INDIRECT | (packed ? VS_VDRV_PACKED : 0));
        for (uint16_t i = 0; i < VS_BURST; i++) {
            uint64_t tgpa = e.drv.bufs[i].area_gpa;
            uint32_t tlen = 16 * (PAD_DESCS + 1);
            if (packed) {
                struct vring_packed_desc *t = vs_vdrv_mem_hva(&e.mem, tgpa);
                for (uint16_t k = 0; k <= PAD_DESCS; k++)
                    t[k] = (struct vring_packed_desc){ .addr = tgpa + 4096,
                                                       .flags = VRING_DESC_F_WRITE };
                t[PAD_DESCS].len = 2048;
                vs_vdrv_packed_set_desc(&e.drv, i, tgpa, tlen, i, VRING_DESC_F_INDIRECT, true);
            } else {
                struct vring_desc *t = vs_vdrv_mem_hva(&e.mem, tgpa);
                for (uint16_t k = 0; k <= PAD_DESCS; k++)
                    t[k] = (struct vring_desc){ .addr = tgpa + 4096,
                                                .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                                                .next = (uint16_t)(k + 1) };
                t[PAD_DESCS].len = 2048;
                t[PAD_DESCS].flags = VRING_DESC_F_WRITE; /* end of the chain */
                vs_vdrv_split_set_desc(&e.drv, i, tgpa, tlen, VRING_DESC_F_INDIRECT, 0);
                vs_vdrv_split_publish(&e.drv, i);
            }
        }
        struct vs_pkt *p[VS_BURST];
        for (unsigned i = 0; i < VS_BURST; i++)
            p[i] = make_pkt(1000, i);
        uint16_t sent = vs_virtq_enqueue(&e.vq, p, VS_BURST);
        /* Each chain costs PAD_DESCS + 1 descriptors (+1 for packed's end check). */
        CU_ASSERT(sent >= VS_VQ_RX_WALK_BUDGET / (PAD_DESCS + 2));
        CU_ASSERT(sent <= VS_VQ_RX_WALK_BUDGET / (PAD_DESCS + 1));
        CU_ASSERT_EQUAL(e.vq.stats.walk_cut, 1);
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, VS_BURST - sent);
        CU_ASSERT(!e.vq.broken);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        uint8_t want[1000];
        for (unsigned i = 0; i < sent; i++) {
            make_frame(want, sizeof(want), i);
            const uint8_t *got = vs_vdrv_mem_hva(&e.mem, e.drv.bufs[i].area_gpa + 4096);
            CU_ASSERT(memcmp(got + e.vq.hdr_len, want, sizeof(want)) == 0);
        }
        /* The chains left over go to the next burst. */
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, p + sent, (uint16_t)(VS_BURST - sent)),
                        VS_BURST - sent);
        for (unsigned i = 0; i < VS_BURST; i++)
            vs_pkt_free(p[i]);
        env_teardown(&e);
    }
}

/* Rings that are not inside guest memory (or misaligned, or of a bad size) are
 * refused at start and the queue never runs. */
static void test_ring_outside(void)
{
    for (unsigned c = 0; c < 7; c++) {
        struct env e;
        begin(&e, 16, c == 4 ? VS_VDRV_PACKED : 0);
        vs_virtq_stop(&e.vq);
        static uint8_t outside[4096] __attribute__((aligned(4096)));
        switch (c) {
        case 0: e.vq.desc = outside; break;
        case 1: e.vq.used = (uint8_t *)vs_vdrv_mem_hva(&e.mem, VS_VDRV_GPA_BASE + ENV_REGION_SIZE - 64); break;
        case 2: e.vq.avail = (uint8_t *)e.vq.avail + 1; break;
        case 3: e.vq.size = 12; break; /* split sizes are powers of two */
        case 4: e.vq.used = NULL; break;
        case 5: e.vq.hdr_len = 14; break;
        case 6: e.vq.mrg_rxbuf = true; e.vq.hdr_len = 10; break;
        }
        CU_ASSERT(vs_virtq_start(&e.vq, 0) < 0);
        CU_ASSERT(!e.vq.started);
        uint8_t f[64];
        make_frame(f, 64, 0);
        vs_vdrv_post_tx(&e.drv, f, 64, 1, false);
        CU_ASSERT_EQUAL(e.vq.stats.err[VS_VQ_ERR_RING_ADDR], 1);
        dequeue_none(&e);
        enqueue_none(&e);
        CU_ASSERT_EQUAL(err_total(&e.vq), 1);
        env_teardown(&e);
    }
}

/* Packed rings. */
static void packed_case(unsigned flags, void (*build)(struct env *), enum vs_virtq_error err,
                        bool drop)
{
    struct env e;
    begin(&e, 8, VS_VDRV_PACKED | flags);
    build(&e);
    dequeue_none(&e);
    if (drop)
        expect_dropped(&e, err);
    else
        expect_broken(&e, err);
    env_teardown(&e);
}
static void p_bad_wrap(struct env *e)
{
    vs_vdrv_packed_set_desc(&e->drv, 1, tx_buf(e, 1, 60), 60, 0, 0, false); /* wrong lap */
    vs_vdrv_packed_set_desc(&e->drv, 0, tx_buf(e, 0, 60), 12, 0, VRING_DESC_F_NEXT, true);
}
static void p_bad_id(struct env *e)
{
    vs_vdrv_packed_set_desc(&e->drv, 0, tx_buf(e, 0, 60), 72, 8, 0, true);
}
static void p_too_long(struct env *e)
{
    for (int i = 7; i >= 0; i--)
        vs_vdrv_packed_set_desc(&e->drv, (uint16_t)i, tx_buf(e, (unsigned)i, 60), 72, 0,
                                VRING_DESC_F_NEXT, true);
}
static void p_indirect(struct env *e, uint32_t len, uint16_t t0flags)
{
    uint64_t tgpa = e->drv.bufs[1].area_gpa;
    struct vring_packed_desc *t = vs_vdrv_mem_hva(&e->mem, tgpa);
    for (unsigned i = 0; i < 16; i++)
        t[i] = (struct vring_packed_desc){ .addr = tx_buf(e, 2, 60), .len = 72 };
    t[0].flags = t0flags;
    vs_vdrv_packed_set_desc(&e->drv, 0, tgpa, len, 0, VRING_DESC_F_INDIRECT, true);
}
static void p_ind_nested(struct env *e) { p_indirect(e, 32, VRING_DESC_F_INDIRECT); }
static void p_ind_len(struct env *e) { p_indirect(e, 24, 0); }
static void p_ind_big(struct env *e) { p_indirect(e, 16 * 9, 0); }
static void p_writable(struct env *e) { p_indirect(e, 32, VRING_DESC_F_WRITE); }
static void p_addr(struct env *e)
{
    vs_vdrv_packed_set_desc(&e->drv, 0, VS_VDRV_GPA_BASE - 1, 72, 0, 0, true);
}
static void p_too_large(struct env *e)
{
    vs_vdrv_packed_set_desc(&e->drv, 0, tx_buf(e, 0, 3000), 12 + 3000, 0, 0, true);
}
static void p_ind_next(struct env *e)
{
    vs_vdrv_packed_set_desc(&e->drv, 1, tx_buf(e, 1, 60), 60, 0, 0, true);
    uint64_t tgpa = e->drv.bufs[3].area_gpa;
    vs_vdrv_packed_set_desc(&e->drv, 0, tgpa, 32, 0, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT,
                            true);
}

static void test_p_bad_wrap(void) { packed_case(0, p_bad_wrap, VS_VQ_ERR_AVAIL_IDX, false); }
static void test_p_bad_id(void) { packed_case(0, p_bad_id, VS_VQ_ERR_DESC_INDEX, false); }
static void test_p_too_long(void) { packed_case(0, p_too_long, VS_VQ_ERR_DESC_LOOP, false); }
static void test_p_ind_nested(void) { packed_case(VS_VDRV_INDIRECT, p_ind_nested, VS_VQ_ERR_INDIRECT, false); }
static void test_p_ind_len(void) { packed_case(VS_VDRV_INDIRECT, p_ind_len, VS_VQ_ERR_INDIRECT, false); }
static void test_p_ind_big(void) { packed_case(VS_VDRV_INDIRECT, p_ind_big, VS_VQ_ERR_INDIRECT, false); }
static void test_p_ind_next(void) { packed_case(VS_VDRV_INDIRECT, p_ind_next, VS_VQ_ERR_INDIRECT, false); }
static void test_p_writable(void) { packed_case(VS_VDRV_INDIRECT, p_writable, VS_VQ_ERR_DIRECTION, false); }
static void test_p_addr(void) { packed_case(0, p_addr, VS_VQ_ERR_DESC_ADDR, false); }
static void test_p_too_large(void) { packed_case(0, p_too_large, VS_VQ_ERR_OVERSIZE, true); }

static void test_p_bad_base(void)
{
    struct env e;
    begin(&e, 8, VS_VDRV_PACKED);
    vs_virtq_stop(&e.vq);
    CU_ASSERT(vs_virtq_start(&e.vq, 8) < 0);
    CU_ASSERT(vs_virtq_start(&e.vq, 0x8000 | 9) < 0);
    CU_ASSERT(!e.vq.started);
    dequeue_none(&e);
    CU_ASSERT(vs_virtq_start(&e.vq, 0x8000 | 7) == 0);
    env_teardown(&e);
}

/* A broken queue runs again once its owner sets it up again (here: the driver
 * resets its ring and the owner restarts from 0). */
static void test_restart_after_break(void)
{
    struct env e;
    begin(&e, 16, 0);
    b_loop_self(&e);
    dequeue_none(&e);
    CU_ASSERT(e.vq.broken);
    vs_virtq_stop(&e.vq);
    vs_vdrv_fini(&e.drv);
    e.mem.brk[0] = 0;
    memset(e.mem.gm.r[0].hva, 0, ENV_REGION_SIZE);
    CU_ASSERT_FATAL(vs_vdrv_init(&e.drv, &e.mem, 16, 0) == 0);
    CU_ASSERT(vs_virtq_start(&e.vq, 0) == 0);
    CU_ASSERT(!e.vq.broken);
    uint8_t f[80];
    make_frame(f, 80, 9);
    CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 80, 2, false) >= 0);
    CU_ASSERT(dequeue_expect(&e, 80, 9));
    env_teardown(&e);
}

static void add_tests(CU_pSuite s)
{
    CU_add_test(s, "split: descriptor loop (self)", test_loop_self);
    CU_add_test(s, "split: descriptor loop (2-cycle)", test_loop_two);
    CU_add_test(s, "split: next index out of range", test_next_range);
    CU_add_test(s, "split: head index out of range", test_head_range);
    CU_add_test(s, "split: address outside memory", test_addr_outside);
    CU_add_test(s, "split: address + len wraps 64 bits", test_addr_wrap);
    CU_add_test(s, "split: buffer straddles the region end", test_addr_straddle);
    CU_add_test(s, "split: avail idx jumps > size (tx)", test_avail_jump);
    CU_add_test(s, "split: avail idx jumps > size (rx)", test_rx_avail_jump);
    CU_add_test(s, "split: indirect length not a multiple of 16", test_ind_len20);
    CU_add_test(s, "split: indirect length zero", test_ind_len0);
    CU_add_test(s, "split: indirect table larger than the queue", test_ind_big);
    CU_add_test(s, "split: nested indirect", test_ind_nested);
    CU_add_test(s, "split: indirect with NEXT", test_ind_next);
    CU_add_test(s, "split: indirect not negotiated", test_ind_unnegotiated);
    CU_add_test(s, "split: indirect table outside memory", test_ind_outside);
    CU_add_test(s, "split: indirect entry next out of range", test_ind_entry_range);
    CU_add_test(s, "split: loop inside an indirect table", test_ind_loop);
    CU_add_test(s, "split: writable descriptor in TX", test_tx_writable);
    CU_add_test(s, "split: read-only descriptor in RX", test_rx_readonly);
    CU_add_test(s, "split: loop in an RX chain", test_rx_loop);
    CU_add_test(s, "split: frame too large (dropped)", test_too_large);
    CU_add_test(s, "split: frame shorter than header + 14 (dropped)", test_too_short);
    CU_add_test(s, "split: chain length past 2^32 (dropped)", test_len_overflow_32);
    CU_add_test(s, "rx: zero-length merged buffers", test_rx_zero_length_chains);
    CU_add_test(s, "rx: descriptor budget per burst", test_rx_walk_budget);
    CU_add_test(s, "rings outside memory at start", test_ring_outside);
    CU_add_test(s, "packed: chained descriptor of the wrong lap", test_p_bad_wrap);
    CU_add_test(s, "packed: buffer id out of range", test_p_bad_id);
    CU_add_test(s, "packed: chain longer than the queue", test_p_too_long);
    CU_add_test(s, "packed: nested indirect", test_p_ind_nested);
    CU_add_test(s, "packed: indirect length", test_p_ind_len);
    CU_add_test(s, "packed: indirect table larger than the queue", test_p_ind_big);
    CU_add_test(s, "packed: indirect with NEXT", test_p_ind_next);
    CU_add_test(s, "packed: writable descriptor in TX", test_p_writable);
    CU_add_test(s, "packed: address outside memory", test_p_addr);
    CU_add_test(s, "packed: frame too large (dropped)", test_p_too_large);
    CU_add_test(s, "packed: base beyond the ring", test_p_bad_base);
    CU_add_test(s, "restart after a break", test_restart_after_break);
}

int main(void)
{
    CU_initialize_registry();
    env_add_suites("virtq malformed", add_tests);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
