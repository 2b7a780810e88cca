/* The VXLAN port type (RFC 7348): a trunk of the VLANs in its vni_map, carried to
 * remote VTEPs over an IPv4 underlay. */
#ifndef VS_PORTS_VXLAN_VXLAN_H
#define VS_PORTS_VXLAN_VXLAN_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_vxlan_ops;

#endif
