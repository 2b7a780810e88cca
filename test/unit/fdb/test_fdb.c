/* Forwarding table behaviour, single-threaded: every promise of fdb.h with
 * explicit clock values. The concurrent tests live in test_fdb_stress.c. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test_fdb.h"
#include "vswitch/fdb.h"

static struct vs_fdb *make(uint32_t size, uint32_t aging)
{
    struct vs_fdb *fdb = NULL;
    CU_ASSERT_FATAL(vs_fdb_create(size, aging, &fdb) == 0);
    CU_ASSERT_FATAL(fdb != NULL);
    return fdb;
}

static bool has(struct vs_fdb *fdb, uint16_t vlan, uint32_t id, uint16_t want_port)
{
    uint8_t mac[6];
    uint16_t port = 0xdead;
    test_mac(id, mac);
    return vs_fdb_lookup(fdb, vlan, mac, &port) && port == want_port;
}

static bool missing(struct vs_fdb *fdb, uint16_t vlan, uint32_t id)
{
    uint8_t mac[6];
    uint16_t port = 0xbeef;
    test_mac(id, mac);
    /* A miss must leave *port alone. */
    return !vs_fdb_lookup(fdb, vlan, mac, &port) && port == 0xbeef;
}

static void learn(struct vs_fdb *fdb, uint16_t vlan, uint32_t id, uint16_t port, uint32_t now)
{
    uint8_t mac[6];
    test_mac(id, mac);
    vs_fdb_learn(fdb, vlan, mac, port, now);
}

static void test_create_args(void)
{
    struct vs_fdb *fdb = (struct vs_fdb *)0x1;
    CU_ASSERT_EQUAL(vs_fdb_create(0, 300, &fdb), -EINVAL);
    CU_ASSERT_EQUAL(vs_fdb_create(16u * 1024 * 1024 + 1, 300, &fdb), -EINVAL);
    CU_ASSERT_EQUAL(vs_fdb_create(UINT32_MAX, 300, &fdb), -EINVAL);
    CU_ASSERT_EQUAL(vs_fdb_create(64, 300, NULL), -EINVAL);
    CU_ASSERT(fdb == (struct vs_fdb *)0x1); /* untouched on error */

    static const struct {
        uint32_t size, capacity;
    } cases[] = {{1, 4}, {4, 4}, {5, 8}, {1000, 1024}, {3000, 4096}, {65536, 65536}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fdb = make(cases[i].size, 42);
        CU_ASSERT_EQUAL(vs_fdb_capacity(fdb), cases[i].capacity);
        CU_ASSERT_EQUAL(vs_fdb_aging(fdb), 42);
        CU_ASSERT_EQUAL(vs_fdb_count(fdb), 0);
        vs_fdb_destroy(fdb);
    }

    /* The largest size allowed works. */
    fdb = make(16u * 1024 * 1024, 0);
    CU_ASSERT_EQUAL(vs_fdb_capacity(fdb), 16u * 1024 * 1024);
    CU_ASSERT_EQUAL(vs_fdb_aging(fdb), 0);
    learn(fdb, 1, 7, 3, 10);
    CU_ASSERT(has(fdb, 1, 7, 3));
    vs_fdb_destroy(fdb);
    vs_fdb_destroy(NULL);
}

static void test_now(void)
{
    uint32_t a = vs_fdb_now();
    uint32_t b = vs_fdb_now();
    CU_ASSERT(b - a <= 1);
}

static void test_learn_lookup(void)
{
    struct vs_fdb *fdb = make(1024, 300);
    CU_ASSERT(missing(fdb, 1, 1));
    learn(fdb, 1, 1, 5, 100);
    CU_ASSERT(has(fdb, 1, 1, 5));
    CU_ASSERT(missing(fdb, 1, 2));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 1);

    for (uint32_t id = 10; id < 500; id++)
        learn(fdb, 1, id, (uint16_t)(id * 7), 100);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 491);
    for (uint32_t id = 10; id < 500; id++)
        CU_ASSERT(has(fdb, 1, id, (uint16_t)(id * 7)));
    CU_ASSERT(has(fdb, 1, 1, 5));
    CU_ASSERT(missing(fdb, 1, 500));

    /* Learning a known station again adds nothing. */
    learn(fdb, 1, 1, 5, 100);
    learn(fdb, 1, 1, 5, 200);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 491);

    /* Port numbers use all 16 bits; MAC bytes all take part in the key. */
    uint8_t mac[6] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xfe};
    uint16_t port = 0;
    vs_fdb_learn(fdb, 4095, mac, 0xffff, 100);
    CU_ASSERT(vs_fdb_lookup(fdb, 4095, mac, &port) && port == 0xffff);
    mac[5] = 0xff;
    CU_ASSERT(!vs_fdb_lookup(fdb, 4095, mac, &port));
    mac[5] = 0xfe;
    mac[0] = 0xfc;
    CU_ASSERT(!vs_fdb_lookup(fdb, 4095, mac, &port));
    vs_fdb_destroy(fdb);
}

