/* igb RX/TX descriptor ring logic against an in-memory model of the 82576's
 * descriptor handling: the model plays the NIC (head pointers, write-back,
 * DMA into/out of buffers) and the tail registers are plain memory. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ports/vfio/igb_ring.h"
#include "vswitch/mem.h"
#include "vswitch/pkt.h"

static struct vs_pool *pool;

/* ---- the NIC model ---- */

struct model_rx {
    struct vs_igb_rxq *q;
    volatile uint32_t rdt;
    uint16_t rdh;
};

/* Receives one frame into the descriptor at RDH, as the NIC does: only when
 * RDH != RDT; writes the data through the descriptor's address (IOVA == VA),
 * then the write-back. Returns 0, or -1 when the ring has no descriptor. */
static int nic_receive(struct model_rx *m, uint32_t seq, uint16_t len, uint32_t status_extra,
                       bool set_dd)
{
    volatile union vs_igb_rx_desc *d;
    uint8_t *buf;

    if (m->rdh == m->rdt)
        return -1;
    d = &m->q->ring[m->rdh];
    buf = (uint8_t *)(uintptr_t)d->read.pkt_addr;
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    /* The address must be the data room of the buffer the driver posted there. */
    CU_ASSERT_EQUAL(d->read.pkt_addr, vs_pkt_data_iova(m->q->bufs[m->rdh]));
    memset(buf, 0xab, len);
    memcpy(buf, &seq, sizeof(seq));
    d->wb.info = 0;
    d->wb.rss = 0;
    d->wb.upper = (uint64_t)len << 32 | status_extra |
                  (set_dd ? VS_IGB_RXD_STAT_DD | VS_IGB_RXD_STAT_EOP : 0);
    m->rdh = (m->rdh + 1) & m->q->mask;
    return 0;
}

static void set_dd(struct model_rx *m, uint16_t i)
{
    m->q->ring[i].wb.upper |= VS_IGB_RXD_STAT_DD | VS_IGB_RXD_STAT_EOP;
}

static uint32_t seq_of(struct vs_pkt *p)
{
    uint32_t s;
    memcpy(&s, vs_pkt_data(p), sizeof(s));
    return s;
}

static void *ring_mem(size_t n)
{
    void *p = aligned_alloc(4096, (n * 16 + 4095) & ~4095ul);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

static void test_rx_wraparound(void)
{
    struct vs_igb_rxq q;
    struct model_rx m = {.q = &q};
    struct vs_pkt *pkts[VS_BURST];
    void *ring = ring_mem(8);
    unsigned free0 = vs_pool_free_count(pool);
    uint32_t next_seq = 0, expect = 0;

    CU_ASSERT_EQUAL_FATAL(vs_igb_rxq_init(&q, ring, 8, &m.rdt, NULL, pool), 0);
    /* Every descriptor holds a buffer, all but one belong to the NIC. */
    CU_ASSERT_EQUAL(m.rdt, 7);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0 - 8);

    for (int round = 0; round < 10; round++) {
        int k = 0;
        while (k < 5 && nic_receive(&m, next_seq, 60 + k, 0, true) == 0) {
            next_seq++;
            k++;
        }
        CU_ASSERT_EQUAL(k, 5);
        uint16_t n = vs_igb_rx_burst(&q, pkts, VS_BURST);
        CU_ASSERT_EQUAL(n, 5);
        for (uint16_t i = 0; i < n; i++) {
            CU_ASSERT_EQUAL(seq_of(pkts[i]), expect);
            CU_ASSERT_EQUAL(pkts[i]->len, 60 + i);
            expect++;
        }
        vs_pkt_free_bulk(pkts, n);
        /* One tail write per burst: RDT trails the next descriptor to check by one. */
        CU_ASSERT_EQUAL(m.rdt, (uint32_t)((q.next - 1) & q.mask));
        /* Refilled descriptors have a clear status: no stale DD. */
        CU_ASSERT_EQUAL(q.ring[(q.next - 1) & q.mask].wb.upper & VS_IGB_RXD_STAT_DD, 0);
    }
    CU_ASSERT_EQUAL(expect, 50); /* 50 frames through an 8-entry ring */
    CU_ASSERT_EQUAL(q.stats.packets, 50);
    vs_igb_rxq_fini(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    free(ring);
}

static void test_rx_partial_writeback(void)
{
    struct vs_igb_rxq q;
    struct model_rx m = {.q = &q};
    struct vs_pkt *pkts[VS_BURST];
    void *ring = ring_mem(16);

    CU_ASSERT_EQUAL_FATAL(vs_igb_rxq_init(&q, ring, 16, &m.rdt, NULL, pool), 0);
    /* Frames 0..4 are written; the write-back of #2 is not visible yet while #3
     * and #4 already are: the driver must stop at #2. */
    for (uint32_t s = 0; s < 5; s++)
        CU_ASSERT_EQUAL(nic_receive(&m, s, 64, 0, s != 2), 0);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 2);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 0);
    CU_ASSERT_EQUAL(seq_of(pkts[1]), 1);
    vs_pkt_free_bulk(pkts, 2);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 0);
    set_dd(&m, 2);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 3);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 2);
    CU_ASSERT_EQUAL(seq_of(pkts[2]), 4);
    vs_pkt_free_bulk(pkts, 3);

    /* A burst smaller than what is ready leaves the rest for the next call. */
    for (uint32_t s = 10; s < 16; s++)
        CU_ASSERT_EQUAL(nic_receive(&m, s, 64, 0, true), 0);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, 4), 4);
    CU_ASSERT_EQUAL(seq_of(pkts[3]), 13);
    vs_pkt_free_bulk(pkts, 4);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 2);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 14);
    vs_pkt_free_bulk(pkts, 2);
    vs_igb_rxq_fini(&q);
    free(ring);
}

