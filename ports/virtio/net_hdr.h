/* The virtio-net header's offload fields and the features behind them (virtio 1.x,
 * 5.1.3 and 5.1.6), translated to and from a packet's offload metadata (pkt.h).
 *
 * The driver's TX header is hostile input: a request is taken only when the device
 * offered the feature it needs and the driver negotiated it; anything else refuses
 * the frame (the ring code drops and counts it). What the requests say about the
 * frame (offsets, sizes) is checked later by vs_offload_check, on every frame that
 * carries requests, before anyone acts on them. */
#ifndef VS_PORTS_VIRTIO_NET_HDR_H
#define VS_PORTS_VIRTIO_NET_HDR_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <linux/virtio_net.h>

#include "vswitch/pkt.h"

/* Newer than some distributions' linux/virtio_net.h (spec 5.1.3). */
#define VS_VIRTIO_NET_F_GUEST_USO4 54
#define VS_VIRTIO_NET_F_GUEST_USO6 55
#define VS_VIRTIO_NET_F_HOST_USO 56
#define VS_VIRTIO_NET_HDR_GSO_UDP_L4 5

#define VS_VNET_BIT(b) (1ull << (b))

/* The offload features a device side offers (offloads=on). */
#define VS_VNET_OFFLOAD_FEATURES                                                                   \
    (VS_VNET_BIT(VIRTIO_NET_F_CSUM) | VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM) |                       \
     VS_VNET_BIT(VIRTIO_NET_F_HOST_TSO4) | VS_VNET_BIT(VIRTIO_NET_F_HOST_TSO6) |                   \
     VS_VNET_BIT(VIRTIO_NET_F_GUEST_TSO4) | VS_VNET_BIT(VIRTIO_NET_F_GUEST_TSO6) |                 \
     VS_VNET_BIT(VIRTIO_NET_F_HOST_ECN) | VS_VNET_BIT(VIRTIO_NET_F_GUEST_ECN) |                    \
     VS_VNET_BIT(VS_VIRTIO_NET_F_HOST_USO) | VS_VNET_BIT(VS_VIRTIO_NET_F_GUEST_USO4) |             \
     VS_VNET_BIT(VS_VIRTIO_NET_F_GUEST_USO6))

/* What a device side offers with offloads=on but without large buffers
 * (memory.large_buffers: 0): a segment could neither be taken from the driver nor
 * handed to it, so the checksum offloads only. */
#define VS_VNET_OFFLOAD_FEATURES_SMALL                                                             \
    (VS_VNET_BIT(VIRTIO_NET_F_CSUM) | VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM))

/* The requests the driver may make on its TX queue with features negotiated. */
static inline uint8_t vs_vnet_host_offloads(uint64_t f)
{
    uint8_t ol = 0;

    if (f & VS_VNET_BIT(VIRTIO_NET_F_CSUM))
        ol |= VS_OL_CSUM;
    if (f & VS_VNET_BIT(VIRTIO_NET_F_HOST_TSO4))
        ol |= VS_OL_TSO4;
    if (f & VS_VNET_BIT(VIRTIO_NET_F_HOST_TSO6))
        ol |= VS_OL_TSO6;
    if (f & VS_VNET_BIT(VS_VIRTIO_NET_F_HOST_USO))
        ol |= VS_OL_USO;
    if (f & VS_VNET_BIT(VIRTIO_NET_F_HOST_ECN))
        ol |= VS_OL_ECN;
    return ol;
}

/* The requests the driver takes in its RX header (a port's tx_offloads). Segments
 * and ECN only along with what the spec makes them depend on: a large segment
 * arrives with a partial checksum (GUEST_CSUM), ECN only with TCP segmentation, and
 * UDP segments of either IP version (one VS_OL_USO for both). */
