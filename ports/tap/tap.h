/* TAP ports: a kernel TAP device (IFF_TAP | IFF_NO_PI), so that the host stack or a
 * network namespace joins the switch. One rx and one tx queue. A TAP device costs
 * one read() or write() per frame: it is for hosts, namespaces and tests, not for
 * line rate. */
#ifndef VS_PORTS_TAP_H
#define VS_PORTS_TAP_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_tap_ops;

#endif
