/* TUNSETOFFLOAD: which offload requests (pkt.h's VS_OL_*) the kernel may hand a
 * TAP device opened with IFF_VNET_HDR in the virtio-net header before each frame
 * (ports/virtio/net_hdr.h translates it), and so which ones it takes on write. */
#ifndef VS_PORTS_TAP_TUN_OFFLOAD_H
#define VS_PORTS_TAP_TUN_OFFLOAD_H

#include <stdint.h>

#include "vswitch/pkt.h"

/* TUNSETOFFLOAD on the TAP fd with the requests in want (VS_OL_*): what the kernel
 * may then send us, and what we advertise as tx_offloads (it takes on write what it
 * sends). TSO needs CSUM, ECN needs TSO; USO (Linux >= 6.2) is dropped and the
 * request repeated when the kernel refuses it. Sets *got to what is in force. 0 or
 * -errno (then nothing is in force: the kernel computes every checksum). */
int vs_tap_set_offload(int fd, uint8_t want, uint8_t *got);

#endif
