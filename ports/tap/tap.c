#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ports/tap/tap.h"
#include "ports/tap/tun_offload.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/log.h"
#include "vswitch/offload.h"

/* Where a frame longer than a small buffer lands when no large buffer is at hand:
 * read whole (the kernel has no other way to take it off the queue) and dropped.
 * Longer than any frame a TAP device hands over (a 64 KiB GSO frame with its
 * Ethernet and VLAN headers), so a frame that fills it is one we cannot hold. */
#define TAP_SCRATCH_LEN VS_PKT_LARGE_DATA_ROOM

/* The largest MTU a TAP port takes: a 9216-byte jumbo frame with one VLAN tag (the
 * switch's jumbo size); with offloads the kernel hands over 64 KB segments anyway.
 * Without large buffers (memory.large_buffers: 0) a frame must fit a small one. */
#define TAP_MTU_MAX (9216 - VS_ETH_OVERHEAD)
#define TAP_MTU_MAX_SMALL (VS_PKT_DATA_ROOM - VS_ETH_OVERHEAD)

struct tap {
    int fd;
    char ifname[IFNAMSIZ];
    uint8_t hdr_sz;        /* VS_VNET_HDR_LEN with offloads, else 0 */
    uint8_t rx_allowed;    /* what the kernel's header may ask: tx_offloads + CSUM_VALID */
    struct vs_pool *large; /* the pool's companion of large buffers, or NULL */
    struct vs_pkt *spill;  /* a large buffer ready for the next long frame */
    uint8_t *scratch;      /* TAP_SCRATCH_LEN bytes: a long frame with no spill */
    uint64_t rx_errors, tx_errors;
    uint64_t rx_oversize;  /* longer than any buffer of ours */
    uint64_t rx_no_buffer; /* longer than a small buffer, no large one free */
    uint64_t rx_bad_hdr;   /* a vnet header we cannot translate */
    bool rx_err_logged, tx_err_logged, rx_long_logged, rx_hdr_logged;
};

static const char *const tap_keys[] = {"ifname", "mtu", "offloads", NULL};

struct tap_args {
    const char *ifname;
    uint16_t mtu;
    bool offloads;
};

static int tap_parse(const struct vs_port_args *args, struct tap_args *a, struct vs_port_err *err)
{
    int idx, rc;
    const char *ifname;

    if ((rc = vs_port_args_check_keys(args, tap_keys, err)) < 0)
        return rc;
    ifname = vs_port_args_get(args, "ifname", &idx);
    if (!ifname) {
        vs_port_err_set(err, -1,
                        "missing option 'ifname' (the TAP device name, e.g. ifname=vs-tap0)");
        return -EINVAL;
    }
    if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') || strchr(ifname, ' ') ||
        strchr(ifname, '%')) {
        vs_port_err_set(err, idx,
                        "ifname: '%s' is not a valid interface name (1 to %d characters, no '/', "
                        "' ' or '%%')",
                        ifname, IFNAMSIZ - 1);
        return -EINVAL;
    }
    a->ifname = ifname;
    if ((rc = vs_port_args_mtu(args, TAP_MTU_MAX, &a->mtu, err)) < 0)
        return rc;
    return vs_port_args_bool(args, "offloads", true, &a->offloads, err);
}

static int tap_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    struct tap_args a;

    return tap_parse(args, &a, err);
}

/* SIOCSIFFLAGS/SIOCSIFMTU go through any socket of the device's namespace. */
static int if_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

    if (s < 0)
        return -errno;
    snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
    if (ioctl(s, req, ifr) < 0)
        rc = -errno;
    close(s);
    return rc;
}

static int set_up(const char *ifname)
{
    struct ifreq ifr = {0};
    int rc = if_ioctl(ifname, SIOCGIFFLAGS, &ifr);

    if (rc < 0 || (ifr.ifr_flags & IFF_UP))
        return rc;
    ifr.ifr_flags |= IFF_UP;
    return if_ioctl(ifname, SIOCSIFFLAGS, &ifr);
}

static int set_mtu(const char *ifname, uint16_t mtu)
{
    struct ifreq ifr = {.ifr_mtu = mtu};

    return if_ioctl(ifname, SIOCSIFMTU, &ifr);
}

/* The most segments the kernel puts in one frame it hands us (RTM_NEWLINK with
 * IFLA_GSO_MAX_SEGS). 0 or -errno. */
