/* The "vfio" port type: a PCI NIC bound to vfio-pci, driven by a polled
 * userspace driver picked from its vendor/device ID (Intel 82576 igb, modern
 * virtio-net-pci). Options: pci=0000:00:04.0 (required), queues=N (default 1),
 * mtu=N (68..9000, default 1500; past 2030 long frames need memory.large_buffers).
 * The port's tx_offloads are what the NIC takes: igb checksums (VS_OL_CSUM),
 * virtio-net whatever the device offers of CSUM, HOST_TSO4/6, HOST_ECN, HOST_USO.
 *
 * When the device goes away while the port runs (the kernel asks for it back on
 * unbind, or its registers read as all-ones), the port logs one error, sets
 * link_up = 0 and port->failed, stops touching the device and releases it after
 * an RCU grace period (so the unbind can finish); the daemon and the other ports
 * carry on. The switch then removes the failed port by itself (within a second);
 * once the device is back on vfio-pci, add-port brings it back. */
#ifndef VS_PORTS_VFIO_VFIO_PORT_H
#define VS_PORTS_VFIO_VFIO_PORT_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_vfio_ops;

#endif
