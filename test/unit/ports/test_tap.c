/* The TAP port against real TAP devices, in a network namespace of its own (so no
 * crafted frame can reach another interface): the virtio-net header translation
 * both ways, what TUNSETOFFLOAD leaves in force (also on a kernel that refuses USO,
 * played by an ioctl() that refuses it), the port's options (offloads, mtu), and
 * frames through the device: what the port writes is read back from a packet
 * socket on the interface, and what a packet socket sends (with a virtio-net
 * header, so the kernel hands the device a TSO segment) is what the port reads.
 * The device tests need root and /dev/net/tun. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ports/tap/tap.h"
#include "ports/tap/tun_offload.h"
#include "vswitch/offload.h"
#include "vswitch/pkt.h"
#include "vswitch/port.h"

#define ETHERTYPE_TEST 0x88b5 /* IEEE local experimental: nothing else sends it */
#define BIG 70000             /* more than any frame of these tests */

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

static struct vs_pool *pool;       /* with a companion of large buffers */
static struct vs_pool *small_pool; /* without */
static bool have_tap;
static unsigned ifseq;

/* --- an ioctl() that plays an older kernel -------------------------------------
 * Every ioctl of this program (the port's included) comes here first. */
static bool refuse_uso;    /* EINVAL for TUNSETOFFLOAD with USO bits, as Linux < 6.2 */
static int refuse_offload; /* an errno for every TUNSETOFFLOAD, or 0 */
static unsigned offload_calls;

int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);

    if (req == TUNSETOFFLOAD) {
        offload_calls++;
        if (refuse_offload) {
            errno = refuse_offload;
            return -1;
        }
        if (refuse_uso && (arg & (TUN_F_USO4 | TUN_F_USO6))) {
            errno = EINVAL;
            return -1;
        }
    }
    long rc = syscall(SYS_ioctl, fd, req, arg);
    return (int)rc;
}

static bool in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && !strcmp(ci, "true");
}

/* false (and a failure in CI) when this machine cannot create TAP devices. */
static bool need_tap(void)
{
    if (have_tap)
        return true;
    if (in_ci()) {
        CU_FAIL("a TAP device is needed in CI (root, /dev/net/tun)");
    } else {
        fprintf(stderr, "skipped (no TAP device: not root?) ");
    }
    return false;
}

/* --- frames ---------------------------------------------------------------------- */