static int set_gso_max_segs(const char *ifname, uint32_t segs)
{
    struct ifreq ifr = {0};
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
        struct rtattr rta;
        uint32_t segs;
    } req = {0};
    struct {
        struct nlmsghdr nh;
        struct nlmsgerr err;
    } ack;
    ssize_t n;
    int s, rc;

    if ((rc = if_ioctl(ifname, SIOCGIFINDEX, &ifr)) < 0)
        return rc;
    req.nh.nlmsg_len = sizeof(req);
    req.nh.nlmsg_type = RTM_NEWLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.nh.nlmsg_seq = 1;
    req.ifi.ifi_family = AF_UNSPEC;
    req.ifi.ifi_index = ifr.ifr_ifindex;
    req.rta.rta_type = IFLA_GSO_MAX_SEGS;
    req.rta.rta_len = RTA_LENGTH(sizeof(req.segs));
    req.segs = segs;
    if ((s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0)
        return -errno;
    if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        rc = -errno;
    else if ((n = recv(s, &ack, sizeof(ack), 0)) < 0)
        rc = -errno;
    else if (n < (ssize_t)sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
        rc = -EPROTO;
    else
        rc = ack.err.error; /* 0 or -errno */
    close(s);
    return rc;
}

static void tap_free(struct tap *t)
{
    if (t->fd >= 0)
        close(t->fd); /* a non-persistent TAP device disappears with its last fd */
    if (t->spill)
        vs_pkt_free(t->spill);
    free(t->scratch);
    free(t);
}

/* Vnet headers and the offloads the kernel may hand us, which are also those we
 * take on tx: the kernel accepts on write whatever it would send. */
static int setup_offloads(struct vs_port *port, struct tap *t, struct vs_port_err *err)
{
    uint8_t want = VS_OL_REQUESTS, got;
    int sz = VS_VNET_HDR_LEN, rc;

    if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "%s: TUNSETVNETHDRSZ %d: %s", t->ifname, sz, strerror(-rc));
        return rc;
    }
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    /* The header is little-endian (virtio 1.0); the kernel assumes native order
     * for a legacy header unless told. */
    int le = 1;
    if (ioctl(t->fd, TUNSETVNETLE, &le) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "%s: TUNSETVNETLE: %s", t->ifname, strerror(-rc));
        return rc;
    }
#endif
    t->hdr_sz = VS_VNET_HDR_LEN;
    if (!t->large) {
        /* A segment the kernel leaves to us could not be read whole. */
        want = VS_OL_CSUM;
        vs_info("port %s: no large buffers (memory.large_buffers is 0): checksum offload "
                "only, the kernel segments TCP itself",
                port->name);
    }
    if ((rc = vs_tap_set_offload(t->fd, want, &got)) < 0) {
        vs_port_err_set(err, -1, "%s: TUNSETOFFLOAD: %s (offloads=off opens a plain TAP device)",
                        t->ifname, strerror(-rc));
        return rc;
    }
    if ((want & VS_OL_USO) && !(got & VS_OL_USO))
        vs_info("port %s: the kernel has no UDP segmentation offload (Linux >= 6.2): "
                "UDP is segmented by the kernel",
                port->name);
    /* A peer with a small MSS would otherwise get 64 KB frames of more segments
     * than the switch cuts (refused at ingress as bad_offload, and TCP crawls);
     * the kernel cuts longer ones itself first. */
    if ((got & VS_OL_GSO) && (rc = set_gso_max_segs(t->ifname, VS_OFFLOAD_MAX_SEGS)) < 0)
        vs_warn("port %s: cannot limit %s to %u segments per frame (IFLA_GSO_MAX_SEGS, "
                "Linux >= 5.19): %s; frames with more are dropped as bad_offload",
                port->name, t->ifname, VS_OFFLOAD_MAX_SEGS, strerror(-rc));
    VS_WRITE_ONCE(port->tx_offloads, got);
    /* The kernel's DATA_VALID is its word that it checked the checksums. */
    t->rx_allowed = got | VS_OL_CSUM_VALID;
    return 0;
}

