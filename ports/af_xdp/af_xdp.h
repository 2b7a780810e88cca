/* The "af_xdp" port type: a kernel netdev (a NIC that stays bound to its driver,
 * a veth into a container) switched through AF_XDP sockets, one per queue, whose
 * UMEM is the switch's own buffer pool: frames the kernel receives land in switch
 * buffers, frames from the pool go out without a copy. Options (args.h): ifname,
 * queues, mode, zerocopy, mtu.
 *
 * The port attaches one XDP program per interface through libxdp (its dispatcher
 * lets other XDP programs run next to it) that redirects the port's queues to
 * their sockets, and removes it on close. A program left behind by a vswitchd
 * that died is removed when a port on the same interface opens (or any af_xdp
 * port, for the other interfaces of the namespace). */
#ifndef VS_PORTS_AF_XDP_AF_XDP_H
#define VS_PORTS_AF_XDP_AF_XDP_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_af_xdp_ops;

#endif
