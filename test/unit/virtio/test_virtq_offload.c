/* Offloads and large frames on the device side: the driver's TX header into a
 * packet's metadata (each field; requests not negotiated refused and counted), long
 * TX chains into large buffers or lent as chains (test_virtq_chain has the rest of
 * lent chains), the MTU limit, the RX header
 * written from the metadata, and large frames over merged receive buffers or one
 * long chain (or not delivered, leaving the guest's buffers untouched). */
#include <CUnit/Basic.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "ports/virtio/net_hdr.h"
#include "test_virtq_env.h"

static uint8_t frame_buf[VS_PKT_LARGE_DATA_ROOM], want_buf[VS_PKT_LARGE_DATA_ROOM];

static int suite_init(void)
{
    if (env_suite_init() < 0)
        return -1;
    if (!vs_pool_large(test_pool) && vs_pool_add_large(test_pool, 16, VS_PAGES_NONE) < 0)
        return -1;
    return 0;
}

/* A virtio-net header: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
static void put_hdr(uint8_t *h, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size,
                    uint16_t csum_start, uint16_t csum_offset)
{
    h[0] = flags;
    h[1] = gso;
    memcpy(h + 2, &hdr_len, 2);
    memcpy(h + 4, &gso_size, 2);
    memcpy(h + 6, &csum_start, 2);
    memcpy(h + 8, &csum_offset, 2);
}

/* The queue with offloads negotiated (tx_ol), started again for max_frame. */
static void setup(struct env *e, uint16_t size, unsigned flags, uint8_t tx_ol, uint32_t max_frame)
{
    env_setup(e, size, flags);
    e->vq.tx_ol = tx_ol;
    e->vq.guest_csum = true;
    e->vq.max_frame = max_frame;
    CU_ASSERT_FATAL(vs_virtq_start(&e->vq, (e->vq.packed) ? 0x8000 : 0) == 0);
}

/* Posts a frame of len bytes whose header the test writes afterwards. */
static uint8_t *post_tx_hdr(struct env *e, uint32_t len, uint32_t seed, unsigned nseg)
{
    make_frame(frame_buf, len, seed);
    int id = vs_vdrv_post_tx(&e->drv, frame_buf, len, nseg, false);
    CU_ASSERT_FATAL(id >= 0);
    return vs_vdrv_mem_hva(&e->mem, e->drv.bufs[id].area_gpa);
}

static void test_hdr_parse_fields(void)
{
    uint8_t h[12];
    struct vs_pkt *p = vs_pkt_alloc(test_pool);
    uint8_t all = VS_OL_REQUESTS;

    CU_ASSERT_FATAL(p != NULL);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 66,
            1448, 34, 16);
    CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, all, p));
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_TSO4 | VS_OL_ECN);
    CU_ASSERT_EQUAL(p->hdr_len, 66);
    CU_ASSERT_EQUAL(p->gso_size, 1448);
    CU_ASSERT_EQUAL(p->csum_start, 34);
    CU_ASSERT_EQUAL(p->csum_offset, 16);

    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 86, 1428, 54, 16);
    CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, all, p));
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_TSO6);
    CU_ASSERT_EQUAL(p->hdr_len, 86);
    CU_ASSERT_EQUAL(p->gso_size, 1428);
    CU_ASSERT_EQUAL(p->csum_start, 54);

    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VS_VIRTIO_NET_HDR_GSO_UDP_L4, 42, 1000, 34, 6);
    CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, all, p));
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_USO);
    CU_ASSERT_EQUAL(p->csum_offset, 6);

    /* A checksum request alone: no GSO fields taken. */
    p->hdr_len = p->gso_size = 7;
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 99, 99, 38, 6);
    CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, VS_OL_CSUM, p));
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM);
    CU_ASSERT_EQUAL(p->csum_start, 38);
    CU_ASSERT_EQUAL(p->hdr_len, 7);

    /* DATA_VALID is the device's to set: ignored on TX, no request. */
    put_hdr(h, VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, 0, 0, 0);
    CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, 0, p));
    CU_ASSERT_EQUAL(p->ol_flags, 0);
    vs_pkt_free(p);
}