static int tap_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct ifreq ifr = {0};
    struct tap_args a;
    struct tap *t;
    int rc;

    if ((rc = tap_parse(args, &a, err)) < 0)
        return rc;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->fd = -1;
    t->large = vs_pool_large(port->pool);
    snprintf(t->ifname, sizeof(t->ifname), "%s", a.ifname);
    if (a.mtu > TAP_MTU_MAX_SMALL && !t->large) {
        int idx = -1;

        vs_port_args_get(args, "mtu", &idx);
        vs_port_err_set(err, idx,
                        "mtu: %u needs large buffers (memory.large_buffers is 0); without them "
                        "the largest is %u",
                        a.mtu, TAP_MTU_MAX_SMALL);
        rc = -EINVAL;
        goto fail;
    }
    t->scratch = malloc(TAP_SCRATCH_LEN);
    if (!t->scratch) {
        rc = -ENOMEM;
        goto fail;
    }
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "cannot open /dev/net/tun: %s (load the tun module: modprobe tun)",
                        strerror(-rc));
        goto fail;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (a.offloads ? IFF_VNET_HDR : 0);
    memcpy(ifr.ifr_name, t->ifname, IFNAMSIZ);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1,
                        "cannot create TAP device '%s': %s (is the name taken by another device?)",
                        t->ifname, strerror(-rc));
        goto fail;
    }
    VS_WRITE_ONCE(port->tx_offloads, 0);
    if (a.offloads && (rc = setup_offloads(port, t, err)) < 0)
        goto fail;
    if ((rc = set_mtu(t->ifname, a.mtu)) < 0) {
        vs_port_err_set(err, -1, "%s: cannot set mtu %u (SIOCSIFMTU): %s", t->ifname, a.mtu,
                        strerror(-rc));
        goto fail;
    }
    port->mtu = a.mtu;
    if ((rc = set_up(t->ifname)) < 0)
        vs_warn("port %s: cannot set %s up: %s", port->name, t->ifname, strerror(-rc));
    port->priv = t;
    port->n_rxq = 1;
    port->n_txq = 1;
    VS_WRITE_ONCE(port->link_up, 1);
    return 0;
fail:
    tap_free(t);
    VS_WRITE_ONCE(port->tx_offloads, 0);
    return rc;
}

static void tap_close(struct vs_port *port)
{
    struct tap *t = port->priv;

    if (!t)
        return;
    tap_free(t);
    port->priv = NULL;
}

/* A frame longer than the small buffer p: its first `room` bytes are in p, the rest
 * went to the spill buffer behind the same offset. The spill becomes the frame
 * (2 KiB copied per up to 64 KiB read) and p goes back to the pool. */
static struct vs_pkt *take_spill(struct tap *t, struct vs_pkt *p, uint32_t room)
{
    struct vs_pkt *l = t->spill;

    vs_copy(vs_pkt_data(l), vs_pkt_data(p), room);
    l->ol_flags = p->ol_flags;
    l->csum_start = p->csum_start;
    l->csum_offset = p->csum_offset;
    l->gso_size = p->gso_size;
    l->hdr_len = p->hdr_len;
    vs_pkt_free(p);
    /* One lock per long frame, on the large pool's global stack. */
    t->spill = vs_pkt_alloc(t->large);
    return l;
}