static void test_rx_errors_and_empty(void)
{
    struct vs_igb_rxq q;
    struct model_rx m = {.q = &q};
    struct vs_pkt *pkts[VS_BURST];
    void *ring = ring_mem(8);
    int delivered = 0;

    CU_ASSERT_EQUAL_FATAL(vs_igb_rxq_init(&q, ring, 8, &m.rdt, NULL, pool), 0);
    /* Empty ring: nothing written back, nothing received. */
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(m.rdt, 7);
    /* The NIC fills what it owns: 7 of 8 descriptors, then it has none ("RX ring
     * empty" from the NIC's side: RDH == RDT). */
    while (nic_receive(&m, (uint32_t)delivered, 64, 0, true) == 0)
        delivered++;
    CU_ASSERT_EQUAL(delivered, 7);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 7);
    vs_pkt_free_bulk(pkts, 7);
    CU_ASSERT_EQUAL(nic_receive(&m, 99, 64, 0, true), 0); /* handed back: room again */
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    vs_pkt_free_bulk(pkts, 1);

    /* Errors and runts are dropped and counted, the good frame between passes. */
    nic_receive(&m, 1, 64, 1u << 29 /* RXE */, true);
    nic_receive(&m, 2, 64, 0, true);
    nic_receive(&m, 3, 8, 0, true); /* shorter than an Ethernet header */
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 2);
    vs_pkt_free(pkts[0]);
    CU_ASSERT_EQUAL(q.stats.errors, 2);

    /* A checksum error (L4E, IPE) is the NIC's opinion, not a broken frame: forwarded. */
    nic_receive(&m, 7, 64, (1u << 31) | (1u << 30), true);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 7);
    vs_pkt_free(pkts[0]);
    CU_ASSERT_EQUAL(q.stats.errors, 2);

    /* A frame spread over two descriptors (no EOP on the first) is gathered into
     * one large buffer. */
    nic_receive(&m, 4, 2048, 0, false);
    q.ring[(m.rdh - 1) & q.mask].wb.upper |= VS_IGB_RXD_STAT_DD; /* DD without EOP */
    nic_receive(&m, 5, 100, 0, true);
    nic_receive(&m, 6, 64, 0, true);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 2);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 4);
    CU_ASSERT_EQUAL(pkts[0]->len, 2148);
    CU_ASSERT_EQUAL(seq_of(pkts[1]), 6);
    vs_pkt_free_bulk(pkts, 2);
    vs_igb_rxq_fini(&q);
    free(ring);
}

static void test_rx_pool_dry(void)
{
    struct vs_pool *small;
    struct vs_igb_rxq q;
    struct model_rx m = {.q = &q};
    struct vs_pkt *pkts[VS_BURST], *held[4];
    void *ring = ring_mem(8);

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(12, VS_PAGES_NONE, &small), 0);
    CU_ASSERT_EQUAL_FATAL(vs_igb_rxq_init(&q, ring, 8, &m.rdt, NULL, small), 0);
    CU_ASSERT_EQUAL(vs_pkt_alloc_bulk(small, held, 4), 4); /* pool now empty */
    nic_receive(&m, 1, 64, 0, true);
    nic_receive(&m, 2, 64, 0, true);
    /* No replacement buffer: the frames stay in the ring, nothing is lost. */
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 0);
    CU_ASSERT(q.stats.no_mbufs > 0);
    CU_ASSERT_EQUAL(m.rdt, 7);
    vs_pkt_free(held[0]);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 1);
    vs_pkt_free(pkts[0]);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 2);
    vs_pkt_free(pkts[0]);
    vs_pkt_free_bulk(&held[1], 3);
    vs_igb_rxq_fini(&q);
    vs_pool_thread_flush();
    CU_ASSERT_EQUAL(vs_pool_free_count(small), 12);
    vs_pool_destroy(small);
    free(ring);
}

/* ---- TX ---- */

struct model_tx {
    struct vs_igb_txq *q;
    volatile uint32_t tdt;
    uint16_t tdh;
    uint32_t sent;   /* descriptors */
    uint32_t frames; /* frames completed (EOP seen) */
    uint32_t ctxs;   /* context descriptors */
    uint32_t last_seq;
    uint32_t frame_len; /* bytes of the frame being gathered */
    uint32_t first_olinfo;
    bool in_frame;
    uint32_t ctx_lens, ctx_tucmd; /* context slot 0 */
    uint8_t frame[VS_IGB_MAX_FRAME];
    uint32_t last_len; /* the last frame sent, as it left the NIC */
    uint8_t last[VS_IGB_MAX_FRAME];
};

/* The NIC's checksum offload (§7.2.4): the ones' complement sum from MACLEN + IPLEN
 * to the end, the field's contents (the pseudo-header sum) included, stored at the
 * offset the L4 type gives. */
static void nic_csum(struct model_tx *m)
{
    uint32_t start = (m->ctx_lens & 0x1ff) + ((m->ctx_lens >> VS_IGB_CTX_MACLEN_SHIFT) & 0x7f);
    uint32_t at = start + ((m->ctx_tucmd & VS_IGB_CTX_TUCMD_L4T_TCP) ? 16 : 6), sum = 0;

    CU_ASSERT_FATAL(at + 2 <= m->frame_len);
    for (uint32_t i = start; i < m->frame_len; i += 2)
        sum += (uint32_t)(m->frame[i] << 8 | (i + 1 < m->frame_len ? m->frame[i + 1] : 0));
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    m->frame[at] = (uint8_t)(~sum >> 8);
    m->frame[at + 1] = (uint8_t)~sum;
}

