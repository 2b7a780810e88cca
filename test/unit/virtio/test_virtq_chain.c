/* Lent chains (VS_PKT_F_CHAIN) on the device side, split and packed, with and without
 * IN_ORDER: a guest's TSO frame in many descriptors (its virtio-net header in a
 * descriptor of its own) is lent with a private copy of its headers and reaches
 * another guest's merged RX buffers in one copy; the buffers go back in order only
 * after the burst. Hostile chains: more pieces than a chain holds (copied instead),
 * an address outside guest memory or across its end, a chain that loops; and a guest
 * that rewrites its header, its frame's headers and its descriptors after the
 * dequeue does not change what the switch decided or sends. */
#include <CUnit/Basic.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "test_virtq_env.h"
#include "vswitch/offload.h"

#define PAYLOAD 60000u
#define HDRS 66u /* Ethernet, IPv4, TCP with 12 bytes of options */
#define MSS 1448u

static uint8_t frame[HDRS + PAYLOAD], out[HDRS + PAYLOAD + 64];

static int suite_init(void)
{
    if (env_suite_init() < 0)
        return -1;
    if (!vs_pool_large(test_pool) && vs_pool_add_large(test_pool, 16, VS_PAGES_NONE) < 0)
        return -1;
    return 0;
}

static int suite_init_in_order(void)
{
    int rc = suite_init();
    env_flags = VS_VDRV_IN_ORDER;
    return rc;
}

/* Ethernet + IPv4 + TCP (options) + payload bytes, the TCP checksum field holding
 * anything (the offload gate only checks where it is). */
static uint32_t tcp_frame(uint8_t *f, uint32_t payload, uint32_t seed)
{
    uint32_t len = HDRS + payload;
    make_frame(f, len, seed);
    f[12] = 0x08, f[13] = 0x00;
    f[14] = 0x45, f[15] = 0;
    f[16] = (uint8_t)((len - 14) >> 8), f[17] = (uint8_t)(len - 14);
    f[20] = 0x40, f[21] = 0; /* DF, no fragment */
    f[22] = 64, f[23] = 6;
    f[46] = 0x80, f[47] = 0x18; /* data offset 8 (32 bytes), ACK|PSH */
    return len;
}

static void put_hdr(uint8_t *h, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
                    uint16_t csum_start, uint16_t csum_offset)
{
    memset(h, 0, 12);
    h[0] = flags;
    h[1] = gso;
    memcpy(h + 2, &hdr_len, 2);
    memcpy(h + 4, &gso_size, 2);
    memcpy(h + 6, &csum_start, 2);
    memcpy(h + 8, &csum_offset, 2);
}

/* A chain written by hand: descriptors (split) or slots (packed) from next on. */
struct raw {
    uint16_t next;
    uint16_t id;
};

struct piece {
    uint64_t gpa;
    uint32_t len;
};

/* Copies the n pieces of bytes (cut[k] bytes each) into guest memory, each at a fresh
 * place with a gap after it, so that no two are adjacent. */
static void scatter(struct env *e, const uint8_t *bytes, const uint32_t *cut, unsigned n,
                    struct piece *pc)
{
    for (unsigned k = 0; k < n; k++) {
        pc[k].len = cut[k];
        pc[k].gpa = vs_vdrv_mem_alloc(&e->mem, 0, cut[k] + 64, 64);
        CU_ASSERT_FATAL(pc[k].gpa != 0);
        memcpy(vs_vdrv_mem_hva(&e->mem, pc[k].gpa), bytes, cut[k]);
        bytes += cut[k];
    }
}

