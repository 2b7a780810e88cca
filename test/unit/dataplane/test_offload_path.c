/* The dataplane's offload path with in-memory ports: requests a port takes pass
 * whole, the others are done in software (segments, checksums) and counted; bad
 * requests and oversize frames are dropped with their reasons; a shared frame's
 * checksum is completed on a private copy only; a lent chain reaches only a port
 * that takes chains, every other port gets it in a buffer of the switch's own. */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/dp.h"
#include "dataplane/switch.h"
#include "vswitch/loop.h"
#include "vswitch/offload.h"
#include "vswitch/pkt.h"

#define MAXF 128
#define FRAME_MAX 70000

struct frame {
    uint32_t len;
    bool lend;    /* in: handed to the switch as a lent chain; out: arrived as one */
    uint8_t ol_flags;
    uint16_t csum_start, csum_offset, gso_size, hdr_len;
    uint8_t *data;
};

struct memport {
    pthread_mutex_t lock;
    struct frame in[MAXF];
    unsigned in_head, in_tail;
    struct frame out[MAXF];
    unsigned n_out;
    uint8_t *held[VS_BURST]; /* the "peer memory" of the last burst's lent chains */
    unsigned n_held;
};

static struct memport mports[4];
static int next_mport;

static int mem_validate(const struct vs_port_args *args, struct vs_port_err *err) { return 0; }

static int mem_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct memport *m = &mports[next_mport++];
    const char *ol = vs_port_args_get(args, "ol", NULL);

    pthread_mutex_init(&m->lock, NULL);
    port->priv = m;
    port->n_rxq = port->n_txq = 1;
    port->link_up = 1;
    port->tx_offloads = ol ? (uint8_t)strtoul(ol, NULL, 0) : 0;
    port->tx_chains = vs_port_args_get(args, "chains", NULL) != NULL;
    return vs_port_args_mtu(args, 9000, &port->mtu, err);
}

static void mem_close(struct vs_port *port) { port->priv = NULL; }

static uint16_t mem_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct memport *m = port->priv;
    uint16_t got = 0;

    pthread_mutex_lock(&m->lock);
    while (got < n && m->in_head != m->in_tail) {
        struct frame *f = &m->in[m->in_head % MAXF];
        struct vs_pkt *p = vs_pkt_alloc_len(port->pool, f->lend ? 0 : f->len);

        if (!p)
            break;
        if (f->lend) {
            /* The head copied, the rest in pieces of 1000 bytes of the frame's own
             * memory, which is freed (poisoned first) in rx_done. */
            struct vs_pkt_chain *c = vs_pkt_chain_room(p);

            memcpy(vs_pkt_data(p), f->data, VS_PKT_CHAIN_HEAD);
            c->n = 0;
            for (uint32_t off = VS_PKT_CHAIN_HEAD; off < f->len; off += 1000)
                c->piece[c->n++] = (struct vs_pkt_piece){f->data + off, VS_MIN(1000u, f->len - off)};
            vs_pkt_set_chain(p, f->len);
            m->held[m->n_held++] = f->data;
            f->data = NULL;
        } else {
            memcpy(vs_pkt_data(p), f->data, f->len);
        }
        p->len = f->len;
        p->ol_flags = f->ol_flags;
        p->csum_start = f->csum_start;
        p->csum_offset = f->csum_offset;
        p->gso_size = f->gso_size;
        p->hdr_len = f->hdr_len;
        free(f->data);
        pkts[got++] = p;
        m->in_head++;
    }
    pthread_mutex_unlock(&m->lock);
    return got;
}

static uint16_t mem_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct memport *m = port->priv;

    pthread_mutex_lock(&m->lock);
    for (uint16_t i = 0; i < n && m->n_out < MAXF; i++) {
        struct frame *f = &m->out[m->n_out++];
        struct vs_pkt *p = pkts[i];

        CU_ASSERT_EQUAL(p->ol_flags & VS_OL_REQUESTS & ~port->tx_offloads, 0);
        CU_ASSERT(port->tx_chains || !(p->flags & VS_PKT_F_CHAIN));
        *f = (struct frame){.len = p->len, .ol_flags = p->ol_flags, .gso_size = p->gso_size,
                            .lend = p->flags & VS_PKT_F_CHAIN};
        f->data = malloc(p->len);
        vs_pkt_copy_out(p, f->data);
    }
    pthread_mutex_unlock(&m->lock);
    vs_pkt_free_bulk(pkts, n);
    return n;
}

