/* The dataplane end to end with in-memory ports: learning, flooding, filtering,
 * drops by reason, VLAN separation, port removal while pollers run, add-port
 * failing for lack of memory, no leaks. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/dp.h"
#include "dataplane/switch.h"
#include "vswitch/loop.h"
#include "vswitch/pkt.h"

#define MAXF 256

struct frame {
    uint16_t len;
    uint8_t data[128];
};

struct memport {
    pthread_mutex_t lock;
    struct frame in[MAXF];
    unsigned in_head, in_tail;
    struct frame out[MAXF];
    unsigned n_out;
    unsigned capacity; /* frames accepted per tx burst, 0 = all */
    struct vs_port *port;
    bool closed;
};

static struct memport mports[32];
static int next_mport;

static int mem_validate(const struct vs_port_args *args, struct vs_port_err *err) { return 0; }

static int mem_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct memport *m = &mports[next_mport++];
    CU_ASSERT_FATAL(next_mport <= (int)(sizeof(mports) / sizeof(mports[0])));
    const char *cap = vs_port_args_get(args, "capacity", NULL);

    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->capacity = cap ? (unsigned)atoi(cap) : 0;
    m->port = port;
    port->priv = m;
    port->n_rxq = 1;
    port->n_txq = 1;
    port->link_up = 1;
    return 0;
}

static void mem_close(struct vs_port *port)
{
    struct memport *m = port->priv;

    m->closed = true;
    port->priv = NULL;
}

static uint16_t mem_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct memport *m = port->priv;
    uint16_t got = 0;

    pthread_mutex_lock(&m->lock);
    while (got < n && m->in_head != m->in_tail) {
        struct frame *f = &m->in[m->in_head % MAXF];
        struct vs_pkt *p = vs_pkt_alloc(port->pool);

        if (!p)
            break;
        memcpy(vs_pkt_data(p), f->data, f->len);
        p->len = f->len;
        pkts[got++] = p;
        m->in_head++;
    }
    pthread_mutex_unlock(&m->lock);
    return got;
}

static uint16_t mem_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct memport *m = port->priv;
    uint16_t take = m->capacity && m->capacity < n ? (uint16_t)m->capacity : n;

    pthread_mutex_lock(&m->lock);
    for (uint16_t i = 0; i < take && m->n_out < MAXF; i++) {
        m->out[m->n_out].len = pkts[i]->len;
        memcpy(m->out[m->n_out].data, vs_pkt_data(pkts[i]), pkts[i]->len);
        m->n_out++;
    }
    pthread_mutex_unlock(&m->lock);
    vs_pkt_free_bulk(pkts, take);
    return take;
}

static const char *const mem_keys[] = {"capacity", NULL};
static const struct vs_port_ops mem_ops = {
    .type = "mem", .keys = mem_keys, .validate = mem_validate, .open = mem_open,
    .close = mem_close, .rx_burst = mem_rx, .tx_burst = mem_tx,
};

static struct vs_pool *pool;
static struct vs_switch *sw;

static void inject(int port, const uint8_t dst[6], const uint8_t src[6], int vlan, uint16_t len)
{
    struct memport *m = &mports[port];
    struct frame f = {.len = len};

    memcpy(f.data, dst, 6);
    memcpy(f.data + 6, src, 6);
    if (vlan >= 0) {
        f.data[12] = 0x81, f.data[13] = 0x00;
        f.data[14] = (uint8_t)(vlan >> 8), f.data[15] = (uint8_t)vlan;
        f.data[16] = 0x08, f.data[17] = 0x00;
    } else {
        f.data[12] = 0x08, f.data[13] = 0x00;
    }
    pthread_mutex_lock(&m->lock);
    m->in[m->in_tail++ % MAXF] = f;
    pthread_mutex_unlock(&m->lock);
}

static unsigned out_count(int port)
{
    pthread_mutex_lock(&mports[port].lock);
    unsigned n = mports[port].n_out;
    pthread_mutex_unlock(&mports[port].lock);
    return n;
}

/* Waits until the poller consumed every injected frame and a little longer. */
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
    usleep(20000); /* the last burst is flushed right after it is taken */
}

static void reset_out(void)
{
    for (int p = 0; p < next_mport; p++) {
        pthread_mutex_lock(&mports[p].lock);
        mports[p].n_out = 0;
        pthread_mutex_unlock(&mports[p].lock);
    }
}

static const uint8_t MAC_A[6] = {0x02, 0, 0, 0, 0, 0xa};
static const uint8_t MAC_B[6] = {0x02, 0, 0, 0, 0, 0xb};
static const uint8_t MAC_C[6] = {0x02, 0, 0, 0, 0, 0xc};
static const uint8_t BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t MCAST[6] = {0x01, 0, 0x5e, 0, 0, 1};

