/* A VXLAN port's state, shared by its files (port.c: the ops and the data path;
 * evpn.c: the kernel shadow and netlink). */
#ifndef VS_PORTS_VXLAN_PORT_H
#define VS_PORTS_VXLAN_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/vxlan/args.h"
#include "ports/vxlan/encap.h"
#include "ports/vxlan/station.h"
#include "ports/vxlan/underlay.h"
#include "ports/vxlan/vtep.h"
#include "vswitch/port.h"

#define VS_VX_STATIONS 16384 /* entries of the (VNI, MAC) → VTEP table */
/* Datagrams one tx_burst gathers before it sends: a burst of floods to a long
 * list is sent in several batches. */
#define VS_VX_TX_BATCH 256

/* Drop reasons of the port's own, beyond the decapsulation verdicts. */
enum vs_vx_drop {
    VS_VX_RX_BAD_VNI,   /* a VNI not in vni_map */
    VS_VX_RX_TRUNCATED, /* longer than a buffer: cut by the kernel */
    VS_VX_RX_NO_BUFFER,
    VS_VX_RX_ERRORS,        /* recvmmsg failed */
    VS_VX_TX_UNMAPPED,      /* untagged, or a VLAN not in vni_map */
    VS_VX_TX_TOO_BIG,       /* would exceed the underlay MTU */
    VS_VX_TX_NO_REMOTE,     /* a flood with an empty flood list */
    VS_VX_TX_SPLIT_HORIZON, /* a flood that came from a VTEP */
    VS_VX_TX_ERRORS,        /* a datagram the kernel refused (no route, ...) */
    VS_VX_N_DROPS
};

struct vs_vx_vni_rx {
    uint64_t packets, bytes;
};
struct vs_vx_vni_tx {
    uint64_t packets, bytes, flooded; /* flooded: datagrams of head-end replication */
};

struct vs_vx_evpn;

struct vs_vx {
    char name[VS_PORT_NAME_MAX];
    struct vs_vx_args a;
    struct vs_vx_underlay ul;
    uint16_t vlan_vni[4096]; /* VNI index + 1 of each VLAN, 0: not mapped */
    uint16_t max_inner;      /* longest inner frame (no tag) */
    struct vs_vx_vteps *vteps;
    struct vs_vx_stations *st;
    struct vs_vx_flood *flood; /* RCU: the tx side reads, the main thread swaps */
    struct vs_vx_flood_bits *flood_static, *flood_evpn; /* per VNI, main thread */
    struct vs_vx_vni_rx *vni_rx;
    struct vs_vx_vni_tx *vni_tx;
    uint64_t rx_verdict[VS_VXLAN_N_VERDICTS];
    uint64_t drops[VS_VX_N_DROPS];
    uint64_t rx_unknown_vtep; /* datagrams from a VTEP without a slot (table full) */
    bool logged[VS_VXLAN_N_VERDICTS + VS_VX_N_DROPS];
    int tx_last_err;
    int timer;
    struct vs_vx_evpn *evpn;
};

/* Publishes new flood lists from flood_static and flood_evpn (main thread). */
int vs_vx_flood_update(struct vs_vx *x);
/* Seconds of the port's clock (station ages). */
uint32_t vs_vx_now(void);

#endif