static uint16_t csum16(const uint8_t *d, uint32_t len, uint32_t sum)
{
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(d[i] << 8 | d[i + 1]);
    if (len & 1)
        sum += (uint32_t)d[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* Ethernet (to a MAC no interface has) + IPv4 + TCP or UDP + payload, the L4
 * checksum field holding the pseudo-header sum as a sender that leaves the
 * checksum to the NIC writes it. Returns the frame length. */
static uint32_t make_ip4(uint8_t *f, uint8_t proto, uint32_t payload, uint8_t seed)
{
    static const uint8_t eth[14] = {0x02, 0, 0, 0, 0, 0x22, 0x02, 0, 0, 0, 0, 0x11, 0x08, 0};
    uint32_t l4len = (proto == IPPROTO_TCP ? 20 : 8) + payload;
    uint8_t *ip = f + 14, *l4 = ip + 20;

    memcpy(f, eth, 14);
    memset(ip, 0, 20);
    ip[0] = 0x45;
    ip[2] = (uint8_t)((20 + l4len) >> 8);
    ip[3] = (uint8_t)(20 + l4len);
    ip[4] = seed;
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, (uint8_t[]){198, 51, 100, 1, 198, 51, 100, 2}, 8);
    uint16_t c = (uint16_t)~csum16(ip, 20, 0);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    memset(l4, 0, proto == IPPROTO_TCP ? 20 : 8);
    l4[0] = 0x9c;
    l4[1] = 0x40; /* 40000 */
    l4[2] = 0x14;
    l4[3] = 0x51; /* 5201 */
    if (proto == IPPROTO_TCP) {
        l4[4] = seed;
        l4[12] = 5 << 4;
        l4[13] = 0x18; /* PSH ACK */
        l4[14] = 0xff;
        l4[15] = 0xff;
    } else {
        l4[4] = (uint8_t)(l4len >> 8);
        l4[5] = (uint8_t)l4len;
    }
    uint8_t *pl = l4 + (proto == IPPROTO_TCP ? 20 : 8);
    for (uint32_t i = 0; i < payload; i++)
        pl[i] = (uint8_t)(seed + i * 13 + (i >> 8));
    /* pseudo header: addresses, protocol, L4 length */
    uint32_t sum = (uint32_t)proto + l4len;
    uint16_t ps = csum16(ip + 12, 8, sum);
    uint8_t *ck = l4 + (proto == IPPROTO_TCP ? 16 : 6);
    ck[0] = (uint8_t)(ps >> 8);
    ck[1] = (uint8_t)ps;
    return 14 + 20 + l4len;
}

static void make_frame(uint8_t *f, uint32_t len, uint8_t seed)
{
    static const uint8_t eth[14] = {
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, ETHERTYPE_TEST >> 8, ETHERTYPE_TEST & 0xff};
    for (uint32_t i = 0; i < len; i++)
        f[i] = i < 14 ? eth[i] : (uint8_t)(seed + i * 7);
    f[len - 2] = ETHERTYPE_TEST >> 8; /* the marker read_frame looks for */
    f[len - 1] = ETHERTYPE_TEST & 0xff;
}

/* --- a port and the packet socket beside it ---------------------------------------- */

struct bench {
    struct vs_port port;
    char ifname[IFNAMSIZ];
    int psock; /* reads what the port writes (incoming on the interface) */
    int vsock; /* the same with PACKET_VNET_HDR, and sends towards the port */
};

static void disable_ipv6(const char *ifname)
{
    char path[128];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        /* fewer frames of the kernel's own (router solicitations) to skip */
        CU_ASSERT_EQUAL(write(fd, "1", 1), 1);
        close(fd);
    }
}

static int bind_psock(const char *ifname, bool vnet)
{
    int one = 1, s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                              .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex(ifname)};

    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_FATAL(sll.sll_ifindex > 0);
    if (vnet)
        CU_ASSERT_EQUAL_FATAL(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)), 0);
    /* Only what the port wrote, not what this socket (or the kernel) sends out. */
    CU_ASSERT_EQUAL_FATAL(setsockopt(s, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)), 0);
    CU_ASSERT_EQUAL_FATAL(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
    return s;
}

/* Opens a TAP port on p with the options in kv ("key=value", NULL-terminated;
 * ifname added). Returns open()'s result; err filled on failure. */
static int bench_open(struct bench *b, struct vs_pool *p, struct vs_port_err *err, ...)
{
    struct vs_port_arg a[8];
    char kv[8][64];
    unsigned n = 0;
    va_list ap;
    int rc;

    memset(b, 0, sizeof(*b));
    b->psock = b->vsock = -1;
    snprintf(b->ifname, sizeof(b->ifname), "vst%u.%u", (unsigned)getpid() % 100000, ifseq++);
    a[n++] = (struct vs_port_arg){.key = "ifname", .value = b->ifname};
    va_start(ap, err);
    for (const char *s; (s = va_arg(ap, const char *)) && n < 8; n++) {
        snprintf(kv[n], sizeof(kv[n]), "%s", s);
        char *eq = strchr(kv[n], '=');
        *eq = '\0';
        a[n] = (struct vs_port_arg){.key = kv[n], .value = eq + 1};
    }
    va_end(ap);
    const struct vs_port_args args = {.n = n, .v = a};
    snprintf(b->port.name, sizeof(b->port.name), "tap");
    b->port.ops = &vs_port_tap_ops;
    b->port.pool = p;
    memset(err, 0, sizeof(*err));
    if ((rc = b->port.ops->open(&b->port, &args, err)) < 0)
        return rc;
    disable_ipv6(b->ifname);
    b->psock = bind_psock(b->ifname, false);
    b->vsock = bind_psock(b->ifname, true);
    return 0;
}

