/* The virtio-net header a TAP device with IFF_VNET_HDR puts before every frame,
 * and its translation to and from a packet's offload metadata (pkt.h's VS_OL_*,
 * which have the header's meaning), and the TUNSETOFFLOAD request that tells the
 * kernel which of them it may hand us.
 *
 * The header is the 12-byte virtio 1.0 layout (struct virtio_net_hdr_v1 with
 * num_buffers unused), little-endian. */
#ifndef VS_PORTS_TAP_VNET_HDR_H
#define VS_PORTS_TAP_VNET_HDR_H

#include <stdint.h>

#include "vswitch/pkt.h"

#define VS_TAP_VNET_HDR_LEN 12

struct vs_tap_vnet_hdr {
    uint8_t flags;    /* VIRTIO_NET_HDR_F_* */
    uint8_t gso_type; /* VIRTIO_NET_HDR_GSO_*, with the ECN bit */
    uint16_t hdr_len; /* little-endian, like the fields below */
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers; /* unused by TAP devices */
};
_Static_assert(sizeof(struct vs_tap_vnet_hdr) == VS_TAP_VNET_HDR_LEN,
               "virtio_net_hdr_v1 is 12 bytes");

/* Fills p's ol_flags, csum_start/offset, gso_size and hdr_len from h (every field
 * is written, so a reused buffer keeps nothing of its last frame). -EPROTO for a
 * GSO type we do not carry (UFO, or unknown): the frame must be dropped. Whether
 * the offsets fit the frame is the dataplane's check (vs_offload_check). */
int vs_tap_vnet_hdr_to_pkt(const struct vs_tap_vnet_hdr *h, struct vs_pkt *p);

/* The header for sending p: its requests as they are (the port advertised only
 * what the kernel takes), DATA_VALID for VS_OL_CSUM_VALID without VS_OL_CSUM. */
void vs_tap_vnet_hdr_from_pkt(const struct vs_pkt *p, struct vs_tap_vnet_hdr *h);

/* TUNSETOFFLOAD on the TAP fd with the requests in want (VS_OL_*): what the kernel
 * may then send us, and what we advertise as tx_offloads (it takes on write what it
 * sends). TSO needs CSUM, ECN needs TSO; USO (Linux >= 6.2) is dropped and the
 * request repeated when the kernel refuses it. Sets *got to what is in force. 0 or
 * -errno (then nothing is in force: the kernel computes every checksum). */
int vs_tap_set_offload(int fd, uint8_t want, uint8_t *got);

#endif
