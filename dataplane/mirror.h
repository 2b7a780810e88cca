/* Port mirroring: copies of the frames some ports receive and/or send, to another
 * port (an analyser VM, a TAP for tcpdump).
 *
 * A mirrored frame is shared by reference, not copied, and goes to the mirror
 * port's tx batch after the burst's own frames: a mirror port that is full, or a
 * batch that has no room left, drops the copy and counts it on the mirror (never
 * on the traffic it watches, which is neither slowed nor changed). A port that a
 * mirror sends to is no mirror's source, so copies are never mirrored again, and
 * floods leave it out, so that it sees the copies and nothing else (as the port of
 * an analyser should; its own frames are still switched). */
#ifndef VS_DATAPLANE_MIRROR_H
#define VS_DATAPLANE_MIRROR_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/port.h"

#define VS_MAX_MIRRORS 16
#define VS_MIRROR_RX 1
#define VS_MIRROR_TX 2

struct vs_mirror {
    bool used;
    char name[VS_PORT_NAME_MAX];
    uint16_t dst;
    uint8_t dir;                   /* VS_MIRROR_RX | VS_MIRROR_TX */
    uint16_t n_src;
    uint16_t src[VS_MAX_PORTS];
    uint64_t base_sent, base_dropped; /* the slot's counters when this mirror took it */
};

/* Published with RCU as a whole; NULL when there is no mirror. */
struct vs_mirror_table {
    struct vs_mirror m[VS_MAX_MIRRORS];
    uint16_t rx_mask[VS_MAX_PORTS]; /* per source port: the slots mirroring what it receives */
    uint16_t tx_mask[VS_MAX_PORTS]; /* ... and what it sends */
    bool is_dst[VS_MAX_PORTS];      /* a mirror's port: floods leave it out */
};

#endif
