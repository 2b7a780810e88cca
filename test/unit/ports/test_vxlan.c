/* The VXLAN port: encapsulation and decapsulation of every frame size (tagged and
 * untagged), the decapsulation verdicts, the options (vni_map, remotes), the UDP
 * source port hash (stable per flow, spread across flows, fragments together), the
 * station table (learn, move, age, static and EVPN entries, a full bucket), and the
 * port itself over loopback in a network namespace of its own: head-end
 * replication to the flood list, split horizon, unicast to a learned station,
 * unmapped VLANs, and datagrams in (learned, tagged, hostile ones counted). The
 * port tests need root (a namespace). */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports/vxlan/args.h"
#include "ports/vxlan/encap.h"
#include "ports/vxlan/nl_neigh.h"
#include "ports/vxlan/port.h"
#include "ports/vxlan/station.h"
#include "ports/vxlan/vxlan.h"
#include "vswitch/loop.h"
#include "vswitch/pkt.h"
#include "vswitch/port.h"

static struct vs_pool *pool;
static bool have_netns;

static bool in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && !strcmp(ci, "true");
}

static bool need_netns(void)
{
    if (have_netns)
        return true;
    if (in_ci()) {
        CU_FAIL("a network namespace is needed in CI (root)");
    } else {
        fprintf(stderr, "skipped (no network namespace: not root?) ");
    }
    return false;
}

/* A frame: dst, src, optional 802.1Q tag of vlan, IPv4 type, payload of a pattern. */
static uint32_t make_frame(uint8_t *f, uint32_t len, int vlan, const uint8_t dst[6],
                           const uint8_t src[6])
{
    uint32_t o = 12;

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    if (vlan >= 0) {
        f[12] = 0x81;
        f[13] = 0;
        f[14] = (uint8_t)(vlan >> 8);
        f[15] = (uint8_t)vlan;
        o = 16;
    }
    f[o] = 0x08;
    f[o + 1] = 0x00;
    for (uint32_t i = o + 2; i < len; i++)
        f[i] = (uint8_t)(i * 7 + len);
    return len;
}

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0xa};
static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0xb};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Gathers an iovec into buf; returns the length. */
static size_t gather(const struct iovec *iov, unsigned n, uint8_t *buf)
{
    size_t len = 0;

    for (unsigned i = 0; i < n; i++) {
        memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    return len;
}

/* --- encapsulation ---------------------------------------------------------------- */

static void roundtrip(uint32_t len, int vlan)
{
    struct vs_pkt *p = vs_pkt_alloc(pool);
    static uint8_t dg[4096], orig[4096];
    uint8_t hdr[VS_VXLAN_ENCAP_HLEN];
    struct iovec iov[4];
    uint32_t vni = 0;
    bool tagged = false;
    unsigned n;
    size_t dlen, inner;
    uint8_t *f;

    CU_ASSERT_FATAL(p != NULL);
    p->len = make_frame(vs_pkt_data(p), len, vlan, mac_b, mac_a);
    memcpy(orig, vs_pkt_data(p), len);
    CU_ASSERT_EQUAL(vs_vxlan_frame_vlan(vs_pkt_data(p), len, &tagged), vlan < 0 ? 0 : vlan);
    CU_ASSERT_EQUAL(tagged, vlan >= 0);
    inner = len - (tagged ? 4 : 0);
    n = vs_vxlan_encap_iov(p, tagged, hdr, iov);
    vs_vxlan_encap_hdr(hdr, 50000, 4789, 0xabcdef, inner);
    dlen = gather(iov, n, dg);
    CU_ASSERT_EQUAL(dlen, VS_VXLAN_ENCAP_HLEN + inner);
    CU_ASSERT_EQUAL(dg[0] << 8 | dg[1], 50000);
    CU_ASSERT_EQUAL(dg[2] << 8 | dg[3], 4789);
    CU_ASSERT_EQUAL((size_t)(dg[4] << 8 | dg[5]), dlen);
    CU_ASSERT_EQUAL(dg[6] | dg[7], 0); /* no UDP checksum over IPv4 */
    CU_ASSERT_EQUAL(dg[8], 0x08);
    /* The frame itself was not touched (a flooded frame is shared). */
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), orig, len), 0);
    /* Back: the VXLAN payload starts after the UDP header. */
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(dg + 8, dlen - 8, 4096, &vni), VS_VXLAN_OK);
    CU_ASSERT_EQUAL(vni, 0xabcdef);
    if (vlan >= 0) {
        f = vs_vxlan_decap_tag(dg + 8, (uint16_t)vlan);
        CU_ASSERT_EQUAL(f, dg + 12);
        CU_ASSERT_EQUAL(memcmp(f, orig, len), 0);
    } else {
        CU_ASSERT_EQUAL(memcmp(dg + 16, orig, len), 0);
    }
    vs_pkt_free(p);
}