static void test_vlan_isolation(void)
{
    struct vs_fdb *fdb = make(1024, 300);
    learn(fdb, 10, 1, 1, 100);
    learn(fdb, 20, 1, 2, 100);
    CU_ASSERT(has(fdb, 10, 1, 1));
    CU_ASSERT(has(fdb, 20, 1, 2));
    CU_ASSERT(missing(fdb, 30, 1));
    CU_ASSERT(missing(fdb, 0, 1));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 2);

    /* Moving on one VLAN leaves the other alone. */
    learn(fdb, 20, 1, 3, 100);
    CU_ASSERT(has(fdb, 10, 1, 1));
    CU_ASSERT(has(fdb, 20, 1, 3));

    /* Flushing one port removes only that VLAN's entry. */
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 1), 1);
    CU_ASSERT(missing(fdb, 10, 1));
    CU_ASSERT(has(fdb, 20, 1, 3));

    /* A VLAN ID is 12 bits: the bits above are not part of the key. */
    CU_ASSERT(has(fdb, 20 | 0x1000, 1, 3));
    vs_fdb_destroy(fdb);
}

static void test_move(void)
{
    struct vs_fdb *fdb = make(1024, 300);
    learn(fdb, 1, 1, 1, 100);
    /* A move is written at once, even within the refresh second. */
    learn(fdb, 1, 1, 2, 100);
    CU_ASSERT(has(fdb, 1, 1, 2));
    learn(fdb, 1, 1, 1, 100);
    CU_ASSERT(has(fdb, 1, 1, 1));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 1);
    /* After a move the entry belongs to the new port only. */
    learn(fdb, 1, 1, 9, 101);
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 1), 0);
    CU_ASSERT(has(fdb, 1, 1, 9));
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 9), 1);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 0);
    vs_fdb_destroy(fdb);
}

struct collected {
    struct vs_fdb_entry e[64];
    unsigned n;
};

static void collect(const struct vs_fdb_entry *e, void *arg)
{
    struct collected *c = arg;
    if (c->n < 64)
        c->e[c->n] = *e;
    c->n++;
}

/* The age foreach reports for (vlan, id), or -1 when absent. */
static int64_t age_of(struct vs_fdb *fdb, uint16_t vlan, uint32_t id, uint32_t now)
{
    struct collected c = {.n = 0};
    uint8_t mac[6];
    test_mac(id, mac);
    vs_fdb_foreach(fdb, now, collect, &c);
    for (unsigned i = 0; i < c.n && i < 64; i++)
        if (c.e[i].vlan == vlan && memcmp(c.e[i].mac, mac, 6) == 0)
            return c.e[i].age_s;
    return -1;
}

static void test_refresh_within_a_second_writes_nothing(void)
{
    struct vs_fdb *fdb = make(1024, 300);
    learn(fdb, 1, 1, 4, 100);
    CU_ASSERT_EQUAL(age_of(fdb, 1, 1, 100), 0);
    /* One second later: last-seen is not more than 1 s old, so it stays 100. */
    learn(fdb, 1, 1, 4, 101);
    CU_ASSERT_EQUAL(age_of(fdb, 1, 1, 101), 1);
    /* A clock read a moment earlier on another poller must not write either. */
    learn(fdb, 1, 1, 4, 99);
    CU_ASSERT_EQUAL(age_of(fdb, 1, 1, 101), 1);
    /* Two seconds: now it is refreshed. */
    learn(fdb, 1, 1, 4, 102);
    CU_ASSERT_EQUAL(age_of(fdb, 1, 1, 102), 0);
    CU_ASSERT_EQUAL(age_of(fdb, 1, 1, 110), 8);
    /* The clock seen by foreach before last-seen reads as age 0, not a huge age. */
    CU_ASSERT_EQUAL(age_of(fdb, 1, 1, 90), 0);
    vs_fdb_destroy(fdb);
}

