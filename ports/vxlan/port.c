/* The VXLAN port: options, the data path in both directions, show.
 *
 * rx: one recvmmsg into fresh buffers (each datagram lands 4 bytes before the
 * frame start, so the VXLAN header's room takes the 802.1Q tag), every datagram
 * checked (vs_vxlan_decap_check, the VNI map), its source station learned, the
 * frame marked as from an overlay. tx: each tagged frame's VLAN gives the VNI, its
 * destination MAC the VTEP (the station table) or, unknown or group, the VNI's flood
 * list; every datagram is gathered around the frame (never written: a flooded frame
 * is shared) and the whole burst goes in one sendmmsg. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/vxlan/evpn.h"
#include "ports/vxlan/port.h"
#include "ports/vxlan/vxlan.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/rcu.h"

static const char *const drop_name[VS_VX_N_DROPS] = {
    [VS_VX_RX_BAD_VNI] = "rx_bad_vni",        [VS_VX_RX_TRUNCATED] = "rx_truncated",
    [VS_VX_RX_NO_BUFFER] = "rx_no_buffer",    [VS_VX_RX_ERRORS] = "rx_errors",
    [VS_VX_TX_UNMAPPED] = "tx_unmapped_vlan", [VS_VX_TX_TOO_BIG] = "tx_too_big",
    [VS_VX_TX_NO_REMOTE] = "tx_no_remote",    [VS_VX_TX_SPLIT_HORIZON] = "tx_split_horizon",
    [VS_VX_TX_ERRORS] = "tx_errors",
};

uint32_t vs_vx_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)ts.tv_sec;
}

static int vx_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_vx_args *a = malloc(sizeof(*a));
    int rc;

    if (!a)
        return -ENOMEM;
    rc = vs_vx_args_parse(args, a, err);
    free(a);
    return rc;
}

int vs_vx_flood_update(struct vs_vx *x)
{
    struct vs_vx_flood *f = vs_vx_flood_build(x->a.n_vni, x->flood_static, x->flood_evpn), *old;

    if (!f)
        return -ENOMEM;
    old = x->flood;
    vs_rcu_assign(x->flood, f);
    if (old) {
        vs_rcu_synchronize();
        vs_vx_flood_free(old);
    }
    return 0;
}

static void vx_free(struct vs_vx *x)
{
    if (x->timer > 0)
        vs_loop_del_timer(x->timer);
    vs_vx_evpn_close(x);
    vs_vx_underlay_close(&x->ul);
    vs_vx_flood_free(x->flood);
    free(x->flood_static);
    free(x->flood_evpn);
    free(x->vni_rx);
    free(x->vni_tx);
    vs_vx_stations_destroy(x->st);
    vs_vx_vteps_destroy(x->vteps);
    free(x);
}

static void age_cb(void *arg)
{
    struct vs_vx *x = arg;

    vs_vx_stations_age(x->st, vs_vx_now(), x->a.aging);
}

static int vx_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_vx *x = calloc(1, sizeof(*x));
    unsigned limit;
    int rc, idx;

    if (!x)
        return -ENOMEM;
    x->ul.rx_fd = x->ul.tx_fd = -1;
    snprintf(x->name, sizeof(x->name), "%s", port->name);
    if ((rc = vs_vx_args_parse(args, &x->a, err)) < 0)
        goto fail;
    x->vteps = vs_vx_vteps_create();
    x->flood_static = calloc(x->a.n_vni, sizeof(*x->flood_static));
    x->flood_evpn = calloc(x->a.n_vni, sizeof(*x->flood_evpn));
    x->vni_rx = calloc(x->a.n_vni, sizeof(*x->vni_rx));
    x->vni_tx = calloc(x->a.n_vni, sizeof(*x->vni_tx));
    if (!x->vteps || !x->flood_static || !x->flood_evpn || !x->vni_rx || !x->vni_tx ||
        (rc = vs_vx_stations_create(VS_VX_STATIONS, &x->st)) < 0) {
        rc = -ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < x->a.n_vni; i++)
        x->vlan_vni[x->a.vlan[i]] = (uint16_t)(i + 1);
    for (unsigned r = 0; r < x->a.n_remote; r++) {
        int s = vs_vx_vtep_get(x->vteps, x->a.remote[r].ip, false);

        if (s < 0) {
            rc = s;
            goto fail;
        }
        for (unsigned i = 0; i < x->a.n_vni; i++)
            if (x->a.remote[r].vni == VS_VX_ALL_VNIS || x->a.remote[r].vni == x->a.vni[i])
                vs_vx_flood_bit_set(&x->flood_static[i], (unsigned)s, true);
    }
    if ((rc = vs_vx_flood_update(x)) < 0)
        goto fail;
    if ((rc = vs_vx_underlay_open(&x->ul, x->a.local_ip, x->a.dstport, err->msg,
                                  sizeof(err->msg))) < 0) {
        err->arg = -1;
        goto fail;
    }
    /* The inner frame, its Ethernet header included, must fit the underlay
     * device's MTU behind the outer IPv4, UDP and VXLAN headers. */
    limit = x->ul.mtu > VS_VXLAN_OVERHEAD4 + VS_VXLAN_ETH_HLEN + 68
                ? x->ul.mtu - VS_VXLAN_OVERHEAD4 - VS_VXLAN_ETH_HLEN
                : 68;
    if (x->a.mtu > limit) {
        vs_port_args_get(args, "mtu", &idx);
        vs_port_err_set(err, idx,
                        "mtu: %u does not fit the underlay: %s has mtu %u, which leaves %u for "
                        "the inner packets (IPv4, UDP, VXLAN and Ethernet take %u); lower mtu or "
                        "raise the underlay's",
                        x->a.mtu, x->ul.ifname, x->ul.mtu, limit,
                        VS_VXLAN_OVERHEAD4 + VS_VXLAN_ETH_HLEN);
        rc = -EINVAL;
        goto fail;
    }
    port->mtu = x->a.mtu ? x->a.mtu : (uint16_t)VS_MIN(limit, VS_VX_MTU_MAX);
    x->max_inner = (uint16_t)(port->mtu + VS_VXLAN_ETH_HLEN);
    if (x->a.learning && x->a.aging && (x->timer = vs_loop_add_timer(1000, 1000, age_cb, x)) < 0) {
        rc = x->timer;
        vs_port_err_set(err, -1, "cannot add the aging timer: %s", strerror(-rc));
        goto fail;
    }
    if (x->a.evpn && (rc = vs_vx_evpn_open(x, err)) < 0)
        goto fail;
    port->priv = x;
    port->n_rxq = 1;
    port->n_txq = 1;
    VS_WRITE_ONCE(port->tx_offloads, 0);
    VS_WRITE_ONCE(port->link_up, 1);
    vs_info("port %s: VXLAN on %s (%s, mtu %u) UDP port %u, %u VNIs, inner mtu %u, %s", port->name,
            inet_ntop(AF_INET, &x->a.local_ip, (char[INET_ADDRSTRLEN]){0}, INET_ADDRSTRLEN),
            x->ul.ifname, x->ul.mtu, x->a.dstport, x->a.n_vni, port->mtu,
            x->a.evpn       ? "remotes from EVPN"
            : x->a.learning ? "learning"
                            : "static");
    return 0;