static void test_encap_sizes(void)
{
    for (uint32_t len = 18; len <= VS_PKT_DATA_ROOM; len++) {
        roundtrip(len, 10);
        roundtrip(len, 4094);
        roundtrip(len, -1);
    }
    roundtrip(14, -1);
}

static void test_encap_lent(void)
{
    /* A lent frame: its head in buf, its tail in "peer memory". */
    static uint8_t peer[1600], dg[2048];
    struct vs_pkt *p = vs_pkt_alloc(pool);
    uint8_t hdr[VS_VXLAN_ENCAP_HLEN];
    struct iovec iov[4];
    unsigned n;

    CU_ASSERT_FATAL(p != NULL);
    make_frame(peer, sizeof(peer), 20, mac_b, mac_a);
    vs_pkt_set_external(p, peer, sizeof(peer));
    n = vs_vxlan_encap_iov(p, true, hdr, iov);
    CU_ASSERT_EQUAL(n, 4);
    vs_vxlan_encap_hdr(hdr, 50000, 4789, 7, sizeof(peer) - 4);
    CU_ASSERT_EQUAL(gather(iov, n, dg), VS_VXLAN_ENCAP_HLEN + sizeof(peer) - 4);
    CU_ASSERT_EQUAL(memcmp(dg + 16, peer, 12), 0);
    CU_ASSERT_EQUAL(memcmp(dg + 28, peer + 16, sizeof(peer) - 16), 0);
    vs_pkt_free(p);
}

static void test_decap_verdicts(void)
{
    static uint8_t d[2100];
    uint32_t vni = 0;

    memset(d, 0, sizeof(d));
    d[0] = 0x08;
    d[6] = 100;
    make_frame(d + 8, 60, -1, mac_b, mac_a);
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_OK);
    CU_ASSERT_EQUAL(vni, 100);
    for (size_t len = 0; len < 8 + 14; len++)
        CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, len, 1514, &vni), VS_VXLAN_RUNT);
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 8 + 14, 1514, &vni), VS_VXLAN_OK);
    /* Every flag bit but I, and every reserved byte. */
    for (int bit = 0; bit < 8; bit++) {
        d[0] = (uint8_t)(0x08 | 1 << bit);
        CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni),
                        bit == 3 ? VS_VXLAN_OK : VS_VXLAN_BAD_FLAGS);
    }
    d[0] = 0;
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_BAD_FLAGS);
    d[0] = 0x08;
    for (int i = 1; i < 8; i++) {
        if (i >= 4 && i <= 6)
            continue;
        d[i] = 1;
        CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_BAD_FLAGS);
        d[i] = 0;
    }
    /* Inner frames: tagged (either TPID), bad sources, too long. */
    d[8 + 12] = 0x81;
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_INNER_TAGGED);
    d[8 + 12] = 0x88;
    d[8 + 13] = 0xa8;
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_INNER_TAGGED);
    d[8 + 12] = 0x08;
    d[8 + 13] = 0x00;
    d[8 + 6] = 0x01;
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_BAD_SRC);
    memset(d + 8 + 6, 0, 6);
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 68, 1514, &vni), VS_VXLAN_BAD_SRC);
    memcpy(d + 8 + 6, mac_a, 6);
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 8 + 1514, 1514, &vni), VS_VXLAN_OK);
    CU_ASSERT_EQUAL(vs_vxlan_decap_check(d, 8 + 1515, 1514, &vni), VS_VXLAN_OVERSIZE);
}