static uint16_t tap_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct tap *t = port->priv;
    unsigned got = vs_pkt_alloc_bulk(port->pool, pkts, n);
    uint16_t rx = 0;

    /* Retried once per burst while the large pool is dry. */
    if (vs_unlikely(!t->spill) && t->large)
        t->spill = vs_pkt_alloc(t->large);
    while (rx < got) {
        struct vs_pkt *p = pkts[rx];
        uint32_t room = vs_pkt_tailroom(p);
        /* One readv per frame: the header into the headroom, the frame into p, and
         * what does not fit p into the spill, behind where p's part will be copied. */
        struct iovec v[2] = {{vs_pkt_data(p) - t->hdr_sz, t->hdr_sz + room},
                             {t->spill ? vs_pkt_data(t->spill) + room : t->scratch,
                              t->spill ? vs_pkt_tailroom(t->spill) - room : TAP_SCRATCH_LEN}};
        ssize_t len = readv(t->fd, v, 2);

        if (len < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                t->rx_errors++;
                vs_log_once(&t->rx_err_logged, VS_LOG_WARN, "port %s: read from %s: %s", port->name,
                            t->ifname, strerror(errno));
            }
            break;
        }
        len -= t->hdr_sz;
        if (len < 14) { /* not an Ethernet frame */
            t->rx_errors++;
            continue;
        }
        if (t->hdr_sz) {
            const uint8_t *h = vs_pkt_data(p) - t->hdr_sz;

            p->ol_flags = 0; /* a reused buffer keeps nothing of its last frame */
            if (vs_unlikely((h[0] | h[1]) && !vs_vnet_hdr_parse(h, t->rx_allowed, p))) {
                t->rx_bad_hdr++;
                vs_log_once(&t->rx_hdr_logged, VS_LOG_WARN,
                            "port %s: %s sent a frame whose virtio-net header (flags 0x%x, "
                            "GSO type %u) asks for what we never enabled: dropped (logged "
                            "once, counted in rx_bad_hdr)",
                            port->name, t->ifname, h[0], h[1]);
                continue;
            }
        }
        if (vs_unlikely((uint32_t)len > room)) {
            /* The kernel says how long the frame was even when it had to cut it. */
            if (!t->spill || (uint64_t)len >= (uint64_t)room + v[1].iov_len) {
                if (t->spill)
                    t->rx_oversize++;
                else
                    t->rx_no_buffer++;
                vs_log_once(&t->rx_long_logged, VS_LOG_WARN,
                            "port %s: %s sent a %zd-byte frame that %s: dropped (logged once, "
                            "counted in rx_oversize / rx_no_buffer)",
                            port->name, t->ifname, len,
                            t->spill ? "no buffer holds" : "needs a large buffer and none is free");
                continue;
            }
            p = pkts[rx] = take_spill(t, p, room);
        }
        p->len = (uint32_t)len;
        rx++;
    }
    if (rx < got)
        vs_pkt_free_bulk(&pkts[rx], got - rx);
    return rx;
}

static uint16_t tap_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct tap *t = port->priv;
    uint16_t tx = 0;

    for (; tx < n; tx++) {
        struct vs_pkt *p = pkts[tx];
        uint32_t head = vs_pkt_head_len(p);
        uint8_t h[VS_VNET_HDR_LEN];
        /* A lent frame goes out as its private head and the rest from its peer. */
        struct iovec v[3] = {
            {h, t->hdr_sz}, {p->data, head}, {(void *)vs_pkt_tail(p), p->len - head}};
        int skip = t->hdr_sz ? 0 : 1;

        if (t->hdr_sz)
            vs_vnet_hdr_write(p, true, h);
        if (writev(t->fd, v + skip, (head < p->len ? 3 : 2) - skip) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break; /* the kernel queue is full: the caller drops and counts the rest */
            /* EIO while the device is down, for one: the frame is gone either way. */
            t->tx_errors++;
            vs_log_once(&t->tx_err_logged, VS_LOG_WARN, "port %s: write to %s: %s", port->name,
                        t->ifname, strerror(errno));
        }
    }
    vs_pkt_free_bulk(pkts, tx);
    return tx;
}

/* The TAP fd itself is readable when a frame waits: an idle poller sleeps on it. */
static int tap_rx_wait_fd(struct vs_port *port, uint16_t q)
{
    return ((struct tap *)port->priv)->fd;
}

/* mtu and the offloads in force (tx_offloads: what the kernel took) are in every
 * port's show; vnet_hdr says whether the device was opened with offloads at all. */
static void tap_show(struct vs_port *port, json_t *out)
{
    struct tap *t = port->priv;

    json_object_set_new(out, "ifname", json_string(t->ifname));
    json_object_set_new(out, "vnet_hdr", json_boolean(t->hdr_sz != 0));
    json_object_set_new(out, "rx_errors", json_integer((json_int_t)t->rx_errors));
    json_object_set_new(out, "rx_oversize", json_integer((json_int_t)t->rx_oversize));
    json_object_set_new(out, "rx_no_buffer", json_integer((json_int_t)t->rx_no_buffer));
    json_object_set_new(out, "rx_bad_hdr", json_integer((json_int_t)t->rx_bad_hdr));
    json_object_set_new(out, "tx_errors", json_integer((json_int_t)t->tx_errors));
}

const struct vs_port_ops vs_port_tap_ops = {
    .type = "tap",
    .keys = tap_keys,
    .validate = tap_validate,
    .open = tap_open,
    .close = tap_close,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .show = tap_show,
    .rx_wait_fd = tap_rx_wait_fd,
};