fail:
    vx_free(x);
    return rc;
}

static void vx_close(struct vs_port *port)
{
    if (port->priv)
        vx_free(port->priv);
    port->priv = NULL;
}

#define LOG_ONCE(x, slot, ...) vs_log_once(&(x)->logged[slot], VS_LOG_WARN, __VA_ARGS__)

static void rx_drop(struct vs_vx *x, enum vs_vx_drop why, uint32_t src)
{
    char ip[INET_ADDRSTRLEN];

    x->drops[why]++;
    if (!x->logged[VS_VXLAN_N_VERDICTS + why])
        LOG_ONCE(x, VS_VXLAN_N_VERDICTS + why,
                 "port %s: a datagram from %s dropped: %s (logged once, counted in show)", x->name,
                 inet_ntop(AF_INET, &src, ip, sizeof(ip)), drop_name[why]);
}

static uint16_t vx_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct vs_vx *x = port->priv;
    struct vs_vx_rx d[VS_BURST];
    unsigned got;
    uint32_t now;
    uint16_t rx = 0;
    int r;

    (void)q;
    if (n > VS_BURST)
        n = VS_BURST;
    got = vs_pkt_alloc_bulk(port->pool, pkts, n);
    if (vs_unlikely(!got))
        return 0;
    for (unsigned i = 0; i < got; i++) {
        d[i].buf = vs_pkt_data(pkts[i]) - VS_VXLAN_TAG_LEN;
        d[i].room = vs_pkt_tailroom(pkts[i]) + VS_VXLAN_TAG_LEN;
    }
    r = vs_vx_underlay_recv(&x->ul, d, got);
    if (vs_unlikely(r < 0)) {
        x->drops[VS_VX_RX_ERRORS]++;
        LOG_ONCE(x, VS_VXLAN_N_VERDICTS + VS_VX_RX_ERRORS, "port %s: recvmmsg: %s (logged once)",
                 x->name, strerror(-r));
        r = 0;
    }
    now = r ? vs_vx_now() : 0;
    for (int i = 0; i < r; i++) {
        struct vs_pkt *p = pkts[i];
        enum vs_vxlan_verdict v;
        uint32_t vni = 0, inner;
        int idx, vtep;

        if (vs_unlikely(d[i].truncated)) {
            rx_drop(x, VS_VX_RX_TRUNCATED, d[i].src_ip);
            vs_pkt_free(p);
            continue;
        }
        v = vs_vxlan_decap_check(d[i].buf, d[i].len, x->max_inner, &vni);
        if (vs_unlikely(v != VS_VXLAN_OK)) {
            char ip[INET_ADDRSTRLEN];

            x->rx_verdict[v]++;
            LOG_ONCE(x, v,
                     "port %s: a %u-byte datagram from %s dropped: %s (inner frames up to %u "
                     "bytes; logged once, counted in show)",
                     x->name, d[i].len, inet_ntop(AF_INET, &d[i].src_ip, ip, sizeof(ip)),
                     vs_vxlan_verdict_name[v], x->max_inner);
            vs_pkt_free(p);
            continue;
        }
        idx = vs_vx_args_vni_index(&x->a, vni);
        if (vs_unlikely(idx < 0)) {
            rx_drop(x, VS_VX_RX_BAD_VNI, d[i].src_ip);
            vs_pkt_free(p);
            continue;
        }
        vtep = vs_vx_vtep_find(x->vteps, d[i].src_ip);
        if (vtep < 0 && x->a.learning)
            vtep = vs_vx_vtep_get(x->vteps, d[i].src_ip, true);
        inner = d[i].len - VS_VXLAN_HLEN;
        if (x->a.vlan[idx]) {
            vs_vxlan_decap_tag(d[i].buf, x->a.vlan[idx]);
            p->len = inner + VS_VXLAN_TAG_LEN;
        } else {
            /* VLAN 0: the switch's untagged frames, as they came. */
            p->data += VS_VXLAN_TAG_LEN;
            p->data_off += VS_VXLAN_TAG_LEN;
            p->len = inner;
        }
        p->flags |= VS_PKT_F_OVERLAY;
        x->vni_rx[idx].packets++;
        x->vni_rx[idx].bytes += inner;
        if (vtep >= 0) {
            x->vteps->v[vtep].rx_packets++;
            x->vteps->v[vtep].rx_bytes += inner;
            if (x->a.learning)
                vs_vx_station_learn(x->st, (uint16_t)idx, vs_pkt_data(p) + 6, (uint16_t)vtep, now);
        } else {
            x->rx_unknown_vtep++;
        }
        pkts[rx++] = p;
    }
    if ((unsigned)r < got)
        vs_pkt_free_bulk(&pkts[r], got - (unsigned)r);
    return rx;
}