/* --- options ------------------------------------------------------------------------ */

static int parse(struct vs_vx_args *a, const char *map, const char *remotes, const char *extra_k,
                 const char *extra_v, struct vs_port_err *err)
{
    struct vs_port_arg v[4] = {{"local_ip", "198.51.100.1", 0, 0}};
    unsigned n = 1;

    if (map)
        v[n++] = (struct vs_port_arg){"vni_map", map, 0, 0};
    if (remotes)
        v[n++] = (struct vs_port_arg){"remotes", remotes, 0, 0};
    if (extra_k)
        v[n++] = (struct vs_port_arg){extra_k, extra_v, 0, 0};
    struct vs_port_args args = {n, v};
    return vs_vx_args_parse(&args, a, err);
}

static void test_args(void)
{
    static struct vs_vx_args a;
    struct vs_port_err err;

    CU_ASSERT_EQUAL(
        parse(&a, "200:20, 100:10,300:0", "198.51.100.2, 198.51.100.3@200", NULL, NULL, &err), 0);
    CU_ASSERT_EQUAL(a.n_vni, 3);
    CU_ASSERT(a.vni[0] == 100 && a.vlan[0] == 10);
    CU_ASSERT(a.vni[1] == 200 && a.vlan[1] == 20);
    CU_ASSERT(a.vni[2] == 300 && a.vlan[2] == 0);
    CU_ASSERT_EQUAL(vs_vx_args_vni_index(&a, 200), 1);
    CU_ASSERT_EQUAL(vs_vx_args_vni_index(&a, 201), -1);
    CU_ASSERT_EQUAL(a.n_remote, 2);
    CU_ASSERT_EQUAL(a.remote[0].vni, VS_VX_ALL_VNIS);
    CU_ASSERT_EQUAL(a.remote[1].vni, 200);
    CU_ASSERT_EQUAL(a.remote[1].ip, inet_addr("198.51.100.3"));
    CU_ASSERT_EQUAL(a.dstport, 4789);
    CU_ASSERT_EQUAL(a.aging, 300);
    CU_ASSERT(a.learning);

    static const char *const bad_maps[] = {
        "",         "100",           "100:",          ":10",   "0:10", "16777216:10",
        "100:4095", "100:10,200:10", "100:10,100:20", "100:x", "-1:10"};
    for (size_t i = 0; i < VS_ARRAY_SIZE(bad_maps); i++) {
        memset(&err, 0, sizeof(err));
        CU_ASSERT_EQUAL(parse(&a, bad_maps[i], NULL, NULL, NULL, &err), -EINVAL);
        CU_ASSERT(strstr(err.msg, "vni_map") != NULL);
    }
    CU_ASSERT_EQUAL(parse(&a, NULL, NULL, NULL, NULL, &err), -EINVAL);
    static const char *const bad_remotes[] = {"198.51.100",   "198.51.100.2@300", "224.0.0.1",
                                              "198.51.100.1", "0.0.0.0",          "x@100",
                                              "198.51.100.2@"};
    for (size_t i = 0; i < VS_ARRAY_SIZE(bad_remotes); i++) {
        memset(&err, 0, sizeof(err));
        CU_ASSERT_EQUAL(parse(&a, "100:10", bad_remotes[i], NULL, NULL, &err), -EINVAL);
        CU_ASSERT(strstr(err.msg, "remotes") != NULL);
    }
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "dstport", "0", &err), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "mtu", "9000", &err), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "nosuch", "1", &err), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "learning", "off", &err), 0);
    CU_ASSERT(!a.learning);
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "control", "evpn", &err), 0);
    CU_ASSERT(a.evpn && !a.learning && a.shadow_port == 4790);
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "control", "bgp", &err), -EINVAL);
    CU_ASSERT(strstr(err.msg, "control") != NULL);
    CU_ASSERT_EQUAL(parse(&a, "100:10", NULL, "shadow_port", "0", &err), -EINVAL);
}

