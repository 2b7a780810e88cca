/* VIRTIO_F_IN_ORDER on the device side, looked at in the rings themselves: a guest
 * TX burst comes back as ONE used entry (split: at the first slot, used->idx moved
 * by the whole burst; packed: one used descriptor, the other chains' slots left
 * alone) carrying the last buffer's id, also when the burst mixes lent, copied and
 * dropped frames and when it wraps the ring; guest RX keeps one entry per buffer
 * (the driver needs each length); without IN_ORDER every buffer has its entry. */
#include <CUnit/Basic.h>
#include <string.h>

#include "test_virtq_env.h"

#define SENTINEL 0xdeadbeefu

static const unsigned modes[] = {0, VS_VDRV_PACKED};

/* Ring slots (split: used entries; packed: descriptors) the device wrote as used
 * during the last call, found by comparing with the state saved before it. */
struct snap {
    uint16_t used_idx;
    uint16_t packed_flags[64];
};

static void snap_take(struct env *e, struct snap *s)
{
    *s = (struct snap){0};
    if (e->drv.flags & VS_VDRV_PACKED) {
        struct vring_packed_desc *ring = e->drv.desc;
        for (unsigned i = 0; i < e->drv.size; i++)
            s->packed_flags[i] = ring[i].flags;
        return;
    }
    struct vring_used *used = e->drv.used;
    s->used_idx = used->idx;
    for (unsigned i = 0; i < e->drv.size; i++)
        used->ring[i].id = SENTINEL;
}

/* Split: the entries written since snap_take, in ring order from the old idx. */
static unsigned split_written(struct env *e, const struct snap *s, uint32_t *ids, uint32_t *lens)
{
    struct vring_used *used = e->drv.used;
    unsigned n = 0;
    for (unsigned k = 0; k < e->drv.size; k++) {
        struct vring_used_elem *el = &used->ring[(uint16_t)(s->used_idx + k) & (e->drv.size - 1)];
        if (el->id == SENTINEL)
            continue;
        ids[n] = el->id;
        lens[n++] = el->len;
    }
    return n;
}

/* Packed: the slots whose flags changed since snap_take. */
static unsigned packed_written(struct env *e, const struct snap *s, uint16_t *slots)
{
    struct vring_packed_desc *ring = e->drv.desc;
    unsigned n = 0;
    for (unsigned i = 0; i < e->drv.size; i++)
        if (ring[i].flags != s->packed_flags[i])
            slots[n++] = (uint16_t)i;
    return n;
}

/* One burst of k guest TX frames of mixed shapes (seed decides): one piece (lent
 * when lending), two pieces and indirect (copied), too short (dropped, still used).
 * Checks what the device wrote and that the driver gets the buffers back in order. */