static void test_hdr_parse_refused(void)
{
    uint8_t h[12];
    struct vs_pkt *p = vs_pkt_alloc(test_pool);

    CU_ASSERT_FATAL(p != NULL);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, 0, p)); /* CSUM not negotiated */
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1448, 34, 16);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_CSUM | VS_OL_TSO6, p));
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 74, 1448, 54, 16);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_CSUM | VS_OL_TSO4, p));
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VS_VIRTIO_NET_HDR_GSO_UDP_L4, 42, 1000, 34, 6);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_CSUM | VS_OL_TSO4 | VS_OL_TSO6, p));
    /* ECN without HOST_ECN, and ECN without TCP segmentation. */
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, 54,
            1448, 34, 16);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_CSUM | VS_OL_TSO4, p));
    put_hdr(h, 0, VIRTIO_NET_HDR_GSO_ECN, 0, 0, 0, 0);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS, p));
    /* UFO (never offered), unknown types and flags. */
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, 42, 1000, 34, 6);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS, p));
    put_hdr(h, 0, 2, 0, 0, 0, 0);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS, p));
    put_hdr(h, VIRTIO_NET_HDR_F_RSC_INFO, 0, 0, 0, 0, 0);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS, p));
    put_hdr(h, 0x80, 0, 0, 0, 0, 0);
    CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS, p));
    CU_ASSERT_EQUAL(p->ol_flags, 0); /* nothing taken from a refused header */
    vs_pkt_free(p);
}

static void test_hdr_build(void)
{
    struct vs_pkt *p = vs_pkt_alloc(test_pool);
    uint16_t co;
    uint8_t h[8];
    uint64_t lo;

    CU_ASSERT_FATAL(p != NULL);
    lo = vs_vnet_hdr_build(p, true, &co);
    CU_ASSERT_EQUAL(lo, 0);
    CU_ASSERT_EQUAL(co, 0);

    p->ol_flags = VS_OL_CSUM | VS_OL_TSO6 | VS_OL_ECN;
    p->csum_start = 54;
    p->csum_offset = 16;
    p->hdr_len = 86;
    p->gso_size = 1428;
    lo = vs_vnet_hdr_build(p, true, &co);
    memcpy(h, &lo, 8);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
    CU_ASSERT_EQUAL(h[2] | h[3] << 8, 86);
    CU_ASSERT_EQUAL(h[4] | h[5] << 8, 1428);
    CU_ASSERT_EQUAL(h[6] | h[7] << 8, 54);
    CU_ASSERT_EQUAL(co, 16);

    p->ol_flags = VS_OL_CSUM | VS_OL_USO;
    lo = vs_vnet_hdr_build(p, true, &co);
    memcpy(h, &lo, 8);
    CU_ASSERT_EQUAL(h[1], VS_VIRTIO_NET_HDR_GSO_UDP_L4);

    /* DATA_VALID only to a driver that negotiated GUEST_CSUM. */
    p->ol_flags = VS_OL_CSUM_VALID;
    lo = vs_vnet_hdr_build(p, true, &co);
    CU_ASSERT_EQUAL(lo & 0xff, VIRTIO_NET_HDR_F_DATA_VALID);
    CU_ASSERT_EQUAL(lo >> 8, 0);
    CU_ASSERT_EQUAL(vs_vnet_hdr_build(p, false, &co), 0);
    vs_pkt_free(p);
}

/* A peer whose DATA_VALID counts (a device, the kernel behind a TAP): every field
 * little-endian, the flag kept only when allowed, and what the peer may not ask for
 * refused (UFO, unknown types, ECN without TCP segmentation). */
static void test_hdr_parse_trusted(void)
{
    const uint8_t trusted = VS_OL_REQUESTS | VS_OL_CSUM_VALID;
    struct vs_pkt *p = vs_pkt_alloc(test_pool);
    uint8_t h[12] = {0};
    static const struct {
        uint8_t flags, gso_type, ol;
    } cases[] = {
        {0, VIRTIO_NET_HDR_GSO_NONE, 0},
        {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VS_OL_CSUM},
        {VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE, VS_OL_CSUM_VALID},
        {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VS_OL_CSUM | VS_OL_TSO4},
        {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, VS_OL_CSUM | VS_OL_TSO6},
        {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
         VS_OL_CSUM | VS_OL_TSO4 | VS_OL_ECN},
        {VIRTIO_NET_HDR_F_NEEDS_CSUM, VS_VIRTIO_NET_HDR_GSO_UDP_L4, VS_OL_CSUM | VS_OL_USO},
    };
    static const uint8_t bad_gso[] = {VIRTIO_NET_HDR_GSO_UDP,
                                      2,
                                      6,
                                      0x7f,
                                      VIRTIO_NET_HDR_GSO_ECN,
                                      VS_VIRTIO_NET_HDR_GSO_UDP_L4 | VIRTIO_NET_HDR_GSO_ECN};

    CU_ASSERT_FATAL(p != NULL);
    for (unsigned i = 0; i < VS_ARRAY_SIZE(cases); i++) {
        h[0] = cases[i].flags;
        h[1] = cases[i].gso_type;
        memcpy(h + 2, (uint8_t[]){0x36, 0x01}, 2); /* hdr_len 310 */
        memcpy(h + 4, (uint8_t[]){0xa8, 0x05}, 2); /* gso_size 1448 */
        memcpy(h + 6, (uint8_t[]){0x22, 0x00}, 2); /* csum_start 34 */
        memcpy(h + 8, (uint8_t[]){0x10, 0x00}, 2); /* csum_offset 16 */
        p->ol_flags = 0xff;                        /* left over from the buffer's last frame */
        CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, trusted, p));
        CU_ASSERT_EQUAL(p->ol_flags, cases[i].ol);
        if (cases[i].ol & VS_OL_CSUM) {
            CU_ASSERT_EQUAL(p->csum_start, 34);
            CU_ASSERT_EQUAL(p->csum_offset, 16);
        }
        if (cases[i].ol & VS_OL_GSO) {
            CU_ASSERT_EQUAL(p->hdr_len, 310);
            CU_ASSERT_EQUAL(p->gso_size, 1448);
        }
    }
    /* Without VS_OL_CSUM_VALID in allowed (a driver's header) DATA_VALID means nothing. */
    memset(h, 0, sizeof(h));
    h[0] = VIRTIO_NET_HDR_F_DATA_VALID;
    CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS, p));
    CU_ASSERT_EQUAL(p->ol_flags, 0);
    h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    for (unsigned i = 0; i < VS_ARRAY_SIZE(bad_gso); i++) {
        h[1] = bad_gso[i];
        CU_ASSERT_FALSE(vs_vnet_hdr_parse(h, trusted, p));
    }
    vs_pkt_free(p);
}