/* The burst's lent chains are done with: their memory goes (poisoned first, so that
 * a late reader sees garbage even without ASan). */
static void mem_rx_done(struct vs_port *port, uint16_t q)
{
    struct memport *m = port->priv;

    pthread_mutex_lock(&m->lock);
    for (unsigned i = 0; i < m->n_held; i++) {
        memset(m->held[i], 0xdd, VS_PKT_CHAIN_HEAD + 1);
        free(m->held[i]);
    }
    m->n_held = 0;
    pthread_mutex_unlock(&m->lock);
}

static const char *const mem_keys[] = {"ol", "mtu", "chains", NULL};
static const struct vs_port_ops mem_ops = {
    .type = "olmem", .keys = mem_keys, .validate = mem_validate, .open = mem_open,
    .close = mem_close, .rx_burst = mem_rx, .tx_burst = mem_tx, .rx_done = mem_rx_done,
};

static struct vs_pool *pool;
static struct vs_switch *sw;

static void add(const char *name, const char *ol, const char *mtu, bool chains)
{
    struct vs_port_arg a[3] = {{.key = "ol", .value = ol}, {.key = "mtu", .value = mtu},
                               {.key = "chains", .value = "1"}};
    struct vs_port_args args = {chains ? 3 : 2, a};
    struct vs_port_err err;

    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, name, "olmem", &args, &err), 0);
}

static void clear_out(void)
{
    for (int p = 0; p < next_mport; p++) {
        pthread_mutex_lock(&mports[p].lock);
        for (unsigned i = 0; i < mports[p].n_out; i++)
            free(mports[p].out[i].data);
        mports[p].n_out = 0;
        pthread_mutex_unlock(&mports[p].lock);
    }
}

static void settle(void)
{
    for (int i = 0; i < 2000; i++) {
        bool idle = true;
        for (int p = 0; p < next_mport; p++) {
            pthread_mutex_lock(&mports[p].lock);
            idle &= mports[p].in_head == mports[p].in_tail;
            pthread_mutex_unlock(&mports[p].lock);
        }
        if (idle)
            break;
        usleep(1000);
    }
    usleep(30000);
}

static void inject(int port, struct frame f)
{
    pthread_mutex_lock(&mports[port].lock);
    mports[port].in[mports[port].in_tail++ % MAXF] = f;
    pthread_mutex_unlock(&mports[port].lock);
}

static const uint8_t MAC[4][6] = {{2, 0, 0, 0, 0, 0xa}, {2, 0, 0, 0, 0, 0xb},
                                  {2, 0, 0, 0, 0, 0xc}, {2, 0, 0, 0, 0, 0xd}};

/* RFC 1071, the plain way: the reference the switch's checksums are held to. */
static uint16_t ref_csum(const uint8_t *d, size_t n, uint32_t sum)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(d[i] << 8 | d[i + 1]);
    if (n & 1)
        sum += (uint32_t)d[n - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 (20) + TCP (20) + payload from src to dst, with the TCP checksum
 * field holding the pseudo-header sum (what a sender leaves with VS_OL_CSUM). */
static struct frame tcp4(int src, int dst, uint32_t payload, uint8_t ol, uint16_t mss)
{
    struct frame f = {.len = 54 + payload, .ol_flags = ol};
    uint8_t *d = calloc(1, f.len);
    uint16_t iplen = (uint16_t)(f.len - 14);

    memcpy(d, MAC[dst], 6);
    memcpy(d + 6, MAC[src], 6);
    d[12] = 0x08;
    d[14] = 0x45;
    d[16] = (uint8_t)(iplen >> 8), d[17] = (uint8_t)iplen;
    d[22] = 64, d[23] = 6;
    memcpy(d + 26, (uint8_t[]){10, 0, 0, 1, 10, 0, 0, 2}, 8);
    uint16_t hc = ref_csum(d + 14, 20, 0);
    d[24] = (uint8_t)(hc >> 8), d[25] = (uint8_t)hc;
    d[34] = 0x30, d[35] = 0x39, d[36] = 0x14, d[37] = 0x51; /* ports */
    d[38] = 0, d[39] = 0, d[40] = 0x10, d[41] = 0;          /* seq 4096 */
    d[46] = 0x50, d[47] = 0x18;                             /* doff 5, ACK|PSH */
    d[48] = 0xff, d[49] = 0xff;
    for (uint32_t i = 0; i < payload; i++)
        d[54 + i] = (uint8_t)(i * 7 + 1);
    /* pseudo header: addresses, protocol, TCP length */
    uint32_t ps = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + (iplen - 20);
    while (ps >> 16)
        ps = (ps & 0xffff) + (ps >> 16);
    d[50] = (uint8_t)(ps >> 8), d[51] = (uint8_t)ps;
    f.data = d;
    f.csum_start = 34;
    f.csum_offset = 16;
    f.gso_size = mss;
    f.hdr_len = 54;
    return f;
}

static bool tcp_csum_ok(const struct frame *f)
{
    uint16_t tl = (uint16_t)(f->len - 34);
    uint32_t ps = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + tl;

    return ref_csum(f->data + 34, tl, ps) == 0;
}

static struct vs_port_counters counters(const char *name)
{
    struct vs_port_counters c;

    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, name, &c), 0);
    return c;
}