static void bench_close(struct bench *b)
{
    if (b->psock >= 0)
        close(b->psock);
    if (b->vsock >= 0)
        close(b->vsock);
    if (b->port.priv)
        b->port.ops->close(&b->port);
    b->psock = b->vsock = -1;
}

/* Reads frames off s until one of len bytes for which match() holds (the kernel
 * sends its own frames on a new interface). hdr: where a vnet header goes, or NULL. */
static bool read_match(int s, uint8_t *out, uint32_t len, struct virtio_net_hdr *hdr,
                       bool (*match)(const uint8_t *, uint32_t))
{
    static uint8_t buf[BIG + sizeof(struct virtio_net_hdr)];
    size_t hl = hdr ? sizeof(*hdr) : 0;

    for (int i = 0; i < 100; i++) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        if (poll(&pfd, 1, 2000) != 1)
            return false;
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        if (n != (ssize_t)(len + hl) || !match(buf + hl, len))
            continue;
        if (hdr)
            memcpy(hdr, buf, hl);
        memcpy(out, buf + hl, len);
        return true;
    }
    return false;
}

static bool is_test_frame(const uint8_t *f, uint32_t len)
{
    return f[len - 2] == (ETHERTYPE_TEST >> 8) && f[len - 1] == (ETHERTYPE_TEST & 0xff);
}

static bool is_ip4_test(const uint8_t *f, uint32_t len)
{
    return len > 34 && f[12] == 0x08 && f[13] == 0 && f[26] == 198 && f[29] == 1;
}

static bool read_frame(struct bench *b, uint8_t *out, uint32_t len)
{
    return read_match(b->psock, out, len, NULL, is_test_frame);
}

/* Polls the port until a frame of len bytes arrives. */
static struct vs_pkt *rx_one(struct bench *b, uint32_t len)
{
    struct vs_pkt *pk[VS_BURST];

    for (int i = 0; i < 200; i++) {
        struct pollfd pfd = {.fd = b->port.ops->rx_wait_fd(&b->port, 0), .events = POLLIN};
        poll(&pfd, 1, 10);
        uint16_t n = b->port.ops->rx_burst(&b->port, 0, pk, VS_BURST);
        struct vs_pkt *found = NULL;
        for (uint16_t j = 0; j < n; j++) {
            if (!found && pk[j]->len == len && is_ip4_test(vs_pkt_data(pk[j]), len))
                found = pk[j];
            else
                vs_pkt_free(pk[j]);
        }
        if (found)
            return found;
    }
    return NULL;
}

/* Sends frame f through the interface towards the port, with header h. */
static void send_vnet(struct bench *b, const struct virtio_net_hdr *h, const uint8_t *f,
                      uint32_t len)
{
    static uint8_t buf[BIG + sizeof(*h)];
    struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                              .sll_protocol = htons(ETH_P_IP),
                              .sll_ifindex = (int)if_nametoindex(b->ifname),
                              .sll_halen = 6};

    memcpy(buf, h, sizeof(*h));
    memcpy(buf + sizeof(*h), f, len);
    ssize_t n = sendto(b->vsock, buf, sizeof(*h) + len, 0, (struct sockaddr *)&sll, sizeof(sll));
    CU_ASSERT_EQUAL(n, (ssize_t)(sizeof(*h) + len));
    if (n < 0)
        fprintf(stderr, "sendto: %s ", strerror(errno));
}

static json_t *show(struct bench *b)
{
    json_t *o = json_object();
    b->port.ops->show(&b->port, o);
    return o;
}

static unsigned show_uint(struct bench *b, const char *key)
{
    json_t *o = show(b);
    unsigned v = (unsigned)json_integer_value(json_object_get(o, key));
    json_decref(o);
    return v;
}

static int if_get(const char *ifname, unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;
    snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
    rc = ioctl(s, req, ifr);
    close(s);
    return rc;
}