/* The whole 12-byte header (TAP devices, virtio NICs): little-endian fields, zero
 * where the request is absent, num_buffers 0, and the requests survive the trip back. */
static void test_hdr_write(void)
{
    struct vs_pkt *p = vs_pkt_alloc(test_pool), *q = vs_pkt_alloc(test_pool);
    uint8_t h[12];
    static const struct {
        uint8_t ol, flags, gso_type;
    } cases[] = {
        {0, 0, VIRTIO_NET_HDR_GSO_NONE},
        {VS_OL_CSUM, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE},
        {VS_OL_CSUM_VALID, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_GSO_NONE},
        /* a checksum still to compute is not valid yet */
        {VS_OL_CSUM | VS_OL_CSUM_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE},
        {VS_OL_CSUM | VS_OL_TSO4, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4},
        {VS_OL_CSUM | VS_OL_TSO6 | VS_OL_ECN, VIRTIO_NET_HDR_F_NEEDS_CSUM,
         VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN},
        {VS_OL_CSUM | VS_OL_USO, VIRTIO_NET_HDR_F_NEEDS_CSUM, VS_VIRTIO_NET_HDR_GSO_UDP_L4},
        {VS_OL_TSO4, 0, VIRTIO_NET_HDR_GSO_TCPV4},
    };

    CU_ASSERT_FATAL(p != NULL && q != NULL);
    p->csum_start = 54;
    p->csum_offset = 6;
    p->gso_size = 8948;
    p->hdr_len = 0x1234;
    for (unsigned i = 0; i < VS_ARRAY_SIZE(cases); i++) {
        bool csum = cases[i].ol & VS_OL_CSUM, gso = cases[i].ol & VS_OL_GSO;

        memset(h, 0xee, sizeof(h));
        p->ol_flags = cases[i].ol;
        vs_vnet_hdr_write(p, true, h);
        CU_ASSERT_EQUAL(h[0], cases[i].flags);
        CU_ASSERT_EQUAL(h[1], cases[i].gso_type);
        CU_ASSERT_EQUAL(h[2], gso ? 0x34 : 0);
        CU_ASSERT_EQUAL(h[3], gso ? 0x12 : 0);
        CU_ASSERT_EQUAL(h[4], gso ? (8948 & 0xff) : 0);
        CU_ASSERT_EQUAL(h[5], gso ? (8948 >> 8) : 0);
        CU_ASSERT_EQUAL(h[6], csum ? 54 : 0);
        CU_ASSERT_EQUAL(h[7], 0);
        CU_ASSERT_EQUAL(h[8], csum ? 6 : 0);
        CU_ASSERT_EQUAL(h[9], 0);
        CU_ASSERT_EQUAL(h[10], 0); /* num_buffers */
        CU_ASSERT_EQUAL(h[11], 0);
        /* and back, from a peer that may ask for all of it */
        if (!(cases[i].ol & VS_OL_CSUM_VALID) || !csum) {
            CU_ASSERT_TRUE(vs_vnet_hdr_parse(h, VS_OL_REQUESTS | VS_OL_CSUM_VALID, q));
            /* TSO without NEEDS_CSUM reads back as it was written */
            CU_ASSERT_EQUAL(q->ol_flags, cases[i].ol);
        }
    }
    /* DATA_VALID only to a peer that takes it. */
    p->ol_flags = VS_OL_CSUM_VALID;
    vs_vnet_hdr_write(p, false, h);
    CU_ASSERT_EQUAL(h[0], 0);
    vs_pkt_free(p);
    vs_pkt_free(q);
}