static void add(const char *name, const char *cap)
{
    struct vs_port_arg a = {.key = "capacity", .value = cap};
    struct vs_port_args args = {cap ? 1 : 0, &a};
    struct vs_port_err err;

    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, name, "mem", &args, &err), 0);
}

static uint64_t drops(const char *name, enum vs_drop d)
{
    struct vs_port_counters c;

    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, name, &c), 0);
    return c.drops[d];
}

static void test_setup(void)
{
    struct vs_switch_params prm = {.n_pollers = 1, .cpus = {0}, .mode = VS_POLL_BUSY,
                                   .fdb_size = 1024, .fdb_aging = 300};

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_port_type_register(&mem_ops), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(2048, VS_PAGES_NONE, &pool), 0);
    prm.pool = pool;
    CU_ASSERT_EQUAL_FATAL(vs_switch_create(&prm, &sw), 0);
    CU_ASSERT_EQUAL_FATAL(vs_switch_start(sw), 0);
    add("a", NULL);
    add("b", NULL);
    add("c", NULL);
    struct vs_port_err err;
    struct vs_port_args none = {0, NULL};
    CU_ASSERT_EQUAL(vs_switch_add_port(sw, "a", "mem", &none, &err), -EEXIST);
    CU_ASSERT_EQUAL(vs_switch_add_port(sw, "x", "nosuch", &none, &err), -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "known types"));
}

static void test_flood_learn_unicast(void)
{
    reset_out();
    inject(0, MAC_B, MAC_A, -1, 64); /* B unknown: flood to b and c, not back to a */
    settle();
    CU_ASSERT_EQUAL(out_count(0), 0);
    CU_ASSERT_EQUAL(out_count(1), 1);
    CU_ASSERT_EQUAL(out_count(2), 1);
    reset_out();
    inject(1, MAC_A, MAC_B, -1, 64); /* A was learned on port a: unicast */
    settle();
    CU_ASSERT_EQUAL(out_count(0), 1);
    CU_ASSERT_EQUAL(out_count(1), 0);
    CU_ASSERT_EQUAL(out_count(2), 0);
    CU_ASSERT_EQUAL(memcmp(mports[0].out[0].data + 6, MAC_B, 6), 0);
    reset_out();
    for (int i = 0; i < 100; i++)
        inject(0, MAC_B, MAC_A, -1, 100); /* B now known: only to b, 100 exactly */
    settle();
    CU_ASSERT_EQUAL(out_count(1), 100);
    CU_ASSERT_EQUAL(out_count(2), 0);
    CU_ASSERT_EQUAL(out_count(0), 0);
}

/* Bursts mixing runs and alternations of sources and destinations: every frame
 * still goes exactly where its own destination says. */
static void test_mixed_burst(void)
{
    static const uint8_t MAC_D[6] = {0x02, 0, 0, 0, 0, 0xd};
    static const uint8_t dst_pattern[] = {1, 1, 2, 1, 2, 2, 2, 1, 1, 2, 1, 2, 2, 1, 1, 1};
    static const uint8_t src_pattern[] = {0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0};
    struct memport *m = &mports[0];
    unsigned to_b = 0, to_c = 0;

    reset_out();
    inject(1, BCAST, MAC_B, -1, 64); /* B at b, C at c */
    inject(2, BCAST, MAC_C, -1, 64);
    settle();
    reset_out();
    pthread_mutex_lock(&m->lock); /* queue the whole pattern before the poller sees it */
    for (unsigned i = 0; i < sizeof(dst_pattern); i++) {
        struct frame f = {.len = 64};
        memcpy(f.data, dst_pattern[i] == 1 ? MAC_B : MAC_C, 6);
        memcpy(f.data + 6, src_pattern[i] ? MAC_D : MAC_A, 6);
        f.data[12] = 0x08;
        m->in[m->in_tail++ % MAXF] = f;
        dst_pattern[i] == 1 ? to_b++ : to_c++;
    }
    pthread_mutex_unlock(&m->lock);
    settle();
    CU_ASSERT_EQUAL(out_count(1), to_b);
    CU_ASSERT_EQUAL(out_count(2), to_c);
    CU_ASSERT_EQUAL(out_count(0), 0);
    /* Both sources were learned on a: frames to D now go to a only. */
    reset_out();
    inject(1, MAC_D, MAC_B, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(0), 1);
    CU_ASSERT_EQUAL(out_count(2), 0);
}

static void test_broadcast_multicast(void)
{
    reset_out();
    inject(2, BCAST, MAC_C, -1, 60);
    inject(2, MCAST, MAC_C, -1, 60);
    settle();
    CU_ASSERT_EQUAL(out_count(0), 2);
    CU_ASSERT_EQUAL(out_count(1), 2);
    CU_ASSERT_EQUAL(out_count(2), 0);
}