static void tx_round(struct env *e, bool lend, unsigned k, uint32_t seed, unsigned *bad)
{
    bool packed = e->drv.flags & VS_VDRV_PACKED, in_order = e->drv.flags & VS_VDRV_IN_ORDER;
    uint8_t f[1500];
    int ids[VS_BURST];
    uint16_t head_slot[VS_BURST];
    unsigned expect_out = 0, lendable = 0;
    struct snap s;
    snap_take(e, &s);
    for (unsigned j = 0; j < k; j++) {
        unsigned shape = (seed + j) % 4;
        uint32_t len = shape == 3 ? 10 : 60 + (seed + j) % 1400;
        make_frame(f, len, seed + j);
        head_slot[j] = e->drv.next_pos;
        ids[j] = vs_vdrv_post_tx(&e->drv, f, len, shape == 1 ? 2 : 1, shape == 2);
        if (ids[j] < 0)
            (*bad)++;
        expect_out += shape != 3;
        lendable += shape == 0;
    }
    if (packed) /* the driver's own posts changed flags: look only at the device's */
        snap_take(e, &s);
    struct vs_pkt *pkts[VS_BURST];
    uint16_t n = lend ? vs_virtq_dequeue_lend(&e->vq, test_pool, pkts, VS_BURST)
                      : vs_virtq_dequeue(&e->vq, test_pool, pkts, VS_BURST);
    if (n != expect_out)
        (*bad)++;
    if (lend && lendable) {
        /* Nothing goes back while lent frames may still be read (a burst with none
         * lent goes back at once). */
        uint16_t slots[64];
        if (packed ? packed_written(e, &s, slots) != 0
                   : ((struct vring_used *)e->drv.used)->idx != s.used_idx)
            (*bad)++;
    }
    vs_pkt_free_bulk(pkts, n);
    vs_virtq_dequeue_done(&e->vq);

    if (packed) {
        uint16_t slots[64];
        unsigned w = packed_written(e, &s, slots);
        struct vring_packed_desc *ring = e->drv.desc;
        if (in_order) {
            /* One used descriptor, at the first chain's slot, with the last id. */
            if (w != 1 || slots[0] != head_slot[0] || ring[slots[0]].id != ids[k - 1] ||
                ring[slots[0]].len != 0)
                (*bad)++;
        } else {
            if (w != k)
                (*bad)++;
            for (unsigned j = 0; j < k && j < w; j++)
                if (ring[head_slot[j]].id != ids[j])
                    (*bad)++;
        }
    } else {
        uint32_t wid[64], wlen[64];
        unsigned w = split_written(e, &s, wid, wlen);
        if (((struct vring_used *)e->drv.used)->idx != (uint16_t)(s.used_idx + k))
            (*bad)++;
        if (in_order) {
            if (w != 1 || wid[0] != (uint32_t)ids[k - 1] || wlen[0] != 0)
                (*bad)++;
        } else {
            if (w != k)
                (*bad)++;
            for (unsigned j = 0; j < k && j < w; j++)
                if (wid[j] != (uint32_t)ids[j] || wlen[j] != 0)
                    (*bad)++;
        }
    }
    /* The driver takes them back one by one, in the order it posted them. */
    for (unsigned j = 0; j < k; j++) {
        uint16_t id;
        uint32_t len;
        if (vs_vdrv_get_used(&e->drv, &id, &len) != 1 || id != ids[j] || len != 0)
            (*bad)++;
    }
    uint16_t id;
    uint32_t len;
    if (vs_vdrv_get_used(&e->drv, &id, &len) != 0)
        (*bad)++;
}

/* Guest TX, copying and lending, with and without IN_ORDER, over many laps of a
 * small ring (split 8, packed 7: bursts straddle the end and the wrap counter). */
static void test_tx_one_entry_per_burst(void)
{
    for (unsigned mi = 0; mi < 2; mi++)
        for (unsigned io = 0; io < 2; io++)
            for (unsigned lend = 0; lend < 2; lend++) {
                struct env e;
                unsigned flags = modes[mi] | VS_VDRV_INDIRECT | (io ? VS_VDRV_IN_ORDER : 0);
                env_setup(&e, modes[mi] ? 7 : 8, flags);
                unsigned bad = 0, total = 0;
                for (unsigned r = 0; r < 60; r++) {
                    unsigned k = 1 + r % 5; /* chains of up to 2 slots: fits in 7 */
                    if (modes[mi] && k > 3)
                        k = 3;
                    tx_round(&e, lend, k, r * 7, &bad);
                    total += k;
                }
                CU_ASSERT_EQUAL(bad, 0);
                CU_ASSERT(total > 2 * e.drv.size);
                CU_ASSERT_EQUAL(vs_vdrv_free_count(&e.drv), e.drv.size);
                CU_ASSERT(!e.vq.broken);
                env_teardown(&e);
            }
}

/* Guest RX in order: every buffer keeps its own entry and length (merged buffers
 * too), ids in the order posted. */