/* What tx_burst builds per burst: datagrams and, per frame, its headers. */
struct tx_state {
    struct vs_vx_tx d[VS_VX_TX_BATCH];
    uint16_t d_vtep[VS_VX_TX_BATCH];
    uint16_t d_frame[VS_VX_TX_BATCH];
    struct iovec iov[VS_BURST][4];
    uint8_t hdr[VS_BURST][VS_VXLAN_ENCAP_HLEN];
    uint8_t why[VS_BURST]; /* a drop reason + 1, or 0 */
    unsigned nd;
};

/* Sends the gathered datagrams. false when the kernel queue filled up: *cut is then
 * the first frame not wholly sent. */
static bool tx_flush(struct vs_vx *x, struct tx_state *s, unsigned *cut)
{
    unsigned sent =
        vs_vx_underlay_send(&x->ul, s->d, s->nd, &x->drops[VS_VX_TX_ERRORS], &x->tx_last_err);

    for (unsigned k = 0; k < sent; k++) {
        struct vs_vx_vtep *v = &x->vteps->v[s->d_vtep[k]];
        size_t len = 0;

        for (unsigned j = 0; j < s->d[k].niov; j++)
            len += s->d[k].iov[j].iov_len;
        v->tx_packets++;
        v->tx_bytes += len - VS_VXLAN_ENCAP_HLEN;
    }
    if (sent < s->nd) {
        *cut = s->d_frame[sent];
        return false;
    }
    s->nd = 0;
    return true;
}