/* --- source port hash ------------------------------------------------------------- */

static uint32_t udp_frame(uint8_t *f, uint16_t sport, uint16_t dport, bool frag)
{
    memset(f, 0, 64);
    make_frame(f, 18 + 20 + 8, 10, mac_b, mac_a);
    uint8_t *ip = f + 18;
    memset(ip, 0, 28);
    ip[0] = 0x45;
    ip[6] = frag ? 0x20 : 0; /* MF */
    ip[9] = 17;
    memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
    ip[20] = (uint8_t)(sport >> 8);
    ip[21] = (uint8_t)sport;
    ip[22] = (uint8_t)(dport >> 8);
    ip[23] = (uint8_t)dport;
    return 18 + 28;
}

static void test_src_port(void)
{
    static uint8_t seen[VS_VXLAN_SPORT_SPAN];
    uint8_t f[64];
    unsigned distinct = 0, n = 4096;
    uint16_t first, frag0;

    memset(seen, 0, sizeof(seen));
    for (unsigned i = 0; i < n; i++) {
        uint32_t len = udp_frame(f, (uint16_t)(10000 + i), 53, false);
        uint16_t sp = vs_vxlan_src_port(f, len);

        CU_ASSERT(sp >= VS_VXLAN_SPORT_MIN);
        CU_ASSERT_EQUAL(sp, vs_vxlan_src_port(f, len)); /* one flow, one port */
        if (!seen[sp - VS_VXLAN_SPORT_MIN]++)
            distinct++;
    }
    /* 4096 flows into 16384 ports: a uniform hash leaves ~3600 distinct. */
    CU_ASSERT(distinct > 3400);
    /* Fragments of one datagram go together whatever follows the IP header. */
    udp_frame(f, 1, 2, true);
    frag0 = vs_vxlan_src_port(f, 46);
    udp_frame(f, 3, 4, true);
    CU_ASSERT_EQUAL(vs_vxlan_src_port(f, 46), frag0);
    /* Different addresses move the port; so does a different inner MAC. */
    udp_frame(f, 1, 2, false);
    first = vs_vxlan_src_port(f, 46);
    f[18 + 15] = 9;
    CU_ASSERT_NOT_EQUAL(vs_vxlan_src_port(f, 46), first);
    /* Short heads do not read past their end. */
    for (uint32_t len = 0; len < 46; len++)
        CU_ASSERT(vs_vxlan_src_port(f, len) >= VS_VXLAN_SPORT_MIN);
}

/* --- station table ---------------------------------------------------------------- */

