/* The underlay of a VXLAN port: IPv4 datagrams in and out through the kernel, so
 * its routing, ARP and device MTUs are the kernel's. Batched: one recvmmsg per rx
 * burst, one sendmmsg per tx burst (more only after an error mid-batch).
 *
 * Receiving is a UDP socket bound to local_ip:dstport. Sending is a raw IPPROTO_UDP
 * socket bound to local_ip that takes the UDP header from us, because the source
 * port changes per inner flow (a UDP socket has one), which is what lets the
 * underlay's ECMP and RSS spread the flows. The kernel still routes, resolves and
 * writes the IP header. This is the only file that knows how datagrams travel: a
 * faster uplink (AF_XDP, a VFIO NIC) would replace it behind the same calls. */
#ifndef VS_PORTS_VXLAN_UNDERLAY_H
#define VS_PORTS_VXLAN_UNDERLAY_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define VS_VX_TX_MSGS 64 /* datagrams per sendmmsg */

struct vs_vx_underlay {
    int rx_fd, tx_fd;
    uint32_t local_ip; /* network order */
    uint16_t dstport;
    uint32_t mtu; /* of the device that holds local_ip */
    char ifname[IF_NAMESIZE];
};

/* One received datagram: its UDP payload went to buf (room bytes). */
struct vs_vx_rx {
    uint8_t *buf;
    uint32_t room;
    uint32_t len;    /* the payload's length (beyond room when truncated) */
    uint32_t src_ip; /* network order */
    bool truncated;
};

/* One datagram to send: UDP header and payload gathered from iov. */
struct vs_vx_tx {
    const struct iovec *iov;
    unsigned niov;
    uint32_t dst_ip; /* network order */
};

/* Binds both sockets to local_ip (network order); learns the MTU of the device that
 * holds it. 0 or -errno with msg (what failed, and the fix). */
int vs_vx_underlay_open(struct vs_vx_underlay *u, uint32_t local_ip, uint16_t dstport, char *msg,
                        size_t msglen);
void vs_vx_underlay_close(struct vs_vx_underlay *u);
/* Receives up to n datagrams without waiting. Count, or -errno (other than EAGAIN). */
int vs_vx_underlay_recv(struct vs_vx_underlay *u, struct vs_vx_rx *d, unsigned n);
/* Sends d[0..n) in order. Returns how many the kernel took before its queue was
 * full (EAGAIN/ENOBUFS); a datagram the kernel refuses for another reason (no
 * route, EMSGSIZE) is skipped and counted in *errors, its errno in *last_err. */
unsigned vs_vx_underlay_send(struct vs_vx_underlay *u, const struct vs_vx_tx *d, unsigned n,
                             uint64_t *errors, int *last_err);
/* The fd that becomes readable when datagrams wait. */
static inline int vs_vx_underlay_fd(const struct vs_vx_underlay *u) { return u->rx_fd; }

#endif
