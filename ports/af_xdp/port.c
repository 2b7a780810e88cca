#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <xdp/xsk.h>

#include "ports/af_xdp/af_xdp.h"
#include "ports/af_xdp/args.h"
#include "ports/af_xdp/prog.h"
#include "ports/af_xdp/xq.h"
#include "vswitch/log.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

/* Entries of each ring. The fill ring is kept full: that many buffers per queue
 * wait for the kernel, and as many may sit received on the RX ring while the
 * poller is busy elsewhere (in copy mode a TX kick runs the receiving side's
 * stack on the poller's cpu): a TCP sender's bursts fit. TX and completion
 * rings hold what the switch sends in a few bursts. */
#define RX_RING_SIZE 2048
#define TX_RING_SIZE 1024

struct xdp_queue {
    struct vs_xq q;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
};

struct af_xdp {
    struct vs_xdp_args a;
    int ifindex;
    bool zero_copy;
    struct vs_xq_area area;
    struct vs_xdp_prog *prog;
    unsigned n_queues;
    struct xdp_queue queues[VS_XDP_MAX_QUEUES];
};

static int af_xdp_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_xdp_args a;

    return vs_xdp_args_parse(args, &a, err);
}

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

/* The interface's RX queues: ethtool's channels, or its queues in sysfs for a
 * driver without them. */
static unsigned if_rx_queues(const char *ifname)
{
    struct ethtool_channels ch = {.cmd = ETHTOOL_GCHANNELS};
    struct ifreq ifr = {.ifr_data = (void *)&ch};
    char path[96];
    unsigned n = 0;

    if (!if_ioctl(ifname, SIOCETHTOOL, &ifr) && (ch.combined_count || ch.rx_count))
        return ch.combined_count + ch.rx_count;
    for (;; n++) {
        snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%u", ifname, n);
        if (access(path, F_OK))
            break;
    }
    return n ? n : 1;
}

/* The checks that need the system, each with the fix in its message. */
static int check_interface(struct vs_port *port, struct af_xdp *x, const struct vs_port_args *args,
                           struct vs_port_err *err)
{
    struct ifreq ifr = {0};
    unsigned nq;
    int rc, idx, s;

    x->ifindex = (int)if_nametoindex(x->a.ifname);
    if (!x->ifindex) {
        vs_port_err_set(err, -1,
                        "no interface '%s' in vswitchd's network namespace (ip link show %s; "
                        "a veth's other end or a NIC moved elsewhere is not here)",
                        x->a.ifname, x->a.ifname);
        return -ENODEV;
    }
    if ((rc = if_ioctl(x->a.ifname, SIOCGIFFLAGS, &ifr)) < 0) {
        vs_port_err_set(err, -1, "%s: SIOCGIFFLAGS: %s", x->a.ifname, strerror(-rc));
        return rc;
    }
    if (!(ifr.ifr_flags & IFF_UP)) {
        vs_port_err_set(err, -1, "interface %s is down: ip link set %s up", x->a.ifname,
                        x->a.ifname);
        return -ENETDOWN;
    }
    VS_WRITE_ONCE(port->link_up, !!(ifr.ifr_flags & IFF_RUNNING));
    nq = if_rx_queues(x->a.ifname);
    if (x->a.queues > nq) {
        vs_port_args_get(args, "queues", &idx);
        vs_port_err_set(err, idx,
                        "queues=%u but %s has %u RX queue%s: give it more (ethtool -L %s "
                        "combined %u) or ask for fewer",
                        x->a.queues, x->a.ifname, nq, nq == 1 ? "" : "s", x->a.ifname, x->a.queues);
        return -EINVAL;
    }
    if (x->a.mtu) {
        struct ifreq m = {.ifr_mtu = x->a.mtu};

        if ((rc = if_ioctl(x->a.ifname, SIOCSIFMTU, &m)) < 0) {
            vs_port_args_get(args, "mtu", &idx);
            vs_port_err_set(err, idx, "%s: cannot set mtu %u (SIOCSIFMTU): %s", x->a.ifname,
                            x->a.mtu, strerror(-rc));
            return rc;
        }
        port->mtu = x->a.mtu;
    } else {
        if ((rc = if_ioctl(x->a.ifname, SIOCGIFMTU, &ifr)) < 0)
            return rc;
        if (ifr.ifr_mtu > VS_XDP_MTU_MAX) {
            vs_port_err_set(err, -1,
                            "%s has mtu %d, more than an AF_XDP frame in a %u-byte chunk "
                            "holds: the largest that fits is %u (mtu=%u on the port, or ip link "
                            "set %s mtu %u)",
                            x->a.ifname, ifr.ifr_mtu, VS_XDP_CHUNK, VS_XDP_MTU_MAX, VS_XDP_MTU_MAX,
                            x->a.ifname, VS_XDP_MTU_MAX);
            return -EMSGSIZE;
        }
        port->mtu = (uint16_t)ifr.ifr_mtu;
    }
    /* A kernel without AF_XDP, or a process without the right to open one, is
     * best told before anything is attached. */
    s = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s < 0) {
        rc = -errno;
        if (rc == -EAFNOSUPPORT)
            vs_port_err_set(err, -1,
                            "this kernel has no AF_XDP sockets (Linux >= 4.18 built "
                            "with CONFIG_XDP_SOCKETS=y)");
        else if (rc == -EPERM || rc == -EACCES)
            vs_port_err_set(err, -1,
                            "cannot open an AF_XDP socket: %s (vswitchd needs "
                            "CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF: run it as "
                            "root or grant them)",
                            strerror(-rc));
        else
            vs_port_err_set(err, -1, "cannot open an AF_XDP socket: %s", strerror(-rc));
        return rc;
    }
    close(s);
    return 0;
}