static void test_stations(void)
{
    struct vs_vx_stations *t;
    uint8_t mac[6] = {0x02, 0, 0, 0, 1, 0};
    uint16_t vtep = 0;

    CU_ASSERT_EQUAL_FATAL(vs_vx_stations_create(1024, &t), 0);
    CU_ASSERT(!vs_vx_station_lookup(t, 0, mac, &vtep));
    vs_vx_station_learn(t, 0, mac, 3, 100);
    CU_ASSERT(vs_vx_station_lookup(t, 0, mac, &vtep) && vtep == 3);
    CU_ASSERT(!vs_vx_station_lookup(t, 1, mac, &vtep)); /* another VNI */
    vs_vx_station_learn(t, 0, mac, 4, 101);             /* moved */
    CU_ASSERT(vs_vx_station_lookup(t, 0, mac, &vtep) && vtep == 4);
    CU_ASSERT_EQUAL(vs_vx_stations_count(t), 1);
    /* Aging: refreshed at 150, gone after 150 + 60. */
    vs_vx_station_learn(t, 0, mac, 4, 150);
    CU_ASSERT_EQUAL(vs_vx_stations_age(t, 200, 60), 0);
    CU_ASSERT_EQUAL(vs_vx_stations_age(t, 211, 60), 1);
    CU_ASSERT(!vs_vx_station_lookup(t, 0, mac, &vtep));
    CU_ASSERT_EQUAL(vs_vx_stations_count(t), 0);
    /* Static and EVPN entries: never aged, never moved by a datagram. */
    CU_ASSERT_EQUAL(vs_vx_station_set(t, 0, mac, 7, VS_VX_STATIC, 0), 0);
    mac[5] = 1;
    CU_ASSERT_EQUAL(vs_vx_station_set(t, 0, mac, 8, VS_VX_EVPN, 0), 0);
    vs_vx_station_learn(t, 0, mac, 9, 10);
    CU_ASSERT(vs_vx_station_lookup(t, 0, mac, &vtep) && vtep == 8);
    CU_ASSERT_EQUAL(vs_vx_stations_age(t, 100000, 60), 0);
    CU_ASSERT_EQUAL(vs_vx_stations_count(t), 2);
    CU_ASSERT_EQUAL(vs_vx_station_del(t, 0, mac, VS_VX_STATIC), -ENOENT); /* it is EVPN's */
    CU_ASSERT_EQUAL(vs_vx_station_del(t, 0, mac, VS_VX_EVPN), 0);
    CU_ASSERT(!vs_vx_station_lookup(t, 0, mac, &vtep));
    CU_ASSERT_EQUAL(vs_vx_stations_flush(t, VS_VX_STATIC), 1);
    CU_ASSERT_EQUAL(vs_vx_stations_count(t), 0);
    /* A flood of made-up MACs: the table stays within its capacity, and a static
     * entry set before it is still there. */
    mac[4] = 0xee;
    CU_ASSERT_EQUAL(vs_vx_station_set(t, 2, mac, 1, VS_VX_STATIC, 0), 0);
    for (unsigned i = 0; i < 100000; i++) {
        uint8_t m[6] = {0x02, 0x11, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0};

        vs_vx_station_learn(t, 2, m, 2, i / 1000);
    }
    CU_ASSERT(vs_vx_stations_count(t) <= vs_vx_stations_capacity(t));
    CU_ASSERT(vs_vx_station_lookup(t, 2, mac, &vtep) && vtep == 1);
    vs_vx_stations_destroy(t);

    /* One bucket: a bucket of static entries refuses another; learning takes the
     * stalest learned slot. */
    CU_ASSERT_EQUAL_FATAL(vs_vx_stations_create(VS_VX_WAYS, &t), 0);
    for (int i = 0; i < VS_VX_WAYS; i++) {
        uint8_t m[6] = {0x02, 0, 0, 0, 2, (uint8_t)i};
        CU_ASSERT_EQUAL(vs_vx_station_set(t, 0, m, 1, VS_VX_STATIC, 0), 0);
    }
    CU_ASSERT_EQUAL(vs_vx_station_set(t, 0, mac, 1, VS_VX_EVPN, 0), -ENOSPC);
    vs_vx_station_learn(t, 0, mac, 1, 0);
    CU_ASSERT(!vs_vx_station_lookup(t, 0, mac, &vtep));
    CU_ASSERT_EQUAL(vs_vx_stations_flush(t, 0), VS_VX_WAYS);
    for (int i = 0; i < VS_VX_WAYS; i++) {
        uint8_t m[6] = {0x02, 0, 0, 0, 3, (uint8_t)i};
        vs_vx_station_learn(t, 0, m, 1, (uint32_t)(10 + i));
    }
    vs_vx_station_learn(t, 0, mac, 5, 50);
    CU_ASSERT(vs_vx_station_lookup(t, 0, mac, &vtep) && vtep == 5);
    uint8_t oldest[6] = {0x02, 0, 0, 0, 3, 0};
    CU_ASSERT(!vs_vx_station_lookup(t, 0, oldest, &vtep));
    CU_ASSERT_EQUAL(vs_vx_stations_count(t), VS_VX_WAYS);
    vs_vx_stations_destroy(t);
}

/* --- netlink neighbour messages ----------------------------------------------------- */