/* Teach the table where every station is, so that unicast goes to one port. */
static void learn_all(void)
{
    for (int i = 0; i < next_mport; i++)
        inject(i, tcp4(i, (i + 1) % next_mport, 10, 0, 0));
    settle();
    clear_out();
}

static void test_setup(void)
{
    struct vs_switch_params prm = {.n_pollers = 1, .cpus = {0}, .mode = VS_POLL_BUSY,
                                   .fdb_size = 1024, .fdb_aging = 300};

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_port_type_register(&mem_ops), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(2048, VS_PAGES_NONE, &pool), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_add_large(pool, 64, VS_PAGES_NONE), 0);
    prm.pool = pool;
    CU_ASSERT_EQUAL_FATAL(vs_switch_create(&prm, &sw), 0);
    CU_ASSERT_EQUAL_FATAL(vs_switch_start(sw), 0);
    /* a: takes everything, jumbo, lent chains; b: takes nothing; c: checksums only;
     * d: jumbo, nothing */
    add("a", "0x1f", "9000", true);
    add("b", "0", "1500", false);
    add("c", "0x01", "1500", false);
    add("d", "0", "9000", false);
    learn_all();
}

static void test_gso_passes_to_a_port_that_takes_it(void)
{
    inject(1, tcp4(1, 0, 30000, VS_OL_CSUM | VS_OL_TSO4, 1448));
    settle();
    CU_ASSERT_EQUAL(mports[0].n_out, 1);
    CU_ASSERT_EQUAL(mports[0].out[0].len, 54 + 30000);
    CU_ASSERT_EQUAL(mports[0].out[0].ol_flags & VS_OL_TSO4, VS_OL_TSO4);
    CU_ASSERT_EQUAL(mports[0].out[0].gso_size, 1448);
    CU_ASSERT_EQUAL(counters("a").sw_segmented, 0);
    clear_out();
}

static void test_gso_segmented_for_a_port_that_does_not(void)
{
    uint32_t payload = 0;

    inject(0, tcp4(0, 1, 30000, VS_OL_CSUM | VS_OL_TSO4, 1448));
    settle();
    CU_ASSERT_EQUAL(mports[1].n_out, (30000 + 1447) / 1448);
    for (unsigned i = 0; i < mports[1].n_out; i++) {
        struct frame *f = &mports[1].out[i];

        CU_ASSERT(f->len <= 54 + 1448);
        CU_ASSERT_EQUAL(f->ol_flags & VS_OL_REQUESTS, 0);
        CU_ASSERT(tcp_csum_ok(f));
        payload += f->len - 54;
    }
    CU_ASSERT_EQUAL(payload, 30000);
    CU_ASSERT_EQUAL(counters("b").sw_segmented, 1);
    clear_out();
}

static void test_csum_completed_in_software(void)
{
    inject(0, tcp4(0, 1, 1000, VS_OL_CSUM, 0));
    settle();
    CU_ASSERT_EQUAL_FATAL(mports[1].n_out, 1);
    CU_ASSERT(tcp_csum_ok(&mports[1].out[0]));
    CU_ASSERT_EQUAL(mports[1].out[0].ol_flags & VS_OL_CSUM, 0);
    CU_ASSERT_EQUAL(counters("b").sw_csum, 1);
    clear_out();
}

/* Flooded to a (takes checksums) and b, c, d: a must still get the request with
 * the field untouched, so b's completion happened on a copy. */
