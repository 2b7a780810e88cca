#include "ports/vxlan/evpn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ports/vxlan/nl_neigh.h"
#include "ports/vxlan/port.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"

/* Local stations are written again this often, so that the shadow bridge's own
 * aging (300 s) never forgets one the switch still knows. */
#define REFRESH_S 60

struct shadow {
    char br[IFNAMSIZ], vx[IFNAMSIZ], acc[IFNAMSIZ], peer[IFNAMSIZ];
    int vx_if, acc_if;
};

struct vs_vx_evpn {
    int ev;  /* subscribed to neighbour events */
    int req; /* requests and their acks */
    uint32_t seq;
    struct shadow *sh; /* per VNI index */
    uint64_t *local;   /* sorted (VNI index, MAC) keys written as local stations */
    unsigned n_local;
    uint32_t last_refresh;
    uint64_t events, bad, remote_set, remote_del, flood_set, flood_del, local_set, local_del,
        errors, resyncs;
    bool err_logged, bad_logged;
};

/* ---- netlink requests ----------------------------------------------------- */

struct req {
    union {
        struct nlmsghdr h;
        uint8_t b[1024];
    };
};

static void *put(struct req *r, uint16_t type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)(r->b + NLMSG_ALIGN(r->h.nlmsg_len));

    a->rta_type = type;
    a->rta_len = (uint16_t)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = NLMSG_ALIGN(r->h.nlmsg_len) + RTA_ALIGN(a->rta_len);
    return a;
}

static struct rtattr *nest(struct req *r, uint16_t type) { return put(r, type, NULL, 0); }

static void nest_end(struct req *r, struct rtattr *a)
{
    a->rta_len = (uint16_t)(r->b + r->h.nlmsg_len - (uint8_t *)a);
}

static void start(struct req *r, uint16_t type, uint16_t flags, const void *hdr, size_t hlen)
{
    memset(r, 0, sizeof(*r));
    r->h.nlmsg_type = type;
    r->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    r->h.nlmsg_len = NLMSG_LENGTH(hlen);
    memcpy(NLMSG_DATA(&r->h), hdr, hlen);
}