/* The UMEM covers the pool's region, which must hold the pool's small buffers
 * back to back from its start (xq.h): checked on one buffer. */
static int area_init(struct vs_port *port, struct vs_xq_area *a, struct vs_port_err *err)
{
    const struct vs_mem_region *r = vs_pool_region(port->pool);
    struct vs_pkt *p = vs_pkt_alloc(port->pool);
    bool ok;

    a->pool = port->pool;
    a->base = r->va;
    a->len = r->len;
    a->n_bufs = vs_pool_size(port->pool);
    a->page_size = r->page_size;
    if (!p) {
        vs_port_err_set(err, -1, "no free packet buffer (memory.buffers)");
        return -ENOBUFS;
    }
    ok = (uint8_t *)p == a->base + (size_t)p->index * VS_PKT_SIZE;
    vs_pkt_free(p);
    if (!ok) {
        vs_port_err_set(err, -1, "the packet pool's layout is not what AF_XDP's UMEM needs");
        return -EINVAL;
    }
    return 0;
}

static void queue_close(struct xdp_queue *xq)
{
    /* The socket goes first: once it is closed the kernel holds none of its
     * buffers (a zero-copy driver gives them back on unbind). */
    if (xq->xsk)
        xsk_socket__delete(xq->xsk);
    if (xq->umem)
        xsk_umem__delete(xq->umem);
    xq->xsk = NULL;
    xq->umem = NULL;
    vs_xq_release(&xq->q);
}

static void xdp_free(struct af_xdp *x)
{
    /* Frames stop going to the sockets before they close. */
    vs_xdp_prog_detach(x->prog);
    for (unsigned i = 0; i < x->n_queues; i++)
        queue_close(&x->queues[i]);
    free(x);
}

