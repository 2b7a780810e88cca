#include "ports/vxlan/underlay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vswitch/compiler.h"

/* The device holding ip, and its MTU. 0 or -EADDRNOTAVAIL. */
static int device_of(uint32_t ip, char *ifname, uint32_t *mtu)
{
    struct ifaddrs *ifa, *i;
    int rc = -EADDRNOTAVAIL;

    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
            ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr != ip)
            continue;
        struct ifreq ifr = {0};
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        snprintf(ifname, IF_NAMESIZE, "%s", i->ifa_name);
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", i->ifa_name);
        if (s >= 0 && ioctl(s, SIOCGIFMTU, &ifr) == 0) {
            *mtu = (uint32_t)ifr.ifr_mtu;
            rc = 0;
        } else {
            rc = -errno;
        }
        if (s >= 0)
            close(s);
        break;
    }
    freeifaddrs(ifa);
    return rc;
}

int vs_vx_underlay_open(struct vs_vx_underlay *u, uint32_t local_ip, uint16_t dstport, char *msg,
                        size_t msglen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = local_ip};
    /* The raw socket sees a copy of every UDP datagram of the host: it never reads
     * them, so a filter drops them all before they are queued. */
    struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
    struct sock_fprog prog = {1, &drop_all};
    char ip[INET_ADDRSTRLEN];
    int one = 1, buf = 4 << 20, rc;

    inet_ntop(AF_INET, &local_ip, ip, sizeof(ip));
    memset(u, 0, sizeof(*u));
    u->rx_fd = u->tx_fd = -1;
    u->local_ip = local_ip;
    u->dstport = dstport;
    if ((rc = device_of(local_ip, u->ifname, &u->mtu)) < 0) {
        snprintf(msg, msglen,
                 "local_ip: %s is not an address of this host (network namespace): add it to "
                 "the underlay interface first (ip addr add %s/24 dev IFNAME)",
                 ip, ip);
        return rc;
    }
    u->rx_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (u->rx_fd < 0) {
        rc = -errno;
        snprintf(msg, msglen, "cannot open a UDP socket: %s", strerror(-rc));
        goto fail;
    }
    setsockopt(u->rx_fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    sa.sin_port = htons(dstport);
    if (bind(u->rx_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        snprintf(msg, msglen,
                 "cannot bind UDP %s:%u: %s (a kernel VXLAN device or another port may hold "
                 "it: use another dstport or remove it)",
                 ip, dstport, strerror(-rc));
        goto fail;
    }
    u->tx_fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (u->tx_fd < 0) {
        rc = -errno;
        snprintf(msg, msglen, "cannot open a raw IPv4 socket: %s (needs CAP_NET_RAW)",
                 strerror(-rc));
        goto fail;
    }
    if (setsockopt(u->tx_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
        rc = -errno;
        snprintf(msg, msglen, "cannot filter the raw socket: %s", strerror(-rc));
        goto fail;
    }
    setsockopt(u->tx_fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    sa.sin_port = 0;
    if (bind(u->tx_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        snprintf(msg, msglen, "cannot bind a raw socket to %s: %s", ip, strerror(-rc));
        goto fail;
    }
    (void)one;
    return 0;
fail:
    vs_vx_underlay_close(u);
    return rc;
}

void vs_vx_underlay_close(struct vs_vx_underlay *u)
{
    if (u->rx_fd >= 0)
        close(u->rx_fd);
    if (u->tx_fd >= 0)
        close(u->tx_fd);
    u->rx_fd = u->tx_fd = -1;
}

int vs_vx_underlay_recv(struct vs_vx_underlay *u, struct vs_vx_rx *d, unsigned n)
{
    struct mmsghdr m[64];
    struct iovec iov[64];
    struct sockaddr_in src[64];
    int got;

    if (n > VS_ARRAY_SIZE(m))
        n = VS_ARRAY_SIZE(m);
    for (unsigned i = 0; i < n; i++) {
        iov[i] = (struct iovec){d[i].buf, d[i].room};
        m[i].msg_hdr = (struct msghdr){.msg_name = &src[i],
                                       .msg_namelen = sizeof(src[i]),
                                       .msg_iov = &iov[i],
                                       .msg_iovlen = 1};
    }
    got = recvmmsg(u->rx_fd, m, n, MSG_DONTWAIT | MSG_TRUNC, NULL);
    if (got < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    for (int i = 0; i < got; i++) {
        d[i].len = m[i].msg_len;
        d[i].truncated = (m[i].msg_hdr.msg_flags & MSG_TRUNC) || m[i].msg_len > d[i].room;
        d[i].src_ip = src[i].sin_addr.s_addr;
    }
    return got;
}

unsigned vs_vx_underlay_send(struct vs_vx_underlay *u, const struct vs_vx_tx *d, unsigned n,
                             uint64_t *errors, int *last_err)
{
    struct mmsghdr m[VS_VX_TX_MSGS];
    struct sockaddr_in dst[VS_VX_TX_MSGS];
    unsigned done = 0;

    while (done < n) {
        unsigned k = VS_MIN(n - done, VS_VX_TX_MSGS);
        int sent;

        for (unsigned i = 0; i < k; i++) {
            dst[i] =
                (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = d[done + i].dst_ip};
            m[i].msg_hdr = (struct msghdr){.msg_name = &dst[i],
                                           .msg_namelen = sizeof(dst[i]),
                                           .msg_iov = (struct iovec *)d[done + i].iov,
                                           .msg_iovlen = d[done + i].niov};
        }
        sent = sendmmsg(u->tx_fd, m, k, MSG_DONTWAIT);
        if (sent > 0) {
            done += (unsigned)sent;
            continue;
        }
        if (sent < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR))
            break;
        /* The first datagram of the batch was refused: skip it, go on. */
        (*errors)++;
        *last_err = sent < 0 ? errno : EIO;
        done++;
    }
    return done;
}