static void test_aging(void)
{
    struct vs_fdb *fdb = make(1024, 300);
    learn(fdb, 1, 1, 1, 1000);
    learn(fdb, 1, 2, 1, 1200);
    learn(fdb, 1, 3, 1, 1000);
    learn(fdb, 1, 3, 1, 1250); /* refreshed: stays */
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1000), 0);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1300), 0); /* idle exactly the aging time */
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 3);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1301), 1);
    CU_ASSERT(missing(fdb, 1, 1));
    CU_ASSERT(has(fdb, 1, 2, 1));
    CU_ASSERT(has(fdb, 1, 3, 1));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 2);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1501), 1);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1551), 1);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 0);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 5000), 0);

    /* Entries last seen "after" the aging clock (another thread's later read) stay. */
    learn(fdb, 1, 4, 1, 2000);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1990), 0);
    CU_ASSERT(has(fdb, 1, 4, 1));

    /* The clock wraps: an entry seen just before the wrap ages normally after it. */
    learn(fdb, 1, 5, 1, UINT32_MAX - 10);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 100), 0);
    CU_ASSERT(has(fdb, 1, 5, 1));
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 300), 1);
    CU_ASSERT(missing(fdb, 1, 5));
    vs_fdb_destroy(fdb);

    /* Aging time 0: entries never age. */
    fdb = make(64, 0);
    learn(fdb, 1, 1, 1, 0);
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 1000000), 0);
    CU_ASSERT(has(fdb, 1, 1, 1));
    vs_fdb_destroy(fdb);
}

static void test_flush(void)
{
    struct vs_fdb *fdb = make(4096, 300);
    for (uint32_t id = 0; id < 300; id++)
        learn(fdb, (uint16_t)(id % 3), id, (uint16_t)(1 + id % 3), 100);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 300);
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 2), 100);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 200);
    for (uint32_t id = 0; id < 300; id++) {
        if (1 + id % 3 == 2) {
            CU_ASSERT(missing(fdb, (uint16_t)(id % 3), id));
        } else {
            CU_ASSERT(has(fdb, (uint16_t)(id % 3), id, (uint16_t)(1 + id % 3)));
        }
    }
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 2), 0);
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 77), 0);
    CU_ASSERT_EQUAL(vs_fdb_flush(fdb), 200);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 0);
    for (uint32_t id = 0; id < 300; id++)
        CU_ASSERT(missing(fdb, (uint16_t)(id % 3), id));
    CU_ASSERT_EQUAL(vs_fdb_flush(fdb), 0);

    /* The table is usable again after a flush. */
    learn(fdb, 1, 1, 1, 100);
    CU_ASSERT(has(fdb, 1, 1, 1));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 1);
    vs_fdb_destroy(fdb);
}

static void test_full_table_replaces_stalest(void)
{
    /* Two buckets of four: every key has both as candidates, so exactly 8 fit. */
    struct vs_fdb *fdb = make(8, 300);
    CU_ASSERT_EQUAL_FATAL(vs_fdb_capacity(fdb), 8);
    for (uint32_t id = 0; id < 8; id++)
        learn(fdb, 1, id, (uint16_t)id, 10 + id);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 8);
    for (uint32_t id = 0; id < 8; id++)
        CU_ASSERT(has(fdb, 1, id, (uint16_t)id));

    learn(fdb, 1, 100, 100, 30);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 8);
    CU_ASSERT(has(fdb, 1, 100, 100));
    CU_ASSERT(missing(fdb, 1, 0)); /* seen at 10: the stalest */
    for (uint32_t id = 1; id < 8; id++)
        CU_ASSERT(has(fdb, 1, id, (uint16_t)id));

    /* Refreshing id 1 makes id 2 the stalest. */
    learn(fdb, 1, 1, 1, 31);
    learn(fdb, 1, 101, 101, 32);
    CU_ASSERT(has(fdb, 1, 1, 1));
    CU_ASSERT(missing(fdb, 1, 2));
    CU_ASSERT(has(fdb, 1, 101, 101));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 8);
    vs_fdb_destroy(fdb);

    /* A big table learning far more than it holds stays full and knows the newest. */
    fdb = make(1024, 300);
    for (uint32_t id = 0; id < 5000; id++) {
        learn(fdb, 1, id, (uint16_t)id, 1000 + id);
        CU_ASSERT(has(fdb, 1, id, (uint16_t)id));
    }
    CU_ASSERT(vs_fdb_count(fdb) <= vs_fdb_capacity(fdb));
    CU_ASSERT(vs_fdb_count(fdb) > vs_fdb_capacity(fdb) * 9 / 10);
    struct collected c = {.n = 0};
    vs_fdb_foreach(fdb, 7000, collect, &c);
    CU_ASSERT_EQUAL(c.n, vs_fdb_count(fdb));
    vs_fdb_destroy(fdb);
}