/* Makes the pieces available as one chain. */
static void post(struct env *e, struct raw *r, const struct piece *pc, unsigned n)
{
    CU_ASSERT_FATAL(r->next + n <= e->drv.size);
    for (unsigned k = n; k-- > 0;) { /* the head last, as a driver does */
        uint16_t f = k + 1 < n ? VRING_DESC_F_NEXT : 0;
        uint16_t at = (uint16_t)(r->next + k);
        if (e->vq.packed)
            vs_vdrv_packed_set_desc(&e->drv, at, pc[k].gpa, pc[k].len, r->id, f, true);
        else
            vs_vdrv_split_set_desc(&e->drv, at, pc[k].gpa, pc[k].len, f, (uint16_t)(at + 1));
    }
    if (!e->vq.packed)
        vs_vdrv_split_publish(&e->drv, r->next);
    r->next = (uint16_t)(r->next + n);
    r->id++;
}

static void setup(struct env *e, unsigned flags)
{
    env_setup(e, 256, flags);
    e->vq.tx_ol = VS_OL_REQUESTS;
    e->vq.guest_csum = true;
    e->vq.max_frame = 9018;
    CU_ASSERT_FATAL(vs_virtq_start(&e->vq, e->vq.packed ? 0x8000 : 0) == 0);
}

/* Is the driver shown any used buffer? */
static bool any_used(const struct env *e)
{
    if (!e->vq.packed)
        return VS_READ_ONCE(((const struct vring_used *)e->drv.used)->idx) != 0;
    const struct vring_packed_desc *ring = e->drv.desc;
    uint16_t f = VS_READ_ONCE(ring[0].flags);
    return (bool)(f & (1u << VRING_PACKED_DESC_F_USED)) ==
           (bool)(f & (1u << VRING_PACKED_DESC_F_AVAIL));
}

/* A TSO frame in guest memory (into frame too): the virtio-net header alone, the
 * headers, then payload pieces. Returns the number of pieces. */
static unsigned tso_pieces(struct env *e, struct piece *pc, uint32_t seed)
{
    uint8_t hdr[12];
    uint32_t cut[24];
    unsigned n = 0;

    uint32_t len = tcp_frame(frame, PAYLOAD, seed);
    put_hdr(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, HDRS, MSS, 34, 16);
    scatter(e, hdr, (uint32_t[]){12}, 1, pc);
    cut[n++] = HDRS;
    for (uint32_t off = HDRS; off < len; off += 4096)
        cut[n++] = VS_MIN(4096u, len - off);
    scatter(e, frame, cut, n, pc + 1);
    return n + 1;
}

static unsigned tso_chain(struct env *e, struct raw *r, struct piece *pc, uint32_t seed)
{
    unsigned n = tso_pieces(e, pc, seed);
    post(e, r, pc, n);
    return n;
}

static void rx_env(struct env *b, unsigned flags)
{
    setup(b, (flags & VS_VDRV_PACKED) | VS_VDRV_MRG_RXBUF);
    for (int i = 0; i < 48; i++)
        CU_ASSERT_FATAL(vs_vdrv_post_rx(&b->drv, 1536, 1, false) >= 0);
}

/* The frame reaches a guest's merged buffers whole, with its requests in the header. */
static void expect_received(struct env *b, const uint8_t *want, uint32_t len)
{
    uint8_t h[10];
    uint16_t nb = 0;
    uint16_t v;

    CU_ASSERT_EQUAL_FATAL(vs_vdrv_recv_hdr(&b->drv, out, sizeof(out), &nb, h), (int)len);
    CU_ASSERT_EQUAL(memcmp(out, want, len), 0);
    CU_ASSERT_EQUAL(nb, (len + 12 + 1535) / 1536);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], VIRTIO_NET_HDR_GSO_TCPV4);
    memcpy(&v, h + 4, 2);
    CU_ASSERT_EQUAL(v, MSS);
    memcpy(&v, h + 6, 2);
    CU_ASSERT_EQUAL(v, 34);
    memcpy(&v, h + 8, 2);
    CU_ASSERT_EQUAL(v, 16);
}

/* A burst of a plain one-descriptor frame, a TSO chain and a short two-descriptor
 * frame: the first lent as one run, the chain lent as pieces (no large buffer), the
 * last copied; nothing goes back before done, then everything; the chain reaches
 * another guest's merged buffers whole. */