/* What ethtool -k says for one of the legacy feature words (1 on, 0 off). */
static int ethtool_get(const char *ifname, uint32_t cmd)
{
    struct ethtool_value ev = {.cmd = cmd};
    struct ifreq ifr = {.ifr_data = (char *)&ev};
    return if_get(ifname, SIOCETHTOOL, &ifr) < 0 ? -1 : (int)ev.data;
}

/* The device's gso_max_segs as `ip -d link` reports it, or -1. */
static int gso_max_segs(const char *ifname)
{
    char cmd[96], line[1024];
    int v = -1;

    snprintf(cmd, sizeof(cmd), "ip -d link show dev %s 2>/dev/null", ifname);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        const char *m = strstr(line, "gso_max_segs ");
        if (m)
            v = atoi(m + strlen("gso_max_segs "));
    }
    pclose(f);
    return v;
}

static uint8_t all_offloads(void)
{
    /* USO from Linux 6.2 on; the host's kernel decides what to expect. */
    unsigned maj = 0, min = 0;
    FILE *f = fopen("/proc/sys/kernel/osrelease", "r");
    if (f) {
        CU_ASSERT_EQUAL(fscanf(f, "%u.%u", &maj, &min), 2);
        fclose(f);
    }
    return (maj > 6 || (maj == 6 && min >= 2)) ? VS_OL_REQUESTS : VS_OL_REQUESTS & ~VS_OL_USO;
}

/* --- TUNSETOFFLOAD ----------------------------------------------------------------- */

static int raw_tap(char *ifname)
{
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    CU_ASSERT_FATAL(fd >= 0);
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vso%u.%u", (unsigned)getpid() % 100000, ifseq++);
    CU_ASSERT_EQUAL_FATAL(ioctl(fd, TUNSETIFF, &ifr), 0);
    snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
    return fd;
}

static void test_set_offload(void)
{
    char ifname[IFNAMSIZ];
    uint8_t got = 0xff;
    int fd;

    if (!need_tap())
        return;
    fd = raw_tap(ifname);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTSO), 0); /* a new TAP: none */

    /* everything this kernel has */
    offload_calls = 0;
    CU_ASSERT_EQUAL(vs_tap_set_offload(fd, VS_OL_REQUESTS, &got), 0);
    CU_ASSERT_EQUAL(got, all_offloads());
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTSO), 1);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTXCSUM), 1);

    /* a kernel without USO: asked again without it, the rest in force */
    refuse_uso = true;
    offload_calls = 0;
    CU_ASSERT_EQUAL(vs_tap_set_offload(fd, VS_OL_REQUESTS, &got), 0);
    CU_ASSERT_EQUAL(got, VS_OL_REQUESTS & ~VS_OL_USO);
    CU_ASSERT_EQUAL(offload_calls, 2);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTSO), 1);
    /* ... and a request without USO is not repeated */
    offload_calls = 0;
    CU_ASSERT_EQUAL(vs_tap_set_offload(fd, VS_OL_CSUM, &got), 0);
    CU_ASSERT_EQUAL(got, VS_OL_CSUM);
    CU_ASSERT_EQUAL(offload_calls, 1);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTSO), 0);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTXCSUM), 1);
    refuse_uso = false;

    /* segmentation without checksums is nothing; ECN alone neither */
    CU_ASSERT_EQUAL(vs_tap_set_offload(fd, VS_OL_TSO4 | VS_OL_TSO6 | VS_OL_ECN, &got), 0);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTSO), 0);
    CU_ASSERT_EQUAL(ethtool_get(ifname, ETHTOOL_GTXCSUM), 0);
    CU_ASSERT_EQUAL(vs_tap_set_offload(fd, VS_OL_CSUM | VS_OL_ECN, &got), 0);
    CU_ASSERT_EQUAL(got, VS_OL_CSUM);

    /* refused outright: nothing in force, the errno back */
    refuse_offload = EPERM;
    offload_calls = 0;
    CU_ASSERT_EQUAL(vs_tap_set_offload(fd, VS_OL_REQUESTS, &got), -EPERM);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(offload_calls, 1);
    refuse_offload = 0;
    close(fd);
}

