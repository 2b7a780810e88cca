/* The af_xdp port's options, parsed without touching the system (validate and
 * --check-config use it as is). */
#ifndef VS_PORTS_AF_XDP_ARGS_H
#define VS_PORTS_AF_XDP_ARGS_H

#include <net/if.h>
#include <stdint.h>

#include "vswitch/pkt.h"
#include "vswitch/port.h"

/* The kernel puts a received frame 256 bytes (XDP_PACKET_HEADROOM) past the
 * address the fill ring gave it; the port gives each buffer's buf[0], so a frame
 * starts at data_off 256 and has the rest of the buffer: 1920 bytes. */
#define VS_XDP_RX_HEADROOM 256
#define VS_XDP_CHUNK (VS_PKT_HEADROOM + VS_PKT_DATA_ROOM)
#define VS_XDP_FRAME_MAX (VS_XDP_CHUNK - VS_XDP_RX_HEADROOM)
#define VS_XDP_MTU_MAX (VS_XDP_FRAME_MAX - VS_ETH_OVERHEAD)
#define VS_XDP_MAX_QUEUES VS_PORT_MAX_QUEUES

enum vs_xdp_mode { VS_XDP_MODE_AUTO, VS_XDP_MODE_NATIVE, VS_XDP_MODE_GENERIC };
enum vs_xdp_zc { VS_XDP_ZC_AUTO, VS_XDP_ZC_ON, VS_XDP_ZC_OFF };

struct vs_xdp_args {
    char ifname[IF_NAMESIZE];
    unsigned queues;
    enum vs_xdp_mode mode;
    enum vs_xdp_zc zerocopy;
    uint16_t mtu; /* 0: keep the interface's */
};

extern const char *const vs_xdp_keys[];

/* 0 or -EINVAL with err (which option, what is wrong, what would be right). */
int vs_xdp_args_parse(const struct vs_port_args *args, struct vs_xdp_args *out,
                      struct vs_port_err *err);
const char *vs_xdp_mode_name(enum vs_xdp_mode m);

#endif
