/* The switch object: ports, pollers and the forwarding table, as the control
 * plane sees them. Every function here runs on the main thread. */
#ifndef VS_DATAPLANE_SWITCH_H
#define VS_DATAPLANE_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "vswitch/fdb.h"
#include "vswitch/port.h"

#define VS_MAX_POLLERS 64

/* Busy pollers spin; adaptive ones sleep on their queues' wait fds when idle, and
 * under light load nap between iterations (up to max_nap_us). */
enum vs_poll_mode { VS_POLL_ADAPTIVE, VS_POLL_BUSY };

/* Default and largest pollers.max_nap_us. */
#define VS_POLL_MAX_NAP_US 250
#define VS_POLL_MAX_NAP_LIMIT_US 10000

/* The mode's name in the configuration and in replies. */
static inline const char *vs_poll_mode_name(enum vs_poll_mode mode)
{
    return mode == VS_POLL_BUSY ? "busy" : "adaptive";
}

/* Why the dataplane dropped a frame (ports count their own reasons in show()).
 * The first four are counted on the ingress port, the others on the egress port
 * unless they say otherwise. */
enum vs_drop {
    VS_DROP_RUNT,         /* shorter than an Ethernet header */
    VS_DROP_BAD_SRC,      /* group (multicast/broadcast) source MAC */
    VS_DROP_FILTERED,     /* destination learned on the ingress port itself */
    VS_DROP_NO_DEST,      /* flood with no other port to go to */
    VS_DROP_TX_FULL,      /* the destination queue took fewer frames than offered */
    VS_DROP_LINK_DOWN,    /* the destination had no peer (link down) or was removed */
    VS_DROP_BAD_OFFLOAD,  /* offload requests that do not match the frame (ingress) */
    VS_DROP_OVERSIZE,     /* longer than the port's MTU allows, with no GSO request to
                             cut it (ingress or egress) */
    VS_DROP_NO_BUFFERS,   /* the software fallback, or a VLAN tag change on a shared
                             or lent frame, found no buffer for its work */
    VS_DROP_VLAN_TAGGED,  /* a tagged frame on an access port (ingress) */
    VS_DROP_VLAN_NOT_ALLOWED, /* a VLAN the ingress port does not carry, an untagged
                                 frame on a trunk without native_vlan, or a unicast
                                 destination that does not carry the frame's VLAN
                                 (counted on the ingress port) */
    VS_DROP_SRC_NOT_ALLOWED,  /* a source MAC not in the port's allowed_macs (ingress) */
    VS_DROP_MAC_LIMIT,    /* a new source on a port that has its mac_limit (ingress) */
    VS_DROP_MAC_PINNED,   /* a source MAC static or pinned to another port (ingress) */
    VS_DROP_STORM_BCAST,  /* over the port's broadcast_limit_pps (ingress) */
    VS_DROP_STORM_MCAST,  /* over its multicast_limit_pps (ingress) */
    VS_DROP_STORM_UNKNOWN, /* unknown unicast over its unknown_unicast_limit_pps (ingress) */
    VS_DROP_POLICED,      /* over its ingress_rate (ingress) */
    VS_DROP__COUNT
};
const char *vs_drop_name(enum vs_drop d);

struct vs_port_counters {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t drops[VS_DROP__COUNT];
    /* Egress work done in software for a port that did not take the request. */
    uint64_t sw_segmented; /* GSO frames cut into segments */
    uint64_t sw_csum;      /* checksums completed */
};

struct vs_switch_params {
    unsigned n_pollers;
    int cpus[VS_MAX_POLLERS];
    enum vs_poll_mode mode;
    unsigned max_nap_us; /* adaptive mode: see poller.c */
    uint32_t fdb_size;
    uint32_t fdb_aging;
    struct vs_pool *pool;
};

struct vs_switch;