struct seen {
    unsigned n, with_dst, flood;
    uint32_t flood_dst[4];
};

static void count_neigh(const struct vs_vx_neigh *n, void *arg)
{
    static const uint8_t zero[6];
    struct seen *s = arg;

    s->n++;
    if (n->has_dst) {
        s->with_dst++;
        CU_ASSERT(n->has_mac);
        CU_ASSERT(n->flags & 0x02); /* NTF_SELF: on the VXLAN device itself */
        if (!memcmp(n->mac, zero, 6) && s->flood < 4)
            s->flood_dst[s->flood++] = n->dst;
    }
}

/* A dump of AF_BRIDGE neighbours recorded in a host of evpn_test.sh while FRR's
 * zebra had installed two remote MACs and the flood list (203.0.113.2 and .3) on
 * the shadow VXLAN device, next to multicast and local entries of the bridge. */
static void test_nl_recorded(void)
{
    static uint8_t buf[4096];
    struct vs_vx_nl_stats st = {0};
    struct seen seen = {0};
    FILE *f = fopen(VS_TEST_DATA "/evpn_neigh_dump.bin", "rb");
    size_t len;

    CU_ASSERT_FATAL(f != NULL);
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    vs_vx_nl_parse(buf, len, count_neigh, &seen, &st);
    CU_ASSERT_EQUAL(st.messages, 21);
    CU_ASSERT_EQUAL(st.neigh, 20);
    CU_ASSERT_EQUAL(st.bad, 0);
    CU_ASSERT(st.done);
    CU_ASSERT_EQUAL(seen.with_dst, 4);
    CU_ASSERT_EQUAL_FATAL(seen.flood, 2);
    CU_ASSERT_EQUAL(seen.flood_dst[0], inet_addr("203.0.113.2"));
    CU_ASSERT_EQUAL(seen.flood_dst[1], inet_addr("203.0.113.3"));
    /* Every cut of it: messages cut short are counted as bad, never read past. */
    for (size_t cut = 0; cut < len; cut++) {
        struct vs_vx_nl_stats s2 = {0};
        struct seen x = {0};

        vs_vx_nl_parse(buf, cut, count_neigh, &x, &s2);
        CU_ASSERT(x.n <= 20);
    }
    /* An attribute longer than its message, a message longer than the buffer. */
    uint8_t bad[sizeof(buf)];
    memcpy(bad, buf, len);
    bad[28] = 0xff; /* first message's first rta_len */
    struct vs_vx_nl_stats s3 = {0};
    struct seen y = {0};
    vs_vx_nl_parse(bad, len, count_neigh, &y, &s3);
    CU_ASSERT_EQUAL(s3.bad, 1);
    CU_ASSERT_EQUAL(y.n, 19);
    memcpy(bad, buf, len);
    bad[0] = 0xff;
    bad[1] = 0xff;
    memset(&s3, 0, sizeof(s3));
    vs_vx_nl_parse(bad, len, count_neigh, &y, &s3);
    CU_ASSERT_EQUAL(s3.bad, 1);
    CU_ASSERT_EQUAL(s3.messages, 0);
}

/* --- the port over loopback ---------------------------------------------------------- */

/* A UDP socket on addr:4789, standing in for a remote VTEP. */
static int vtep_socket(const char *addr)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(4789)};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

    inet_pton(AF_INET, addr, &sa.sin_addr);
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    return s;
}

/* Datagrams waiting on s (read and counted); the last one in buf. */
static int drain(int s, uint8_t *buf, size_t len)
{
    int n = 0;

    while (recv(s, buf, len, 0) > 0)
        n++;
    return n;
}

static void settle(void) { usleep(20000); }

static struct vs_pkt *frame_pkt(uint32_t len, int vlan, const uint8_t dst[6])
{
    struct vs_pkt *p = vs_pkt_alloc(pool);

    CU_ASSERT_FATAL(p != NULL);
    p->len = make_frame(vs_pkt_data(p), len, vlan, dst, mac_a);
    return p;
}

