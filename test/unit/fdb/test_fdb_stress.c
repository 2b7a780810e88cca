/* Forwarding table under concurrency: lookups racing learners, movers,
 * flushes, aging and dumps; several learners adding the same stations.
 *
 * Every port value is a function of the station, so a torn read (a key from
 * one entry with the port of another, or half-written values) shows up as a
 * wrong answer rather than passing unnoticed. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test_fdb.h"
#include "vswitch/fdb.h"

#define STRESS_SECONDS 2.0
#define STABLE_N 256
#define STABLE_VLAN 7
#define CHURN_N 3200
#define CHURN_BASE 1000000u
#define CHURN_VLAN 8
#define T0 100000u
/* Stable entries are stamped far after the churn clock: never the stalest,
 * never idle by the aging clock, so nothing may remove them. */
#define STABLE_SEEN (T0 + 10000000u)

static uint16_t stable_port(uint32_t id) { return (uint16_t)(id * 37 % 997); }

/* Churn station j lives on one of two ports, both only its own. */
static uint16_t churn_port(uint32_t j, unsigned alt) { return (uint16_t)(1000 + j % 8 + 8 * alt); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct stress {
    struct vs_fdb *fdb;
    int stop;
    uint32_t churn_clock;
    /* Results, written by each thread before it returns. */
    uint64_t lookups, wrong, lost, churn_hits, ghost_hits;
    uint64_t learns, flushes, flushed, aged, dumps, dump_wrong;
};

static void *reader(void *arg)
{
    struct stress *st = arg;
    uint64_t lookups = 0, wrong = 0, lost = 0, churn_hits = 0, ghost = 0,
             rng = 0x9e3779b97f4a7c15ull;
    uint8_t mac[6];
    uint16_t port;
    /* The burst API over the stable set, 32 at a time. */
    uint8_t bmac[STABLE_N][6];
    const uint8_t *bmacs[STABLE_N];
    uint16_t bvlans[STABLE_N], bports[32];
    for (uint32_t id = 0; id < STABLE_N; id++) {
        test_mac(id, bmac[id]);
        bmacs[id] = bmac[id];
        bvlans[id] = STABLE_VLAN;
    }
    while (!__atomic_load_n(&st->stop, __ATOMIC_RELAXED)) {
        for (uint32_t base = 0; base < STABLE_N; base += 32) {
            uint64_t hits = vs_fdb_lookup_burst(st->fdb, 32, &bvlans[base], &bmacs[base], bports);
            lost += 32 - (unsigned)__builtin_popcountll(hits);
            for (uint32_t j = 0; j < 32; j++)
                wrong += (hits >> j & 1) && bports[j] != stable_port(base + j);
            lookups += 32;
        }
        for (uint32_t id = 0; id < STABLE_N; id++) {
            test_mac(id, mac);
            if (!vs_fdb_lookup(st->fdb, STABLE_VLAN, mac, &port))
                lost++;
            else if (port != stable_port(id))
                wrong++;
            /* A churn station: may come and go, but only ever on its own ports. */
            uint32_t j = (uint32_t)(xorshift(&rng) % CHURN_N);
            test_mac(CHURN_BASE + j, mac);
            if (vs_fdb_lookup(st->fdb, CHURN_VLAN, mac, &port)) {
                churn_hits++;
                if (port != churn_port(j, 0) && port != churn_port(j, 1))
                    wrong++;
            }
            /* Same MAC as a stable station, VLAN never learned. */
            test_mac(id, mac);
            if (vs_fdb_lookup(st->fdb, STABLE_VLAN + 1000, mac, &port))
                ghost++;
            lookups += 3;
        }
    }
    __atomic_fetch_add(&st->lookups, lookups, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->wrong, wrong, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->lost, lost, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->churn_hits, churn_hits, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->ghost_hits, ghost, __ATOMIC_RELAXED);
    return NULL;
}

static void *churner(void *arg)
{
    struct stress *st = arg;
    uint64_t rng = 0x2545f4914f6cdd1dull, n = 0;
    uint8_t mac[6];
    while (!__atomic_load_n(&st->stop, __ATOMIC_RELAXED)) {
        /* The churn clock runs fast so that refreshes write too. */
        uint32_t now = T0 + (uint32_t)(n >> 12);
        __atomic_store_n(&st->churn_clock, now, __ATOMIC_RELAXED);
        uint64_t r = xorshift(&rng);
        uint32_t j = (uint32_t)(r % CHURN_N);
        test_mac(CHURN_BASE + j, mac);
        vs_fdb_learn(st->fdb, CHURN_VLAN, mac, churn_port(j, (r >> 32) & 1), now);
        n++;
    }
    __atomic_store_n(&st->learns, n, __ATOMIC_RELAXED);
    return NULL;
}

static void check_dumped(const struct vs_fdb_entry *e, void *arg)
{
    struct stress *st = arg;
    uint32_t id = (uint32_t)e->mac[2] << 24 | (uint32_t)e->mac[3] << 16 | (uint32_t)e->mac[4] << 8 |
                  e->mac[5];
    bool ok;
    if (e->vlan == STABLE_VLAN)
        ok = id < STABLE_N && e->port == stable_port(id);
    else
        ok = e->vlan == CHURN_VLAN && id >= CHURN_BASE && id < CHURN_BASE + CHURN_N &&
             (e->port == churn_port(id - CHURN_BASE, 0) ||
              e->port == churn_port(id - CHURN_BASE, 1));
    if (!ok)
        st->dump_wrong++;
}

/* The control thread's part: flush churn ports, age the churn set, dump. */
static void *controller(void *arg)
{
    struct stress *st = arg;
    for (uint64_t k = 0; !__atomic_load_n(&st->stop, __ATOMIC_RELAXED); k++) {
        st->flushed += vs_fdb_flush_port(st->fdb, (uint16_t)(1000 + k % 16));
        st->flushes++;
        if (k % 2 == 0) {
            /* Removes churn entries idle for more than 2 churn seconds. */
            uint32_t now = __atomic_load_n(&st->churn_clock, __ATOMIC_RELAXED) + 298;
            st->aged += vs_fdb_age(st->fdb, now);
        }
        if (k % 8 == 0) {
            vs_fdb_foreach(st->fdb, T0, check_dumped, st);
            st->dumps++;
        }
    }
    return NULL;
}

struct dump_check {
    uint64_t *keys;
    unsigned n, cap;
};

static void gather(const struct vs_fdb_entry *e, void *arg)
{
    struct dump_check *d = arg;
    uint64_t k = (uint64_t)e->vlan << 48;
    for (int i = 0; i < 6; i++)
        k |= (uint64_t)e->mac[i] << (8 * (5 - i));
    if (d->n < d->cap)
        d->keys[d->n] = k;
    d->n++;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Entries dumped, asserting that no (vlan, mac) appears twice. */
static unsigned dump_unique(struct vs_fdb *fdb)
{
    struct dump_check d = {.cap = vs_fdb_capacity(fdb)};
    d.keys = calloc(d.cap, sizeof(*d.keys));
    CU_ASSERT_FATAL(d.keys != NULL);
    vs_fdb_foreach(fdb, T0, gather, &d);
    CU_ASSERT_FATAL(d.n <= d.cap);
    qsort(d.keys, d.n, sizeof(*d.keys), cmp_u64);
    unsigned dups = 0;
    for (unsigned i = 1; i < d.n; i++)
        dups += d.keys[i] == d.keys[i - 1];
    CU_ASSERT_EQUAL(dups, 0);
    free(d.keys);
    return d.n;
}

static void test_stress_lookups_under_churn(void)
{
    struct stress st;
    memset(&st, 0, sizeof(st));
    CU_ASSERT_FATAL(vs_fdb_create(4096, 300, &st.fdb) == 0);
    uint8_t mac[6];
    for (uint32_t id = 0; id < STABLE_N; id++) {
        test_mac(id, mac);
        vs_fdb_learn(st.fdb, STABLE_VLAN, mac, stable_port(id), STABLE_SEEN);
    }
    CU_ASSERT_EQUAL_FATAL(vs_fdb_count(st.fdb), STABLE_N);

    pthread_t rd, ch, ct;
    CU_ASSERT_FATAL(pthread_create(&rd, NULL, reader, &st) == 0);
    CU_ASSERT_FATAL(pthread_create(&ch, NULL, churner, &st) == 0);
    CU_ASSERT_FATAL(pthread_create(&ct, NULL, controller, &st) == 0);
    double end = now_s() + STRESS_SECONDS;
    while (now_s() < end) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    __atomic_store_n(&st.stop, 1, __ATOMIC_RELAXED);
    pthread_join(rd, NULL);
    pthread_join(ch, NULL);
    pthread_join(ct, NULL);

    CU_ASSERT_EQUAL(st.wrong, 0);
    CU_ASSERT_EQUAL(st.lost, 0);
    CU_ASSERT_EQUAL(st.ghost_hits, 0);
    CU_ASSERT_EQUAL(st.dump_wrong, 0);
    /* The race was real: every side did its work many times over (bounds low
     * enough for sanitizer builds on a busy machine). */
    CU_ASSERT(st.lookups > 30000);
    CU_ASSERT(st.learns > 30000);
    CU_ASSERT(st.churn_hits > 1000);
    CU_ASSERT(st.flushes > 20 && st.flushed > 1000);
    CU_ASSERT(st.dumps > 2);
    CU_ASSERT(st.aged > 10);
    fprintf(stderr,
            "\n    %llu lookups (%llu churn hits), %llu learns, %llu flushes removing %llu, "
            "%llu aged, %llu dumps ",
            (unsigned long long)st.lookups, (unsigned long long)st.churn_hits,
            (unsigned long long)st.learns, (unsigned long long)st.flushes,
            (unsigned long long)st.flushed, (unsigned long long)st.aged,
            (unsigned long long)st.dumps);

    /* Quiet again: every stable entry is there, the count matches a dump. */
    uint16_t port;
    for (uint32_t id = 0; id < STABLE_N; id++) {
        test_mac(id, mac);
        CU_ASSERT(vs_fdb_lookup(st.fdb, STABLE_VLAN, mac, &port) && port == stable_port(id));
    }
    CU_ASSERT_EQUAL(dump_unique(st.fdb), vs_fdb_count(st.fdb));
    vs_fdb_destroy(st.fdb);
}

/* A crowded table: 16 buckets, 6 stable stations and 60 churning ones, so
 * that nearly every new station moves others around, stable ones included.
 * (Six never fill the eight slots of a bucket pair, and a churn entry is
 * always staler, so no stable station can be evicted.) */
struct crowd {
    struct vs_fdb *fdb;
    int stop;
    uint64_t lookups, lost, wrong, learns, flushed;
};

#define CROWD_STABLE 6
#define CROWD_CHURN 60

static void *crowd_reader(void *arg)
{
    struct crowd *c = arg;
    uint8_t mac[CROWD_STABLE][6];
    uint64_t lookups = 0, lost = 0, wrong = 0;
    for (uint32_t id = 0; id < CROWD_STABLE; id++)
        test_mac(id, mac[id]);
    while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
        for (uint32_t id = 0; id < CROWD_STABLE; id++) {
            uint16_t port;
            if (!vs_fdb_lookup(c->fdb, STABLE_VLAN, mac[id], &port))
                lost++;
            else if (port != stable_port(id))
                wrong++;
        }
        lookups += CROWD_STABLE;
    }
    c->lookups = lookups;
    c->lost = lost;
    c->wrong = wrong;
    return NULL;
}

static void *crowd_churner(void *arg)
{
    struct crowd *c = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull, n = 0, flushed = 0;
    uint8_t mac[6];
    while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
        uint32_t j = (uint32_t)(xorshift(&rng) % CROWD_CHURN);
        test_mac(CHURN_BASE + j, mac);
        vs_fdb_learn(c->fdb, CHURN_VLAN, mac, churn_port(j, 0), T0);
        /* Keep the table crowded but not full: flush a churn port now and then. */
        if (++n % 64 == 0)
            flushed += vs_fdb_flush_port(c->fdb, churn_port((uint32_t)(n / 64), 0));
    }
    c->learns = n;
    c->flushed = flushed;
    return NULL;
}