/* --- options ----------------------------------------------------------------------- */

static void test_options(void)
{
    struct vs_port_err err;
    struct bench b;

    /* validate refuses without a device */
    {
        const struct vs_port_arg bad1[] = {{"ifname", "x", 0, 0}, {"mtu", "9199", 0, 0}};
        const struct vs_port_arg bad2[] = {{"ifname", "x", 0, 0}, {"offloads", "maybe", 0, 0}};
        const struct vs_port_arg good[] = {
            {"ifname", "x", 0, 0}, {"mtu", "9198", 0, 0}, {"offloads", "off", 0, 0}};
        memset(&err, 0, sizeof(err));
        CU_ASSERT_EQUAL(vs_port_tap_ops.validate(&(struct vs_port_args){2, bad1}, &err), -EINVAL);
        CU_ASSERT_EQUAL(err.arg, 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "9198"));
        memset(&err, 0, sizeof(err));
        CU_ASSERT_EQUAL(vs_port_tap_ops.validate(&(struct vs_port_args){2, bad2}, &err), -EINVAL);
        CU_ASSERT_EQUAL(err.arg, 1);
        CU_ASSERT_EQUAL(vs_port_tap_ops.validate(&(struct vs_port_args){3, good}, &err), 0);
    }
    if (!need_tap())
        return;

    /* offloads on (the default), mtu 9000: both in force, on the device too */
    CU_ASSERT_EQUAL_FATAL(bench_open(&b, pool, &err, "mtu=9000", NULL), 0);
    CU_ASSERT_EQUAL(b.port.tx_offloads, all_offloads());
    CU_ASSERT_EQUAL(b.port.mtu, 9000);
    struct ifreq ifr = {0};
    CU_ASSERT_EQUAL(if_get(b.ifname, SIOCGIFMTU, &ifr), 0);
    CU_ASSERT_EQUAL(ifr.ifr_mtu, 9000);
    CU_ASSERT_EQUAL(ethtool_get(b.ifname, ETHTOOL_GTSO), 1);
    /* no frame of more segments than the switch cuts */
    CU_ASSERT_EQUAL(gso_max_segs(b.ifname), VS_OFFLOAD_MAX_SEGS);
    json_t *o = show(&b);
    CU_ASSERT_TRUE(json_is_true(json_object_get(o, "vnet_hdr")));
    json_decref(o);
    bench_close(&b);

    /* offloads=off: a plain TAP device, the kernel does every checksum and segment */
    CU_ASSERT_EQUAL_FATAL(bench_open(&b, pool, &err, "offloads=off", NULL), 0);
    CU_ASSERT_EQUAL(b.port.tx_offloads, 0);
    CU_ASSERT_EQUAL(b.port.mtu, 1500);
    CU_ASSERT_EQUAL(ethtool_get(b.ifname, ETHTOOL_GTSO), 0);
    CU_ASSERT_EQUAL(ethtool_get(b.ifname, ETHTOOL_GTXCSUM), 0);
    o = show(&b);
    CU_ASSERT_TRUE(json_is_false(json_object_get(o, "vnet_hdr")));
    json_decref(o);
    bench_close(&b);

    /* no large buffers: a TSO segment could not be read, so checksums only ... */
    CU_ASSERT_EQUAL_FATAL(bench_open(&b, small_pool, &err, NULL), 0);
    CU_ASSERT_EQUAL(b.port.tx_offloads, VS_OL_CSUM);
    CU_ASSERT_EQUAL(ethtool_get(b.ifname, ETHTOOL_GTSO), 0);
    bench_close(&b);
    /* ... and no jumbo frames */
    CU_ASSERT_EQUAL(bench_open(&b, small_pool, &err, "offloads=on", "mtu=2031", NULL), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "2030"));
    CU_ASSERT_PTR_NULL(b.port.priv);
    CU_ASSERT_EQUAL(if_nametoindex(b.ifname), 0); /* nothing left behind */
    CU_ASSERT_EQUAL(bench_open(&b, small_pool, &err, "mtu=2030", NULL), 0);
    bench_close(&b);
}