static int queue_open(struct vs_port *port, struct af_xdp *x, unsigned qid, struct vs_port_err *err)
{
    struct xdp_queue *xq = &x->queues[qid];
    struct xsk_umem_config ucfg = {
        .fill_size = RX_RING_SIZE,
        .comp_size = TX_RING_SIZE,
        .frame_size = VS_XDP_CHUNK,
        .frame_headroom = 0,
        .flags = XDP_UMEM_UNALIGNED_CHUNK_FLAG,
    };
    struct xsk_socket_config scfg = {
        .rx_size = RX_RING_SIZE,
        .tx_size = TX_RING_SIZE,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
        .bind_flags = XDP_USE_NEED_WAKEUP,
    };
    struct xdp_options opts = {0};
    socklen_t olen = sizeof(opts);
    int rc;

    /* Each socket registers the pool as a UMEM of its own: sockets sharing one
     * UMEM are bound to the first one's copy/zero-copy mode and cannot outlive
     * it, while two registrations of the same memory cost only page pins. */
    rc = xsk_umem__create(&xq->umem, x->area.base, x->area.len, &xq->q.fill, &xq->q.comp, &ucfg);
    if (rc) {
        xq->umem = NULL;
        if (rc == -ENOBUFS || rc == -ENOMEM)
            vs_port_err_set(err, -1,
                            "queue %u: cannot register the %zu MiB packet pool as AF_XDP UMEM: "
                            "%s (locked memory: raise RLIMIT_MEMLOCK, e.g. LimitMEMLOCK=infinity, "
                            "or give vswitchd CAP_IPC_LOCK)",
                            qid, (size_t)(x->area.len >> 20), strerror(-rc));
        else
            vs_port_err_set(err, -1,
                            "queue %u: cannot register the packet pool as AF_XDP "
                            "UMEM: %s",
                            qid, strerror(-rc));
        return rc;
    }
    if (x->a.zerocopy == VS_XDP_ZC_ON)
        scfg.bind_flags |= XDP_ZEROCOPY;
    else if (x->a.zerocopy == VS_XDP_ZC_OFF || vs_xdp_prog_mode(x->prog) == VS_XDP_MODE_GENERIC ||
             x->area.page_size < (2u << 20))
        /* Zero-copy on normal pages would lose half the chunks to page
         * boundaries (xq.h): hugepages only. */
        scfg.bind_flags |= XDP_COPY;
    /* Neither flag: the kernel takes zero-copy where the driver has it. */
    /* A socket closed a moment ago (this port's own, on del-port and add-port
     * again) holds the queue until the kernel's deferred release runs: EBUSY for a
     * few milliseconds. Someone else's socket holds it for good: give up after 1 s. */
    for (int tries = 0;; tries++) {
        rc = xsk_socket__create(&xq->xsk, x->a.ifname, qid, xq->umem, &xq->q.rx, &xq->q.tx, &scfg);
        if (rc != -EBUSY || tries == 50)
            break;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    if (rc) {
        xq->xsk = NULL;
        if (x->a.zerocopy == VS_XDP_ZC_ON && (rc == -EOPNOTSUPP || rc == -EINVAL))
            vs_port_err_set(err, -1,
                            "queue %u: the driver of %s has no AF_XDP zero-copy: %s "
                            "(zerocopy=auto uses it where there is one, copies elsewhere)",
                            qid, x->a.ifname, strerror(-rc));
        else if (rc == -EBUSY)
            vs_port_err_set(err, -1,
                            "queue %u of %s already has an AF_XDP socket (another "
                            "program switches it)",
                            qid, x->a.ifname);
        else if (rc == -EPERM)
            vs_port_err_set(err, -1,
                            "queue %u: AF_XDP bind: %s (vswitchd needs CAP_NET_RAW "
                            "and CAP_NET_ADMIN)",
                            qid, strerror(-rc));
        else
            vs_port_err_set(err, -1, "queue %u: cannot bind an AF_XDP socket to %s: %s", qid,
                            x->a.ifname, strerror(-rc));
        return rc;
    }
    if (!getsockopt(xsk_socket__fd(xq->xsk), SOL_XDP, XDP_OPTIONS, &opts, &olen))
        x->zero_copy = opts.flags & XDP_OPTIONS_ZEROCOPY;
    if ((rc = vs_xq_init(&xq->q, &x->area, xsk_socket__fd(xq->xsk), x->zero_copy)) < 0)
        return rc;
    /* Buffers first, then the map entry: the first frame finds the ring full. */
    while (vs_xq_refill(&xq->q, RX_RING_SIZE))
        ;
    if (xq->q.rx_held < RX_RING_SIZE / 2)
        vs_warn("port %s: queue %u: only %u packet buffers for the kernel's fill ring; "
                "raise memory.buffers",
                port->name, qid, xq->q.rx_held);
    rc = xsk_socket__update_xskmap(xq->xsk, vs_xdp_prog_xsks_fd(x->prog));
    if (rc) {
        vs_port_err_set(err, -1, "queue %u: cannot add the socket to the XSKMAP: %s", qid,
                        strerror(-rc));
        return rc;
    }
    return 0;
}

static int af_xdp_open(struct vs_port *port, const struct vs_port_args *args,
                       struct vs_port_err *err)
{
    static bool swept;
    struct af_xdp *x;
    int rc;

    x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    if ((rc = vs_xdp_args_parse(args, &x->a, err)) < 0 ||
        (rc = check_interface(port, x, args, err)) < 0 ||
        (rc = area_init(port, &x->area, err)) < 0) {
        free(x);
        return rc;
    }
    if (x->a.zerocopy == VS_XDP_ZC_ON && x->area.page_size < (2u << 20)) {
        int idx;

        vs_port_args_get(args, "zerocopy", &idx);
        vs_port_err_set(err, idx,
                        "zerocopy: 'on' needs the packet pool in hugepages (memory.hugepage_size "
                        "2M or 1G, with pages reserved: vswitchd fell back to normal pages)");
        free(x);
        return -EINVAL;
    }
    if (!swept) {
        /* Programs a killed vswitchd left on interfaces no port names any more. */
        swept = true;
        vs_xdp_prog_sweep();
    }
    if ((rc = vs_xdp_prog_attach(x->ifindex, x->a.ifname, x->a.mode, &x->prog, err)) < 0) {
        free(x);
        return rc;
    }
    for (unsigned i = 0; i < x->a.queues; i++) {
        x->n_queues = i + 1;
        if ((rc = queue_open(port, x, i, err)) < 0) {
            xdp_free(x);
            return rc;
        }
    }
    vs_info("port %s: %s, %u queue%s, %s XDP%s, %s", port->name, x->a.ifname, x->n_queues,
            x->n_queues == 1 ? "" : "s", vs_xdp_mode_name(vs_xdp_prog_mode(x->prog)),
            vs_xdp_prog_dispatched(x->prog) ? " (libxdp dispatcher)" : "",
            x->zero_copy ? "zero-copy" : "copy mode");
    port->priv = x;
    port->n_rxq = (uint16_t)x->n_queues;
    port->n_txq = (uint16_t)x->n_queues;
    VS_WRITE_ONCE(port->tx_offloads, 0);
    return 0;
}

static void af_xdp_close(struct vs_port *port)
{
    struct af_xdp *x = port->priv;

    if (!x)
        return;
    xdp_free(x);
    port->priv = NULL;
}

static uint16_t af_xdp_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return vs_xq_rx(&((struct af_xdp *)port->priv)->queues[q].q, pkts, n);
}