static uint16_t vx_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct vs_vx *x = port->priv;
    const struct vs_vx_flood *fl = vs_rcu_deref(x->flood);
    static __thread struct tx_state s;
    unsigned cut = n, taken;

    (void)q;
    if (n > VS_BURST)
        n = VS_BURST;
    s.nd = 0;
    for (unsigned i = 0; i < n; i++) {
        struct vs_pkt *p = pkts[i];
        const uint8_t *eth = vs_pkt_data(p);
        uint32_t head = vs_pkt_head_len(p);
        bool tagged = false;
        int vlan = vs_vxlan_frame_vlan(eth, head, &tagged);
        unsigned idx = vlan < 0 ? 0 : x->vlan_vni[vlan], niov, first, last;
        uint32_t inner = p->len - (tagged ? VS_VXLAN_TAG_LEN : 0);
        uint16_t vtep = 0;
        bool uni;

        s.why[i] = 0;
        if (vs_unlikely(!idx)) {
            s.why[i] = VS_VX_TX_UNMAPPED + 1;
            continue;
        }
        idx--;
        if (vs_unlikely(inner > x->max_inner)) {
            s.why[i] = VS_VX_TX_TOO_BIG + 1;
            if (!x->logged[VS_VXLAN_N_VERDICTS + VS_VX_TX_TOO_BIG])
                LOG_ONCE(x, VS_VXLAN_N_VERDICTS + VS_VX_TX_TOO_BIG,
                         "port %s: a %u-byte frame would be a %u-byte packet on %s (mtu %u): "
                         "dropped (inner mtu %u; logged once, counted in tx_too_big)",
                         x->name, inner, inner + VS_VXLAN_OVERHEAD4, x->ul.ifname, x->ul.mtu,
                         port->mtu);
            continue;
        }
        uni = !(eth[0] & 1) && vs_vx_station_lookup(x->st, (uint16_t)idx, eth, &vtep);
        if (uni) {
            first = 0;
            last = 1;
        } else if (vs_unlikely(p->flags & VS_PKT_F_OVERLAY)) {
            s.why[i] = VS_VX_TX_SPLIT_HORIZON + 1;
            continue;
        } else {
            first = fl->start[idx];
            last = fl->start[idx + 1];
            if (first == last) {
                s.why[i] = VS_VX_TX_NO_REMOTE + 1;
                continue;
            }
            x->vni_tx[idx].flooded += last - first;
        }
        if (s.nd + (last - first) > VS_VX_TX_BATCH && !tx_flush(x, &s, &cut))
            break;
        niov = vs_vxlan_encap_iov(p, tagged, s.hdr[i], s.iov[i]);
        vs_vxlan_encap_hdr(s.hdr[i], vs_vxlan_src_port(eth, head), x->a.dstport, x->a.vni[idx],
                           inner);
        for (unsigned k = first; k < last && s.nd < VS_VX_TX_BATCH; k++) {
            uint16_t t = uni ? vtep : fl->vtep[k];

            s.d[s.nd] = (struct vs_vx_tx){s.iov[i], niov, x->vteps->v[t].ip};
            s.d_vtep[s.nd] = t;
            s.d_frame[s.nd] = (uint16_t)i;
            s.nd++;
        }
        x->vni_tx[idx].packets++;
        x->vni_tx[idx].bytes += inner;
    }
    if (cut == n && s.nd)
        tx_flush(x, &s, &cut);
    /* Frames before the cut went (or were dropped here, counted below); the one at
     * the cut went in part when some of its datagrams did. */
    taken = cut;
    for (unsigned i = 0; i < taken; i++)
        if (s.why[i])
            x->drops[s.why[i] - 1]++;
    vs_pkt_free_bulk(pkts, taken);
    return (uint16_t)taken;
}