/* --- frames through the device ------------------------------------------------------- */

/* A frame lent from a guest that rewrote its buffer after the switch decided on it
 * goes out with the header the switch decided on (its private head) and the rest
 * from the guest; a frame in our own buffer goes out as it is. With and without
 * vnet headers. */
static void test_tx_lent(void)
{
    static const uint32_t lens[] = {60, 64, 65, 1514};
    static const char *const modes[] = {"offloads=on", "offloads=off"};
    uint8_t guest[VS_PKT_DATA_ROOM], f[VS_PKT_DATA_ROOM], got[VS_PKT_DATA_ROOM];
    struct vs_port_err err;
    struct bench b;

    if (!need_tap())
        return;
    for (unsigned m = 0; m < VS_ARRAY_SIZE(modes); m++) {
        CU_ASSERT_EQUAL_FATAL(bench_open(&b, pool, &err, modes[m], NULL), 0);
        for (unsigned i = 0; i < VS_ARRAY_SIZE(lens); i++) {
            uint32_t len = lens[i], head = VS_MIN(len, VS_PKT_LEND_HEAD);
            struct vs_pkt *p = vs_pkt_alloc(pool);
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            make_frame(f, len, (uint8_t)i);
            memcpy(guest, f, len);
            vs_pkt_set_external(p, guest, len);
            /* The guest rewrites its frame, header included, but not the marker. */
            memset(guest, 0x5a, len - 2);
            CU_ASSERT_EQUAL(b.port.ops->tx_burst(&b.port, 0, &p, 1), 1);
            CU_ASSERT_FATAL(read_frame(&b, got, len));
            CU_ASSERT_EQUAL(memcmp(got, f, head), 0);
            CU_ASSERT_EQUAL(memcmp(got + head, guest + head, len - head), 0);

            /* Not lent: written whole from the packet buffer. */
            CU_ASSERT_PTR_NOT_NULL_FATAL(p = vs_pkt_alloc(pool));
            make_frame(vs_pkt_data(p), len, (uint8_t)(i + 100));
            make_frame(f, len, (uint8_t)(i + 100));
            p->len = len;
            CU_ASSERT_EQUAL(b.port.ops->tx_burst(&b.port, 0, &p, 1), 1);
            CU_ASSERT_FATAL(read_frame(&b, got, len));
            CU_ASSERT_EQUAL(memcmp(got, f, len), 0);
        }
        CU_ASSERT_EQUAL(show_uint(&b, "tx_errors"), 0);
        bench_close(&b);
    }
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
}

/* The port writes frames with requests; the kernel takes them as such (what a
 * packet socket with PACKET_VNET_HDR reads back is the same segment, same header). */
