/* The VDUSE port type: vswitchd implements a virtio-net device that the kernel
 * attaches to the vDPA bus; the host gets a netdev (virtio_vdpa) or a VM a
 * vhost-vdpa device (vhost_vdpa). */
#ifndef VS_PORTS_VDUSE_VDUSE_H
#define VS_PORTS_VDUSE_VDUSE_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_vduse_ops;

#endif
