/* The options of a VXLAN port, parsed and checked without side effects. */
#ifndef VS_PORTS_VXLAN_ARGS_H
#define VS_PORTS_VXLAN_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/port.h"

#define VS_VX_MAX_VNIS 4094 /* one per VLAN of the switch */
#define VS_VX_MAX_STATIC 64 /* configured remotes */
#define VS_VX_ALL_VNIS UINT32_MAX
/* The largest inner MTU: a tagged frame must fit a small buffer. */
#define VS_VX_MTU_MAX (VS_PKT_DATA_ROOM - VS_ETH_OVERHEAD)
#define VS_VX_SHADOW_PORT 4790

struct vs_vx_args {
    uint32_t local_ip; /* network order */
    uint16_t dstport;
    uint16_t mtu; /* 0: the underlay device's MTU less the overhead */
    unsigned n_vni;
    uint32_t vni[VS_VX_MAX_VNIS];  /* sorted */
    uint16_t vlan[VS_VX_MAX_VNIS]; /* vlan[i] carries vni[i] */
    unsigned n_remote;
    struct {
        uint32_t ip;  /* network order */
        uint32_t vni; /* VS_VX_ALL_VNIS or one VNI of the map */
    } remote[VS_VX_MAX_STATIC];
    uint32_t aging;       /* seconds a learned station lives (0: forever) */
    bool evpn;            /* control: evpn */
    bool learning;        /* learn stations from datagrams (static control only) */
    uint16_t shadow_port; /* evpn: the UDP port of the kernel's shadow VXLAN devices */
};

extern const char *const vs_vx_keys[];

/* 0 or -EINVAL with err. */
int vs_vx_args_parse(const struct vs_port_args *args, struct vs_vx_args *a,
                     struct vs_port_err *err);
/* The index of vni in a's map, or -1. */
int vs_vx_args_vni_index(const struct vs_vx_args *a, uint32_t vni);

#endif
