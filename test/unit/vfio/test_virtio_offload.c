/* The virtio-net-pci driver's offload side: which offered features it takes, the
 * requests its TX queue then takes, and the 12-byte virtio_net_hdr_v1 it writes
 * from a frame's metadata (TX) or reads into it (RX), byte for byte against the
 * layout of virtio 1.x §5.1.6. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <string.h>

#include "ports/vfio/virtio_pci.h"

#define B(bit) (1ull << (bit))
#define HOST_USO 56
#define GSO_UDP_L4 5

static struct vs_pool *pool;

static void test_features(void)
{
    uint64_t all = B(VIRTIO_NET_F_CSUM) | B(VIRTIO_NET_F_GUEST_CSUM) | B(VIRTIO_NET_F_HOST_TSO4) |
                   B(VIRTIO_NET_F_HOST_TSO6) | B(VIRTIO_NET_F_HOST_ECN) | B(HOST_USO) |
                   B(VIRTIO_NET_F_GUEST_TSO4) | B(VIRTIO_NET_F_GUEST_TSO6) |
                   B(VIRTIO_NET_F_GUEST_UFO) | B(VIRTIO_NET_F_MRG_RXBUF) | B(VIRTIO_NET_F_MTU);
    uint64_t f = vs_virtio_net_offload_features(all);

    /* Every host-side offload, guest checksums, nothing that needs big or merged RX
     * buffers (MTU is taken apart, by init). */
    CU_ASSERT_EQUAL(f, B(VIRTIO_NET_F_CSUM) | B(VIRTIO_NET_F_GUEST_CSUM) |
                           B(VIRTIO_NET_F_HOST_TSO4) | B(VIRTIO_NET_F_HOST_TSO6) |
                           B(VIRTIO_NET_F_HOST_ECN) | B(HOST_USO));
    CU_ASSERT_EQUAL(vs_virtio_net_tx_offloads(f),
                    VS_OL_CSUM | VS_OL_TSO4 | VS_OL_TSO6 | VS_OL_ECN | VS_OL_USO);
    /* §5.1.3.1: TSO and USO need CSUM; ECN needs a TSO. */
    CU_ASSERT_EQUAL(vs_virtio_net_offload_features(B(VIRTIO_NET_F_HOST_TSO4) | B(HOST_USO) |
                                                   B(VIRTIO_NET_F_HOST_ECN)),
                    0);
    CU_ASSERT_EQUAL(vs_virtio_net_offload_features(B(VIRTIO_NET_F_CSUM) | B(HOST_USO) |
                                                   B(VIRTIO_NET_F_HOST_ECN)),
                    B(VIRTIO_NET_F_CSUM) | B(HOST_USO));
    /* A device without offloads (QEMU's virtio-net on a backend without vnet
     * headers): nothing, and the port takes no requests. */
    CU_ASSERT_EQUAL(vs_virtio_net_offload_features(B(VIRTIO_NET_F_MAC) | B(VIRTIO_NET_F_STATUS)),
                    0);
    CU_ASSERT_EQUAL(vs_virtio_net_tx_offloads(0), 0);
    CU_ASSERT_EQUAL(vs_virtio_net_tx_offloads(B(VIRTIO_NET_F_GUEST_CSUM)), 0);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void test_tx_header(void)
{
    struct vs_pkt *p = vs_pkt_alloc(pool);
    uint8_t take = VS_OL_CSUM | VS_OL_TSO4 | VS_OL_TSO6 | VS_OL_ECN | VS_OL_USO, h[12];

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    p->len = 1514;
    /* No requests: all zeros (a header left over in the headroom is overwritten). */
    memset(h, 0xee, sizeof(h));
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), 0);
    for (int i = 0; i < 12; i++)
        CU_ASSERT_EQUAL(h[i], 0);
    /* VS_OL_CSUM_VALID is information for receivers; DATA_VALID is not the
     * driver's to send (§5.1.6.2.1). */
    p->ol_flags = VS_OL_CSUM_VALID;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), 0);
    CU_ASSERT_EQUAL(h[0], 0);

    /* A checksum request: NEEDS_CSUM, csum_start/offset little-endian. */
    p->ol_flags = VS_OL_CSUM;
    p->csum_start = 0x122;
    p->csum_offset = 16;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), 0);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], VIRTIO_NET_HDR_GSO_NONE);
    CU_ASSERT_EQUAL(le16(h + 6), 0x122);
    CU_ASSERT_EQUAL(le16(h + 8), 16);
    CU_ASSERT_EQUAL(le16(h + 2) | le16(h + 4) | le16(h + 10), 0);

    /* A TSO segment with ECN: gso_type, hdr_len, gso_size; NEEDS_CSUM with it. */
    p->ol_flags = VS_OL_CSUM | VS_OL_TSO4 | VS_OL_ECN;
    p->len = 65000;
    p->csum_start = 34;
    p->csum_offset = 16;
    p->hdr_len = 66;
    p->gso_size = 1448;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), 0);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN);
    CU_ASSERT_EQUAL(le16(h + 2), 66);
    CU_ASSERT_EQUAL(le16(h + 4), 1448);
    CU_ASSERT_EQUAL(le16(h + 6), 34);
    CU_ASSERT_EQUAL(le16(h + 8), 16);
    CU_ASSERT_EQUAL(le16(h + 10), 0); /* num_buffers: RX only */
    /* GSO without an explicit checksum request still says NEEDS_CSUM. */
    p->ol_flags = VS_OL_TSO6;
    p->csum_start = 54;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), 0);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
    CU_ASSERT_EQUAL(h[1], VIRTIO_NET_HDR_GSO_TCPV6);
    CU_ASSERT_EQUAL(le16(h + 6), 54);
    p->ol_flags = VS_OL_CSUM | VS_OL_USO;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), 0);
    CU_ASSERT_EQUAL(h[1], GSO_UDP_L4);

    /* Refused: a request outside what was negotiated, two GSO types, ECN alone. */
    p->ol_flags = VS_OL_CSUM | VS_OL_TSO4;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, VS_OL_CSUM, h), -EINVAL);
    p->ol_flags = VS_OL_CSUM;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, 0, h), -EINVAL);
    p->ol_flags = VS_OL_TSO4 | VS_OL_TSO6;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), -EINVAL);
    p->ol_flags = VS_OL_CSUM | VS_OL_ECN;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(p, take, h), -EINVAL);
    vs_pkt_free(p);
}