static void test_rx_entry_per_buffer(void)
{
    for (unsigned mi = 0; mi < 2; mi++) {
        struct env e;
        env_setup(&e, 16, modes[mi] | VS_VDRV_IN_ORDER | VS_VDRV_MRG_RXBUF);
        int ids[8];
        for (unsigned j = 0; j < 8; j++)
            CU_ASSERT((ids[j] = vs_vdrv_post_rx(&e.drv, 512, 1, false)) >= 0);
        struct snap s;
        snap_take(&e, &s);
        static const uint32_t lens[] = {60, 1200, 100, 400}; /* 1200: three buffers */
        struct vs_pkt *p[4];
        for (unsigned j = 0; j < 4; j++)
            CU_ASSERT_FATAL((p[j] = make_pkt(lens[j], j)) != NULL);
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, p, 4), 4);
        vs_pkt_free_bulk(p, 4);
        static const uint32_t want_len[] = {72, 512, 512, 188, 112, 412};
        if (modes[mi]) {
            uint16_t slots[64];
            CU_ASSERT_EQUAL(packed_written(&e, &s, slots), 6);
            struct vring_packed_desc *ring = e.drv.desc;
            for (unsigned j = 0; j < 6; j++) {
                CU_ASSERT_EQUAL(slots[j], j);
                CU_ASSERT_EQUAL(ring[j].id, ids[j]);
                CU_ASSERT_EQUAL(ring[j].len, want_len[j]);
            }
        } else {
            uint32_t wid[64], wlen[64];
            CU_ASSERT_EQUAL(split_written(&e, &s, wid, wlen), 6);
            for (unsigned j = 0; j < 6; j++) {
                CU_ASSERT_EQUAL(wid[j], (uint32_t)ids[j]);
                CU_ASSERT_EQUAL(wlen[j], want_len[j]);
            }
        }
        for (unsigned j = 0; j < 4; j++)
            CU_ASSERT(recv_expect(&e, lens[j], j, NULL));
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* A front-end that negotiates IN_ORDER and then posts heads out of ring order gets
 * its buffers used in the order it made them available (nothing relies on its
 * promise); one that posts a head beyond the ring breaks the queue as always. */
static void test_front_end_breaks_promise(void)
{
    struct env e;
    env_setup(&e, 8, VS_VDRV_IN_ORDER);
    uint64_t gpa[3];
    for (unsigned j = 0; j < 3; j++) {
        gpa[j] = e.drv.bufs[j].area_gpa;
        uint8_t *b = vs_vdrv_mem_hva(&e.mem, gpa[j]);
        memset(b, 0, 12);
        make_frame(b + 12, 64, j);
    }
    vs_vdrv_split_set_desc(&e.drv, 5, gpa[0], 76, 0, 0);
    vs_vdrv_split_set_desc(&e.drv, 2, gpa[1], 76, 0, 0);
    vs_vdrv_split_publish(&e.drv, 5);
    vs_vdrv_split_publish(&e.drv, 2);
    struct snap s;
    snap_take(&e, &s);
    CU_ASSERT(dequeue_expect(&e, 64, 0));
    CU_ASSERT(dequeue_expect(&e, 64, 1));
    uint32_t wid[8], wlen[8];
    CU_ASSERT_EQUAL(split_written(&e, &s, wid, wlen), 2);
    CU_ASSERT_EQUAL(wid[0], 5);
    CU_ASSERT_EQUAL(wid[1], 2);
    vs_vdrv_split_set_desc(&e.drv, 7, gpa[2], 76, 0, 0);
    vs_vdrv_split_publish(&e.drv, 7);
    vs_vdrv_split_publish(&e.drv, 9); /* beyond the ring */
    struct vs_pkt *p[4];
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, p, 4), 0);
    CU_ASSERT(e.vq.broken);
    CU_ASSERT_EQUAL(e.vq.stats.err[VS_VQ_ERR_DESC_INDEX], 1);
    CU_ASSERT_EQUAL(((struct vring_used *)e.drv.used)->idx, 2); /* nothing of that burst */
    env_teardown(&e);
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("virtq in order", env_suite_init, env_suite_clean);
    CU_add_test(s, "tx: one used entry per burst", test_tx_one_entry_per_burst);
    CU_add_test(s, "rx: one used entry per buffer", test_rx_entry_per_buffer);
    CU_add_test(s, "front-end breaks the in-order promise", test_front_end_breaks_promise);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