static void test_port(void)
{
    struct vs_port_arg v[] = {{"local_ip", "127.0.0.1", 0, 0},
                              {"vni_map", "100:10,200:20", 0, 0},
                              {"remotes", "127.0.0.2,127.0.0.3,127.0.0.4@200", 0, 0}};
    struct vs_port_args args = {VS_ARRAY_SIZE(v), v};
    struct vs_port port = {.name = "vx", .pool = pool};
    struct vs_port_err err = {0};
    struct vs_pkt *pkts[VS_BURST];
    static uint8_t buf[4096];
    struct vs_vx *x;
    int r2, r3, r4;

    if (!need_netns())
        return;
    r2 = vtep_socket("127.0.0.2");
    r3 = vtep_socket("127.0.0.3");
    r4 = vtep_socket("127.0.0.4");
    CU_ASSERT_EQUAL_FATAL(vs_port_vxlan_ops.open(&port, &args, &err), 0);
    x = port.priv;
    /* lo's MTU is 65536: the inner MTU is what a small buffer holds. */
    CU_ASSERT_EQUAL(port.mtu, VS_VX_MTU_MAX);

    /* A broadcast on VLAN 10 (VNI 100): once to each of its two remotes. */
    pkts[0] = frame_pkt(100, 10, bcast);
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, 1), 1);
    settle();
    CU_ASSERT_EQUAL(drain(r2, buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(buf[4] << 16 | buf[5] << 8 | buf[6], 100);
    CU_ASSERT_EQUAL(drain(r3, buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(buf[4] << 16 | buf[5] << 8 | buf[6], 100);
    CU_ASSERT_EQUAL(drain(r4, buf, sizeof(buf)), 0);
    /* VLAN 20 (VNI 200): all three, 127.0.0.4 only there. */
    pkts[0] = frame_pkt(100, 20, bcast);
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, 1), 1);
    settle();
    CU_ASSERT_EQUAL(drain(r2, buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(drain(r3, buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(drain(r4, buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(buf[4] << 16 | buf[5] << 8 | buf[6], 200);
    CU_ASSERT_EQUAL(x->vni_tx[1].flooded, 3);
    /* Split horizon: a flood that came out of an overlay goes to no VTEP. */
    pkts[0] = frame_pkt(100, 10, bcast);
    pkts[0]->flags |= VS_PKT_F_OVERLAY;
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, 1), 1);
    settle();
    CU_ASSERT_EQUAL(drain(r2, buf, sizeof(buf)) + drain(r3, buf, sizeof(buf)), 0);
    CU_ASSERT_EQUAL(x->drops[VS_VX_TX_SPLIT_HORIZON], 1);
    /* Unmapped VLAN, untagged frame (VLAN 0 is not mapped here): dropped, counted. */
    pkts[0] = frame_pkt(100, 30, bcast);
    pkts[1] = frame_pkt(100, -1, bcast);
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, 2), 2);
    CU_ASSERT_EQUAL(x->drops[VS_VX_TX_UNMAPPED], 2);

    /* Datagrams in: from 127.0.0.3 with mac_b on VNI 100. */
    static uint8_t d[256];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(4789)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    memset(d, 0, sizeof(d));
    d[0] = 0x08;
    d[6] = 100;
    make_frame(d + 8, 64, -1, mac_a, mac_b);
    CU_ASSERT_EQUAL(sendto(r3, d, 72, 0, (struct sockaddr *)&to, sizeof(to)), 72);
    d[6] = 99; /* not mapped */
    CU_ASSERT_EQUAL(sendto(r3, d, 72, 0, (struct sockaddr *)&to, sizeof(to)), 72);
    CU_ASSERT_EQUAL(sendto(r3, d, 10, 0, (struct sockaddr *)&to, sizeof(to)), 10);
    settle();
    uint16_t n = vs_port_vxlan_ops.rx_burst(&port, 0, pkts, VS_BURST);
    CU_ASSERT_EQUAL_FATAL(n, 1);
    CU_ASSERT_EQUAL(pkts[0]->len, 68);
    CU_ASSERT(pkts[0]->flags & VS_PKT_F_OVERLAY);
    bool tagged = false;
    CU_ASSERT_EQUAL(vs_vxlan_frame_vlan(vs_pkt_data(pkts[0]), pkts[0]->len, &tagged), 10);
    CU_ASSERT(tagged);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(pkts[0]) + 6, mac_b, 6), 0);
    vs_pkt_free(pkts[0]);
    CU_ASSERT_EQUAL(x->drops[VS_VX_RX_BAD_VNI], 1);
    CU_ASSERT_EQUAL(x->rx_verdict[VS_VXLAN_RUNT], 1);

    /* mac_b is now behind 127.0.0.3: unicast to it goes there alone. */
    pkts[0] = frame_pkt(200, 10, mac_b);
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, 1), 1);
    settle();
    CU_ASSERT_EQUAL(drain(r2, buf, sizeof(buf)), 0);
    CU_ASSERT_EQUAL(drain(r3, buf, sizeof(buf)), 1);
    CU_ASSERT_EQUAL(memcmp(buf + 8, mac_b, 6), 0);
    CU_ASSERT_EQUAL(buf[8 + 12], 0x08); /* the tag is gone */
    /* On VNI 200 mac_b is unknown: flooded. */
    pkts[0] = frame_pkt(200, 20, mac_b);
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, 1), 1);
    settle();
    CU_ASSERT_EQUAL(
        drain(r2, buf, sizeof(buf)) + drain(r3, buf, sizeof(buf)) + drain(r4, buf, sizeof(buf)), 3);
    /* A burst of 32 floods to 3 remotes: 96 datagrams, none lost. */
    for (int i = 0; i < VS_BURST; i++)
        pkts[i] = frame_pkt(100, 20, bcast);
    CU_ASSERT_EQUAL(vs_port_vxlan_ops.tx_burst(&port, 0, pkts, VS_BURST), VS_BURST);
    settle();
    CU_ASSERT_EQUAL(drain(r2, buf, sizeof(buf)), VS_BURST);
    CU_ASSERT_EQUAL(drain(r3, buf, sizeof(buf)), VS_BURST);
    CU_ASSERT_EQUAL(drain(r4, buf, sizeof(buf)), VS_BURST);
    CU_ASSERT_EQUAL(x->vteps->v[vs_vx_vtep_find(x->vteps, inet_addr("127.0.0.4"))].tx_packets,
                    VS_BURST + 2);

    vs_port_vxlan_ops.close(&port);
    close(r2);
    close(r3);
    close(r4);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
}