static void test_features_to_offloads(void)
{
    uint64_t f = VS_VNET_OFFLOAD_FEATURES;

    CU_ASSERT_EQUAL(vs_vnet_host_offloads(f), VS_OL_REQUESTS);
    CU_ASSERT_EQUAL(vs_vnet_guest_offloads(f), VS_OL_REQUESTS);
    CU_ASSERT_EQUAL(vs_vnet_host_offloads(0), 0);
    CU_ASSERT_EQUAL(vs_vnet_guest_offloads(0), 0);
    /* Segments only with GUEST_CSUM; ECN only with TCP; USO with both IP versions. */
    CU_ASSERT_EQUAL(vs_vnet_guest_offloads(f & ~VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM)), 0);
    CU_ASSERT_EQUAL(vs_vnet_guest_offloads(VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |
                                           VS_VNET_BIT(VIRTIO_NET_F_GUEST_ECN)),
                    VS_OL_CSUM);
    CU_ASSERT_EQUAL(vs_vnet_guest_offloads(VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |
                                           VS_VNET_BIT(VS_VIRTIO_NET_F_GUEST_USO4)),
                    VS_OL_CSUM);
    CU_ASSERT_EQUAL(vs_vnet_guest_offloads(VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |
                                           VS_VNET_BIT(VIRTIO_NET_F_GUEST_TSO4) |
                                           VS_VNET_BIT(VIRTIO_NET_F_GUEST_ECN)),
                    VS_OL_CSUM | VS_OL_TSO4 | VS_OL_ECN);
    CU_ASSERT_EQUAL(
        vs_vnet_host_offloads(VS_VNET_BIT(VIRTIO_NET_F_CSUM) | VS_VNET_BIT(VIRTIO_NET_F_HOST_TSO6)),
        VS_OL_CSUM | VS_OL_TSO6);
    CU_ASSERT_STRING_EQUAL(vs_vnet_offload_name(VIRTIO_NET_F_HOST_TSO4), "host_tso4");
    CU_ASSERT_PTR_NULL(vs_vnet_offload_name(VIRTIO_NET_F_MRG_RXBUF));
}

/* Through the ring: a header split over the chain's pieces, each field taken; with a
 * lending dequeue a frame with requests is lent as a chain (a short one is all in
 * its head: copied), a plain one beside it lent as one run. */
static void tx_header_case(unsigned flags)
{
    struct env e;
    struct vs_pkt *pkts[2];

    setup(&e, 16, flags, VS_OL_REQUESTS, 0);
    uint8_t *h = post_tx_hdr(&e, 1000, 1, 3); /* 1012 / 3: the header in one piece */
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 500, 34, 16);
    uint8_t *h2 = post_tx_hdr(&e, 22, 2, 3); /* 34 / 3: the header over two pieces */
    put_hdr(h2, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 14, 6);
    CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&e.vq, test_pool, pkts, 2), 2);
    make_frame(want_buf, 1000, 1);
    CU_ASSERT_EQUAL(pkts[0]->ol_flags, VS_OL_CSUM | VS_OL_TSO4);
    CU_ASSERT_EQUAL(pkts[0]->hdr_len, 54);
    CU_ASSERT_EQUAL(pkts[0]->gso_size, 500);
    CU_ASSERT_EQUAL(pkts[0]->csum_start, 34);
    CU_ASSERT_EQUAL(pkts[0]->csum_offset, 16);
    CU_ASSERT_EQUAL(pkts[0]->len, 1000);
    CU_ASSERT_TRUE(pkts[0]->flags & VS_PKT_F_CHAIN);
    vs_pkt_copy_out(pkts[0], frame_buf);
    CU_ASSERT_EQUAL(memcmp(frame_buf, want_buf, 1000), 0);
    CU_ASSERT_FALSE(pkts[1]->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_EQUAL(pkts[1]->len, 22);
    CU_ASSERT_EQUAL(pkts[1]->ol_flags, VS_OL_CSUM);
    CU_ASSERT_EQUAL(pkts[1]->csum_start, 14);
    CU_ASSERT_EQUAL(pkts[1]->csum_offset, 6);
    vs_pkt_free_bulk(pkts, 2);
    vs_virtq_dequeue_done(&e.vq);
    CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 2);

    /* One descriptor each: the one with a request lent as a chain, the plain one
     * lent as one run. */
    h = post_tx_hdr(&e, 200, 3, 1);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
    post_tx_hdr(&e, 200, 4, 1);
    CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&e.vq, test_pool, pkts, 2), 2);
    CU_ASSERT_TRUE(pkts[0]->flags & VS_PKT_F_CHAIN);
    CU_ASSERT_EQUAL(pkts[0]->ol_flags, VS_OL_CSUM);
    CU_ASSERT_TRUE(pkts[1]->flags & VS_PKT_F_EXTERNAL);
    CU_ASSERT_FALSE(pkts[1]->flags & VS_PKT_F_CHAIN);
    CU_ASSERT_EQUAL(pkts[1]->ol_flags, 0);
    make_frame(want_buf, 200, 3);
    vs_pkt_copy_out(pkts[0], frame_buf);
    CU_ASSERT_EQUAL(memcmp(frame_buf, want_buf, 200), 0);
    vs_pkt_free_bulk(pkts, 2);
    vs_virtq_dequeue_done(&e.vq);
    CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 2);
    CU_ASSERT_EQUAL(err_total(&e.vq), 0);
    env_teardown(&e);
}

