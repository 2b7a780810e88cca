/* Capture sessions on the dataplane, driven on this thread as a poller would:
 * rx and tx frames byte for byte, a lent frame copied whole while it is valid,
 * frames a full tx queue refused as drops with their reason (and not as sent),
 * the dataplane's own drops, snaplen, a full ring counting lost frames without
 * waiting and wrapping around once read, port removal, the limits, and the test
 * bytes pollers read falling back to 0. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>

#include "dataplane/capture.h"
#include "dataplane/dp.h"
#include "dataplane/switch.h"
#include "vswitch/loop.h"

static unsigned tx_capacity; /* frames a tx burst takes, 0: all */

static int m_validate(const struct vs_port_args *a, struct vs_port_err *e) { return 0; }

static int m_open(struct vs_port *port, const struct vs_port_args *a, struct vs_port_err *e)
{
    port->n_rxq = 1;
    port->n_txq = 1;
    port->link_up = 1;
    return 0;
}

static void m_close(struct vs_port *port) {}

static uint16_t m_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return 0;
}

static uint16_t m_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    uint16_t take = tx_capacity && tx_capacity < n ? (uint16_t)tx_capacity : n;

    vs_pkt_free_bulk(pkts, take);
    return take;
}

static const char *const m_keys[] = {NULL};
static const struct vs_port_ops m_ops = {
    .type = "capmem",
    .keys = m_keys,
    .validate = m_validate,
    .open = m_open,
    .close = m_close,
    .rx_burst = m_rx,
    .tx_burst = m_tx,
};

static struct vs_pool *pool;
static struct vs_switch *sw;
static struct vs_poller *p;

static const uint8_t MAC_A[6] = {2, 0, 0, 0, 0, 0xa};
static const uint8_t MAC_B[6] = {2, 0, 0, 0, 0, 0xb};
static const uint8_t GROUP[6] = {3, 0, 0, 0, 0, 1};

static struct vs_dp_port *port(const char *name)
{
    for (unsigned i = 0; i < VS_MAX_PORTS; i++)
        if (sw->ports[i] && !strcmp(sw->ports[i]->port.name, name))
            return sw->ports[i];
    return NULL;
}

/* The bytes of frame seq: dst, src, 0x88b5, then seq and a pattern. */
static void fill(uint8_t *f, uint32_t len, const uint8_t *dst, const uint8_t *src, unsigned seq)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88, f[13] = 0xb5;
    for (uint32_t i = 14; i < len; i++)
        f[i] = (uint8_t)(seq * 31 + i);
}

static struct vs_pkt *frame(uint32_t len, const uint8_t *dst, const uint8_t *src, unsigned seq)
{
    struct vs_pkt *pkt = vs_pkt_alloc(pool);

    CU_ASSERT_FATAL(pkt != NULL);
    fill(vs_pkt_data(pkt), len, dst, src, seq);
    pkt->len = len;
    return pkt;
}

/* What a poller does with a burst it took from in. */
static void burst(struct vs_dp_port *in, struct vs_pkt **pkts, uint16_t n)
{
    if (VS_READ_ONCE(in->capture) & VS_CAP_RX)
        vs_capture_rx(p, in, pkts, n);
    vs_forward_burst(p, in, pkts, n, 1);
    vs_forward_flush(p);
}

struct got {
    unsigned n, max;
    struct vs_capture_frame f[512];
    uint8_t data[512][1600];
};

static bool take(const struct vs_capture_frame *f, void *arg)
{
    struct got *g = arg;

    if (g->n == g->max)
        return false;
    g->f[g->n] = *f;
    memcpy(g->data[g->n], f->data, f->caplen < 1600 ? f->caplen : 1600);
    g->n++;
    return true;
}

static struct got got;

static unsigned read_all(struct vs_capture *c)
{
    got.n = 0;
    got.max = 512;
    return vs_capture_read(c, UINT32_MAX, take, &got);
}