static int vx_rx_wait_fd(struct vs_port *port, uint16_t q)
{
    (void)q;
    return vs_vx_underlay_fd(&((struct vs_vx *)port->priv)->ul);
}

static const char *ip_str(uint32_t ip, char *buf)
{
    return inet_ntop(AF_INET, &ip, buf, INET_ADDRSTRLEN);
}

/* show lists this many stations at most (stations gives the count). */
#define VS_VX_SHOW_STATIONS 256

struct station_dump {
    struct vs_vx *x;
    json_t *arr;
    unsigned *per_vtep;
};

static const char *origin_name(uint8_t o)
{
    return o == VS_VX_STATIC ? "static" : o == VS_VX_EVPN ? "evpn" : "learned";
}

static void count_station(const struct vs_vx_station *st, void *arg)
{
    struct station_dump *d = arg;

    char mac[18], ip[INET_ADDRSTRLEN];

    if (st->vtep < VS_VX_MAX_VTEPS)
        d->per_vtep[st->vtep]++;
    if (json_array_size(d->arr) >= VS_VX_SHOW_STATIONS)
        return;
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", st->mac[0], st->mac[1], st->mac[2],
             st->mac[3], st->mac[4], st->mac[5]);
    json_array_append_new(d->arr,
                          json_pack("{s:i, s:s, s:s, s:s, s:i}", "vni", (int)d->x->a.vni[st->vni],
                                    "mac", mac, "remote", ip_str(d->x->vteps->v[st->vtep].ip, ip),
                                    "origin", origin_name(st->origin), "age", (int)st->age_s));
}