static void test_tx_header_split(void) { tx_header_case(VS_VDRV_INDIRECT); }
static void test_tx_header_packed(void) { tx_header_case(VS_VDRV_PACKED | VS_VDRV_INDIRECT); }

/* Requests not negotiated: dropped, counted as offload, the buffer goes back, and the
 * next frame passes. */
static void tx_refused_case(unsigned flags)
{
    struct env e;
    struct vs_pkt *pkts[2];
    unsigned free_before = vs_pool_free_count(test_pool);

    setup(&e, 16, flags, VS_OL_CSUM, 0);
    uint8_t *h = post_tx_hdr(&e, 1000, 1, 1);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 500, 34, 16);
    post_tx_hdr(&e, 60, 2, 2);
    CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&e.vq, test_pool, pkts, 2), 1);
    CU_ASSERT_EQUAL(pkts[0]->len, 60);
    vs_pkt_free(pkts[0]);
    vs_virtq_dequeue_done(&e.vq);
    CU_ASSERT_EQUAL(e.vq.stats.err[VS_VQ_ERR_OFFLOAD], 1);
    CU_ASSERT_EQUAL(err_total(&e.vq), 1);
    CU_ASSERT_FALSE(e.vq.broken);
    CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 2);
    /* Nothing negotiated: even a checksum request is refused. */
    e.vq.tx_ol = 0;
    h = post_tx_hdr(&e, 60, 3, 1);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 34, 16);
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, pkts, 2), 0);
    CU_ASSERT_EQUAL(e.vq.stats.err[VS_VQ_ERR_OFFLOAD], 2);
    CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 1);
    CU_ASSERT_EQUAL(vs_pool_free_count(test_pool), free_before);
    env_teardown(&e);
}

static void test_tx_refused_split(void) { tx_refused_case(0); }
static void test_tx_refused_packed(void) { tx_refused_case(VS_VDRV_PACKED); }

/* A raw TX chain of total bytes at gpa in pieces of piece bytes (split: descriptors
 * 0.., packed: slots 0.., buffer id 0). */
static void post_raw_chain(struct env *e, uint64_t gpa, uint32_t total, uint32_t piece)
{
    unsigned n = (total + piece - 1) / piece;
    CU_ASSERT_FATAL(n <= e->drv.size);
    for (unsigned k = 0; k < n; k++) {
        uint32_t l = k + 1 == n ? total - k * piece : piece;
        uint16_t f = k + 1 < n ? VRING_DESC_F_NEXT : 0;
        if (e->vq.packed)
            vs_vdrv_packed_set_desc(&e->drv, (uint16_t)k, gpa + (uint64_t)k * piece, l, 0, f, true);
        else
            vs_vdrv_split_set_desc(&e->drv, (uint16_t)k, gpa + (uint64_t)k * piece, l, f,
                                   (uint16_t)(k + 1));
    }
    if (!e->vq.packed)
        vs_vdrv_split_publish(&e->drv, 0);
}

/* Writes header + frame(len, seed) into fresh guest memory; returns its gpa. */
static uint64_t guest_frame(struct env *e, uint32_t len, uint32_t seed, const uint8_t *hdr)
{
    uint64_t gpa = vs_vdrv_mem_alloc(&e->mem, 0, 12 + len, 64);
    CU_ASSERT_FATAL(gpa != 0);
    uint8_t *p = vs_vdrv_mem_hva(&e->mem, gpa);
    memcpy(p, hdr, 12);
    make_frame(p + 12, len, seed);
    return gpa;
}