static void test_tx_offloads(void)
{
    static uint8_t f[BIG], got[BIG];
    struct vs_port_err err;
    struct virtio_net_hdr h = {0};
    struct bench b;
    static const struct {
        uint8_t proto, ol;
        uint32_t payload;
        uint16_t gso_size;
        uint8_t flags, gso_type;
    } cases[] = {
        /* a 40 KB TCP segment whose sender asked for ECN */
        {IPPROTO_TCP, VS_OL_CSUM | VS_OL_TSO4 | VS_OL_ECN, 40000, 1448, VIRTIO_NET_HDR_F_NEEDS_CSUM,
         VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN},
        /* 20 KB of UDP datagrams of 1200 bytes */
        {IPPROTO_UDP, VS_OL_CSUM | VS_OL_USO, 20000, 1200, VIRTIO_NET_HDR_F_NEEDS_CSUM,
         VIRTIO_NET_HDR_GSO_UDP_L4},
        /* a frame that only needs its checksum */
        {IPPROTO_TCP, VS_OL_CSUM, 1000, 0, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0},
        /* a frame vouched for: the kernel need not check it */
        {IPPROTO_UDP, VS_OL_CSUM_VALID, 100, 0, VIRTIO_NET_HDR_F_DATA_VALID, 0},
    };

    if (!need_tap())
        return;
    CU_ASSERT_EQUAL_FATAL(bench_open(&b, pool, &err, NULL), 0);
    for (unsigned i = 0; i < VS_ARRAY_SIZE(cases); i++) {
        if ((cases[i].ol & VS_OL_USO) && !(b.port.tx_offloads & VS_OL_USO))
            continue; /* a kernel before 6.2 */
        uint32_t len = make_ip4(f, cases[i].proto, cases[i].payload, (uint8_t)(i + 1));
        struct vs_pkt *p = vs_pkt_alloc_len(pool, len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        memcpy(vs_pkt_data(p), f, len);
        p->len = len;
        p->ol_flags = cases[i].ol;
        p->csum_start = 34;
        p->csum_offset = cases[i].proto == IPPROTO_TCP ? 16 : 6;
        p->gso_size = cases[i].gso_size;
        p->hdr_len = 34 + (cases[i].proto == IPPROTO_TCP ? 20 : 8);
        CU_ASSERT_EQUAL(b.port.ops->tx_burst(&b.port, 0, &p, 1), 1);
        CU_ASSERT_FATAL(read_match(b.vsock, got, len, &h, is_ip4_test));
        CU_ASSERT_EQUAL(memcmp(got, f, len), 0);
        /* DATA_VALID is a hint the kernel may drop (tun does, on write): what
         * matters is that no checksum request appears. */
        if (cases[i].flags == VIRTIO_NET_HDR_F_DATA_VALID) {
            CU_ASSERT_EQUAL(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM, 0);
        } else {
            CU_ASSERT_EQUAL(h.flags, cases[i].flags);
        }
        CU_ASSERT_EQUAL(h.gso_type, cases[i].gso_type);
        if (cases[i].gso_type)
            CU_ASSERT_EQUAL(h.gso_size, cases[i].gso_size);
        if (cases[i].flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
            CU_ASSERT_EQUAL(h.csum_start, 34);
            CU_ASSERT_EQUAL(h.csum_offset, cases[i].proto == IPPROTO_TCP ? 16 : 6);
        }
    }
    CU_ASSERT_EQUAL(show_uint(&b, "tx_errors"), 0);
    bench_close(&b);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(pool)), vs_pool_size(vs_pool_large(pool)));
}

/* The kernel hands the port a TSO segment (sent by a packet socket with a vnet
 * header onto the interface): read whole in one large buffer, its header in the
 * metadata; a short frame stays in a small buffer. */
static void test_rx_offloads(void)
{
    static uint8_t f[BIG];
    struct vs_port_err err;
    struct bench b;
    struct vs_pool *large = vs_pool_large(pool);

    if (!need_tap())
        return;
    CU_ASSERT_EQUAL_FATAL(bench_open(&b, pool, &err, NULL), 0);
    for (unsigned round = 0; round < 3; round++) {
        uint32_t payload = round == 1 ? 1000 : 30000 + round * 7000;
        uint32_t len = make_ip4(f, IPPROTO_TCP, payload, (uint8_t)(0x40 + round));
        struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                   .gso_type = payload > 1448 ? VIRTIO_NET_HDR_GSO_TCPV4 : 0,
                                   .hdr_len = 54,
                                   .gso_size = payload > 1448 ? 1448 : 0,
                                   .csum_start = 34,
                                   .csum_offset = 16};
        send_vnet(&b, &h, f, len);
        struct vs_pkt *p = rx_one(&b, len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), f, len), 0);
        CU_ASSERT_EQUAL(p->ol_flags & VS_OL_REQUESTS,
                        VS_OL_CSUM | (payload > 1448 ? VS_OL_TSO4 : 0));
        CU_ASSERT_EQUAL(p->csum_start, 34);
        CU_ASSERT_EQUAL(p->csum_offset, 16);
        if (payload > 1448) {
            CU_ASSERT_EQUAL(p->gso_size, 1448);
            CU_ASSERT(p->hdr_len >= 54 && p->hdr_len <= len); /* the kernel's linear part */
            CU_ASSERT_EQUAL(p->pool, large);
        } else {
            CU_ASSERT_EQUAL(p->pool, pool);
        }
        vs_pkt_free(p);
    }
    /* one large buffer stays with the port for the next long frame */
    CU_ASSERT_EQUAL(vs_pool_free_count(large), vs_pool_size(large) - 1);
    CU_ASSERT_EQUAL(show_uint(&b, "rx_no_buffer"), 0);
    CU_ASSERT_EQUAL(show_uint(&b, "rx_oversize"), 0);
    bench_close(&b);
    CU_ASSERT_EQUAL(vs_pool_free_count(large), vs_pool_size(large));
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
}

