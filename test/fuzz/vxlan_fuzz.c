/* libFuzzer target: what a VXLAN port does with a datagram from the underlay
 * (ports/vxlan/encap.c), as a hostile VTEP sends it, and with netlink neighbour
 * messages (ports/vxlan/nl_neigh.c), as a hostile process in its namespace could
 * write them. Inputs are heap blocks of exactly their length, so AddressSanitizer
 * reports any read beyond them.
 *
 * Input: u8 selector; bit 0 set: the rest is a buffer of netlink messages (every
 * neighbour reported has a MAC and a destination only when the attributes were
 * there, and no more are reported than the buffer holds headers); clear:
 *   u16 max_inner  the longest inner frame the port takes (little-endian)
 *   u16 vlan       the VLAN its VNI maps to (12 bits; 0: untagged)
 *   rest           the UDP payload
 * Checks: a datagram the check accepts is at least a VXLAN header and an Ethernet
 * header long, its inner frame at most max_inner, untagged, from a unicast source,
 * and its VNI 24 bits; pushing the tag gives a frame of len - 4 bytes whose VLAN
 * is vlan and whose addresses and payload are the inner frame's; the source port
 * hash of any prefix stays in the dynamic range. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ports/vxlan/encap.h"
#include "ports/vxlan/nl_neigh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_neigh(const struct vs_vx_neigh *n, void *arg)
{
    (*(unsigned *)arg)++;
    if (n->ifindex <= 0)
        abort();
}

static void fuzz_netlink(const uint8_t *data, size_t size)
{
    uint8_t *b = malloc(size ? size : 1);
    struct vs_vx_nl_stats st = {0};
    unsigned n = 0;

    if (!b)
        abort();
    memcpy(b, data, size);
    vs_vx_nl_parse(b, size, on_neigh, &n, &st);
    if (n != st.neigh || st.messages * 16 > size)
        abort();
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t max_inner, vlan;
    uint32_t vni = UINT32_MAX;
    uint8_t *d, *copy;
    size_t len;
    bool tagged;

    if (size < 1)
        return 0;
    if (data[0] & 1) {
        fuzz_netlink(data + 1, size - 1);
        return 0;
    }
    data++;
    size--;
    if (size < 4)
        return 0;
    max_inner = (uint16_t)(data[0] | data[1] << 8);
    vlan = (uint16_t)((data[2] | data[3] << 8) & 0xfff);
    len = size - 4;
    d = malloc(len ? len : 1);
    copy = malloc(len ? len : 1);
    if (!d || !copy)
        abort();
    memcpy(d, data + 4, len);
    memcpy(copy, d, len);
    if (vs_vxlan_src_port(d, len) < VS_VXLAN_SPORT_MIN)
        abort();
    if (vs_vxlan_decap_check(d, len, max_inner, &vni) == VS_VXLAN_OK) {
        const uint8_t *in = copy + VS_VXLAN_HLEN;
        uint8_t *f;

        if (len < VS_VXLAN_HLEN + VS_VXLAN_ETH_HLEN || len - VS_VXLAN_HLEN > max_inner ||
            vni > VS_VXLAN_VNI_MAX || (in[6] & 1) || (in[12] == 0x81 && in[13] == 0))
            abort();
        f = vs_vxlan_decap_tag(d, vlan);
        if (f != d + 4 || vs_vxlan_frame_vlan(f, len - 4, &tagged) != vlan || !tagged)
            abort();
        if (memcmp(f, in, 12) || memcmp(f + 16, in + 12, len - VS_VXLAN_HLEN - 12))
            abort();
        if (vs_vxlan_src_port(f, len - 4) < VS_VXLAN_SPORT_MIN)
            abort();
    }
    free(d);
    free(copy);
    return 0;
}