/* A 64 KB TSO frame in 17 descriptors (a Linux skb's header, linear part and page
 * fragments) is copied into one large buffer, whole; a lending dequeue lends it as
 * a chain instead, no large buffer taken. */
static void tx_large_case(unsigned flags, bool lend)
{
    struct env e;
    struct vs_pkt *p = NULL;
    uint8_t h[12] = {0};
    uint32_t len = 65536 - 2;
    unsigned large_free = vs_pool_free_count(vs_pool_large(test_pool));

    setup(&e, 32, flags, VS_OL_REQUESTS, 1518);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 66, 1448, 34, 16);
    post_raw_chain(&e, guest_frame(&e, len, 9, h), 12 + len, 4096);
    uint16_t got = lend ? vs_virtq_dequeue_lend(&e.vq, test_pool, &p, 1)
                        : vs_virtq_dequeue(&e.vq, test_pool, &p, 1);
    CU_ASSERT_EQUAL_FATAL(got, 1);
    CU_ASSERT_EQUAL(p->len, len);
    CU_ASSERT_EQUAL(p->room, lend ? VS_PKT_DATA_ROOM : VS_PKT_LARGE_DATA_ROOM);
    CU_ASSERT_EQUAL(!!(p->flags & VS_PKT_F_CHAIN), lend);
    if (lend) /* the rest of the first descriptor, 15 whole ones, the last 10 bytes */
        CU_ASSERT_EQUAL(vs_pkt_chain(p)->n, 17);
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_TSO4);
    CU_ASSERT_EQUAL(p->gso_size, 1448);
    make_frame(want_buf, len, 9);
    vs_pkt_copy_out(p, frame_buf);
    CU_ASSERT_EQUAL(memcmp(frame_buf, want_buf, len), 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(test_pool)), large_free - !lend);
    vs_pkt_free(p);
    if (lend)
        vs_virtq_dequeue_done(&e.vq);
    CU_ASSERT_EQUAL(e.vq.last_used_idx, e.vq.packed ? 17 : 1);
    CU_ASSERT_EQUAL(err_total(&e.vq), 0);
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(test_pool)), large_free);
    env_teardown(&e);
}

static void test_tx_large_split(void) { tx_large_case(0, false); }
static void test_tx_large_split_lend(void) { tx_large_case(0, true); }
static void test_tx_large_packed(void) { tx_large_case(VS_VDRV_PACKED, false); }
static void test_tx_large_packed_lend(void) { tx_large_case(VS_VDRV_PACKED, true); }

/* The MTU: a jumbo frame up to max_frame passes (in one descriptor too, lent as a
 * chain since it is longer than a small buffer), one byte more without GSO is dropped as oversize, and a chain beyond
 * a large buffer as a bad length even with GSO. */
static void tx_mtu_case(unsigned flags)
{
    struct env e;
    struct vs_pkt *p = NULL;
    uint8_t h[12] = {0};

    setup(&e, 32, flags, VS_OL_REQUESTS, 9018);
    post_raw_chain(&e, guest_frame(&e, 9018, 5, h), 12 + 9018, 12 + 9018);
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&e.vq, test_pool, &p, 1), 1);
    CU_ASSERT_EQUAL(p->len, 9018);
    CU_ASSERT_TRUE(p->flags & VS_PKT_F_CHAIN);
    make_frame(want_buf, 9018, 5);
    vs_pkt_copy_out(p, frame_buf);
    CU_ASSERT_EQUAL(memcmp(frame_buf, want_buf, 9018), 0);
    vs_pkt_free(p);
    vs_virtq_dequeue_done(&e.vq);
    env_teardown(&e);

    setup(&e, 32, flags, VS_OL_REQUESTS, 9018);
    post_raw_chain(&e, guest_frame(&e, 9019, 5, h), 12 + 9019, 4096);
    CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&e.vq, test_pool, &p, 1), 0);
    CU_ASSERT_EQUAL(e.vq.stats.err[VS_VQ_ERR_OVERSIZE], 1);
    CU_ASSERT_FALSE(e.vq.broken);
    env_teardown(&e);

    /* The same length with a GSO request is a TSO frame: it passes. */
    setup(&e, 32, flags, VS_OL_REQUESTS, 9018);
    put_hdr(h, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6, 74, 1428, 54, 16);
    post_raw_chain(&e, guest_frame(&e, 9019, 5, h), 12 + 9019, 4096);
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue(&e.vq, test_pool, &p, 1), 1);
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM | VS_OL_TSO6);
    vs_pkt_free(p);
    env_teardown(&e);

    /* Beyond a large buffer: a bad length whatever the header says. */
    setup(&e, 32, flags, VS_OL_REQUESTS, 9018);
    post_raw_chain(&e, guest_frame(&e, VS_PKT_LARGE_DATA_ROOM + 1, 5, h),
                   12 + VS_PKT_LARGE_DATA_ROOM + 1, 4096);
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, &p, 1), 0);
    CU_ASSERT_EQUAL(e.vq.stats.err[VS_VQ_ERR_LEN], 1);
    CU_ASSERT_EQUAL(err_total(&e.vq), 1);
    env_teardown(&e);
}