static void test_shared_frame_completed_on_a_copy(void)
{
    struct frame f = tcp4(3, 0, 700, VS_OL_CSUM, 0);
    uint8_t partial[2] = {f.data[50], f.data[51]};

    memset(f.data, 0xff, 6); /* broadcast */
    inject(3, f);
    settle();
    CU_ASSERT_EQUAL_FATAL(mports[0].n_out, 1);
    CU_ASSERT_EQUAL_FATAL(mports[1].n_out, 1);
    CU_ASSERT_EQUAL(mports[0].out[0].ol_flags & VS_OL_CSUM, VS_OL_CSUM);
    CU_ASSERT_EQUAL(memcmp(mports[0].out[0].data + 50, partial, 2), 0);
    CU_ASSERT(tcp_csum_ok(&mports[1].out[0]));
    CU_ASSERT_EQUAL(mports[2].out[0].ol_flags & VS_OL_CSUM, VS_OL_CSUM);
    clear_out();
}

/* A jumbo frame in a large buffer, flooded from a: d (jumbo, no offloads) gets its
 * checksum completed on a copy, which must come from the large buffers too. */
static void test_shared_jumbo_completed_on_a_copy(void)
{
    struct frame f = tcp4(0, 3, 5000, VS_OL_CSUM, 0);
    uint64_t nobuf = counters("d").drops[VS_DROP_NO_BUFFERS];

    memset(f.data, 0xff, 6); /* broadcast */
    inject(0, f);
    settle();
    CU_ASSERT_EQUAL_FATAL(mports[3].n_out, 1);
    CU_ASSERT_EQUAL(mports[3].out[0].len, 54 + 5000);
    CU_ASSERT(tcp_csum_ok(&mports[3].out[0]));
    CU_ASSERT_EQUAL(counters("d").drops[VS_DROP_NO_BUFFERS], nobuf);
    CU_ASSERT_EQUAL(mports[1].n_out, 0); /* b and c: over their MTU */
    CU_ASSERT_EQUAL(mports[2].n_out, 0);
    clear_out();
}

static void test_bad_requests_dropped(void)
{
    uint64_t before = counters("a").drops[VS_DROP_BAD_OFFLOAD];
    struct frame f = tcp4(0, 1, 100, VS_OL_CSUM, 0);

    f.csum_start = (uint16_t)(f.len - 10); /* + offset 16 + 2 runs past the end */
    inject(0, f);
    f = tcp4(0, 1, 3000, VS_OL_CSUM | VS_OL_TSO4, 0); /* gso_size 0 */
    inject(0, f);
    f = tcp4(0, 1, 3000, VS_OL_CSUM | VS_OL_TSO6, 1400); /* TSO6 on IPv4 */
    inject(0, f);
    settle();
    CU_ASSERT_EQUAL(counters("a").drops[VS_DROP_BAD_OFFLOAD] - before, 3);
    CU_ASSERT_EQUAL(mports[1].n_out, 0);
    clear_out();
}

static void test_oversize(void)
{
    uint64_t in_before = counters("b").drops[VS_DROP_OVERSIZE];
    uint64_t out_before = counters("c").drops[VS_DROP_OVERSIZE];

    inject(1, tcp4(1, 0, 3000, 0, 0)); /* over b's own MTU: dropped on the way in */
    inject(0, tcp4(0, 2, 3000, 0, 0)); /* fits a's 9000, not c's 1500 */
    inject(0, tcp4(0, 3, 8000, 0, 0)); /* d: 9000, passes */
    settle();
    CU_ASSERT_EQUAL(counters("b").drops[VS_DROP_OVERSIZE] - in_before, 1);
    CU_ASSERT_EQUAL(counters("c").drops[VS_DROP_OVERSIZE] - out_before, 1);
    CU_ASSERT_EQUAL(mports[0].n_out, 0);
    CU_ASSERT_EQUAL(mports[2].n_out, 0);
    CU_ASSERT_EQUAL(mports[3].n_out, 1);
    clear_out();
}

static struct frame lent(struct frame f)
{
    f.lend = true;
    return f;
}

/* A lent TSO chain: to a (takes chains and TSO) as the chain itself; to b (neither)
 * segmented from a copy; to d (jumbo, no chains) as a copy with its checksum done;
 * every frame whole, nothing lost. */