/* Transmits up to max descriptors between TDH and TDT, writing DD back where RS
 * asks for it. A frame may span descriptors (EOP on its last) behind a context
 * descriptor; no descriptor's buffer may cross a 4 KiB page. */
static int nic_transmit(struct model_tx *m, int max)
{
    int n = 0;

    while (m->tdh != m->tdt && n < max) {
        volatile union vs_igb_tx_desc *d = &m->q->ring[m->tdh];
        uint32_t cmd = d->read.cmd_type_len, len = cmd & 0xffff;
        uint64_t addr = d->read.buffer_addr;

        CU_ASSERT(cmd & VS_IGB_TXD_CMD_DEXT);
        if ((cmd & (0xfu << 20)) == VS_IGB_TXD_DTYP_CTXT) {
            CU_ASSERT_FALSE(m->in_frame); /* between frames only */
            m->ctx_lens = d->ctx.vlan_macip_lens;
            m->ctx_tucmd = d->ctx.type_tucmd_mlhl & (0x7ffu << 9);
            CU_ASSERT_EQUAL(d->ctx.mss_l4len_idx & (7u << 4), 0); /* slot 0 */
            m->ctxs++;
        } else {
            CU_ASSERT_EQUAL(cmd & (0xfu << 20), VS_IGB_TXD_DTYP_DATA);
            CU_ASSERT(cmd & VS_IGB_TXD_CMD_IFCS);
            /* RS only where reclaim looks: each frame's last descriptor. */
            CU_ASSERT_EQUAL(!!(cmd & VS_IGB_TXD_CMD_RS), !!(cmd & VS_IGB_TXD_CMD_EOP));
            CU_ASSERT(len > 0 && addr / 4096 == (addr + len - 1) / 4096);
            CU_ASSERT_FATAL(m->frame_len + len <= sizeof(m->frame));
            if (!m->in_frame)
                m->first_olinfo = d->read.olinfo_status;
            m->in_frame = true;
            memcpy(m->frame + m->frame_len, (void *)(uintptr_t)addr, len);
            m->frame_len += len;
            if (cmd & VS_IGB_TXD_CMD_EOP) {
                CU_ASSERT_EQUAL(m->first_olinfo >> VS_IGB_TXD_PAYLEN_SHIFT, m->frame_len);
                if (m->first_olinfo & VS_IGB_TXD_POPTS_TXSM)
                    nic_csum(m);
                memcpy(&m->last_seq, m->frame, 4);
                memcpy(m->last, m->frame, m->frame_len);
                m->last_len = m->frame_len;
                m->frames++;
                m->frame_len = 0;
                m->in_frame = false;
            }
        }
        if (cmd & VS_IGB_TXD_CMD_RS) {
            d->wb.rsvd = 0;
            d->wb.nxtseq_seed = 0;
            d->wb.status = VS_IGB_TXD_STAT_DD;
        }
        m->tdh = (m->tdh + 1) & m->q->mask;
        m->sent++;
        n++;
    }
    return n;
}

/* Moves p's frame start to off bytes into its buffer. */
static void set_data_off(struct vs_pkt *p, uint16_t off)
{
    p->data_off = off;
    p->data = p->buf + off;
}

/* 64-byte frames within one 4 KiB page each (one descriptor per frame). */
static unsigned make_frames(struct vs_pkt **p, unsigned n, uint32_t first_seq)
{
    unsigned got = vs_pkt_alloc_bulk(pool, p, n);

    for (unsigned i = 0; i < got; i++) {
        uint32_t s = first_seq + i;
        if (vs_pkt_data_iova(p[i]) / 4096 != (vs_pkt_data_iova(p[i]) + 63) / 4096)
            set_data_off(p[i], (uint16_t)(p[i]->data_off - 64));
        memset(vs_pkt_data(p[i]), 0, 64);
        memcpy(vs_pkt_data(p[i]), &s, 4);
        p[i]->len = 64;
    }
    return got;
}

static void test_tx_full_and_reclaim(void)
{
    struct vs_igb_txq q;
    struct model_tx m = {.q = &q};
    struct vs_pkt *p[VS_BURST];
    void *ring = ring_mem(16);
    unsigned free0 = vs_pool_free_count(pool);
    uint16_t n;

    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 16, &m.tdt, NULL), 0);
    /* TX ring full: 20 frames, the ring takes 15 (one slot stays empty). */
    CU_ASSERT_EQUAL(make_frames(p, 20, 0), 20);
    n = vs_igb_tx_burst(&q, p, 20);
    CU_ASSERT_EQUAL(n, 15);
    CU_ASSERT_EQUAL(m.tdt, 15); /* one doorbell for the burst */
    CU_ASSERT_EQUAL(q.stats.full, 5);
    vs_pkt_free_bulk(&p[n], 20 - n); /* the caller's drops */
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, p, 0), 0);

    /* Nothing completed: still full. */
    CU_ASSERT_EQUAL(make_frames(p, 2, 100), 2);
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, p, 2), 0);
    vs_pkt_free_bulk(p, 2);

    /* The NIC sends 6; the next burst reclaims them in one batch and uses the room. */
    CU_ASSERT_EQUAL(nic_transmit(&m, 6), 6);
    CU_ASSERT_EQUAL(m.last_seq, 5);
    CU_ASSERT_EQUAL(make_frames(p, 8, 200), 8);
    n = vs_igb_tx_burst(&q, p, 8);
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_EQUAL(q.in_flight, 15);
    vs_pkt_free_bulk(&p[n], 8 - n);
    /* Wrap-around: TDT went past the end of the ring. */
    CU_ASSERT_EQUAL(m.tdt, (15 + 6) & 15);

    CU_ASSERT_EQUAL(nic_transmit(&m, 100), 15);
    CU_ASSERT_EQUAL(m.last_seq, 205);
    CU_ASSERT_EQUAL(vs_igb_tx_reclaim(&q), 15);
    CU_ASSERT_EQUAL(q.in_flight, 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0); /* every buffer came back once */
    vs_igb_txq_fini(&q);
    free(ring);
}