static void test_drops(void)
{
    uint64_t runt0 = drops("a", VS_DROP_RUNT), src0 = drops("a", VS_DROP_BAD_SRC);
    uint64_t filt0 = drops("a", VS_DROP_FILTERED);

    reset_out();
    inject(0, MAC_B, MAC_A, -1, 10);     /* runt */
    inject(0, MAC_B, MCAST, -1, 64);     /* group source */
    inject(0, MAC_A, MAC_A, -1, 64);     /* destination on the ingress port */
    settle();
    CU_ASSERT_EQUAL(drops("a", VS_DROP_RUNT), runt0 + 1);
    CU_ASSERT_EQUAL(drops("a", VS_DROP_BAD_SRC), src0 + 1);
    CU_ASSERT_EQUAL(drops("a", VS_DROP_FILTERED), filt0 + 1);
    CU_ASSERT_EQUAL(out_count(1) + out_count(2), 0);
}

static void test_vlan(void)
{
    reset_out();
    inject(0, BCAST, MAC_A, 10, 64);  /* learn A on vlan 10 at port a */
    settle();
    reset_out();
    inject(1, MAC_A, MAC_B, 20, 64);  /* A unknown on vlan 20: flood */
    inject(1, MAC_A, MAC_B, 10, 64);  /* known on vlan 10: only a */
    settle();
    CU_ASSERT_EQUAL(out_count(0), 2);
    CU_ASSERT_EQUAL(out_count(2), 1);
}

static void test_tx_full(void)
{
    uint64_t full0;

    add("slow", "1"); /* takes one frame per burst */
    full0 = drops("slow", VS_DROP_TX_FULL);
    reset_out();
    for (int i = 0; i < 32; i++)
        inject(0, BCAST, MAC_A, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(1), 32);
    CU_ASSERT(out_count(3) >= 1);
    CU_ASSERT_EQUAL(out_count(3) + (drops("slow", VS_DROP_TX_FULL) - full0), 32);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "slow"), 0);
}

static void test_del_port(void)
{
    struct vs_port_counters c;

    reset_out();
    inject(2, BCAST, MAC_C, -1, 64); /* C learned at c */
    settle();
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "c"), 0);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "c"), -ENOENT);
    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, "c", &c), -ENOENT);
    reset_out();
    inject(0, MAC_C, MAC_A, -1, 64); /* C's entry went with its port: flood to b only */
    settle();
    CU_ASSERT_EQUAL(out_count(1), 1);
    CU_ASSERT_EQUAL(out_count(2), 0);
    /* A new port in the freed slot starts from zero counters. */
    add("c2", NULL);
    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, "c2", &c), 0);
    CU_ASSERT_EQUAL(c.rx_packets + c.tx_packets, 0);
}

/* A rebalance that cannot allocate leaves the switch as it was: the port is not
 * added (or not removed), the others keep their queues and flooding, and add-port
 * (del-port) says so. */
static void test_port_enomem(void)
{
    struct vs_port_args none = {0, NULL};
    struct vs_port_counters c;
    struct vs_port_err err;
    unsigned n = vs_switch_port_count(sw);
    int oom = next_mport;
    json_t *pl, *queues;

    vs_sched_test_fail_allocs = 1;
    CU_ASSERT_EQUAL(vs_switch_add_port(sw, "oom", "mem", &none, &err), -ENOMEM);
    CU_ASSERT_EQUAL(vs_sched_test_fail_allocs, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "pollers"));
    CU_ASSERT_TRUE(mports[oom].closed);
    CU_ASSERT_EQUAL(vs_switch_port_count(sw), n);
    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, "oom", &c), -ENOENT);
    pl = vs_switch_pollers(sw);
    queues = json_object_get(json_array_get(json_object_get(pl, "pollers"), 0), "queues");
    CU_ASSERT_EQUAL(json_array_size(queues), n);
    json_decref(pl);
    reset_out();
    inject(0, BCAST, MAC_A, -1, 64); /* floods to the others only */
    settle();
    CU_ASSERT_EQUAL(out_count(1), 1);
    CU_ASSERT_EQUAL(out_count(oom), 0);
    /* With memory the same name goes in. */
    add("oom", NULL);
    oom = next_mport - 1;
    CU_ASSERT_EQUAL(vs_switch_port_count(sw), n + 1);

    vs_sched_test_fail_allocs = 1;
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "oom"), -ENOMEM);
    CU_ASSERT_EQUAL(vs_sched_test_fail_allocs, 0);
    CU_ASSERT_FALSE(mports[oom].closed);
    CU_ASSERT_EQUAL(vs_switch_port_count(sw), n + 1);
    reset_out();
    inject(oom, BCAST, MAC_C, -1, 64); /* still polled, and flooded to */
    inject(0, BCAST, MAC_A, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(0), 1);
    CU_ASSERT_EQUAL(out_count(oom), 1);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "oom"), 0);
    CU_ASSERT_TRUE(mports[oom].closed);
    CU_ASSERT_EQUAL(vs_switch_port_count(sw), n);
}