static void burst_case(unsigned flags)
{
    struct env a, b;
    struct raw r = {0};
    struct piece pc[32];
    struct vs_pkt *pkts[4];
    uint8_t plain[12 + 64] = {0}, small[12 + 600] = {0}, want[HDRS + PAYLOAD];
    unsigned large_free = vs_pool_free_count(vs_pool_large(test_pool));
    unsigned small_free = vs_pool_free_count(test_pool);

    setup(&a, flags);
    make_frame(plain + 12, 64, 1);
    scatter(&a, plain, (uint32_t[]){sizeof(plain)}, 1, pc);
    post(&a, &r, pc, 1);
    tso_chain(&a, &r, pc, 2);
    memcpy(want, frame, sizeof(want));
    make_frame(small + 12, 600, 3);
    scatter(&a, small, (uint32_t[]){12 + 300, 300}, 2, pc);
    post(&a, &r, pc, 2);

    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&a.vq, test_pool, pkts, 4), 3);
    CU_ASSERT_EQUAL(pkts[0]->flags & (VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN), VS_PKT_F_EXTERNAL);
    struct vs_pkt *p = pkts[1];
    CU_ASSERT_EQUAL(p->flags & (VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN),
                    VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN);
    CU_ASSERT_EQUAL(p->len, HDRS + PAYLOAD);
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_TSO4);
    CU_ASSERT_EQUAL(p->gso_size, MSS);
    CU_ASSERT_EQUAL(vs_pkt_head_len(p), VS_PKT_CHAIN_HEAD);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), want, VS_PKT_CHAIN_HEAD), 0);
    /* The head took the headers' descriptor and the start of the first payload one. */
    CU_ASSERT_EQUAL(vs_pkt_chain(p)->n, (PAYLOAD + 4095) / 4096);
    CU_ASSERT_EQUAL(vs_pkt_chain(p)->piece[0].len, 4096 - (VS_PKT_CHAIN_HEAD - HDRS));
    CU_ASSERT_EQUAL(vs_offload_check(p), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(p->hdr_len, HDRS);
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(test_pool)), large_free);
    CU_ASSERT_EQUAL(a.vq.stats.lent_chains, 1);
    CU_ASSERT_FALSE(pkts[2]->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_EQUAL(pkts[2]->len, 600);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(pkts[2]), small + 12, 600), 0);
    CU_ASSERT_FALSE(any_used(&a));
    CU_ASSERT_EQUAL(a.vq.last_used_idx, 0);

    rx_env(&b, flags);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&b.vq, &p, 1), 1);
    expect_received(&b, want, HDRS + PAYLOAD);
    CU_ASSERT_EQUAL(err_total(&b.vq), 0);

    vs_pkt_free_bulk(pkts, 3);
    vs_virtq_dequeue_done(&a.vq);
    CU_ASSERT_TRUE(any_used(&a));
    /* Packed: used positions count slots (1 + 17 + 2); split: chains. */
    CU_ASSERT_EQUAL(a.vq.last_used_idx, a.vq.packed ? r.next : 3);
    if (!a.vq.packed)
        CU_ASSERT_EQUAL(VS_READ_ONCE(((struct vring_used *)a.drv.used)->idx), 3);
    CU_ASSERT_EQUAL(err_total(&a.vq), 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), small_free);
    env_teardown(&b);
    env_teardown(&a);
}

static void test_burst_split(void) { burst_case(0); }
static void test_burst_packed(void) { burst_case(VS_VDRV_PACKED); }

/* After the dequeue the guest rewrites its virtio-net header, its frame's headers
 * and the descriptors: the packet keeps the requests, headers and pieces it was lent
 * with, the offload check passes on them, and the receiving guest gets the frame as
 * it was. */