/* A frame whose buffer crosses a 4 KiB boundary goes out as two descriptors, one
 * per page, and is freed once. */
static void test_tx_split_at_page(void)
{
    struct vs_igb_txq q;
    struct model_tx m = {.q = &q};
    struct vs_pkt *p = NULL, *spare[64];
    void *ring = ring_mem(8);
    unsigned free0 = vs_pool_free_count(pool), n_spare = 0;
    uint32_t seq = 42;

    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 8, &m.tdt, NULL), 0);
    /* A buffer where a 200-byte frame can start 100 bytes before a page boundary. */
    while (!p && n_spare < VS_ARRAY_SIZE(spare)) {
        struct vs_pkt *c = vs_pkt_alloc(pool);
        uint32_t off;

        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        off = (uint32_t)((4096 - 100 - c->iova % 4096) % 4096);
        if (off + 200 <= VS_PKT_HEADROOM + c->room) {
            set_data_off(c, (uint16_t)off);
            p = c;
        } else {
            spare[n_spare++] = c;
        }
    }
    vs_pkt_free_bulk(spare, n_spare);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    for (unsigned i = 0; i < 200; i++)
        vs_pkt_data(p)[i] = (uint8_t)i;
    memcpy(vs_pkt_data(p), &seq, 4);
    p->len = 200;
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(q.in_flight, 2);
    CU_ASSERT_EQUAL(m.tdt, 2);
    CU_ASSERT_EQUAL(nic_transmit(&m, 10), 2);
    CU_ASSERT_EQUAL(m.frames, 1);
    CU_ASSERT_EQUAL(m.last_seq, 42);
    CU_ASSERT_EQUAL(memcmp(m.frame + 4, vs_pkt_data(p) + 4, 196), 0);
    CU_ASSERT_EQUAL(vs_igb_tx_reclaim(&q), 1);
    CU_ASSERT_EQUAL(q.in_flight, 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    vs_igb_txq_fini(&q);
    free(ring);
}

static void test_tx_shared_buffer(void)
{
    struct vs_igb_txq q;
    struct model_tx m = {.q = &q};
    struct vs_pkt *p;
    void *ring = ring_mem(8);
    unsigned free0 = vs_pool_free_count(pool);

    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 8, &m.tdt, NULL), 0);
    CU_ASSERT_EQUAL(make_frames(&p, 1, 7), 1);
    vs_pkt_ref(p, 1); /* flooded: another port holds it too */
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(nic_transmit(&m, 10), 1);
    CU_ASSERT_EQUAL(vs_igb_tx_reclaim(&q), 1);
    CU_ASSERT_EQUAL(p->refcnt, 1); /* our reference dropped, the other remains */
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0 - 1);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);

    /* In-flight buffers are returned by fini (device stopped). */
    CU_ASSERT_EQUAL(make_frames(&p, 1, 8), 1);
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    vs_igb_txq_fini(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    free(ring);
}

/* No-IOMMU mode: bus addresses are physical, looked up per page; a buffer whose
 * data straddles two pages that are not physically adjacent is set aside. */
static void test_rx_noiommu(void)
{
    struct vs_pool *p2;
    const struct vs_mem_region *r;
    struct vs_vfio_dev dev;
    struct vs_vfio_container c;
    struct vs_igb_rxq q;
    struct model_rx m = {.q = &q};
    struct vs_pkt *all[64], *pkts[VS_BURST], *straddler = NULL;
    const size_t page = 16384;
    void *ring = ring_mem(8);
    unsigned n;

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(64, VS_PAGES_NONE, &p2), 0);
    r = vs_pool_region(p2);
    memset(&dev, 0, sizeof(dev));
    memset(&c, 0, sizeof(c));
    dev.noiommu = c.noiommu = true;
    dev.c = &c;
    c.n_maps = 1;
    c.maps[0].va = (uintptr_t)r->va;
    c.maps[0].len = r->len;
    c.pa[0].va = (uintptr_t)r->va;
    c.pa[0].len = r->len / page * page;
    c.pa[0].page = page;
    c.pa[0].pa = calloc(r->len / page, sizeof(uint64_t));
    for (size_t i = 0; i < r->len / page; i++)
        c.pa[0].pa[i] = 0x100000000ull + (r->len / page - i) * 4 * page; /* scattered */

    /* Find a buffer that straddles a page boundary; make it the next allocated. */
    n = vs_pkt_alloc_bulk(p2, all, 64);
    CU_ASSERT_EQUAL_FATAL(n, 64);
    for (unsigned i = 0; i < n && !straddler; i++) {
        uintptr_t a = (uintptr_t)vs_pkt_data(all[i]) - (uintptr_t)r->va;
        if (a / page != (a + VS_IGB_RX_BUF - 1) / page && (a + VS_IGB_RX_BUF) <= c.pa[0].len) {
            straddler = all[i];
            all[i] = all[n - 1];
        }
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(straddler);
    CU_ASSERT_EQUAL(vs_vfio_dma_addr(&dev, vs_pkt_data(straddler), VS_IGB_RX_BUF), 0);
    vs_pkt_free_bulk(all, n - 1);
    /* The pool is not this thread's cache pool: the global stack is LIFO. */
    CU_ASSERT_EQUAL_FATAL(vs_igb_rxq_init(&q, ring, 8, &m.rdt, &dev, p2), 0);
    for (uint16_t i = 0; i < 8; i++) {
        uintptr_t a = (uintptr_t)vs_pkt_data(q.bufs[i]) - (uintptr_t)r->va;
        CU_ASSERT_EQUAL(q.ring[i].read.pkt_addr, c.pa[0].pa[a / page] + a % page);
    }
    vs_pkt_free(straddler); /* next allocated: the refill of the first frame */
    /* The model NIC writes through pkt_addr, which is physical here: deliver the
     * write-back only. */
    q.ring[0].wb.upper = (uint64_t)64 << 32 | VS_IGB_RXD_STAT_DD | VS_IGB_RXD_STAT_EOP;
    unsigned aside = q.n_unusable;                    /* init may have met split buffers too */
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, 1), 0); /* the straddler is set aside */
    CU_ASSERT_EQUAL(q.n_unusable, aside + 1);
    CU_ASSERT_EQUAL(q.unusable[aside], straddler);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, 1), 1); /* another buffer, same frame */
    CU_ASSERT_EQUAL(pkts[0]->len, 64);
    vs_pkt_free(pkts[0]);
    vs_igb_rxq_fini(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(p2), 64);
    free(c.pa[0].pa);
    vs_pool_destroy(p2);
    free(ring);
}