static void test_high_load_fits(void)
{
    /* Two buckets of four alone overflow below half load; moving entries to
     * their other bucket must let 70% of the capacity fit with no eviction. */
    struct vs_fdb *fdb = make(16384, 300);
    uint32_t n = vs_fdb_capacity(fdb) * 7 / 10;
    for (uint32_t id = 0; id < n; id++)
        learn(fdb, (uint16_t)(id & 0xfff), id, (uint16_t)(id * 3), 100);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), n);
    unsigned lost = 0;
    for (uint32_t id = 0; id < n; id++)
        lost += !has(fdb, (uint16_t)(id & 0xfff), id, (uint16_t)(id * 3));
    CU_ASSERT_EQUAL(lost, 0);
    vs_fdb_destroy(fdb);
}

static void test_sequential_macs_spread(void)
{
    /* Stations of one vendor differ in their last MAC bytes only. Every table
     * draws its own hash seed; none may pile such keys into a few buckets. */
    unsigned short_tables = 0;
    for (int t = 0; t < 200; t++) {
        struct vs_fdb *fdb = make(1024, 300);
        uint32_t n = vs_fdb_capacity(fdb) * 6 / 10;
        for (uint32_t id = 0; id < n; id++)
            learn(fdb, 1, id, 1, 100);
        short_tables += vs_fdb_count(fdb) != n;
        vs_fdb_destroy(fdb);
    }
    CU_ASSERT_EQUAL(short_tables, 0);
}

static void test_lookup_burst(void)
{
    struct vs_fdb *fdb = make(4096, 300);
    uint8_t mac[VS_FDB_BURST_MAX + 8][6];
    const uint8_t *macs[VS_FDB_BURST_MAX + 8];
    uint16_t vlans[VS_FDB_BURST_MAX + 8], ports[VS_FDB_BURST_MAX + 8];
    for (uint32_t i = 0; i < VS_FDB_BURST_MAX + 8; i++) {
        test_mac(i, mac[i]);
        macs[i] = mac[i];
        vlans[i] = 3;
        ports[i] = 0xbeef;
        /* Even ids known, odd ids not. */
        if (i % 2 == 0)
            vs_fdb_learn(fdb, 3, mac[i], (uint16_t)(i + 100), 100);
    }
    CU_ASSERT_EQUAL(vs_fdb_lookup_burst(fdb, 0, vlans, macs, ports), 0);
    uint64_t hits = vs_fdb_lookup_burst(fdb, 5, vlans, macs, ports);
    CU_ASSERT_EQUAL(hits, 0x15); /* ids 0, 2, 4 */
    CU_ASSERT(ports[0] == 100 && ports[2] == 102 && ports[4] == 104);
    CU_ASSERT(ports[1] == 0xbeef && ports[3] == 0xbeef && ports[5] == 0xbeef);

    /* A full burst; anything past the maximum is not looked at. */
    hits = vs_fdb_lookup_burst(fdb, VS_FDB_BURST_MAX + 8, vlans, macs, ports);
    CU_ASSERT_EQUAL(hits, 0x5555555555555555ull);
    for (uint32_t i = 0; i < VS_FDB_BURST_MAX + 8; i++) {
        if (i % 2 == 0 && i < VS_FDB_BURST_MAX) {
            CU_ASSERT_EQUAL(ports[i], i + 100);
        } else {
            CU_ASSERT_EQUAL(ports[i], 0xbeef);
        }
    }
    /* Burst and single lookups agree, VLAN included. */
    vlans[2] = 4;
    hits = vs_fdb_lookup_burst(fdb, 4, vlans, macs, ports);
    CU_ASSERT_EQUAL(hits, 0x1);
    vs_fdb_destroy(fdb);
}