static void rewrite_case(unsigned flags)
{
    struct env a, b;
    struct raw r = {0};
    struct piece pc[32];
    struct vs_pkt *p = NULL;
    uint8_t want[HDRS + PAYLOAD];

    setup(&a, flags);
    unsigned n = tso_chain(&a, &r, pc, 7);
    memcpy(want, frame, sizeof(want));
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&a.vq, test_pool, &p, 1), 1);
    CU_ASSERT_TRUE_FATAL(p->flags & VS_PKT_F_CHAIN);
    struct vs_pkt_chain before = *vs_pkt_chain(p);

    /* A header asking for nothing, or for nonsense. */
    put_hdr(vs_vdrv_mem_hva(&a.mem, pc[0].gpa), 0xff, 0xff, 9999, 1, 60000, 60000);
    /* Other addresses, a broken IP total length and TCP data offset, in guest memory. */
    memset(vs_vdrv_mem_hva(&a.mem, pc[1].gpa), 0xee, HDRS);
    memset(vs_vdrv_mem_hva(&a.mem, pc[2].gpa), 0xee, VS_PKT_CHAIN_HEAD - HDRS);
    /* Descriptors pointing elsewhere, shorter. */
    for (unsigned k = 0; k < n; k++) {
        if (a.vq.packed)
            vs_vdrv_packed_set_desc(&a.drv, (uint16_t)k, VS_VDRV_GPA_BASE, 1, 0, 0, true);
        else
            vs_vdrv_split_set_desc(&a.drv, (uint16_t)k, VS_VDRV_GPA_BASE, 1, 0, 0);
    }

    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_TSO4);
    CU_ASSERT_EQUAL(p->gso_size, MSS);
    CU_ASSERT_EQUAL(p->csum_start, 34);
    CU_ASSERT_EQUAL(p->csum_offset, 16);
    CU_ASSERT_EQUAL(p->len, HDRS + PAYLOAD);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), want, VS_PKT_CHAIN_HEAD), 0);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_chain(p), &before, sizeof(before)), 0);
    CU_ASSERT_EQUAL(vs_offload_check(p), VS_OL_ERR_NONE);

    rx_env(&b, flags);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&b.vq, &p, 1), 1);
    expect_received(&b, want, HDRS + PAYLOAD);
    vs_pkt_free(p);
    vs_virtq_dequeue_done(&a.vq);
    CU_ASSERT_EQUAL(err_total(&a.vq), 0);
    env_teardown(&b);
    env_teardown(&a);
}

static void test_rewrite_split(void) { rewrite_case(0); }
static void test_rewrite_packed(void) { rewrite_case(VS_VDRV_PACKED); }

/* More pieces than a chain holds (70 non-adjacent ones, with a checksum request):
 * copied whole into a large buffer instead, the queue fine. */
static void many_pieces_case(unsigned flags)
{
    struct env a;
    struct raw r = {0};
    struct piece pc[80];
    uint32_t cut[80];
    uint8_t hdr[12];
    struct vs_pkt *p = NULL;
    unsigned n = 0;

    setup(&a, flags);
    uint32_t len = tcp_frame(frame, 7000, 11);
    put_hdr(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
    scatter(&a, hdr, (uint32_t[]){12}, 1, pc);
    cut[n++] = HDRS;
    for (uint32_t off = HDRS; off < len; off += 100)
        cut[n++] = VS_MIN(100u, len - off);
    CU_ASSERT_FATAL(n > VS_PKT_CHAIN_MAX);
    scatter(&a, frame, cut, n, pc + 1);
    post(&a, &r, pc, n + 1);
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&a.vq, test_pool, &p, 1), 1);
    CU_ASSERT_FALSE(p->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_EQUAL(p->room, VS_PKT_LARGE_DATA_ROOM);
    CU_ASSERT_EQUAL(p->len, len);
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), frame, len), 0);
    vs_pkt_free(p);
    vs_virtq_dequeue_done(&a.vq);
    CU_ASSERT_EQUAL(err_total(&a.vq), 0);
    CU_ASSERT_FALSE(a.vq.broken);
    env_teardown(&a);
}