static void test_tx_mtu_split(void) { tx_mtu_case(0); }
static void test_tx_mtu_packed(void) { tx_mtu_case(VS_VDRV_PACKED); }

/* No large buffer free: the long frame is dropped (no_mbufs), the queue goes on. */
static void test_tx_large_no_room(void)
{
    struct env e;
    struct vs_pool *small;
    struct vs_pkt *p = NULL;
    uint8_t h[12] = {0};

    CU_ASSERT_FATAL(vs_pool_create(64, VS_PAGES_NONE, &small) == 0);
    setup(&e, 32, 0, VS_OL_REQUESTS, 9018);
    post_raw_chain(&e, guest_frame(&e, 4000, 5, h), 12 + 4000, 1000);
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, small, &p, 1), 0);
    CU_ASSERT_EQUAL(e.vq.stats.no_mbufs, 1);
    CU_ASSERT_EQUAL(err_total(&e.vq), 0);
    CU_ASSERT_EQUAL(e.vq.last_used_idx, 1);
    CU_ASSERT_EQUAL(vs_pool_free_count(small), 64);
    env_teardown(&e);
    vs_pool_destroy(small);
}

static struct vs_pkt *large_pkt(uint32_t len, uint32_t seed)
{
    struct vs_pkt *p = vs_pkt_alloc_len(test_pool, len);
    CU_ASSERT_FATAL(p != NULL);
    make_frame(vs_pkt_data(p), len, seed);
    p->len = len;
    return p;
}

/* The RX header from the metadata, in the one-buffer fast path and over merged
 * buffers; a 64 KB segment spread over 1536-byte buffers with num_buffers. */
static void rx_large_mrg_case(unsigned flags)
{
    struct env e;
    uint8_t h[10];
    uint16_t nb = 0;

    setup(&e, 64, flags | VS_VDRV_MRG_RXBUF, VS_OL_REQUESTS, 1518);
    for (int i = 0; i < 48; i++)
        CU_ASSERT_FATAL(vs_vdrv_post_rx(&e.drv, 1536, 1, false) >= 0);

    struct vs_pkt *p = make_pkt(300, 1);
    p->ol_flags = VS_OL_CSUM;
    p->csum_start = 34;
    p->csum_offset = 16;
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 1);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(vs_vdrv_recv_hdr(&e.drv, frame_buf, sizeof(frame_buf), &nb, h), 300);
    CU_ASSERT_EQUAL(nb, 1);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], 0);
    CU_ASSERT_EQUAL(h[6] | h[7] << 8, 34);
    CU_ASSERT_EQUAL(h[8] | h[9] << 8, 16);

    uint32_t len = 65536 - 2;
    p = large_pkt(len, 7);
    p->ol_flags = VS_OL_CSUM | VS_OL_TSO4 | VS_OL_ECN;
    p->csum_start = 34;
    p->csum_offset = 16;
    p->hdr_len = 66;
    p->gso_size = 1448;
    struct vs_pkt *q = make_pkt(60, 8); /* a plain frame behind it: zero header */
    struct vs_pkt *both[2] = {p, q};
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, both, 2), 2);
    vs_pkt_free_bulk(both, 2);
    CU_ASSERT_EQUAL(vs_vdrv_recv_hdr(&e.drv, frame_buf, sizeof(frame_buf), &nb, h), (int)len);
    CU_ASSERT_EQUAL(nb, (12 + len + 1535) / 1536);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
    CU_ASSERT_EQUAL(h[2] | h[3] << 8, 66);
    CU_ASSERT_EQUAL(h[4] | h[5] << 8, 1448);
    make_frame(want_buf, len, 7);
    CU_ASSERT_EQUAL(memcmp(frame_buf, want_buf, len), 0);
    CU_ASSERT_TRUE(recv_expect(&e, 60, 8, &nb));
    CU_ASSERT_EQUAL(nb, 1);
    CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 0);
    CU_ASSERT_EQUAL(err_total(&e.vq), 0);
    env_teardown(&e);
}

static void test_rx_large_mrg_split(void) { rx_large_mrg_case(0); }
static void test_rx_large_mrg_packed(void) { rx_large_mrg_case(VS_VDRV_PACKED); }

/* More pieces than VS_VQ_RX_MAX_SEGS would take: not delivered (no_buffers), no guest
 * buffer used; a frame that fits goes next. */
