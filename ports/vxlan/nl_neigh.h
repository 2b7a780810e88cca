/* Neighbour messages of rtnetlink, as FRR's zebra writes them to a shadow VXLAN
 * device and the kernel reports them: parsed without trust (bounded, every length
 * checked), so a message from the kernel or a hostile sender in the same
 * namespace cannot make the port read beyond what it received. */
#ifndef VS_PORTS_VXLAN_NL_NEIGH_H
#define VS_PORTS_VXLAN_NL_NEIGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_vx_neigh {
    bool add; /* RTM_NEWNEIGH, else RTM_DELNEIGH */
    int ifindex;
    uint8_t flags;  /* NTF_* */
    uint16_t state; /* NUD_* */
    bool has_mac, has_dst;
    uint8_t mac[6];
    uint32_t dst; /* IPv4, network order */
};

/* What one buffer of netlink messages held. */
struct vs_vx_nl_stats {
    unsigned messages, neigh, bad; /* bad: malformed messages or attributes */
    bool done;                     /* NLMSG_DONE seen (the end of a dump) */
    int error;                     /* an NLMSG_ERROR's errno, or 0 */
};

typedef void (*vs_vx_neigh_cb)(const struct vs_vx_neigh *n, void *arg);

/* Calls cb for every AF_BRIDGE neighbour message in buf[0..len). */
void vs_vx_nl_parse(const uint8_t *buf, size_t len, vs_vx_neigh_cb cb, void *arg,
                    struct vs_vx_nl_stats *st);

#endif