static void test_setup(void)
{
    struct vs_switch_params prm = {
        .n_pollers = 1, .cpus = {0}, .mode = VS_POLL_BUSY, .fdb_size = 1024, .fdb_aging = 300};
    struct vs_port_args none = {0, NULL};
    struct vs_port_err err;

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_port_type_register(&m_ops), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(2048, VS_PAGES_NONE, &pool), 0);
    prm.pool = pool;
    CU_ASSERT_EQUAL_FATAL(vs_switch_create(&prm, &sw), 0);
    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, "a", "capmem", &none, &err), 0);
    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, "b", "capmem", &none, &err), 0);
    p = &sw->pollers[0];
    /* b's station is known: a's frames to it go to b alone. */
    struct vs_pkt *learn = frame(64, MAC_A, MAC_B, 0);
    burst(port("b"), &learn, 1);
}

static void test_rx_tx_bytes(void)
{
    struct vs_capture *rx, *tx;
    struct vs_pkt *pkts[10];
    uint8_t want[200];

    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "a", VS_CAP_RX, 65535, 0, &rx), 0);
    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "b", VS_CAP_TX, 65535, 0, &tx), 0);
    CU_ASSERT_EQUAL(port("a")->capture, VS_CAP_RX);
    CU_ASSERT_EQUAL(port("b")->capture, VS_CAP_TX);
    for (unsigned i = 0; i < 10; i++)
        pkts[i] = frame(60 + i * 10, MAC_B, MAC_A, i);
    burst(port("a"), pkts, 10);
    CU_ASSERT_EQUAL_FATAL(read_all(rx), 10);
    for (unsigned i = 0; i < 10; i++) {
        fill(want, 60 + i * 10, MAC_B, MAC_A, i);
        CU_ASSERT_EQUAL(got.f[i].orig_len, 60 + i * 10);
        CU_ASSERT_EQUAL(got.f[i].caplen, 60 + i * 10);
        CU_ASSERT_EQUAL(got.f[i].dir, VS_CAP_RX);
        CU_ASSERT_EQUAL(got.f[i].reason, VS_CAPTURE_NO_REASON);
        CU_ASSERT(got.f[i].ts_ns > 0);
        CU_ASSERT(!memcmp(got.data[i], want, 60 + i * 10));
    }
    CU_ASSERT_EQUAL_FATAL(read_all(tx), 10);
    for (unsigned i = 0; i < 10; i++) {
        fill(want, 60 + i * 10, MAC_B, MAC_A, i);
        CU_ASSERT_EQUAL(got.f[i].dir, VS_CAP_TX);
        CU_ASSERT(!memcmp(got.data[i], want, 60 + i * 10));
    }
    CU_ASSERT_EQUAL(read_all(rx), 0); /* read once */
    vs_capture_stop(sw, rx);
    vs_capture_stop(sw, tx);
    CU_ASSERT_EQUAL(port("a")->capture, 0);
    CU_ASSERT_EQUAL(port("b")->capture, 0);
    CU_ASSERT_EQUAL(vs_capture_count(sw), 0);
}

static void test_lent_frame(void)
{
    static uint8_t guest[1400];
    struct vs_capture *c;
    struct vs_pkt *pkt = vs_pkt_alloc(pool);
    uint8_t want[1400];

    CU_ASSERT_FATAL(pkt != NULL);
    fill(guest, sizeof(guest), MAC_B, MAC_A, 77);
    memcpy(want, guest, sizeof(want));
    vs_pkt_set_external(pkt, guest, sizeof(guest));
    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "a", VS_CAP_RX, 65535, 0, &c), 0);
    burst(port("a"), &pkt, 1);
    /* The guest rewrites its buffer once the burst is done: the capture has its copy. */
    memset(guest, 0xee, sizeof(guest));
    CU_ASSERT_EQUAL_FATAL(read_all(c), 1);
    CU_ASSERT_EQUAL(got.f[0].caplen, sizeof(want));
    CU_ASSERT(!memcmp(got.data[0], want, sizeof(want))); /* head and tail */
    vs_capture_stop(sw, c);
}