int vs_switch_create(const struct vs_switch_params *params, struct vs_switch **out);
/* Starts the pollers and the FDB aging timer. 0 or -errno. */
int vs_switch_start(struct vs_switch *sw);
/* Stops pollers, closes every port, frees everything. */
void vs_switch_destroy(struct vs_switch *sw);

/* Adds a port and gives its rx queues to pollers. Other ports' traffic carries on.
 * Returns 0, -EEXIST (name taken), -ENOSPC, -ENOENT (unknown type), -ENOMEM, or the
 * port's error with err filled. */
int vs_switch_add_port(struct vs_switch *sw, const char *name, const char *type,
                       const struct vs_port_args *args, struct vs_port_err *err);
/* Changes the switch's settings of a running port (the keys of port_conf.h; an
 * empty value resets a key): published with RCU, so no poller pauses and other
 * ports' traffic carries on. 0, -ENOENT, -EINVAL (err names the argument) or
 * -ENOMEM; the port keeps its old settings on failure. */
int vs_switch_set_port(struct vs_switch *sw, const char *name, const struct vs_port_args *args,
                       struct vs_port_err *err);
/* Removes a port: its queues leave the pollers, a grace period passes, it closes,
 * and its FDB entries go. 0, -ENOENT, or -ENOMEM (the port stays as it was). */
int vs_switch_del_port(struct vs_switch *sw, const char *name);

/* Queries for the control plane. */
unsigned vs_switch_port_count(const struct vs_switch *sw);
/* JSON objects in the shapes the control protocol documents. */
json_t *vs_switch_port_summary(struct vs_switch *sw, const char *name); /* NULL: no such port */
json_t *vs_switch_port_show(struct vs_switch *sw, const char *name);
json_t *vs_switch_list_ports(struct vs_switch *sw);
json_t *vs_switch_pollers(struct vs_switch *sw);
json_t *vs_switch_fdb_show(struct vs_switch *sw);
/* A static entry (vlan, mac) → port name: never aged, never moved by learning, gone
 * with the port. 0, -ENOENT (no such port), -EINVAL (a group MAC or a VLAN over
 * 4095) or -ENOSPC (both of its buckets hold only static entries). */
int vs_switch_fdb_add(struct vs_switch *sw, uint16_t vlan, const uint8_t mac[6], const char *name);
/* Mirrors (mirror.h): copies of what the ports srcs receive (dir VS_MIRROR_RX = 1),
 * send (VS_MIRROR_TX = 2) or both, to port dst. 0, or -EINVAL/-ENOENT/-EEXIST/
 * -ENOSPC/-ENOMEM with err saying what is wrong. A port's removal removes the
 * mirrors that use it. */
int vs_switch_mirror_add(struct vs_switch *sw, const char *name, const char *const *srcs,
                         unsigned n_src, unsigned dir, const char *dst, char *err, size_t errlen);
/* 0 or -ENOENT (-ENOMEM: nothing changed). */
int vs_switch_mirror_del(struct vs_switch *sw, const char *name);
/* {"mirrors":[{"name","src":[port...],"dir","dst","mirrored","dropped"}]} */
json_t *vs_switch_mirror_list(struct vs_switch *sw);
/* Removes the entry of (vlan, mac), static or learned. 0 or -ENOENT. */
int vs_switch_fdb_del(struct vs_switch *sw, uint16_t vlan, const uint8_t mac[6]);
/* Flushes all learned entries, or one port's (name != NULL); static entries stay.
 * Returns the count or -ENOENT. */
int vs_switch_fdb_flush(struct vs_switch *sw, const char *name);
/* Entries in the forwarding table and its capacity. */
void vs_switch_fdb_usage(const struct vs_switch *sw, uint32_t *count, uint32_t *capacity);
/* Counters of one port summed over pollers. 0 or -ENOENT. */
int vs_switch_port_counters(struct vs_switch *sw, const char *name, struct vs_port_counters *out);

#endif