/* ---- offloads and long frames ---- */

/* The checksum of an L4 segment computed from scratch, independently of the
 * driver and the model: pseudo-header (IPv4 or IPv6) + segment, field zeroed. */
static uint16_t ref_l4_csum(const uint8_t *f, uint32_t len, uint32_t l3, bool v6, uint32_t l4,
                            uint32_t field)
{
    uint32_t sum = 0, seg = len - l4;
    uint8_t *c = malloc(seg + 1);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    memcpy(c, f + l4, seg);
    c[field] = c[field + 1] = 0;
    c[seg] = 0;
    if (v6) {
        for (int i = 8; i < 40; i += 2)
            sum += (uint32_t)(f[l3 + i] << 8 | f[l3 + i + 1]);
        sum += f[l3 + 6];
    } else {
        for (int i = 12; i < 20; i += 2)
            sum += (uint32_t)(f[l3 + i] << 8 | f[l3 + i + 1]);
        sum += f[l3 + 9];
    }
    sum += seg;
    for (uint32_t i = 0; i < seg; i += 2)
        sum += (uint32_t)(c[i] << 8 | c[i + 1]);
    free(c);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)(~sum ? ~sum : 0xffff);
}

/* What a sender with checksum offload leaves in the field: the pseudo-header sum. */
static void put_pseudo(uint8_t *f, uint32_t len, uint32_t l3, bool v6, uint32_t l4, uint32_t field)
{
    uint32_t sum = 0;

    if (v6) {
        for (int i = 8; i < 40; i += 2)
            sum += (uint32_t)(f[l3 + i] << 8 | f[l3 + i + 1]);
        sum += f[l3 + 6];
    } else {
        for (int i = 12; i < 20; i += 2)
            sum += (uint32_t)(f[l3 + i] << 8 | f[l3 + i + 1]);
        sum += f[l3 + 9];
    }
    sum += len - l4;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    f[l4 + field] = (uint8_t)(sum >> 8);
    f[l4 + field + 1] = (uint8_t)sum;
}

/* A TCP or UDP frame over IPv4 or IPv6, vlans tags, len bytes, with a checksum
 * request as a guest's virtio-net header would carry it. */
static struct vs_pkt *l4_frame(uint32_t seq, bool v6, bool udp, int vlans, uint32_t len)
{
    struct vs_pkt *p = vs_pkt_alloc_len(pool, len);
    uint32_t l3 = 14 + 4 * (uint32_t)vlans, l4 = l3 + (v6 ? 40 : 20);
    uint8_t *f;

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    f = vs_pkt_data(p);
    for (uint32_t i = 0; i < len; i++)
        f[i] = (uint8_t)(i * 7 + seq);
    memcpy(f, &seq, 4);
    for (int v = 0; v < vlans; v++) {
        f[12 + 4 * v] = v == 0 && vlans == 2 ? 0x88 : 0x81;
        f[13 + 4 * v] = v == 0 && vlans == 2 ? 0xa8 : 0x00;
    }
    f[l3 - 2] = v6 ? 0x86 : 0x08;
    f[l3 - 1] = v6 ? 0xdd : 0x00;
    if (v6) {
        f[l3] = 0x60;
        f[l3 + 4] = (uint8_t)((len - l4) >> 8);
        f[l3 + 5] = (uint8_t)(len - l4);
        f[l3 + 6] = udp ? 17 : 6;
    } else {
        f[l3] = 0x45;
        f[l3 + 2] = (uint8_t)((len - l3) >> 8);
        f[l3 + 3] = (uint8_t)(len - l3);
        f[l3 + 9] = udp ? 17 : 6;
    }
    p->len = len;
    p->ol_flags = VS_OL_CSUM;
    p->csum_start = (uint16_t)l4;
    p->csum_offset = udp ? 6 : 16;
    put_pseudo(f, len, l3, v6, l4, p->csum_offset);
    return p;
}

static uint16_t csum_at(const uint8_t *f, uint32_t at)
{
    return (uint16_t)(f[at] << 8 | f[at + 1]);
}