static inline uint8_t vs_vnet_guest_offloads(uint64_t f)
{
    uint8_t ol = 0;

    if (!(f & VS_VNET_BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return 0;
    ol |= VS_OL_CSUM;
    if (f & VS_VNET_BIT(VIRTIO_NET_F_GUEST_TSO4))
        ol |= VS_OL_TSO4;
    if (f & VS_VNET_BIT(VIRTIO_NET_F_GUEST_TSO6))
        ol |= VS_OL_TSO6;
    if ((f & VS_VNET_BIT(VS_VIRTIO_NET_F_GUEST_USO4)) &&
        (f & VS_VNET_BIT(VS_VIRTIO_NET_F_GUEST_USO6)))
        ol |= VS_OL_USO;
    if ((f & VS_VNET_BIT(VIRTIO_NET_F_GUEST_ECN)) && (ol & (VS_OL_TSO4 | VS_OL_TSO6)))
        ol |= VS_OL_ECN;
    return ol;
}

/* The header every transport here uses: struct virtio_net_hdr_v1 (num_buffers
 * present), little-endian. The device side also meets the 10-byte legacy one. */
#define VS_VNET_HDR_LEN 12

/* Fills p's offload metadata from a peer's header (hdr_len 10 or 12 bytes,
 * little-endian: VERSION_1, or a legacy driver on this little-endian host): a
 * driver's TX header on the device side, a device's RX header on the driver side, a
 * TAP device's. allowed: the requests the peer may make (vs_vnet_host_offloads() of
 * the negotiated features on the device side), plus VS_OL_CSUM_VALID when the peer's
 * DATA_VALID counts: a device's or the kernel's does, a driver's never (it is the
 * device's to set, 5.1.6.2.1), so there it is ignored. Returns false when the header
 * asks for something not allowed or unknown (the frame must be dropped). */
static inline bool vs_vnet_hdr_parse(const uint8_t *h, uint8_t allowed, struct vs_pkt *p)
{
    uint8_t flags = h[0], gso = h[1];
    uint8_t ol = 0;

    if (flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        return false;
    if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        ol |= VS_OL_CSUM;
        memcpy(&p->csum_start, h + 6, 2);
        memcpy(&p->csum_offset, h + 8, 2);
    } else if ((flags & VIRTIO_NET_HDR_F_DATA_VALID) && (allowed & VS_OL_CSUM_VALID)) {
        ol |= VS_OL_CSUM_VALID;
    }
    switch (gso & ~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE: break;
    case VIRTIO_NET_HDR_GSO_TCPV4: ol |= VS_OL_TSO4; break;
    case VIRTIO_NET_HDR_GSO_TCPV6: ol |= VS_OL_TSO6; break;
    case VS_VIRTIO_NET_HDR_GSO_UDP_L4: ol |= VS_OL_USO; break;
    default: /* UFO (never offered) and unknown types */ return false;
    }
    if (gso & VIRTIO_NET_HDR_GSO_ECN) {
        if (!(ol & (VS_OL_TSO4 | VS_OL_TSO6)))
            return false;
        ol |= VS_OL_ECN;
    }
    if (ol & VS_OL_GSO) {
        memcpy(&p->hdr_len, h + 2, 2);
        memcpy(&p->gso_size, h + 4, 2);
    }
    if (ol & ~allowed)
        return false;
    p->ol_flags = ol;
    return true;
}

/* The first 8 bytes of the RX header for p (flags, gso_type, hdr_len, gso_size,
 * csum_start, as they lie in memory) and, in *csum_offset, bytes 8..9. guest_csum:
 * the driver negotiated GUEST_CSUM (DATA_VALID means nothing to it otherwise). p's
 * requests are ones the driver negotiated (the switch hands a port only those in
 * its tx_offloads). */
static inline uint64_t vs_vnet_hdr_build(const struct vs_pkt *p, bool guest_csum,
                                         uint16_t *csum_offset)
{
    uint8_t h[8] = {0};
    uint8_t ol = p->ol_flags;
    uint64_t lo;

    *csum_offset = 0;
    if (ol & VS_OL_CSUM) {
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        memcpy(h + 6, &p->csum_start, 2);
        *csum_offset = p->csum_offset;
    } else if ((ol & VS_OL_CSUM_VALID) && guest_csum) {
        h[0] = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    if (ol & VS_OL_GSO) {
        h[1] = (ol & VS_OL_TSO4)   ? VIRTIO_NET_HDR_GSO_TCPV4
               : (ol & VS_OL_TSO6) ? VIRTIO_NET_HDR_GSO_TCPV6
                                   : VS_VIRTIO_NET_HDR_GSO_UDP_L4;
        if (ol & VS_OL_ECN)
            h[1] |= VIRTIO_NET_HDR_GSO_ECN;
        memcpy(h + 2, &p->hdr_len, 2);
        memcpy(h + 4, &p->gso_size, 2);
    }
    memcpy(&lo, h, 8);
    return lo;
}

/* The whole header for p with num_buffers 0 (a TAP device's, a virtio NIC's TX
 * header): a function of p's metadata alone, so a frame flooded to several peers
 * gets the same bytes from each. data_valid: the peer takes DATA_VALID. */
static inline void vs_vnet_hdr_write(const struct vs_pkt *p, bool data_valid,
                                     uint8_t h[VS_VNET_HDR_LEN])
{
    uint16_t csum_offset;
    uint64_t lo = vs_vnet_hdr_build(p, data_valid, &csum_offset);

    memcpy(h, &lo, 8);
    memcpy(h + 8, &csum_offset, 2);
    memset(h + 10, 0, 2);
}

/* Names of the offload features (show): the virtio feature names in lower case,
 * as QEMU's virtio-net properties spell them. NULL for other bits. */
const char *vs_vnet_offload_name(unsigned bit);

#endif