static void test_rx_header(void)
{
    uint64_t gc = B(VIRTIO_NET_F_GUEST_CSUM);
    struct vs_pkt *p = vs_pkt_alloc(pool);
    uint8_t h[12] = {0};

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, gc, p), 0);
    CU_ASSERT_EQUAL(p->ol_flags, 0);

    /* NEEDS_CSUM: a checksum request with the device's offsets. */
    h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h[6] = 34;
    h[8] = 6;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, gc, p), 0);
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM);
    CU_ASSERT_EQUAL(p->csum_start, 34);
    CU_ASSERT_EQUAL(p->csum_offset, 6);

    /* DATA_VALID: the checksums are known good. */
    p->ol_flags = 0;
    memset(h, 0, sizeof(h));
    h[0] = VIRTIO_NET_HDR_F_DATA_VALID;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, gc, p), 0);
    CU_ASSERT_EQUAL(p->ol_flags, VS_OL_CSUM_VALID);

    /* What was not negotiated is refused: checksum flags without GUEST_CSUM, any
     * GSO type (no GUEST_TSO/UFO/USO). */
    p->ol_flags = 0;
    h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, 0, p), -EINVAL);
    h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
    h[4] = 0xa8;
    h[5] = 0x05;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, gc, p), -EINVAL);
    h[0] = 0;
    h[1] = GSO_UDP_L4;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, gc, p), -EINVAL);
    vs_pkt_free(p);
}

/* A header written for a frame reads back as the same requests (what a peer
 * driver of ours on the other side of a device would see). */
static void test_round_trip(void)
{
    struct vs_pkt *a = vs_pkt_alloc(pool), *b = vs_pkt_alloc(pool);
    uint8_t h[12];

    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    a->len = 800;
    a->ol_flags = VS_OL_CSUM;
    a->csum_start = 54;
    a->csum_offset = 16;
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_put(a, VS_OL_CSUM, h), 0);
    CU_ASSERT_EQUAL(vs_virtio_net_hdr_get(h, B(VIRTIO_NET_F_GUEST_CSUM), b), 0);
    CU_ASSERT_EQUAL(b->ol_flags, a->ol_flags);
    CU_ASSERT_EQUAL(b->csum_start, a->csum_start);
    CU_ASSERT_EQUAL(b->csum_offset, a->csum_offset);
    vs_pkt_free(a);
    vs_pkt_free(b);
}

int main(void)
{
    CU_pSuite s;

    if (vs_pool_create(64, VS_PAGES_NONE, &pool) < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("virtio_offload", NULL, NULL);
    CU_add_test(s, "offload features and their dependencies", test_features);
    CU_add_test(s, "tx header from the frame's metadata", test_tx_header);
    CU_add_test(s, "rx header into the frame's metadata", test_rx_header);
    CU_add_test(s, "round trip", test_round_trip);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    vs_pool_destroy(pool);
    return fails ? 1 : 0;
}
