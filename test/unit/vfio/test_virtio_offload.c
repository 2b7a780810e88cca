/* The virtio-net-pci driver's offload side: which offered features it takes and
 * the requests its TX queue then takes. (The header it writes and reads is the one
 * every virtio transport here shares: test_virtq_offload.) */
#include <CUnit/Basic.h>
#include <linux/virtio_net.h>
#include <string.h>

#include "ports/vfio/virtio_pci.h"
#include "ports/virtio/net_hdr.h"

#define B(bit) (1ull << (bit))
#define HOST_USO 56

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
    CU_ASSERT_EQUAL(vs_vnet_host_offloads(f),
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
    CU_ASSERT_EQUAL(vs_vnet_host_offloads(0), 0);
    CU_ASSERT_EQUAL(vs_vnet_host_offloads(B(VIRTIO_NET_F_GUEST_CSUM)), 0);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("virtio_offload", NULL, NULL);
    CU_add_test(s, "offload features and their dependencies", test_features);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