/* Jumbo frames without offloads: a 9014-byte frame read whole; with no large
 * buffer free it is read, counted and dropped, and the next one passes again. */
static void test_rx_jumbo(void)
{
    static uint8_t f[BIG];
    struct vs_port_err err;
    struct vs_pkt *held[64];
    struct virtio_net_hdr h = {0};
    struct bench b;
    struct vs_pool *large = vs_pool_large(pool);
    unsigned n_held = 0;

    if (!need_tap())
        return;
    CU_ASSERT_EQUAL_FATAL(bench_open(&b, pool, &err, "mtu=9000", NULL), 0);
    uint32_t len = make_ip4(f, IPPROTO_UDP, 9000 - 28, 0x70);
    CU_ASSERT_EQUAL(len, 9014);
    /* a valid checksum: the kernel may be asked to check it */
    send_vnet(&b, &h, f, len);
    struct vs_pkt *p = rx_one(&b, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(p->pool, large);
    CU_ASSERT_EQUAL(p->ol_flags & VS_OL_REQUESTS, 0);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), f, len), 0);
    vs_pkt_free(p);

    /* the large pool runs dry (the port holds one spill buffer) */
    while (n_held < VS_ARRAY_SIZE(held) && (held[n_held] = vs_pkt_alloc(large)))
        n_held++;
    CU_ASSERT_EQUAL(vs_pool_free_count(large), 0);
    len = make_ip4(f, IPPROTO_UDP, 9000 - 28, 0x71);
    send_vnet(&b, &h, f, len); /* takes the spill */
    send_vnet(&b, &h, f, len); /* finds none */
    p = rx_one(&b, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    vs_pkt_free(p);
    CU_ASSERT_PTR_NULL(rx_one(&b, len));
    CU_ASSERT_EQUAL(show_uint(&b, "rx_no_buffer"), 1);
    vs_pkt_free_bulk(held, n_held);
    send_vnet(&b, &h, f, len);
    p = rx_one(&b, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), f, len), 0);
    vs_pkt_free(p);
    bench_close(&b);
    CU_ASSERT_EQUAL(vs_pool_free_count(large), vs_pool_size(large));
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
}

static int suite_init(void)
{
    int fd;

    if (vs_pool_create(256, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 8, VS_PAGES_NONE) < 0 ||
        vs_pool_create(64, VS_PAGES_NONE, &small_pool) < 0)
        return -1;
    /* Crafted frames stay in a namespace of our own. */
    if (unshare(CLONE_NEWNET) == 0 && (fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) >= 0) {
        close(fd);
        have_tap = true;
    }
    return 0;
}

static int suite_clean(void)
{
    vs_pool_thread_flush();
    vs_pool_destroy(pool);
    vs_pool_destroy(small_pool);
    return 0;
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("tap", suite_init, suite_clean);
    CU_add_test(s, "TUNSETOFFLOAD results, USO refused", test_set_offload);
    CU_add_test(s, "options: offloads, mtu, no large buffers", test_options);
    CU_add_test(s, "tx of lent and own frames", test_tx_lent);
    CU_add_test(s, "tx with offload requests", test_tx_offloads);
    CU_add_test(s, "rx of TSO segments", test_rx_offloads);
    CU_add_test(s, "rx of jumbo frames, large pool dry", test_rx_jumbo);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