static void test_many_pieces_split(void) { many_pieces_case(0); }
static void test_many_pieces_packed(void) { many_pieces_case(VS_VDRV_PACKED); }

/* A short frame with a request is all in its head (copied); a two-descriptor frame
 * without requests that fits a small buffer is copied too. */
static void not_lent_case(unsigned flags)
{
    struct env a;
    struct raw r = {0};
    struct piece pc[4];
    uint8_t buf[12 + 1000] = {0};
    struct vs_pkt *pkts[2];

    setup(&a, flags);
    put_hdr(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 14, 6);
    make_frame(buf + 12, VS_PKT_CHAIN_HEAD, 1);
    scatter(&a, buf, (uint32_t[]){12 + 100, VS_PKT_CHAIN_HEAD - 100}, 2, pc);
    post(&a, &r, pc, 2);
    memset(buf, 0, 12);
    make_frame(buf + 12, 1000, 2);
    scatter(&a, buf, (uint32_t[]){12, 1000}, 2, pc);
    post(&a, &r, pc, 2);
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&a.vq, test_pool, pkts, 2), 2);
    CU_ASSERT_FALSE(pkts[0]->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_EQUAL(pkts[0]->len, VS_PKT_CHAIN_HEAD);
    CU_ASSERT_EQUAL(pkts[0]->ol_flags, VS_OL_CSUM);
    CU_ASSERT_FALSE(pkts[1]->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_EQUAL(pkts[1]->len, 1000);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(pkts[1]), buf + 12, 1000), 0);
    vs_pkt_free_bulk(pkts, 2);
    vs_virtq_dequeue_done(&a.vq);
    CU_ASSERT_EQUAL(err_total(&a.vq), 0);
    env_teardown(&a);
}

static void test_not_lent_split(void) { not_lent_case(0); }
static void test_not_lent_packed(void) { not_lent_case(VS_VDRV_PACKED); }

/* A payload piece outside guest memory (wholly, or across its end) breaks the queue:
 * nothing is lent or returned, no buffer is lost. */
static void bad_address_case(unsigned flags, bool straddle)
{
    struct env a;
    struct raw r = {0};
    struct piece pc[32];
    struct vs_pkt *pkts[2];
    unsigned small_free = vs_pool_free_count(test_pool);

    setup(&a, flags);
    unsigned n = tso_pieces(&a, pc, 5);
    uint64_t end = VS_VDRV_GPA_BASE + ENV_REGION_SIZE;
    pc[3].gpa = straddle ? end - pc[3].len / 2 : end + 0x100000;
    post(&a, &r, pc, n);
    CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&a.vq, test_pool, pkts, 2), 0);
    CU_ASSERT_TRUE(a.vq.broken);
    CU_ASSERT_EQUAL(a.vq.stats.err[VS_VQ_ERR_DESC_ADDR], 1);
    CU_ASSERT_EQUAL(a.vq.lend_consumed, 0);
    vs_virtq_dequeue_done(&a.vq);
    CU_ASSERT_FALSE(any_used(&a));
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), small_free);
    env_teardown(&a);
}

static void test_bad_address_split(void) { bad_address_case(0, false); }
static void test_bad_address_packed(void) { bad_address_case(VS_VDRV_PACKED, false); }
static void test_straddle_split(void) { bad_address_case(0, true); }
static void test_straddle_packed(void) { bad_address_case(VS_VDRV_PACKED, true); }

/* A chain that never ends (split: a loop; packed: NEXT on every slot of the ring)
 * breaks the queue after at most the queue size of descriptors. */