static void test_counters_and_json(void)
{
    json_t *o = vs_switch_port_show(sw, "a"), *l = vs_switch_list_ports(sw);
    json_t *pl = vs_switch_pollers(sw);

    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT(json_integer_value(json_object_get(json_object_get(o, "counters"), "rx_packets")) > 100);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "type")), "mem");
    CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "ports")), 3);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(json_array_get(json_object_get(pl, "pollers"), 0), "queues")), 3);
    CU_ASSERT_PTR_NULL(vs_switch_port_show(sw, "nosuch"));
    json_decref(o);
    json_decref(l);
    json_decref(pl);
}

static void stop_loop(void *arg) { vs_loop_stop(); }

static void test_failed_port_removed(void)
{
    struct vs_port_counters c;

    add("dying", NULL);
    VS_WRITE_ONCE(mports[next_mport - 1].port->failed, 1);
    CU_ASSERT(vs_loop_add_timer(1500, 0, stop_loop, NULL) > 0);
    vs_loop_run(); /* the switch's health timer runs meanwhile */
    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, "dying", &c), -ENOENT);
    CU_ASSERT_EQUAL(vs_switch_port_counters(sw, "a", &c), 0);
}

/* Adds a mem port with switch options (key, value, ..., NULL); returns its memport. */
static int add_opts(const char *name, ...)
{
    struct vs_port_arg a[8];
    struct vs_port_args args = {0, a};
    struct vs_port_err err;
    va_list ap;
    int idx = next_mport;

    va_start(ap, name);
    for (const char *k; (k = va_arg(ap, const char *));)
        a[args.n++] = (struct vs_port_arg){.key = k, .value = va_arg(ap, const char *)};
    va_end(ap);
    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, name, "mem", &args, &err), 0);
    return idx;
}

/* The last frame port idx sent: tagged with vid (>= 0), or untagged (-1). */
static bool last_out_is(int idx, int vid, const uint8_t dst[6], const uint8_t src[6])
{
    struct memport *m = &mports[idx];
    const struct frame *f;

    if (m->n_out == 0)
        return false;
    f = &m->out[m->n_out - 1];
    if (memcmp(f->data, dst, 6) || memcmp(f->data + 6, src, 6))
        return false;
    if (vid < 0)
        return f->data[12] == 0x08 && f->data[13] == 0x00;
    return f->data[12] == 0x81 && f->data[13] == 0 && (f->data[14] & 0x0f) == (vid >> 8) &&
           f->data[15] == (uint8_t)vid && f->data[16] == 0x08 && f->data[17] == 0x00;
}

/* Access, trunk and transparent ports together: floods stay in their VLAN, tags
 * are pushed and popped per destination, refused frames are counted by reason,
 * and set-port changes a port while the others forward. */