/* Checksum requests the NIC can do go out with a context descriptor (written only
 * when the layout changes) and TXSM; the NIC model's result is the right checksum. */
static void test_tx_csum_context(void)
{
    static const struct {
        bool v6, udp;
        int vlans;
        uint32_t len;
    } cases[] = {{false, false, 0, 200},
                 {false, false, 0, 201},
                 {false, true, 1, 99},
                 {true, false, 2, 1514},
                 {true, true, 0, 333}};
    struct vs_igb_txq q;
    static struct model_tx m;
    void *ring = ring_mem(16);
    unsigned free0 = vs_pool_free_count(pool), ctxs = 0;

    memset(&m, 0, sizeof(m));
    m.q = &q;
    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 16, &m.tdt, NULL), 0);
    for (unsigned i = 0; i < VS_ARRAY_SIZE(cases); i++) {
        struct vs_pkt *p = l4_frame(i, cases[i].v6, cases[i].udp, cases[i].vlans, cases[i].len);
        uint32_t l3 = 14 + 4 * (uint32_t)cases[i].vlans, l4 = p->csum_start,
                 at = l4 + p->csum_offset;
        uint8_t before[2] = {vs_pkt_data(p)[at], vs_pkt_data(p)[at + 1]};

        CU_ASSERT_EQUAL_FATAL(vs_igb_tx_burst(&q, &p, 1), 1);
        /* Left to the NIC: the buffer still holds the pseudo-header sum. */
        CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p) + at, before, 2), 0);
        CU_ASSERT_EQUAL(nic_transmit(&m, 100) > 0, 1);
        CU_ASSERT_EQUAL(m.last_seq, i);
        CU_ASSERT_EQUAL(m.last_len, cases[i].len);
        CU_ASSERT(m.first_olinfo & VS_IGB_TXD_POPTS_TXSM);
        CU_ASSERT_EQUAL(csum_at(m.last, at),
                        ref_l4_csum(m.last, m.last_len, l3, cases[i].v6, l4, p->csum_offset));
        CU_ASSERT_EQUAL(!!(m.ctx_tucmd & VS_IGB_CTX_TUCMD_IPV4), !cases[i].v6);
        CU_ASSERT_EQUAL(m.ctx_lens >> VS_IGB_CTX_MACLEN_SHIFT, l3);
        CU_ASSERT_EQUAL(m.ctx_lens & 0x1ff, l4 - l3);
        /* The second frame has the first one's layout: no new context. */
        ctxs += i == 1 ? 0 : 1;
        CU_ASSERT_EQUAL(m.ctxs, ctxs);
        vs_igb_tx_reclaim(&q);
    }
    CU_ASSERT_EQUAL(q.stats.csum_hw, VS_ARRAY_SIZE(cases));
    CU_ASSERT_EQUAL(q.stats.csum_sw, 0);
    CU_ASSERT_EQUAL(q.in_flight, 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);

    /* A plain frame between two offloaded ones takes no context and no TXSM. */
    struct vs_pkt *p;
    CU_ASSERT_EQUAL(make_frames(&p, 1, 77), 1);
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(nic_transmit(&m, 100), 1);
    CU_ASSERT_FALSE(m.first_olinfo & VS_IGB_TXD_POPTS_TXSM);
    CU_ASSERT_EQUAL(m.ctxs, ctxs);
    vs_igb_txq_fini(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    free(ring);
}

/* Requests the NIC cannot do (IPv6 extension header, a checksum offset that is not
 * TCP's or UDP's) are completed in software; a shared frame is copied first, so
 * its other destinations still see the request open. GSO requests are refused. */
static void test_tx_csum_software(void)
{
    struct vs_igb_txq q;
    static struct model_tx m;
    void *ring = ring_mem(16);
    unsigned free0 = vs_pool_free_count(pool);
    struct vs_pkt *p, *shared;

    memset(&m, 0, sizeof(m));
    m.q = &q;
    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 16, &m.tdt, NULL), 0);

    /* IPv6 with an 8-byte extension header before TCP: L4 starts at 14 + 48. */
    p = l4_frame(1, true, false, 0, 300);
    p->csum_start = 14 + 48;
    put_pseudo(vs_pkt_data(p), 300, 14, true, 14 + 48, 16);
    vs_pkt_data(p)[14 + 6] = 60; /* destination options */
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(nic_transmit(&m, 100), 1); /* no context descriptor */
    CU_ASSERT_FALSE(m.first_olinfo & VS_IGB_TXD_POPTS_TXSM);
    CU_ASSERT_EQUAL(q.stats.csum_sw, 1);
    {
        /* Recompute as the receiver does: pseudo-header with next header 6. */
        uint8_t *f = m.last;
        f[14 + 6] = 6;
        uint16_t want = ref_l4_csum(f, 300, 14, true, 14 + 48, 16);
        CU_ASSERT_EQUAL(csum_at(f, 14 + 48 + 16), want);
    }

    /* UDP's offset on a TCP packet: no context can say that. Shared with another
     * port: the driver completes a copy, the original keeps its request. */
    shared = l4_frame(2, false, false, 0, 120);
    shared->csum_offset = 6;
    vs_pkt_ref(shared, 1);
    uint8_t orig[120];
    memcpy(orig, vs_pkt_data(shared), 120);
    p = shared;
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(shared), orig, 120), 0);
    CU_ASSERT_EQUAL(shared->refcnt, 1);
    CU_ASSERT_EQUAL(shared->ol_flags, VS_OL_CSUM);
    CU_ASSERT_EQUAL(nic_transmit(&m, 100), 1);
    CU_ASSERT_EQUAL(m.last_seq, 2);
    {
        /* The receiver's check: the segment from csum_start, checksum included,
         * plus the pseudo-header sum (what the field held) is all ones. */
        uint32_t sum = csum_at(orig, 40);
        for (uint32_t i = 34; i < 120; i += 2)
            sum += (uint32_t)(m.last[i] << 8 | m.last[i + 1]);
        while (sum >> 16)
            sum = (sum & 0xffff) + (sum >> 16);
        CU_ASSERT_EQUAL(sum, 0xffff);
        CU_ASSERT_EQUAL(memcmp(m.last + 42, orig + 42, 120 - 42), 0);
    }
    CU_ASSERT_EQUAL(q.stats.csum_sw, 2);
    CU_ASSERT_EQUAL(q.stats.csum_hw, 0);
    vs_pkt_free(shared);

    /* A GSO request: this NIC does not segment (tx_offloads has no TSO). */
    p = l4_frame(3, false, false, 0, 3000);
    p->ol_flags |= VS_OL_TSO4;
    p->gso_size = 1000;
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1); /* taken and dropped */
    CU_ASSERT_EQUAL(q.stats.errors, 1);
    /* A request whose field lies beyond the frame. */
    p = l4_frame(4, false, true, 0, 60);
    p->csum_start = 59;
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(q.stats.errors, 2);
    CU_ASSERT_EQUAL(nic_transmit(&m, 100), 0);
    vs_igb_tx_reclaim(&q);
    vs_igb_txq_fini(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    free(ring);
}