static uint16_t af_xdp_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return vs_xq_tx(&((struct af_xdp *)port->priv)->queues[q].q, pkts, n);
}

/* The socket is readable when its RX ring has frames. */
static int af_xdp_rx_wait_fd(struct vs_port *port, uint16_t q)
{
    return ((struct af_xdp *)port->priv)->queues[q].q.fd;
}

#define J(o, k, v) json_object_set_new((o), (k), json_integer((json_int_t)(v)))

static void af_xdp_show(struct vs_port *port, json_t *out)
{
    struct af_xdp *x = port->priv;
    json_t *qs = json_array(), *tot = json_object();
    struct xdp_statistics sum = {0};

    json_object_set_new(out, "ifname", json_string(x->a.ifname));
    json_object_set_new(out, "mode", json_string(vs_xdp_mode_name(vs_xdp_prog_mode(x->prog))));
    json_object_set_new(out, "zero_copy", json_boolean(x->zero_copy));
    json_object_set_new(out, "dispatcher", json_boolean(vs_xdp_prog_dispatched(x->prog)));
    if (vs_xdp_prog_why_alone(x->prog))
        json_object_set_new(out, "no_dispatcher", json_string(vs_xdp_prog_why_alone(x->prog)));
    J(out, "xdp_prog_id", vs_xdp_prog_id(x->prog));
    J(out, "xdp_passed", vs_xdp_prog_passed(x->prog));
    for (unsigned i = 0; i < x->n_queues; i++) {
        const struct vs_xq *q = &x->queues[i].q;
        struct xdp_statistics st = {0};
        socklen_t len = sizeof(st);
        json_t *o = json_object(), *k = json_object();

        J(o, "queue", i);
        /* Ring fill levels: entries one side put there and the other did not take. */
        J(o, "fill", vs_xq_ring_level(q->fill.producer, q->fill.consumer));
        J(o, "rx", vs_xq_ring_level(q->rx.producer, q->rx.consumer));
        J(o, "tx", vs_xq_ring_level(q->tx.producer, q->tx.consumer));
        J(o, "completion", vs_xq_ring_level(q->comp.producer, q->comp.consumer));
        J(o, "kernel_rx_buffers", VS_READ_ONCE(q->rx_held));
        J(o, "kernel_tx_buffers", VS_READ_ONCE(q->tx_held));
        J(o, "rx_bad_desc", q->rx_bad_desc);
        J(o, "rx_wakeups", q->rx_wakeups);
        J(o, "fill_short", q->fill_short);
        J(o, "tx_rekicks", q->tx_rekicks);
        J(o, "tx_copied", q->tx_copied);
        J(o, "tx_no_buffer", q->tx_no_buffer);
        J(o, "tx_oversize", q->tx_oversize);
        J(o, "tx_straddle", q->tx_straddle);
        J(o, "zc_set_aside", q->n_aside);
        J(o, "tx_wakeups", q->tx_wakeups);
        J(o, "tx_wakeup_errors", q->tx_wakeup_errors);
        if (!getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &st, &len)) {
            J(k, "rx_dropped", st.rx_dropped);
            J(k, "rx_invalid_descs", st.rx_invalid_descs);
            J(k, "tx_invalid_descs", st.tx_invalid_descs);
            J(k, "rx_ring_full", st.rx_ring_full);
            J(k, "rx_fill_ring_empty_descs", st.rx_fill_ring_empty_descs);
            J(k, "tx_ring_empty_descs", st.tx_ring_empty_descs);
            sum.rx_dropped += st.rx_dropped;
            sum.rx_invalid_descs += st.rx_invalid_descs;
            sum.tx_invalid_descs += st.tx_invalid_descs;
            sum.rx_ring_full += st.rx_ring_full;
            sum.rx_fill_ring_empty_descs += st.rx_fill_ring_empty_descs;
            sum.tx_ring_empty_descs += st.tx_ring_empty_descs;
        }
        json_object_set_new(o, "xdp_statistics", k);
        json_array_append_new(qs, o);
    }
    J(tot, "rx_dropped", sum.rx_dropped);
    J(tot, "rx_invalid_descs", sum.rx_invalid_descs);
    J(tot, "tx_invalid_descs", sum.tx_invalid_descs);
    J(tot, "rx_ring_full", sum.rx_ring_full);
    J(tot, "rx_fill_ring_empty_descs", sum.rx_fill_ring_empty_descs);
    J(tot, "tx_ring_empty_descs", sum.tx_ring_empty_descs);
    json_object_set_new(out, "xdp_statistics", tot);
    json_object_set_new(out, "queues", qs);
}

const struct vs_port_ops vs_port_af_xdp_ops = {
    .type = "af_xdp",
    .keys = vs_xdp_keys,
    .validate = af_xdp_validate,
    .open = af_xdp_open,
    .close = af_xdp_close,
    .rx_burst = af_xdp_rx_burst,
    .tx_burst = af_xdp_tx_burst,
    .show = af_xdp_show,
    .rx_wait_fd = af_xdp_rx_wait_fd,
};