static void test_vlan_modes(void)
{
    static const uint8_t MAC_V1[6] = {0x02, 0, 0, 0, 1, 1}, MAC_V3[6] = {0x02, 0, 0, 0, 1, 3};
    static const uint8_t MAC_T[6] = {0x02, 0, 0, 0, 1, 9};
    int v1 = add_opts("v1", "vlan_mode", "access", "tag", "10", NULL);
    int v2 = add_opts("v2", "vlan_mode", "access", "tag", "10", NULL);
    int v3 = add_opts("v3", "vlan_mode", "access", "tag", "20", NULL);
    int tr = add_opts("tr", "vlan_mode", "trunk", "trunks", "10,20", NULL);
    int trn = add_opts("trn", "vlan_mode", "trunk", "trunks", "20", "native_vlan", "10", NULL);
    int t0 = 0; /* port a: transparent */
    struct vs_port_arg bad_arg = {.key = "capacity", .value = "3"};
    struct vs_port_args bad = {1, &bad_arg};
    struct vs_port_err err;

    /* An untagged broadcast on access 10: v2 and trn's native VLAN untagged, the
     * trunk and the transparent port tagged 10, nothing to VLAN 20's v3. */
    reset_out();
    inject(v1, BCAST, MAC_V1, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(v2), 1);
    CU_ASSERT_TRUE(last_out_is(v2, -1, BCAST, MAC_V1));
    CU_ASSERT_EQUAL(out_count(v3), 0);
    CU_ASSERT_EQUAL(out_count(tr), 1);
    CU_ASSERT_TRUE(last_out_is(tr, 10, BCAST, MAC_V1));
    CU_ASSERT_EQUAL(out_count(trn), 1);
    CU_ASSERT_TRUE(last_out_is(trn, -1, BCAST, MAC_V1));
    CU_ASSERT_EQUAL(out_count(t0), 1);
    CU_ASSERT_TRUE(last_out_is(t0, 10, BCAST, MAC_V1));
    CU_ASSERT_EQUAL(mports[tr].out[0].len, 68);

    /* VLAN 20 tagged from the trunk: v3 untagged, trn tagged, not VLAN 10's ports. */
    reset_out();
    inject(tr, BCAST, MAC_T, 20, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(v1) + out_count(v2), 0);
    CU_ASSERT_EQUAL(out_count(v3), 1);
    CU_ASSERT_TRUE(last_out_is(v3, -1, BCAST, MAC_T));
    CU_ASSERT_EQUAL(mports[v3].out[0].len, 60);
    CU_ASSERT_TRUE(last_out_is(trn, 20, BCAST, MAC_T));
    CU_ASSERT_TRUE(last_out_is(t0, 20, BCAST, MAC_T));

    /* Unicast to a station learned on v1, from the trunk: popped for v1 only. */
    reset_out();
    inject(tr, MAC_V1, MAC_T, 10, 80);
    settle();
    CU_ASSERT_EQUAL(out_count(v1), 1);
    CU_ASSERT_TRUE(last_out_is(v1, -1, MAC_V1, MAC_T));
    CU_ASSERT_EQUAL(mports[v1].out[0].len, 76);
    CU_ASSERT_EQUAL(out_count(v2) + out_count(v3) + out_count(trn) + out_count(t0), 0);
    /* From the transparent port, tagged 10 (a VXLAN port's decapsulated frames):
     * popped for the access port too. */
    reset_out();
    static const uint8_t MAC_X[6] = {0x02, 0, 0, 0, 1, 7};
    inject(t0, MAC_V1, MAC_X, 10, 80);
    settle();
    CU_ASSERT_EQUAL(out_count(v1), 1);
    CU_ASSERT_TRUE(last_out_is(v1, -1, MAC_V1, MAC_X));
    CU_ASSERT_EQUAL(mports[v1].out[0].len, 76);
    /* And back: v1's unicast to the trunk's station is pushed. */
    reset_out();
    inject(v1, MAC_T, MAC_V1, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(tr), 1);
    CU_ASSERT_TRUE(last_out_is(tr, 10, MAC_T, MAC_V1));
    CU_ASSERT_EQUAL(out_count(v2) + out_count(t0), 0);

    /* Refused frames, by reason, and nothing leaves. */
    uint64_t tagged0 = drops("v1", VS_DROP_VLAN_TAGGED), na0 = drops("tr", VS_DROP_VLAN_NOT_ALLOWED);
    reset_out();
    inject(v1, BCAST, MAC_V1, 10, 64); /* tagged on an access port */
    inject(v1, BCAST, MAC_V1, 0, 64);  /* priority-tagged too */
    inject(tr, BCAST, MAC_T, 30, 64);  /* a VLAN the trunk does not carry */
    inject(tr, BCAST, MAC_T, -1, 64);  /* untagged on a trunk without native VLAN */
    settle();
    CU_ASSERT_EQUAL(drops("v1", VS_DROP_VLAN_TAGGED), tagged0 + 2);
    CU_ASSERT_EQUAL(drops("tr", VS_DROP_VLAN_NOT_ALLOWED), na0 + 2);
    for (int i = 0; i < next_mport; i++)
        CU_ASSERT_EQUAL(out_count(i), 0);

    /* set-port: v3 joins VLAN 10 while the others forward; show says so. */
    reset_out();
    inject(v3, BCAST, MAC_V3, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(v1), 0);
    struct vs_port_arg to10[] = {{.key = "vlan_mode", .value = "access"}, {.key = "tag", .value = "10"}};
    struct vs_port_args set10 = {2, to10};
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "v3", &set10, &err), 0);
    reset_out();
    inject(v3, BCAST, MAC_V3, -1, 64);
    inject(v1, BCAST, MAC_V1, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(v1), 1);
    CU_ASSERT_EQUAL(out_count(v3), 1);
    CU_ASSERT_EQUAL(out_count(tr), 2); /* both, tagged 10 */
    json_t *o = vs_switch_port_show(sw, "v3");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "tag")), 10);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "vlan")), "access 10");
    json_decref(o);
    /* A new mode drops the old mode's keys; an empty value resets a key. */
    struct vs_port_arg totrunk[] = {{.key = "vlan_mode", .value = "trunk"}, {.key = "trunks", .value = "5"}};
    struct vs_port_args settr = {2, totrunk};
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "v3", &settr, &err), 0);
    struct vs_port_arg reset_mode = {.key = "vlan_mode", .value = ""};
    struct vs_port_args setdef = {1, &reset_mode};
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "v3", &setdef, &err), 0);
    o = vs_switch_port_show(sw, "v3");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "vlan_mode")), "transparent");
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(o, "options"), "trunks"));
    json_decref(o);
    /* Refused: a type's key, a bad value (the port keeps its settings), no port. */
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "v1", &bad, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "cannot change"));
    struct vs_port_arg tag0[] = {{.key = "vlan_mode", .value = "access"}, {.key = "tag", .value = "0"}};
    struct vs_port_args settag0 = {2, tag0};
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "v1", &settag0, &err), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "nosuch", &set10, &err), -ENOENT);
    reset_out();
    inject(v1, BCAST, MAC_V1, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(v2), 1);
    /* add-port refuses bad switch keys with the argument's index. */
    struct vs_port_arg badadd[] = {{.key = "capacity", .value = "0"}, {.key = "vlan_mode", .value = "access"}};
    struct vs_port_args ba = {2, badadd};
    CU_ASSERT_EQUAL(vs_switch_add_port(sw, "v9", "mem", &ba, &err), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);

    const char *names[] = {"v1", "v2", "v3", "tr", "trn"};
    for (unsigned i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(vs_switch_del_port(sw, names[i]), 0);
}