static void endless_case(unsigned flags)
{
    struct env a;
    struct piece pc[1];
    struct vs_pkt *pkts[2];
    unsigned small_free = vs_pool_free_count(test_pool);
    uint8_t hdr[12];

    setup(&a, flags);
    put_hdr(hdr, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 14, 6);
    scatter(&a, hdr, (uint32_t[]){12}, 1, pc);
    uint64_t data = vs_vdrv_mem_alloc(&a.mem, 0, 4096, 64);
    for (uint16_t k = 0; k < a.drv.size; k++) {
        uint64_t at = k == 0 ? pc[0].gpa : data;
        uint32_t l = k == 0 ? 12 : 4096;
        if (a.vq.packed)
            vs_vdrv_packed_set_desc(&a.drv, k, at, l, 0, VRING_DESC_F_NEXT, true);
        else
            vs_vdrv_split_set_desc(&a.drv, k, at, l, VRING_DESC_F_NEXT,
                                   (uint16_t)((k + 1) % a.drv.size));
    }
    if (!a.vq.packed)
        vs_vdrv_split_publish(&a.drv, 0);
    CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&a.vq, test_pool, pkts, 2), 0);
    CU_ASSERT_TRUE(a.vq.broken);
    CU_ASSERT_EQUAL(a.vq.stats.err[VS_VQ_ERR_DESC_LOOP], 1);
    CU_ASSERT_EQUAL(a.vq.lend_consumed, 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), small_free);
    env_teardown(&a);
}

static void test_endless_split(void) { endless_case(0); }
static void test_endless_packed(void) { endless_case(VS_VDRV_PACKED); }

/* vs_pkt_linear: a plain frame is its own; a lent chain becomes a copy in a large
 * buffer with the same bytes and requests. */
static void test_linear(void)
{
    struct env a;
    struct raw r = {0};
    struct piece pc[32];
    struct vs_pkt *p = NULL;

    setup(&a, 0);
    tso_chain(&a, &r, pc, 9);
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&a.vq, test_pool, &p, 1), 1);
    struct vs_pkt *c = vs_pkt_linear(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_EQUAL(c, p);
    CU_ASSERT_FALSE(c->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_EQUAL(c->len, HDRS + PAYLOAD);
    CU_ASSERT_EQUAL(c->ol_flags, VS_OL_CSUM | VS_OL_TSO4);
    CU_ASSERT_EQUAL(c->gso_size, MSS);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(c), frame, HDRS + PAYLOAD), 0);
    CU_ASSERT_PTR_EQUAL(vs_pkt_linear(c), c);
    vs_pkt_free(c);
    vs_virtq_dequeue_done(&a.vq);
    env_teardown(&a);
}

static void add_tests(CU_pSuite s)
{
    CU_add_test(s, "split: burst of lent, lent chain, copied", test_burst_split);
    CU_add_test(s, "packed: burst of lent, lent chain, copied", test_burst_packed);
    CU_add_test(s, "split: guest rewrites after the dequeue", test_rewrite_split);
    CU_add_test(s, "packed: guest rewrites after the dequeue", test_rewrite_packed);
    CU_add_test(s, "split: too many pieces, copied", test_many_pieces_split);
    CU_add_test(s, "packed: too many pieces, copied", test_many_pieces_packed);
    CU_add_test(s, "split: short or plain chains copied", test_not_lent_split);
    CU_add_test(s, "packed: short or plain chains copied", test_not_lent_packed);
    CU_add_test(s, "split: piece outside guest memory", test_bad_address_split);
    CU_add_test(s, "packed: piece outside guest memory", test_bad_address_packed);
    CU_add_test(s, "split: piece across the end of guest memory", test_straddle_split);
    CU_add_test(s, "packed: piece across the end of guest memory", test_straddle_packed);
    CU_add_test(s, "split: endless chain", test_endless_split);
    CU_add_test(s, "packed: endless chain", test_endless_packed);
    CU_add_test(s, "linear copy of a lent chain", test_linear);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    add_tests(CU_add_suite("virtq lent chains", suite_init, env_suite_clean));
    add_tests(CU_add_suite("virtq lent chains, in order", suite_init_in_order, env_suite_clean));
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