static void vx_show(struct vs_port *port, json_t *out)
{
    struct vs_vx *x = port->priv;
    const struct vs_vx_flood *fl = x->flood;
    json_t *vnis = json_array(), *remotes = json_array(), *drops = json_object();
    unsigned nv = vs_vx_vtep_count(x->vteps);
    static unsigned per_vtep[VS_VX_MAX_VTEPS];
    struct station_dump d = {x, json_array(), per_vtep};
    char ip[INET_ADDRSTRLEN];

    memset(per_vtep, 0, sizeof(per_vtep));
    vs_vx_stations_foreach(x->st, vs_vx_now(), count_station, &d);
    json_object_set_new(out, "local_ip", json_string(ip_str(x->a.local_ip, ip)));
    json_object_set_new(out, "dstport", json_integer(x->a.dstport));
    json_object_set_new(out, "underlay", json_string(x->ul.ifname));
    json_object_set_new(out, "underlay_mtu", json_integer(x->ul.mtu));
    json_object_set_new(out, "control", json_string(x->a.evpn ? "evpn" : "static"));
    json_object_set_new(out, "learning", json_boolean(x->a.learning));
    json_object_set_new(out, "aging", json_integer(x->a.aging));
    for (unsigned i = 0; i < x->a.n_vni; i++) {
        json_t *flood = json_array();

        for (uint32_t k = fl->start[i]; k < fl->start[i + 1]; k++)
            json_array_append_new(flood, json_string(ip_str(x->vteps->v[fl->vtep[k]].ip, ip)));
        json_array_append_new(
            vnis,
            json_pack("{s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:o}", "vni", (int)x->a.vni[i], "vlan",
                      (int)x->a.vlan[i], "rx_packets", (json_int_t)x->vni_rx[i].packets, "rx_bytes",
                      (json_int_t)x->vni_rx[i].bytes, "tx_packets",
                      (json_int_t)x->vni_tx[i].packets, "tx_bytes", (json_int_t)x->vni_tx[i].bytes,
                      "tx_flooded", (json_int_t)x->vni_tx[i].flooded, "flood", flood));
    }
    for (unsigned t = 0; t < nv; t++) {
        const struct vs_vx_vtep *v = &x->vteps->v[t];

        json_array_append_new(
            remotes,
            json_pack("{s:s, s:s, s:i, s:I, s:I, s:I, s:I}", "ip", ip_str(v->ip, ip), "origin",
                      v->learned  ? "learned"
                      : x->a.evpn ? "evpn"
                                  : "static",
                      "stations", (int)per_vtep[t], "rx_packets", (json_int_t)v->rx_packets,
                      "rx_bytes", (json_int_t)v->rx_bytes, "tx_packets", (json_int_t)v->tx_packets,
                      "tx_bytes", (json_int_t)v->tx_bytes));
    }
    for (unsigned i = 1; i < VS_VXLAN_N_VERDICTS; i++)
        json_object_set_new(drops, vs_vxlan_verdict_name[i],
                            json_integer((json_int_t)x->rx_verdict[i]));
    for (unsigned i = 0; i < VS_VX_N_DROPS; i++)
        json_object_set_new(drops, drop_name[i], json_integer((json_int_t)x->drops[i]));
    json_object_set_new(drops, "rx_unknown_vtep", json_integer((json_int_t)x->rx_unknown_vtep));
    json_object_set_new(out, "vnis", vnis);
    json_object_set_new(out, "remotes", remotes);
    json_object_set_new(out, "stations", json_integer(vs_vx_stations_count(x->st)));
    json_object_set_new(out, "station_list", d.arr);
    json_object_set_new(out, "stations_capacity", json_integer(vs_vx_stations_capacity(x->st)));
    json_object_set_new(out, "vxlan_drops", drops);
    if (x->evpn)
        vs_vx_evpn_show(x, out);
}

static void vx_fdb_entry(struct vs_port *port, uint16_t vlan, const uint8_t mac[6], json_t *e)
{
    struct vs_vx *x = port->priv;
    unsigned idx = vlan < 4096 ? x->vlan_vni[vlan] : 0;
    char ip[INET_ADDRSTRLEN];
    uint16_t vtep;

    if (!idx)
        return;
    json_object_set_new(e, "vni", json_integer(x->a.vni[idx - 1]));
    if (vs_vx_station_lookup(x->st, (uint16_t)(idx - 1), mac, &vtep))
        json_object_set_new(e, "remote", json_string(ip_str(x->vteps->v[vtep].ip, ip)));
}

static void vx_local_stations(struct vs_port *port, const struct vs_fdb_entry *e, unsigned n)
{
    struct vs_vx *x = port->priv;

    if (x->evpn)
        vs_vx_evpn_local(x, port->id, e, n);
}

const struct vs_port_ops vs_port_vxlan_ops = {
    .type = "vxlan",
    .keys = vs_vx_keys,
    .list_keys = (const char *const[]){"vni_map", "remotes", NULL},
    .validate = vx_validate,
    .open = vx_open,
    .close = vx_close,
    .rx_burst = vx_rx_burst,
    .tx_burst = vx_tx_burst,
    .show = vx_show,
    .rx_wait_fd = vx_rx_wait_fd,
    .fdb_entry = vx_fdb_entry,
    .local_stations = vx_local_stations,
};