static void mac_n(uint8_t mac[6], uint8_t hi, uint8_t lo)
{
    static const uint8_t base[6] = {0x02, 0, 0, 0, 0, 0};
    memcpy(mac, base, 6);
    mac[4] = hi;
    mac[5] = lo;
}

/* Port security and static entries end to end: a mac_limit port learns its limit
 * and no more (the rest dropped, nobody evicted, others' unicast not flooded to
 * it); its stations are pinned; a spoofed source on an allowed_macs port reaches
 * nobody; a static entry forwards, is never moved, survives a flush. */
static void test_port_security(void)
{
    int s1 = add_opts("s1", "mac_limit", "2", NULL);
    int s2 = add_opts("s2", "allowed_macs", "02:00:00:00:60:01", NULL);
    int a = 0, b = 1;
    uint8_t src[6], x[6];
    uint64_t lim0 = drops("s1", VS_DROP_MAC_LIMIT);

    reset_out();
    inject(b, BCAST, MAC_B, -1, 64); /* B learned at b */
    settle();
    reset_out();
    for (uint8_t i = 0; i < 10; i++) {
        mac_n(src, 0x50, i);
        inject(s1, MAC_B, src, -1, 64);
    }
    settle();
    CU_ASSERT_EQUAL(drops("s1", VS_DROP_MAC_LIMIT), lim0 + 8);
    CU_ASSERT_EQUAL(out_count(b), 2);
    json_t *o = vs_switch_port_show(sw, "s1");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "mac_limit")), 2);
    json_decref(o);
    /* B is still at b: a's unicast to it goes there only, not flooded to s1. */
    reset_out();
    inject(a, MAC_B, MAC_A, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(b), 1);
    CU_ASSERT_EQUAL(out_count(s1), 0);
    /* s1's first station is pinned: a claiming it is dropped; it stays at s1. */
    uint64_t pin0 = drops("a", VS_DROP_MAC_PINNED);
    mac_n(src, 0x50, 0);
    reset_out();
    inject(a, BCAST, src, -1, 64);
    inject(b, src, MAC_B, -1, 64);
    settle();
    CU_ASSERT_EQUAL(drops("a", VS_DROP_MAC_PINNED), pin0 + 1);
    CU_ASSERT_EQUAL(out_count(s1), 1);
    CU_ASSERT_EQUAL(out_count(a), 0);

    /* allowed_macs: a spoofed source reaches nobody; the allowed one does. */
    uint64_t spoof0 = drops("s2", VS_DROP_SRC_NOT_ALLOWED);
    reset_out();
    mac_n(src, 0x60, 2);
    inject(s2, BCAST, src, -1, 64);
    inject(s2, MAC_B, src, -1, 64);
    settle();
    for (int i = 0; i < next_mport; i++)
        CU_ASSERT_EQUAL(out_count(i), 0);
    CU_ASSERT_EQUAL(drops("s2", VS_DROP_SRC_NOT_ALLOWED), spoof0 + 2);
    mac_n(src, 0x60, 1);
    inject(s2, MAC_B, src, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(b), 1);

    /* Static entry: X at b in VLAN 0. */
    mac_n(x, 0x70, 1);
    CU_ASSERT_EQUAL(vs_switch_fdb_add(sw, 0, x, "b"), 0);
    CU_ASSERT_EQUAL(vs_switch_fdb_add(sw, 0, x, "nosuch"), -ENOENT);
    CU_ASSERT_EQUAL(vs_switch_fdb_add(sw, 0, BCAST, "b"), -EINVAL);
    reset_out();
    inject(a, x, MAC_A, -1, 64);
    inject(a, BCAST, x, -1, 64); /* a claims X: dropped, X stays at b */
    settle();
    CU_ASSERT_EQUAL(out_count(b), 1);
    CU_ASSERT_EQUAL(out_count(s1) + out_count(s2), 0);
    CU_ASSERT_EQUAL(drops("a", VS_DROP_MAC_PINNED), pin0 + 2);
    CU_ASSERT(vs_switch_fdb_flush(sw, NULL) >= 3);
    reset_out();
    inject(a, x, MAC_A, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(b), 1);
    CU_ASSERT_EQUAL(out_count(s1), 0);
    json_t *f = vs_switch_fdb_show(sw);
    bool seen = false;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(f, "entries"), i, e)
        if (!strcmp(json_string_value(json_object_get(e, "mac")), "02:00:00:00:70:01")) {
            CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "kind")), "static");
            seen = true;
        }
    CU_ASSERT_TRUE(seen);
    json_decref(f);
    CU_ASSERT_EQUAL(vs_switch_fdb_del(sw, 0, x), 0);
    CU_ASSERT_EQUAL(vs_switch_fdb_del(sw, 0, x), -ENOENT);
    reset_out();
    inject(a, x, MAC_A, -1, 64); /* unknown again: flooded */
    settle();
    CU_ASSERT_EQUAL(out_count(s1), 1);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "s1"), 0);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "s2"), 0);
}