/* Sends r and waits for its ack. 0 or -errno. */
static int talk(struct vs_vx_evpn *e, struct req *r)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    uint8_t buf[4096];

    r->h.nlmsg_seq = ++e->seq;
    if (sendto(e->req, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    for (;;) {
        ssize_t n = recv(e->req, buf, sizeof(buf), 0);
        struct nlmsghdr h;
        struct nlmsgerr err;

        if (n < 0)
            return -errno;
        if ((size_t)n < sizeof(h) + sizeof(err))
            return -EPROTO;
        memcpy(&h, buf, sizeof(h));
        if (h.nlmsg_seq != e->seq || h.nlmsg_type != NLMSG_ERROR)
            continue;
        memcpy(&err, buf + NLMSG_HDRLEN, sizeof(err));
        return err.error;
    }
}

static int link_del(struct vs_vx_evpn *e, const char *name)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    struct req r;

    start(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
    put(&r, IFLA_IFNAME, name, strlen(name) + 1);
    return talk(e, &r);
}

static int link_up(struct vs_vx_evpn *e, const char *name)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    struct req r;
    char path[96];
    int fd;

    /* No IPv6 link-local address: the shadow sends nothing zebra would take for a
     * station of its own. */
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
    if ((fd = open(path, O_WRONLY | O_CLOEXEC)) >= 0) {
        if (write(fd, "1", 1) < 0) {
            /* without IPv6 in the kernel there is nothing to turn off */
        }
        close(fd);
    }
    start(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    put(&r, IFLA_IFNAME, name, strlen(name) + 1);
    return talk(e, &r);
}

/* Creates name of kind; master: a bridge's ifindex or 0; fills the kind's data. */
static int link_add(struct vs_vx_evpn *e, const char *name, const char *kind, int master,
                    const struct vs_vx_args *a, uint32_t vni, const char *peer)
{
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    struct rtattr *info, *data;
    struct req r;

    start(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    put(&r, IFLA_IFNAME, name, strlen(name) + 1);
    if (master)
        put(&r, IFLA_MASTER, &master, sizeof(master));
    info = nest(&r, IFLA_LINKINFO);
    put(&r, IFLA_INFO_KIND, kind, strlen(kind));
    if (!strcmp(kind, "vxlan")) {
        uint16_t port = htons(a->shadow_port);
        uint8_t no = 0;

        data = nest(&r, IFLA_INFO_DATA);
        put(&r, IFLA_VXLAN_ID, &vni, sizeof(vni));
        put(&r, IFLA_VXLAN_LOCAL, &a->local_ip, sizeof(a->local_ip));
        put(&r, IFLA_VXLAN_PORT, &port, sizeof(port));
        put(&r, IFLA_VXLAN_LEARNING, &no, sizeof(no));
        nest_end(&r, data);
    } else if (!strcmp(kind, "veth")) {
        struct ifinfomsg pi = {.ifi_family = AF_UNSPEC};
        struct rtattr *p;

        data = nest(&r, IFLA_INFO_DATA);
        p = put(&r, VETH_INFO_PEER, &pi, sizeof(pi));
        put(&r, IFLA_IFNAME, peer, strlen(peer) + 1);
        nest_end(&r, p);
        nest_end(&r, data);
    }
    nest_end(&r, info);
    return talk(e, &r);
}

static int fdb_local(struct vs_vx_evpn *e, int ifindex, const uint8_t mac[6], bool add)
{
    struct ndmsg nd = {.ndm_family = AF_BRIDGE,
                       .ndm_ifindex = ifindex,
                       .ndm_state = NUD_REACHABLE,
                       .ndm_flags = NTF_MASTER};
    struct req r;

    start(&r, add ? RTM_NEWNEIGH : RTM_DELNEIGH, add ? NLM_F_CREATE | NLM_F_REPLACE : 0, &nd,
          sizeof(nd));
    put(&r, NDA_LLADDR, mac, 6);
    return talk(e, &r);
}

/* ---- remote stations from zebra ------------------------------------------- */

static int vni_of_if(const struct vs_vx *x, int ifindex)
{
    for (unsigned i = 0; i < x->a.n_vni; i++)
        if (x->evpn->sh[i].vx_if == ifindex)
            return (int)i;
    return -1;
}

struct apply {
    struct vs_vx *x;
    bool flood_changed;
};

static void on_neigh(const struct vs_vx_neigh *n, void *arg)
{
    struct apply *ap = arg;
    struct vs_vx *x = ap->x;
    struct vs_vx_evpn *e = x->evpn;
    static const uint8_t zero[6];
    int idx = vni_of_if(x, n->ifindex), vtep;

    /* Only what zebra put on the VXLAN device itself, with a VTEP. */
    if (idx < 0 || !n->has_mac || !n->has_dst || !(n->flags & NTF_SELF))
        return;
    e->events++;
    if (n->dst == 0 || n->dst == x->a.local_ip)
        return;
    if ((vtep = vs_vx_vtep_get(x->vteps, n->dst, false)) < 0) {
        e->errors++;
        return;
    }
    if (!memcmp(n->mac, zero, 6)) {
        bool was = vs_vx_flood_bit(&x->flood_evpn[idx], (unsigned)vtep);

        if (was != n->add) {
            vs_vx_flood_bit_set(&x->flood_evpn[idx], (unsigned)vtep, n->add);
            ap->flood_changed = true;
            (*(n->add ? &e->flood_set : &e->flood_del))++;
        }
    } else if (n->add) {
        if (vs_vx_station_set(x->st, (uint16_t)idx, n->mac, (uint16_t)vtep, VS_VX_EVPN,
                              vs_vx_now()) == 0)
            e->remote_set++;
        else
            e->errors++;
    } else if (vs_vx_station_del(x->st, (uint16_t)idx, n->mac, VS_VX_EVPN) == 0) {
        e->remote_del++;
    }
}

static int dump(struct vs_vx_evpn *e)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    struct {
        struct nlmsghdr h;
        struct ndmsg nd;
    } r = {{.nlmsg_len = sizeof(r),
            .nlmsg_type = RTM_GETNEIGH,
            .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
           {.ndm_family = AF_BRIDGE}};

    return sendto(e->ev, &r, sizeof(r), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
}

static void on_events(int fd, uint32_t events, void *arg)
{
    struct vs_vx *x = arg;
    struct vs_vx_evpn *e = x->evpn;
    static uint8_t buf[65536];
    struct apply ap = {x, false};

    (void)events;
    for (int round = 0; round < 64; round++) {
        struct vs_vx_nl_stats st = {0};
        struct sockaddr_nl from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

        if (n < 0) {
            if (errno == ENOBUFS) {
                /* Events were lost: ask for the whole table again. */
                e->resyncs++;
                dump(e);
                continue;
            }
            break;
        }
        /* Only the kernel speaks for the shadow devices: a process of the namespace
         * sending to our socket is not listened to. */
        if (fl < sizeof(from) || from.nl_pid != 0) {
            e->bad++;
            continue;
        }
        vs_vx_nl_parse(buf, (size_t)n, on_neigh, &ap, &st);
        if (st.bad) {
            e->bad += st.bad;
            vs_log_once(&e->bad_logged, VS_LOG_WARN,
                        "port %s: a malformed netlink neighbour message (logged once, counted "
                        "in evpn.bad_messages)",
                        x->name);
        }
    }
    if (ap.flood_changed && vs_vx_flood_update(x) < 0)
        e->errors++;
}

/* ---- local stations to zebra ------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return (x > y) - (x < y);
}

static uint64_t local_key(unsigned idx, const uint8_t mac[6])
{
    uint64_t k = (uint64_t)idx << 48;

    for (int i = 0; i < 6; i++)
        k |= (uint64_t)mac[i] << (8 * (5 - i));
    return k;
}

static void write_local(struct vs_vx *x, uint64_t k, bool add)
{
    struct vs_vx_evpn *e = x->evpn;
    unsigned idx = (unsigned)(k >> 48);
    uint8_t mac[6];
    int rc;

    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)(k >> (8 * (5 - i)));
    rc = fdb_local(e, e->sh[idx].acc_if, mac, add);
    if (rc < 0 && !(rc == -ENOENT && !add)) {
        e->errors++;
        vs_log_once(&e->err_logged, VS_LOG_WARN,
                    "port %s: cannot %s a local station in %s: %s (logged once)", x->name,
                    add ? "write" : "remove", e->sh[idx].br, strerror(-rc));
    } else {
        (*(add ? &e->local_set : &e->local_del))++;
    }
}

void vs_vx_evpn_local(struct vs_vx *x, uint16_t port_id, const struct vs_fdb_entry *ent, unsigned n)
{
    struct vs_vx_evpn *e = x->evpn;
    uint64_t *now_keys = malloc((n ? n : 1) * sizeof(*now_keys));
    uint32_t t = vs_vx_now();
    bool refresh = t - e->last_refresh >= REFRESH_S;
    unsigned m = 0, i = 0, j = 0;

    if (!now_keys)
        return;
    for (unsigned k = 0; k < n; k++) {
        unsigned idx = ent[k].vlan < 4096 ? x->vlan_vni[ent[k].vlan] : 0;

        if (idx && ent[k].port != port_id)
            now_keys[m++] = local_key(idx - 1, ent[k].mac);
    }
    qsort(now_keys, m, sizeof(*now_keys), cmp_u64);
    /* A merge of the two sorted sets: new keys are written, gone ones removed. */
    while (i < m || j < e->n_local) {
        if (j == e->n_local || (i < m && now_keys[i] < e->local[j])) {
            write_local(x, now_keys[i++], true);
        } else if (i == m || e->local[j] < now_keys[i]) {
            write_local(x, e->local[j++], false);
        } else {
            if (refresh)
                write_local(x, now_keys[i], true);
            i++;
            j++;
        }
    }
    if (refresh)
        e->last_refresh = t;
    free(e->local);
    e->local = now_keys;
    e->n_local = m;
}

/* ---- open, close, show ------------------------------------------------------- */

static void shadow_del(struct vs_vx_evpn *e, const struct shadow *s)
{
    link_del(e, s->acc); /* its peer goes with it */
    link_del(e, s->vx);
    link_del(e, s->br);
}

int vs_vx_evpn_open(struct vs_vx *x, struct vs_port_err *err)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_NEIGH};
    struct vs_vx_evpn *e = calloc(1, sizeof(*e));
    int rc, buf = 4 << 20;

    if (!e || !(e->sh = calloc(x->a.n_vni, sizeof(*e->sh)))) {
        free(e);
        return -ENOMEM;
    }
    x->evpn = e;
    e->ev = e->req = -1;
    e->ev = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
    e->req = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (e->ev < 0 || e->req < 0 || bind(e->ev, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "cannot open rtnetlink sockets: %s", strerror(-rc));
        return rc;
    }
    setsockopt(e->ev, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    for (unsigned i = 0; i < x->a.n_vni; i++) {
        struct shadow *s = &e->sh[i];
        int br;

        snprintf(s->br, sizeof(s->br), "vsb%u", x->a.vni[i]);
        snprintf(s->vx, sizeof(s->vx), "vsv%u", x->a.vni[i]);
        snprintf(s->acc, sizeof(s->acc), "vsa%u", x->a.vni[i]);
        snprintf(s->peer, sizeof(s->peer), "vsp%u", x->a.vni[i]);
        /* What a vswitchd killed before it could clean up left behind. */
        shadow_del(e, s);
        if ((rc = link_add(e, s->br, "bridge", 0, &x->a, 0, NULL)) < 0 ||
            !(br = (int)if_nametoindex(s->br)) ||
            (rc = link_add(e, s->vx, "vxlan", br, &x->a, x->a.vni[i], NULL)) < 0 ||
            (rc = link_add(e, s->acc, "veth", br, &x->a, 0, s->peer)) < 0 ||
            (rc = link_up(e, s->peer)) < 0 || (rc = link_up(e, s->acc)) < 0 ||
            (rc = link_up(e, s->vx)) < 0 || (rc = link_up(e, s->br)) < 0) {
            rc = rc < 0 ? rc : -ENODEV;
            vs_port_err_set(err, -1,
                            "control: evpn: cannot create the shadow devices %s/%s/%s of VNI "
                            "%u: %s (needs CAP_NET_ADMIN and the bridge, vxlan and veth "
                            "modules)",
                            s->br, s->vx, s->acc, x->a.vni[i], strerror(-rc));
            return rc;
        }
        s->vx_if = (int)if_nametoindex(s->vx);
        s->acc_if = (int)if_nametoindex(s->acc);
    }
    if ((rc = vs_loop_add_fd(e->ev, EPOLLIN, on_events, x)) < 0 || (rc = dump(e)) < 0) {
        vs_port_err_set(err, -1, "control: evpn: cannot listen to netlink: %s", strerror(-rc));
        return rc;
    }
    vs_info("port %s: EVPN shadow in the kernel for %u VNIs (vsb/vsv/vsa<VNI>, UDP port %u): "
            "run FRR's zebra and bgpd with advertise-all-vni",
            x->name, x->a.n_vni, x->a.shadow_port);
    return 0;
}

void vs_vx_evpn_close(struct vs_vx *x)
{
    struct vs_vx_evpn *e = x->evpn;

    if (!e)
        return;
    if (e->ev >= 0) {
        vs_loop_del_fd(e->ev);
        close(e->ev);
    }
    if (e->req >= 0) {
        for (unsigned i = 0; e->sh && i < x->a.n_vni; i++)
            if (e->sh[i].br[0])
                shadow_del(e, &e->sh[i]);
        close(e->req);
    }
    free(e->sh);
    free(e->local);
    free(e);
    x->evpn = NULL;
}

void vs_vx_evpn_show(struct vs_vx *x, json_t *out)
{
    struct vs_vx_evpn *e = x->evpn;

    json_object_set_new(
        out, "evpn",
        json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "shadow_port",
                  (int)x->a.shadow_port, "local_stations", (int)e->n_local, "events",
                  (json_int_t)e->events, "bad_messages", (json_int_t)e->bad, "remote_set",
                  (json_int_t)e->remote_set, "remote_removed", (json_int_t)e->remote_del,
                  "flood_set", (json_int_t)e->flood_set, "flood_removed", (json_int_t)e->flood_del,
                  "local_written", (json_int_t)e->local_set, "local_removed",
                  (json_int_t)e->local_del, "errors", (json_int_t)e->errors, "resyncs",
                  (json_int_t)e->resyncs));
}