static int suite_init(void)
{
    if (vs_pool_create(512, VS_PAGES_NONE, &pool) < 0 || vs_loop_init() < 0)
        return -1;
    /* Datagrams stay in a namespace of our own, on its loopback. */
    if (unshare(CLONE_NEWNET) == 0) {
        struct ifreq ifr = {.ifr_name = "lo"};
        int s = socket(AF_INET, SOCK_DGRAM, 0);

        if (s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
            ifr.ifr_flags |= IFF_UP;
            have_netns = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
        }
        if (s >= 0)
            close(s);
    }
    return 0;
}

static int suite_clean(void)
{
    vs_pool_thread_flush();
    vs_pool_destroy(pool);
    vs_loop_fini();
    return 0;
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("vxlan", suite_init, suite_clean);
    CU_add_test(s, "encap/decap round trip, every size, tagged and not", test_encap_sizes);
    CU_add_test(s, "encap of a lent frame", test_encap_lent);
    CU_add_test(s, "decap verdicts", test_decap_verdicts);
    CU_add_test(s, "options: vni_map, remotes", test_args);
    CU_add_test(s, "UDP source port hash", test_src_port);
    CU_add_test(s, "station table: learn, move, age, static, EVPN, full", test_stations);
    CU_add_test(s, "netlink neighbour messages, recorded and cut", test_nl_recorded);
    CU_add_test(s, "port over loopback: flood lists, split horizon, unicast, rx", test_port);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