/* Mirroring: copies of what a port receives and sends, byte for byte; a full mirror
 * port drops copies without touching the mirrored traffic; refused setups; a
 * mirror goes with its port. */
static void test_mirror(void)
{
    const char *src_a[] = {"a"}, *src_mir[] = {"mir"}, *src_b[] = {"b"};
    int mir = add_opts("mir", NULL);
    int a = 0, b = 1;
    char err[256];

    reset_out();
    inject(a, BCAST, MAC_A, -1, 64); /* A at a, B at b */
    inject(b, BCAST, MAC_B, -1, 64);
    settle();
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m1", src_a, 1, 3, "mir", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m1", src_b, 1, 3, "mir", err, sizeof(err)), -EEXIST);
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m2", src_a, 1, 3, "a", err, sizeof(err)), -EINVAL);
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m2", src_mir, 1, 3, "b", err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "receives mirror m1's copies"));
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m2", src_b, 1, 3, "a", err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "source of mirror m1"));
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m2", src_b, 1, 3, "nosuch", err, sizeof(err)), -ENOENT);
    reset_out();
    for (int i = 0; i < 10; i++)
        inject(a, MAC_B, MAC_A, -1, (uint16_t)(64 + i)); /* received by a */
    for (int i = 0; i < 5; i++)
        inject(b, MAC_A, MAC_B, -1, 100); /* sent by a */
    inject(a, MAC_A, MAC_A, -1, 64);      /* received by a and dropped: still mirrored */
    settle();
    CU_ASSERT_EQUAL(out_count(b), 10);
    CU_ASSERT_EQUAL(out_count(a), 5);
    CU_ASSERT_EQUAL(out_count(mir), 16);
    unsigned by_len[128] = {0};
    for (unsigned i = 0; i < mports[mir].n_out; i++)
        by_len[mports[mir].out[i].len]++;
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(by_len[64 + i], i == 0 ? 2 : 1);
    CU_ASSERT_EQUAL(by_len[100], 5);
    /* The mirror port gets copies only, not floods of its own. */
    reset_out();
    inject(b, BCAST, MAC_B, -1, 90);
    settle();
    CU_ASSERT_EQUAL(out_count(a), 1);
    CU_ASSERT_EQUAL(out_count(mir), 1); /* a's tx copy */
    json_t *l = vs_switch_mirror_list(sw), *m = json_array_get(json_object_get(l, "mirrors"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "mirrored")), 17);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(m, "dropped")), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(m, "dir")), "both");
    json_decref(l);
    CU_ASSERT_EQUAL(vs_switch_mirror_del(sw, "m1"), 0);
    CU_ASSERT_EQUAL(vs_switch_mirror_del(sw, "m1"), -ENOENT);

    /* A mirror port that takes one frame per burst: the copies it refuses are its own
     * drops; the mirrored traffic arrives whole. */
    int slow = add_opts("slowmir", "capacity", "1", NULL);
    CU_ASSERT_EQUAL(vs_switch_mirror_add(sw, "m3", src_a, 1, 1, "slowmir", err, sizeof(err)), 0);
    uint64_t full0 = drops("slowmir", VS_DROP_TX_FULL);
    reset_out();
    pthread_mutex_lock(&mports[a].lock); /* one burst */
    for (int i = 0; i < 20; i++) {
        struct frame f = {.len = 64};
        memcpy(f.data, MAC_B, 6);
        memcpy(f.data + 6, MAC_A, 6);
        f.data[12] = 0x08;
        mports[a].in[mports[a].in_tail++ % MAXF] = f;
    }
    pthread_mutex_unlock(&mports[a].lock);
    settle();
    CU_ASSERT_EQUAL(out_count(b), 20);
    CU_ASSERT(out_count(slow) >= 1 && out_count(slow) < 20);
    CU_ASSERT_EQUAL(out_count(slow) + (drops("slowmir", VS_DROP_TX_FULL) - full0), 20);
    /* The mirror goes with its port. */
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "slowmir"), 0);
    l = vs_switch_mirror_list(sw);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(l, "mirrors")), 0);
    json_decref(l);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "mir"), 0);
}

