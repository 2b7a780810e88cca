/* vhost-user-net ports: QEMU guests and DPDK virtio-user front-ends over a UNIX socket. */
#ifndef VS_PORTS_VHOST_USER_H
#define VS_PORTS_VHOST_USER_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_vhost_user_ops;

#endif