static void test_stress_crowded_table(void)
{
    struct crowd c = {.stop = 0};
    CU_ASSERT_FATAL(vs_fdb_create(64, 300, &c.fdb) == 0);
    CU_ASSERT_EQUAL_FATAL(vs_fdb_capacity(c.fdb), 64);
    uint8_t mac[6];
    for (uint32_t id = 0; id < CROWD_STABLE; id++) {
        test_mac(id, mac);
        vs_fdb_learn(c.fdb, STABLE_VLAN, mac, stable_port(id), STABLE_SEEN);
    }
    pthread_t rd, ch;
    CU_ASSERT_FATAL(pthread_create(&rd, NULL, crowd_reader, &c) == 0);
    CU_ASSERT_FATAL(pthread_create(&ch, NULL, crowd_churner, &c) == 0);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    __atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
    pthread_join(rd, NULL);
    pthread_join(ch, NULL);

    CU_ASSERT_EQUAL(c.lost, 0);
    CU_ASSERT_EQUAL(c.wrong, 0);
    CU_ASSERT(c.lookups > 30000);
    CU_ASSERT(c.learns > 30000 && c.flushed > 1000);
    fprintf(stderr, "\n    %llu lookups, %llu learns, %llu flushed ", (unsigned long long)c.lookups,
            (unsigned long long)c.learns, (unsigned long long)c.flushed);
    for (uint32_t id = 0; id < CROWD_STABLE; id++) {
        uint16_t port;
        test_mac(id, mac);
        CU_ASSERT(vs_fdb_lookup(c.fdb, STABLE_VLAN, mac, &port) && port == stable_port(id));
    }
    vs_fdb_destroy(c.fdb);
}