static void check_and_lookup(const struct vs_fdb_entry *e, void *arg)
{
    struct vs_fdb *fdb = arg;
    uint16_t port;
    /* No bucket is held during the callback: looking up is fine. */
    CU_ASSERT(vs_fdb_lookup(fdb, e->vlan, e->mac, &port) && port == e->port);
}

static enum vs_fdb_learned learn_sec(struct vs_fdb *fdb, uint16_t vlan, uint32_t id, uint16_t port,
                                     uint32_t now, uint32_t limit, bool pin)
{
    uint8_t mac[6];
    test_mac(id, mac);
    return vs_fdb_learn_secure(fdb, vlan, mac, port, now, limit, pin);
}

/* Static entries: found, never aged, never moved or evicted by learning, kept by
 * flushes of learned entries, gone with their port or by vs_fdb_del. */
static void test_static(void)
{
    struct vs_fdb *fdb = make(4, 10); /* one bucket: every key competes for it */
    uint8_t mac[6];

    test_mac(1, mac);
    CU_ASSERT_EQUAL(vs_fdb_add_static(fdb, 5, mac, 7, 100), 0);
    CU_ASSERT_TRUE(has(fdb, 5, 1, 7));
    CU_ASSERT_TRUE(missing(fdb, 6, 1));
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 7), 0); /* static: not a learned station */
    CU_ASSERT_EQUAL(learn_sec(fdb, 5, 1, 8, 101, 0, false), VS_FDB_PINNED);
    CU_ASSERT_TRUE(has(fdb, 5, 1, 7));
    CU_ASSERT_EQUAL(learn_sec(fdb, 5, 1, 7, 101, 0, false), VS_FDB_OK); /* its own port */
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 100000), 0);
    CU_ASSERT_TRUE(has(fdb, 5, 1, 7));
    /* A full table evicts learned entries, never the static one. */
    for (uint32_t id = 10; id < 30; id++)
        learn(fdb, 5, id, 3, 200 + id);
    CU_ASSERT_TRUE(has(fdb, 5, 1, 7));
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 4);
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 3), 3);
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 7), 0);
    CU_ASSERT_EQUAL(vs_fdb_flush(fdb), 3);
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 3), 0);
    CU_ASSERT_TRUE(has(fdb, 5, 1, 7));
    /* Replacing a learned entry makes it static; a table of statics takes no more. */
    learn(fdb, 5, 2, 3, 300);
    test_mac(2, mac);
    CU_ASSERT_EQUAL(vs_fdb_add_static(fdb, 5, mac, 4, 300), 0);
    CU_ASSERT_TRUE(has(fdb, 5, 2, 4));
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 3), 0);
    for (uint32_t id = 3; id < 5; id++) {
        test_mac(id, mac);
        CU_ASSERT_EQUAL(vs_fdb_add_static(fdb, 5, mac, 4, 300), 0);
    }
    test_mac(5, mac);
    CU_ASSERT_EQUAL(vs_fdb_add_static(fdb, 5, mac, 4, 300), -ENOSPC);
    learn(fdb, 5, 6, 3, 301); /* no room and nothing to evict: not learned */
    CU_ASSERT_TRUE(missing(fdb, 5, 6));
    CU_ASSERT_EQUAL(vs_fdb_forget_port(fdb, 4), 3);
    test_mac(1, mac);
    CU_ASSERT_EQUAL(vs_fdb_del(fdb, 5, mac), 0);
    CU_ASSERT_EQUAL(vs_fdb_del(fdb, 5, mac), -ENOENT);
    CU_ASSERT_EQUAL(vs_fdb_count(fdb), 0);
    vs_fdb_destroy(fdb);
}

/* mac_limit and pinning: a port learns up to its limit, a pinned station is not
 * moved by another port, counts follow moves, aging and flushes. */