static void test_tx_full(void)
{
    struct vs_capture *both, *sent;
    struct vs_pkt *pkts[8];
    uint64_t lost[VS_CAP_KINDS];

    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "b", VS_CAP_TX | VS_CAP_DROPS, 65535, 0, &both), 0);
    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "b", VS_CAP_TX, 65535, 0, &sent), 0);
    tx_capacity = 3;
    for (unsigned i = 0; i < 8; i++)
        pkts[i] = frame(100, MAC_B, MAC_A, i);
    burst(port("a"), pkts, 8);
    tx_capacity = 0;
    CU_ASSERT_EQUAL_FATAL(read_all(both), 8);
    for (unsigned i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(got.f[i].dir, VS_CAP_TX);
        CU_ASSERT_EQUAL(got.f[i].reason, i < 3 ? VS_CAPTURE_NO_REASON : VS_DROP_TX_FULL);
        CU_ASSERT_EQUAL(got.data[i][15], (uint8_t)(i * 31 + 15));
    }
    CU_ASSERT_EQUAL(read_all(sent), 3); /* the refused ones are not "sent" */
    vs_capture_lost(sent, lost);
    CU_ASSERT_EQUAL(lost[VS_CAP_KIND_TX] + lost[VS_CAP_KIND_DROPS], 0);
    vs_capture_stop(sw, both);
    vs_capture_stop(sw, sent);
}

static void test_drops_and_snaplen(void)
{
    struct vs_capture *c;
    struct vs_pkt *pkts[2];

    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "a", VS_CAP_DROPS, 20, 0, &c), 0);
    CU_ASSERT_EQUAL(p->capture_drops, VS_CAP_DROPS);
    CU_ASSERT_EQUAL(port("a")->capture, VS_CAP_DROPS);
    pkts[0] = frame(1500, MAC_B, GROUP, 1); /* bad source: dropped on a */
    pkts[1] = frame(1500, MAC_B, MAC_A, 2); /* forwarded: not a drop */
    burst(port("a"), pkts, 2);
    CU_ASSERT_EQUAL_FATAL(read_all(c), 1);
    CU_ASSERT_EQUAL(got.f[0].reason, VS_DROP_BAD_SRC);
    CU_ASSERT_EQUAL(got.f[0].dir, VS_CAP_RX); /* on ingress */
    CU_ASSERT_EQUAL(got.f[0].orig_len, 1500);
    CU_ASSERT_EQUAL(got.f[0].caplen, 20);
    CU_ASSERT(!memcmp(got.data[0] + 6, GROUP, 6));
    vs_capture_stop(sw, c);
    CU_ASSERT_EQUAL(p->capture_drops, 0);
}

static void test_ring_full_and_wrap(void)
{
    struct vs_capture *c;
    uint64_t lost[VS_CAP_KINDS];
    unsigned stored, seq = 0, next = 0;

    /* 128 KiB: 84 records of 1500-byte frames. */
    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "a", VS_CAP_RX, 65535, 128u << 10, &c), 0);
    for (unsigned b = 0; b < 10; b++) {
        struct vs_pkt *pkts[20];

        for (unsigned i = 0; i < 20; i++)
            pkts[i] = frame(1500, MAC_B, MAC_A, seq++);
        burst(port("a"), pkts, 20);
    }
    vs_capture_lost(c, lost);
    stored = read_all(c);
    CU_ASSERT(stored >= 80 && stored < 200);
    CU_ASSERT_EQUAL(stored + lost[VS_CAP_KIND_RX], 200); /* every frame: kept or counted */
    for (unsigned i = 0; i < stored; i++)
        CU_ASSERT_EQUAL(got.data[i][14], (uint8_t)(i * 31 + 14)); /* the first ones, in order */
    /* Read, the ring takes frames again, across its end, many times over. */
    for (unsigned round = 0; round < 40; round++) {
        struct vs_pkt *pkts[10];
        uint8_t want[1500];

        for (unsigned i = 0; i < 10; i++)
            pkts[i] = frame(1500, MAC_B, MAC_A, 1000 + round * 10 + i);
        burst(port("a"), pkts, 10);
        CU_ASSERT_EQUAL_FATAL(read_all(c), 10);
        for (unsigned i = 0; i < 10; i++, next++) {
            fill(want, 1500, MAC_B, MAC_A, 1000 + next);
            CU_ASSERT(!memcmp(got.data[i], want, 1500));
        }
    }
    vs_capture_lost(c, lost);
    CU_ASSERT_EQUAL(stored + lost[VS_CAP_KIND_RX], 200); /* nothing more lost */
    vs_capture_stop(sw, c);
}