static void rx_bounded_case(unsigned flags)
{
    struct env e;
    uint16_t nb = 0, id;
    uint32_t ulen;

    setup(&e, 128, flags | VS_VDRV_MRG_RXBUF, VS_OL_REQUESTS, 1518);
    for (int i = 0; i < 100; i++)
        CU_ASSERT_FATAL(vs_vdrv_post_rx(&e.drv, 256, 1, false) >= 0);
    struct vs_pkt *p = large_pkt(30000, 3);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 0);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 1);
    CU_ASSERT_EQUAL(vs_vdrv_get_used(&e.drv, &id, &ulen), 0);
    p = make_pkt(1000, 4);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 1);
    vs_pkt_free(p);
    CU_ASSERT_TRUE(recv_expect(&e, 1000, 4, &nb));
    CU_ASSERT_EQUAL(nb, (12 + 1000 + 255) / 256);
    env_teardown(&e);
}

static void test_rx_bounded_split(void) { rx_bounded_case(0); }
static void test_rx_bounded_packed(void) { rx_bounded_case(VS_VDRV_PACKED); }

/* Without MRG_RXBUF a long frame needs one chain that holds it ("big packets"): an
 * 8000-byte frame into a chain of 8 pieces; a longer one than the chains is not
 * delivered and leaves them alone. */
static void rx_big_chain_case(unsigned flags)
{
    struct env e;
    uint16_t nb = 0, id;
    uint32_t ulen;

    setup(&e, 64, flags | VS_VDRV_INDIRECT, VS_OL_REQUESTS, 9018);
    CU_ASSERT_FATAL(vs_vdrv_post_rx(&e.drv, VS_VDRV_AREA, 8, true) >= 0);
    CU_ASSERT_FATAL(vs_vdrv_post_rx(&e.drv, VS_VDRV_AREA, 8, false) >= 0);
    struct vs_pkt *p = large_pkt(8000, 6);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 1);
    vs_pkt_free(p);
    CU_ASSERT_TRUE(recv_expect(&e, 8000, 6, &nb));
    CU_ASSERT_EQUAL(nb, 1);
    p = large_pkt(9000, 6);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 0);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 1);
    CU_ASSERT_EQUAL(vs_vdrv_get_used(&e.drv, &id, &ulen), 0);
    env_teardown(&e);
}

static void test_rx_big_chain_split(void) { rx_big_chain_case(0); }
static void test_rx_big_chain_packed(void) { rx_big_chain_case(VS_VDRV_PACKED); }

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("virtq offload", suite_init, env_suite_clean);
    CU_add_test(s, "header parse: every field", test_hdr_parse_fields);
    CU_add_test(s, "header parse: requests refused", test_hdr_parse_refused);
    CU_add_test(s, "header build from metadata", test_hdr_build);
    CU_add_test(s, "header parse: a device's or the kernel's", test_hdr_parse_trusted);
    CU_add_test(s, "whole header written, and read back", test_hdr_write);
    CU_add_test(s, "features to offloads", test_features_to_offloads);
    CU_add_test(s, "split: TX header into metadata, lent as a chain", test_tx_header_split);
    CU_add_test(s, "packed: TX header into metadata, lent as a chain", test_tx_header_packed);
    CU_add_test(s, "split: requests not negotiated dropped", test_tx_refused_split);
    CU_add_test(s, "packed: requests not negotiated dropped", test_tx_refused_packed);
    CU_add_test(s, "split: 64 KB TX chain into a large buffer", test_tx_large_split);
    CU_add_test(s, "split: 64 KB TX chain, lending dequeue", test_tx_large_split_lend);
    CU_add_test(s, "packed: 64 KB TX chain into a large buffer", test_tx_large_packed);
    CU_add_test(s, "packed: 64 KB TX chain, lending dequeue", test_tx_large_packed_lend);
    CU_add_test(s, "split: MTU and oversize", test_tx_mtu_split);
    CU_add_test(s, "packed: MTU and oversize", test_tx_mtu_packed);
    CU_add_test(s, "long TX frame without a large buffer", test_tx_large_no_room);
    CU_add_test(s, "split: RX header and 64 KB over merged buffers", test_rx_large_mrg_split);
    CU_add_test(s, "packed: RX header and 64 KB over merged buffers", test_rx_large_mrg_packed);
    CU_add_test(s, "split: RX pieces bounded", test_rx_bounded_split);
    CU_add_test(s, "packed: RX pieces bounded", test_rx_bounded_packed);
    CU_add_test(s, "split: RX big chain without MRG_RXBUF", test_rx_big_chain_split);
    CU_add_test(s, "packed: RX big chain without MRG_RXBUF", test_rx_big_chain_packed);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