#define RACE_N 2400 /* ~59% of 4096: cuckoo moves happen while learners race */

struct race {
    struct vs_fdb *fdb;
    pthread_barrier_t barrier;
    int rounds;
    int stop;
};

struct racer {
    struct race *r;
    unsigned seed;
};

/* Learns every station of the round, in an order of its own, racing the other racers. */
static void *racer(void *arg)
{
    struct racer *me = arg;
    struct race *r = me->r;
    uint32_t *order = malloc(RACE_N * sizeof(*order));
    uint64_t rng = 0x853c49e6748fea9bull ^ me->seed;
    uint8_t mac[6];
    for (;;) {
        pthread_barrier_wait(&r->barrier); /* round start */
        if (__atomic_load_n(&r->stop, __ATOMIC_RELAXED))
            break;
        for (uint32_t i = 0; i < RACE_N; i++)
            order[i] = i;
        for (uint32_t i = RACE_N - 1; i > 0; i--) {
            uint32_t k = (uint32_t)(xorshift(&rng) % (i + 1)), t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        for (uint32_t i = 0; i < RACE_N; i++) {
            test_mac(order[i], mac);
            vs_fdb_learn(r->fdb, (uint16_t)(order[i] % 5), mac, stable_port(order[i]), T0);
        }
        pthread_barrier_wait(&r->barrier); /* round end */
    }
    free(order);
    return NULL;
}

static void test_concurrent_learners_add_once(void)
{
    struct race r = {.rounds = 0};
    CU_ASSERT_FATAL(vs_fdb_create(4096, 300, &r.fdb) == 0);
    pthread_barrier_init(&r.barrier, NULL, 3);
    struct racer a = {&r, 1}, b = {&r, 2};
    pthread_t ta, tb;
    CU_ASSERT_FATAL(pthread_create(&ta, NULL, racer, &a) == 0);
    CU_ASSERT_FATAL(pthread_create(&tb, NULL, racer, &b) == 0);

    unsigned bad_count = 0, bad_dump = 0, bad_port = 0;
    uint8_t mac[6];
    uint16_t port;
    double end = now_s() + 1.0;
    do {
        pthread_barrier_wait(&r.barrier);
        pthread_barrier_wait(&r.barrier);
        r.rounds++;
        bad_count += vs_fdb_count(r.fdb) != RACE_N;
        bad_dump += dump_unique(r.fdb) != RACE_N;
        for (uint32_t id = 0; id < RACE_N; id++) {
            test_mac(id, mac);
            bad_port +=
                !vs_fdb_lookup(r.fdb, (uint16_t)(id % 5), mac, &port) || port != stable_port(id);
        }
        CU_ASSERT_EQUAL(vs_fdb_flush(r.fdb), RACE_N);
    } while (now_s() < end && r.rounds < 1000);
    __atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
    pthread_barrier_wait(&r.barrier);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&r.barrier);

    CU_ASSERT(r.rounds >= 5);
    fprintf(stderr, "\n    %d rounds ", r.rounds);
    CU_ASSERT_EQUAL(bad_count, 0);
    CU_ASSERT_EQUAL(bad_dump, 0);
    CU_ASSERT_EQUAL(bad_port, 0);
    CU_ASSERT_EQUAL(vs_fdb_count(r.fdb), 0);
    vs_fdb_destroy(r.fdb);
}

int test_fdb_add_stress(void)
{
    CU_pSuite s = CU_add_suite("fdb concurrency", NULL, NULL);
    if (!s || !CU_add_test(s, "lookups stay right under churn", test_stress_lookups_under_churn) ||
        !CU_add_test(s, "moves in a crowded table stay invisible", test_stress_crowded_table) ||
        !CU_add_test(s, "racing learners add a station once", test_concurrent_learners_add_once))
        return -1;
    return 0;
}
