/* control: evpn. FRR's zebra learns and installs EVPN state through the kernel, so
 * the port mirrors itself in a kernel "shadow" per VNI that zebra sees: a bridge
 * vsb<VNI> with a VXLAN device vsv<VNI> (the VNI, local_ip, shadow_port, no
 * learning: the kernel never carries the port's traffic) and one end of a veth pair
 * vsa<VNI>/vsp<VNI> as its access port.
 *   local stations: the MACs the switch learned on its other ports in a mapped VLAN
 *     are written into the bridge's FDB on vsa<VNI> (and removed when the switch
 *     forgets them), so zebra advertises them (type-2 routes) and withdraws them;
 *   remote stations and flood lists: the entries zebra installs on vsv<VNI>
 *     (AF_BRIDGE neighbours with a destination; the all-zero MAC is the flood list,
 *     from type-3 routes) are read from netlink events and become the port's EVPN
 *     stations and flood list bits.
 * Everything here runs on the main thread. */
#ifndef VS_PORTS_VXLAN_EVPN_H
#define VS_PORTS_VXLAN_EVPN_H

#include "vswitch/fdb.h"
#include "vswitch/port.h"

struct vs_vx;

int vs_vx_evpn_open(struct vs_vx *x, struct vs_port_err *err);
void vs_vx_evpn_close(struct vs_vx *x);
void vs_vx_evpn_show(struct vs_vx *x, json_t *out);
/* The switch's table: entries of mapped VLANs on other ports are the local stations. */
void vs_vx_evpn_local(struct vs_vx *x, uint16_t port_id, const struct vs_fdb_entry *e, unsigned n);

#endif