static void test_port_removed(void)
{
    struct vs_capture *c;
    struct vs_port_args none = {0, NULL};
    struct vs_port_err err;

    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, "gone", "capmem", &none, &err), 0);
    CU_ASSERT_EQUAL_FATAL(vs_capture_start(sw, "gone", VS_CAP_ALL, 100, 0, &c), 0);
    CU_ASSERT_FALSE(vs_capture_port_gone(c));
    CU_ASSERT_EQUAL(vs_capture_count(sw), 1);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "gone"), 0);
    CU_ASSERT_TRUE(vs_capture_port_gone(c));
    CU_ASSERT_EQUAL(vs_capture_count(sw), 0); /* pollers no longer see it */
    CU_ASSERT_STRING_EQUAL(vs_capture_port_name(c), "gone");
    CU_ASSERT_EQUAL(p->capture_drops, 0);
    vs_capture_stop(sw, c);
}

static void test_limits(void)
{
    struct vs_capture *c[VS_CAPTURE_MAX + 1];

    CU_ASSERT_EQUAL(vs_capture_start(sw, "nosuch", VS_CAP_RX, 100, 0, &c[0]), -ENOENT);
    CU_ASSERT_EQUAL(vs_capture_start(sw, "a", 0, 100, 0, &c[0]), -EINVAL);
    CU_ASSERT_EQUAL(vs_capture_start(sw, "a", 0x80, 100, 0, &c[0]), -EINVAL);
    CU_ASSERT_EQUAL(vs_capture_start(sw, "a", VS_CAP_RX, 0, 0, &c[0]), -EINVAL);
    CU_ASSERT_EQUAL(vs_capture_start(sw, "a", VS_CAP_RX, VS_CAPTURE_SNAPLEN_MAX + 1, 0, &c[0]),
                    -EINVAL);
    CU_ASSERT_EQUAL(vs_capture_start(sw, "a", VS_CAP_RX, 100, 100000, &c[0]), -EINVAL);
    for (unsigned i = 0; i < VS_CAPTURE_MAX; i++)
        CU_ASSERT_EQUAL_FATAL(
            vs_capture_start(sw, i % 2 ? "a" : "b", VS_CAP_ALL, 100, 128u << 10, &c[i]), 0);
    CU_ASSERT_EQUAL(vs_capture_start(sw, "a", VS_CAP_RX, 100, 0, &c[VS_CAPTURE_MAX]), -EBUSY);
    for (unsigned i = 0; i < VS_CAPTURE_MAX; i++)
        vs_capture_stop(sw, c[i]);
    CU_ASSERT_EQUAL(vs_capture_count(sw), 0);
    CU_ASSERT_EQUAL(port("a")->capture | port("b")->capture | p->capture_drops, 0);
}

static void test_teardown(void)
{
    vs_switch_destroy(sw);
    vs_pool_thread_flush();
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool)); /* no buffer leaked */
    vs_pool_destroy(pool);
    vs_loop_fini();
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("capture", NULL, NULL);
    CU_add_test(s, "setup", test_setup);
    CU_add_test(s, "rx and tx bytes", test_rx_tx_bytes);
    CU_add_test(s, "a lent frame is copied whole", test_lent_frame);
    CU_add_test(s, "a full tx queue: drops, not sent", test_tx_full);
    CU_add_test(s, "drops with reason, snaplen", test_drops_and_snaplen);
    CU_add_test(s, "a full ring counts lost, wraps once read", test_ring_full_and_wrap);
    CU_add_test(s, "port removed", test_port_removed);
    CU_add_test(s, "limits", test_limits);
    CU_add_test(s, "teardown", test_teardown);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
