/* Modern virtio-net-pci (virtio 1.x §4.1 "Virtio Over PCI Bus") driven through
 * VFIO. The device's structures are found through vendor-specific PCI
 * capabilities; this header exposes the capability walk so that tests can feed
 * it a config space image. */
#ifndef VS_PORTS_VFIO_VIRTIO_PCI_H
#define VS_PORTS_VFIO_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/pkt.h"

struct vs_virtio_cap {
    bool present;
    uint8_t bar;
    uint32_t offset, length;
};

struct vs_virtio_caps {
    struct vs_virtio_cap common, notify, isr, device;
    uint32_t notify_off_multiplier;
};

/* Walks the capability list of a 256-byte config space image. Capabilities that
 * point outside the image, loop, or name a BAR >= 6 are ignored. Returns 0 when
 * common, notify and device configuration were all found, else -ENODEV. */
int vs_virtio_pci_parse_caps(const uint8_t cfg[256], struct vs_virtio_caps *caps);

/* Offloads (virtio 1.x §5.1.6.2): which of the device's offered offload features
 * the driver takes, honouring their dependencies (HOST_TSO4/6 and HOST_USO need
 * CSUM, HOST_ECN needs a HOST_TSO). GUEST_CSUM is taken (received frames may then
 * carry NEEDS_CSUM / DATA_VALID); GUEST_TSO/UFO/USO never are: receive buffers
 * are one buffer each, without MRG_RXBUF. */
uint64_t vs_virtio_net_offload_features(uint64_t offered);
#endif