/* A jumbo frame in a large buffer goes out as one descriptor per page, with its
 * checksum left to the NIC, and is freed once. */
static void test_tx_jumbo(void)
{
    struct vs_igb_txq q;
    static struct model_tx m;
    void *ring = ring_mem(16);
    struct vs_pkt *p = l4_frame(9, false, false, 0, 9018), *again;
    uint32_t pages;

    memset(&m, 0, sizeof(m));
    m.q = &q;
    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 16, &m.tdt, NULL), 0);
    CU_ASSERT(p->room > VS_PKT_DATA_ROOM);
    pages = (uint32_t)((vs_pkt_data_iova(p) + 9017) / 4096 - vs_pkt_data_iova(p) / 4096 + 1);
    CU_ASSERT_EQUAL(vs_igb_tx_burst(&q, &p, 1), 1);
    CU_ASSERT_EQUAL(q.in_flight, pages + 1); /* + the context */
    CU_ASSERT_EQUAL(nic_transmit(&m, 100), (int)pages + 1);
    CU_ASSERT_EQUAL(m.last_len, 9018);
    CU_ASSERT_EQUAL(memcmp(m.last + 100, vs_pkt_data(p) + 100, 9018 - 100), 0);
    CU_ASSERT_EQUAL(csum_at(m.last, 34 + 16), ref_l4_csum(m.last, 9018, 14, false, 34, 16));
    CU_ASSERT_EQUAL(vs_igb_tx_reclaim(&q), 1);
    vs_igb_txq_fini(&q);

    /* An 8-entry ring takes a jumbo frame only when all its descriptors fit. */
    bool refused = false;
    CU_ASSERT_EQUAL_FATAL(vs_igb_txq_init(&q, ring, 8, &m.tdt, NULL), 0);
    for (uint32_t i = 0; i < 3 && !refused; i++) {
        again = l4_frame(10 + i, false, false, 0, 9018);
        uint16_t need = (uint16_t)((vs_pkt_data_iova(again) + 9017) / 4096 -
                                   vs_pkt_data_iova(again) / 4096 + 1 + (i == 0));
        uint16_t space = (uint16_t)(7 - q.in_flight);
        uint16_t n = vs_igb_tx_burst(&q, &again, 1);
        CU_ASSERT_EQUAL(n, need <= space);
        if (!n) {
            refused = true;
            vs_pkt_free(again);
        }
    }
    CU_ASSERT(refused);
    CU_ASSERT(q.stats.full > 0);
    vs_igb_txq_fini(&q);
    free(ring);
}

/* Model NIC: one long frame of len bytes over 2 KiB descriptors, EOP on its last;
 * DD on the first dd_upto descriptors only (the rest written back later). */
static int nic_receive_long(struct model_rx *m, uint32_t seq, uint32_t len, int dd_upto)
{
    int k = 0;

    for (uint32_t off = 0; off < len; off += VS_IGB_RX_BUF, k++) {
        uint32_t chunk = VS_MIN(len - off, (uint32_t)VS_IGB_RX_BUF);
        volatile union vs_igb_rx_desc *d;
        uint8_t *buf;

        if (m->rdh == m->rdt)
            return -1;
        d = &m->q->ring[m->rdh];
        buf = (uint8_t *)(uintptr_t)d->read.pkt_addr;
        for (uint32_t i = 0; i < chunk; i++)
            buf[i] = (uint8_t)((off + i) * 13 + seq);
        if (off == 0)
            memcpy(buf, &seq, 4);
        d->wb.upper = (uint64_t)chunk << 32 | (off + chunk == len ? VS_IGB_RXD_STAT_EOP : 0) |
                      (k < dd_upto ? VS_IGB_RXD_STAT_DD : 0);
        m->rdh = (m->rdh + 1) & m->q->mask;
    }
    return k;
}

static bool long_frame_ok(struct vs_pkt *p, uint32_t seq, uint32_t len)
{
    const uint8_t *f = vs_pkt_data(p);

    if (p->len != len || seq_of(p) != seq)
        return false;
    for (uint32_t i = 4; i < len; i++)
        if (f[i] != (uint8_t)(i * 13 + seq))
            return false;
    return true;
}