static void test_limit_and_pin(void)
{
    struct vs_fdb *fdb = make(1024, 10);

    for (uint32_t id = 0; id < 3; id++)
        CU_ASSERT_EQUAL(learn_sec(fdb, 1, id, 2, 100, 3, true), VS_FDB_OK);
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 2), 3);
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 3, 2, 100, 3, true), VS_FDB_LIMIT);
    CU_ASSERT_TRUE(missing(fdb, 1, 3));
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 0, 2, 105, 3, true), VS_FDB_OK); /* known: refreshed */
    /* Pinned: another port claiming it is refused, with or without security. */
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 0, 9, 106, 0, false), VS_FDB_PINNED);
    CU_ASSERT_TRUE(has(fdb, 1, 0, 2));
    /* Unpinned stations move, and the counts follow; the limit holds for moves in. */
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 50, 9, 106, 0, false), VS_FDB_OK);
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 50, 2, 107, 3, true), VS_FDB_LIMIT);
    CU_ASSERT_TRUE(has(fdb, 1, 50, 9));
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 50, 2, 107, 4, true), VS_FDB_OK);
    CU_ASSERT_TRUE(has(fdb, 1, 50, 2));
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 2), 4);
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 9), 0);
    /* Aging frees room: ids 1 and 2 were last seen at 100. */
    CU_ASSERT_EQUAL(vs_fdb_age(fdb, 111), 2);
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 2), 2);
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 3, 2, 112, 3, true), VS_FDB_OK);
    /* A pinned station that aged out may be learned anywhere again. */
    CU_ASSERT_EQUAL(learn_sec(fdb, 1, 1, 9, 112, 0, false), VS_FDB_OK);
    CU_ASSERT_EQUAL(vs_fdb_flush_port(fdb, 2), 3);
    CU_ASSERT_EQUAL(vs_fdb_port_count(fdb, 2), 0);
    vs_fdb_destroy(fdb);
}

static void test_foreach(void)
{
    struct vs_fdb *fdb = make(256, 300);
    struct collected c = {.n = 0};
    vs_fdb_foreach(fdb, 100, collect, &c);
    CU_ASSERT_EQUAL(c.n, 0);

    for (uint32_t id = 0; id < 40; id++)
        learn(fdb, (uint16_t)(100 + id % 4), id, (uint16_t)(id + 1), 1000 + id);
    vs_fdb_foreach(fdb, 1050, collect, &c);
    CU_ASSERT_EQUAL_FATAL(c.n, 40);
    bool seen[40] = {false};
    for (unsigned i = 0; i < c.n; i++) {
        const struct vs_fdb_entry *e = &c.e[i];
        uint32_t id = (uint32_t)e->mac[2] << 24 | (uint32_t)e->mac[3] << 16 |
                      (uint32_t)e->mac[4] << 8 | e->mac[5];
        CU_ASSERT_FATAL(id < 40);
        uint8_t mac[6];
        test_mac(id, mac);
        CU_ASSERT(memcmp(mac, e->mac, 6) == 0);
        CU_ASSERT(!seen[id]);
        seen[id] = true;
        CU_ASSERT_EQUAL(e->vlan, 100 + id % 4);
        CU_ASSERT_EQUAL(e->port, id + 1);
        CU_ASSERT_EQUAL(e->age_s, 50 - id);
    }
    vs_fdb_foreach(fdb, 1050, check_and_lookup, fdb);
    vs_fdb_destroy(fdb);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("fdb", NULL, NULL);
    if (!s || !CU_add_test(s, "create arguments and capacity", test_create_args) ||
        !CU_add_test(s, "coarse clock", test_now) ||
        !CU_add_test(s, "learn and lookup", test_learn_lookup) ||
        !CU_add_test(s, "VLAN isolation", test_vlan_isolation) ||
        !CU_add_test(s, "station moves", test_move) ||
        !CU_add_test(s, "refresh within 1 s writes nothing",
                     test_refresh_within_a_second_writes_nothing) ||
        !CU_add_test(s, "aging", test_aging) || !CU_add_test(s, "flush", test_flush) ||
        !CU_add_test(s, "full table replaces the stalest", test_full_table_replaces_stalest) ||
        !CU_add_test(s, "70% load fits", test_high_load_fits) ||
        !CU_add_test(s, "sequential MACs spread", test_sequential_macs_spread) ||
        !CU_add_test(s, "burst lookups", test_lookup_burst) ||
        !CU_add_test(s, "foreach", test_foreach) ||
        !CU_add_test(s, "static entries", test_static) ||
        !CU_add_test(s, "mac_limit and pinned stations", test_limit_and_pin) || test_fdb_add_stress() != 0) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