static void test_lent_chain(void)
{
    uint32_t payload = 0;
    unsigned small_free = vs_pool_free_count(pool), large_free = vs_pool_free_count(vs_pool_large(pool));

    inject(1, lent(tcp4(1, 0, 30000, VS_OL_CSUM | VS_OL_TSO4, 1448)));
    settle();
    CU_ASSERT_EQUAL_FATAL(mports[0].n_out, 1);
    CU_ASSERT_TRUE(mports[0].out[0].lend);
    CU_ASSERT_EQUAL(mports[0].out[0].len, 54 + 30000);
    CU_ASSERT_EQUAL(mports[0].out[0].gso_size, 1448);
    struct frame want = tcp4(1, 0, 30000, VS_OL_CSUM | VS_OL_TSO4, 1448);
    CU_ASSERT_EQUAL(memcmp(mports[0].out[0].data, want.data, want.len), 0);
    free(want.data);
    clear_out();

    inject(0, lent(tcp4(0, 1, 30000, VS_OL_CSUM | VS_OL_TSO4, 1448)));
    settle();
    CU_ASSERT_EQUAL(mports[1].n_out, (30000 + 1447) / 1448);
    for (unsigned i = 0; i < mports[1].n_out; i++) {
        struct frame *f = &mports[1].out[i];

        CU_ASSERT_FALSE(f->lend);
        CU_ASSERT(tcp_csum_ok(f));
        payload += f->len - 54;
    }
    CU_ASSERT_EQUAL(payload, 30000);
    clear_out();

    inject(0, lent(tcp4(0, 3, 5000, VS_OL_CSUM, 0)));
    inject(0, lent(tcp4(0, 2, 1000, VS_OL_CSUM, 0)));
    settle();
    CU_ASSERT_EQUAL_FATAL(mports[3].n_out, 1);
    CU_ASSERT_FALSE(mports[3].out[0].lend);
    CU_ASSERT_EQUAL(mports[3].out[0].len, 54 + 5000);
    CU_ASSERT(tcp_csum_ok(&mports[3].out[0]));
    /* c takes the checksum request: a copy with the request. */
    CU_ASSERT_EQUAL_FATAL(mports[2].n_out, 1);
    CU_ASSERT_FALSE(mports[2].out[0].lend);
    CU_ASSERT_EQUAL(mports[2].out[0].ol_flags & VS_OL_CSUM, VS_OL_CSUM);
    want = tcp4(0, 2, 1000, VS_OL_CSUM, 0);
    CU_ASSERT_EQUAL(memcmp(mports[2].out[0].data, want.data, want.len), 0);
    free(want.data);
    clear_out();
    settle();
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), small_free);
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(pool)), large_free);
}

/* A lent chain flooded from b: a gets the chain with the request untouched, c a
 * copy with the request, d a copy with the checksum completed. */
static void test_lent_chain_flooded(void)
{
    struct frame f = tcp4(1, 0, 1000, VS_OL_CSUM, 0);
    uint8_t partial[2] = {f.data[50], f.data[51]};

    memset(f.data, 0xff, 6); /* broadcast */
    inject(1, lent(f));
    settle();
    CU_ASSERT_EQUAL_FATAL(mports[0].n_out, 1);
    CU_ASSERT_TRUE(mports[0].out[0].lend);
    CU_ASSERT_EQUAL(memcmp(mports[0].out[0].data + 50, partial, 2), 0);
    CU_ASSERT_EQUAL_FATAL(mports[2].n_out, 1);
    CU_ASSERT_FALSE(mports[2].out[0].lend);
    CU_ASSERT_EQUAL(mports[2].out[0].ol_flags & VS_OL_CSUM, VS_OL_CSUM);
    CU_ASSERT_EQUAL(memcmp(mports[2].out[0].data + 50, partial, 2), 0);
    CU_ASSERT_EQUAL_FATAL(mports[3].n_out, 1);
    CU_ASSERT_FALSE(mports[3].out[0].lend);
    CU_ASSERT(tcp_csum_ok(&mports[3].out[0]));
    clear_out();
}

static void test_teardown(void)
{
    vs_switch_destroy(sw);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(pool)), 64);
    vs_pool_destroy(pool);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("offload_path", NULL, NULL);
    CU_add_test(s, "setup", test_setup);
    CU_add_test(s, "gso passes whole", test_gso_passes_to_a_port_that_takes_it);
    CU_add_test(s, "gso segmented", test_gso_segmented_for_a_port_that_does_not);
    CU_add_test(s, "csum completed", test_csum_completed_in_software);
    CU_add_test(s, "shared frame copied", test_shared_frame_completed_on_a_copy);
    CU_add_test(s, "shared jumbo frame copied", test_shared_jumbo_completed_on_a_copy);
    CU_add_test(s, "bad requests", test_bad_requests_dropped);
    CU_add_test(s, "oversize", test_oversize);
    CU_add_test(s, "lent chain", test_lent_chain);
    CU_add_test(s, "lent chain flooded", test_lent_chain_flooded);
    CU_add_test(s, "teardown", test_teardown);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