/* Token buckets: a bucket holds a tenth of a second of its rate, at least a burst
 * (32 frames); a flood far beyond it passes that much (plus what the few ms of the
 * test refill) and the rest is dropped by reason. Policing counts bytes. */
static void test_storm_control(void)
{
    int st = add_opts("st", "broadcast_limit_pps", "100", "unknown_unicast_limit_pps", "50",
                      "multicast_limit_pps", "10", NULL);
    int pol = add_opts("pol", "ingress_rate", "8kbit", "ingress_burst", "2000", NULL);
    uint8_t src[6], unk[6];
    uint64_t b0 = drops("st", VS_DROP_STORM_BCAST), u0 = drops("st", VS_DROP_STORM_UNKNOWN);
    uint64_t m0 = drops("st", VS_DROP_STORM_MCAST), r0 = drops("pol", VS_DROP_POLICED);

    mac_n(src, 0x80, 1);
    mac_n(unk, 0x80, 99);
    reset_out();
    for (int i = 0; i < 200; i++)
        inject(st, BCAST, src, -1, 64);
    settle();
    unsigned passed = out_count(0);
    CU_ASSERT(passed >= 32 && passed <= 40);
    CU_ASSERT_EQUAL(drops("st", VS_DROP_STORM_BCAST) - b0, 200 - passed);
    reset_out();
    for (int i = 0; i < 100; i++)
        inject(st, unk, src, -1, 64); /* unknown: flooded */
    for (int i = 0; i < 50; i++)
        inject(st, MCAST, src, -1, 64);
    settle();
    unsigned unk_passed = 100 - (unsigned)(drops("st", VS_DROP_STORM_UNKNOWN) - u0);
    unsigned m_passed = 50 - (unsigned)(drops("st", VS_DROP_STORM_MCAST) - m0);
    CU_ASSERT(unk_passed >= 32 && unk_passed <= 36);
    CU_ASSERT(m_passed >= 32 && m_passed <= 34);
    CU_ASSERT_EQUAL(out_count(0), unk_passed + m_passed);
    /* Known unicast is not limited. */
    reset_out();
    for (int i = 0; i < 100; i++)
        inject(st, MAC_A, src, -1, 64);
    settle();
    CU_ASSERT_EQUAL(out_count(0), 100);

    /* 8 kbit/s with a 2000-byte bucket: 31 frames of 64 bytes, 1 more per 64 ms. */
    reset_out();
    mac_n(src, 0x81, 1);
    for (int i = 0; i < 100; i++)
        inject(pol, MAC_A, src, -1, 64);
    settle();
    CU_ASSERT(out_count(0) >= 31 && out_count(0) <= 33);
    CU_ASSERT_EQUAL(drops("pol", VS_DROP_POLICED) - r0, 100 - out_count(0));
    json_t *o = vs_switch_port_show(sw, "pol");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(o, "ingress_rate_bps")), 8000);
    json_decref(o);
    struct vs_port_arg bad[] = {{.key = "ingress_rate", .value = "10mb"}};
    struct vs_port_args ba = {1, bad};
    struct vs_port_err err;
    CU_ASSERT_EQUAL(vs_switch_set_port(sw, "pol", &ba, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mbit"));
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "st"), 0);
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "pol"), 0);
}

static void test_teardown_no_leak(void)
{
    vs_switch_destroy(sw);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
    vs_pool_destroy(pool);
    vs_loop_fini();
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("forward", NULL, NULL);
    CU_add_test(s, "setup", test_setup);
    CU_add_test(s, "flood, learn, unicast", test_flood_learn_unicast);
    CU_add_test(s, "mixed burst", test_mixed_burst);
    CU_add_test(s, "broadcast and multicast", test_broadcast_multicast);
    CU_add_test(s, "drops by reason", test_drops);
    CU_add_test(s, "vlan separation", test_vlan);
    CU_add_test(s, "tx queue full", test_tx_full);
    CU_add_test(s, "del-port", test_del_port);
    CU_add_test(s, "add-port and del-port out of memory", test_port_enomem);
    CU_add_test(s, "counters and json", test_counters_and_json);
    CU_add_test(s, "failed port is removed", test_failed_port_removed);
    CU_add_test(s, "vlan access, trunk and set-port", test_vlan_modes);
    CU_add_test(s, "port security and static entries", test_port_security);
    CU_add_test(s, "mirrors", test_mirror);
    CU_add_test(s, "storm control and policing", test_storm_control);
    CU_add_test(s, "teardown without leaks", test_teardown_no_leak);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