static void test_rx_jumbo(void)
{
    struct vs_pool *jp;
    struct vs_igb_rxq q;
    struct model_rx m = {.q = &q};
    struct vs_pkt *pkts[VS_BURST], *held[4];
    void *ring = ring_mem(16);

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(64, VS_PAGES_NONE, &jp), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_add_large(jp, 4, VS_PAGES_NONE), 0);
    CU_ASSERT_EQUAL_FATAL(vs_igb_rxq_init(&q, ring, 16, &m.rdt, NULL, jp), 0);

    /* 9018 bytes: 5 descriptors, gathered into one large buffer. */
    CU_ASSERT_EQUAL(nic_receive_long(&m, 1, 9018, 5), 5);
    CU_ASSERT_EQUAL(nic_receive(&m, 2, 64, 0, true), 0);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 2);
    CU_ASSERT(long_frame_ok(pkts[0], 1, 9018));
    CU_ASSERT(pkts[0]->room > VS_PKT_DATA_ROOM);
    CU_ASSERT_EQUAL(seq_of(pkts[1]), 2);
    CU_ASSERT_EQUAL(q.stats.bytes, 9018 + 64);
    vs_pkt_free_bulk(pkts, 2);

    /* Written back in two steps: the pieces wait across bursts. */
    CU_ASSERT_EQUAL(nic_receive_long(&m, 3, 4100, 2), 3);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(q.n_frags, 2);
    q.ring[(m.rdh - 1) & q.mask].wb.upper |= VS_IGB_RXD_STAT_DD;
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT(long_frame_ok(pkts[0], 3, 4100));
    vs_pkt_free(pkts[0]);

    /* No large buffer left: the long frame is dropped and counted, the next passes. */
    CU_ASSERT_EQUAL(vs_pkt_alloc_bulk(vs_pool_large(jp), held, 4), 4);
    CU_ASSERT_EQUAL(nic_receive_long(&m, 4, 5000, 3), 3);
    CU_ASSERT_EQUAL(nic_receive(&m, 5, 64, 0, true), 0);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 5);
    CU_ASSERT_EQUAL(q.stats.no_large, 1);
    vs_pkt_free(pkts[0]);
    vs_pkt_free_bulk(held, 4);

    /* More pieces than a frame may have, or a short piece before the last: the whole
     * frame is dropped as an error, the next one passes. */
    uint64_t err0 = q.stats.errors;
    CU_ASSERT_EQUAL(nic_receive_long(&m, 6, VS_IGB_MAX_FRAME + 100, 100), VS_IGB_MAX_FRAGS + 1);
    CU_ASSERT_EQUAL(nic_receive(&m, 7, 64, 0, true), 0);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 7);
    vs_pkt_free(pkts[0]);
    CU_ASSERT_EQUAL(q.stats.errors, err0 + 1);
    CU_ASSERT_EQUAL(nic_receive_long(&m, 8, 3000, 2), 2);
    q.ring[(m.rdh - 2) & q.mask].wb.upper = (uint64_t)1000 << 32 | VS_IGB_RXD_STAT_DD; /* short */
    CU_ASSERT_EQUAL(nic_receive(&m, 9, 64, 0, true), 0);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 1);
    CU_ASSERT_EQUAL(seq_of(pkts[0]), 9);
    vs_pkt_free(pkts[0]);
    CU_ASSERT_EQUAL(q.stats.errors, err0 + 2);

    /* fini returns the pieces of a frame still being gathered. */
    CU_ASSERT_EQUAL(nic_receive_long(&m, 10, 5000, 2), 3);
    CU_ASSERT_EQUAL(vs_igb_rx_burst(&q, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(q.n_frags, 2);
    vs_igb_rxq_fini(&q);
    vs_pool_thread_flush();
    CU_ASSERT_EQUAL(vs_pool_free_count(jp), 64);
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(jp)), 4);
    vs_pool_destroy(jp);
    free(ring);
}

static void test_ring_size_checked(void)
{
    struct vs_igb_rxq rq;
    struct vs_igb_txq tq;
    volatile uint32_t t;
    void *ring = ring_mem(16);

    CU_ASSERT_EQUAL(vs_igb_rxq_init(&rq, ring, 12, &t, NULL, pool), -EINVAL);
    CU_ASSERT_EQUAL(vs_igb_txq_init(&tq, ring, 4, &t, NULL), -EINVAL);
    free(ring);
}

int main(void)
{
    CU_pSuite s;

    if (vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 8, VS_PAGES_NONE) < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("igb_ring", NULL, NULL);
    CU_add_test(s, "rx wrap-around", test_rx_wraparound);
    CU_add_test(s, "rx partial write-back", test_rx_partial_writeback);
    CU_add_test(s, "rx errors and empty ring", test_rx_errors_and_empty);
    CU_add_test(s, "rx pool dry", test_rx_pool_dry);
    CU_add_test(s, "tx ring full and reclaim", test_tx_full_and_reclaim);
    CU_add_test(s, "tx shared buffer", test_tx_shared_buffer);
    CU_add_test(s, "tx frame across a 4 KiB boundary", test_tx_split_at_page);
    CU_add_test(s, "rx no-IOMMU translation and unusable buffers", test_rx_noiommu);
    CU_add_test(s, "tx checksum through the context descriptor", test_tx_csum_context);
    CU_add_test(s, "tx checksum in software, shared frame, refused requests",
                test_tx_csum_software);
    CU_add_test(s, "tx jumbo frame", test_tx_jumbo);
    CU_add_test(s, "rx jumbo frames gathered from several descriptors", test_rx_jumbo);
    CU_add_test(s, "ring sizes", test_ring_size_checked);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
