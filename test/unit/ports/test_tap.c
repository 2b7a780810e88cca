/* The TAP port's transmit path against a real TAP device: what it writes is read
 * back from a packet socket on the interface. Needs root and /dev/net/tun. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports/tap/tap.h"
#include "vswitch/pkt.h"
#include "vswitch/port.h"

#define ETHERTYPE_TEST 0x88b5 /* IEEE local experimental: nothing else sends it */

static struct vs_pool *pool;
static struct vs_port port;
static int psock = -1;

static bool in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && !strcmp(ci, "true");
}

/* Opens the port and a packet socket on its interface; false when this machine
 * cannot (not root, no tun module). */
static bool tap_setup(void)
{
    char ifname[IFNAMSIZ];
    snprintf(ifname, sizeof(ifname), "vst%u", (unsigned)getpid() % 100000);
    const struct vs_port_arg a[] = {{.key = "ifname", .value = ifname}};
    const struct vs_port_args args = {.n = 1, .v = a};
    struct vs_port_err err = {0};

    snprintf(port.name, sizeof(port.name), "tap");
    port.ops = &vs_port_tap_ops;
    port.pool = pool;
    if (port.ops->open(&port, &args, &err) < 0) {
        fprintf(stderr, "cannot open a TAP port (%s): ", err.msg);
        return false;
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET,
                              .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex(ifname)};
    psock = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    CU_ASSERT_FATAL(psock >= 0);
    CU_ASSERT_FATAL(sll.sll_ifindex > 0);
    CU_ASSERT_EQUAL_FATAL(bind(psock, (struct sockaddr *)&sll, sizeof(sll)), 0);
    return true;
}

/* Reads frames off the interface until one of len bytes with our EtherType in the
 * last two bytes arrives (the kernel sends its own frames on a new interface). */
static bool read_frame(uint8_t *out, uint32_t len)
{
    for (int i = 0; i < 100; i++) {
        struct pollfd pfd = {.fd = psock, .events = POLLIN};
        if (poll(&pfd, 1, 2000) != 1)
            return false;
        ssize_t n = recv(psock, out, VS_PKT_DATA_ROOM, 0);
        if (n == (ssize_t)len && out[len - 2] == (ETHERTYPE_TEST >> 8) &&
            out[len - 1] == (ETHERTYPE_TEST & 0xff))
            return true;
    }
    return false;
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

/* A frame lent from a guest that rewrote its buffer after the switch decided on it
 * goes out with the header the switch decided on (its private head) and the rest
 * from the guest; a frame in our own buffer goes out as it is. */
static void test_tx_lent(void)
{
    static const uint32_t lens[] = {60, 64, 65, 1514};
    uint8_t guest[VS_PKT_DATA_ROOM], f[VS_PKT_DATA_ROOM], got[VS_PKT_DATA_ROOM];

    if (!tap_setup()) {
        if (in_ci()) {
            CU_FAIL("a TAP device is needed in CI (root, /dev/net/tun)");
        } else {
            fprintf(stderr, "skipped ");
        }
        return;
    }
    for (unsigned i = 0; i < VS_ARRAY_SIZE(lens); i++) {
        uint32_t len = lens[i], head = VS_MIN(len, VS_PKT_LEND_HEAD);
        struct vs_pkt *p = vs_pkt_alloc(pool);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        make_frame(f, len, (uint8_t)i);
        memcpy(guest, f, len);
        vs_pkt_set_external(p, guest, (uint16_t)len);
        /* The guest rewrites its frame, header included, but not the marker. */
        memset(guest, 0x5a, len - 2);
        CU_ASSERT_EQUAL(port.ops->tx_burst(&port, 0, &p, 1), 1);
        CU_ASSERT_FATAL(read_frame(got, len));
        CU_ASSERT_EQUAL(memcmp(got, f, head), 0);
        CU_ASSERT_EQUAL(memcmp(got + head, guest + head, len - head), 0);

        /* Not lent: written whole from the packet buffer. */
        CU_ASSERT_PTR_NOT_NULL_FATAL(p = vs_pkt_alloc(pool));
        make_frame(vs_pkt_data(p), len, (uint8_t)(i + 100));
        make_frame(f, len, (uint8_t)(i + 100));
        p->len = (uint16_t)len;
        CU_ASSERT_EQUAL(port.ops->tx_burst(&port, 0, &p, 1), 1);
        CU_ASSERT_FATAL(read_frame(got, len));
        CU_ASSERT_EQUAL(memcmp(got, f, len), 0);
    }
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
}

static int suite_init(void) { return vs_pool_create(64, VS_PAGES_NONE, &pool); }

static int suite_clean(void)
{
    if (psock >= 0)
        close(psock);
    if (port.priv)
        port.ops->close(&port);
    vs_pool_thread_flush();
    vs_pool_destroy(pool);
    return 0;
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("tap", suite_init, suite_clean);
    CU_add_test(s, "tx of lent and own frames", test_tx_lent);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
