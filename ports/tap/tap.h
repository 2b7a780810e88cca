/* TAP ports: a kernel TAP device (IFF_TAP | IFF_NO_PI), so that the host stack or a
 * network namespace joins the switch. One rx and one tx queue. A TAP device costs
 * one read() or write() per frame: it is for hosts, namespaces and tests, not for
 * line rate; with offloads (IFF_VNET_HDR, the default) a frame may be a 64 KB TCP
 * segment, which makes it fast enough for TCP between namespaces.
 *
 * Options: ifname (required), offloads=on|off, mtu (68..9198, set on the device).
 * Frames longer than a small buffer are read into a large one from the pool's
 * companion (the port keeps one at hand), in the same readv. */
#ifndef VS_PORTS_TAP_H
#define VS_PORTS_TAP_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_tap_ops;

#endif
