/* fdb_bench: forwarding table lookups per second with 1M entries, alone and
 * with another thread learning at full speed (refreshes and station moves).
 *
 *   fdb_bench [--seconds N] [--entries N] [--json]
 *
 * Lookups run the way the dataplane runs them: a burst of keys is prefetched
 * with vs_fdb_prefetch, then looked up (ns_per_lookup); for comparison also one
 * at a time with no prefetch, and through vs_fdb_lookup_burst. Keys are
 * precomputed and random among the entries, so the table (32 MiB for the
 * default 2M slots) does not fit in the caches. The lookup thread runs on CPU 0,
 * the learner on CPU 1.
 *
 * Rates are per second of the measuring thread's own CPU time, so that other
 * work on a shared machine (time slices taken from our threads) does not count
 * against the table; it can still evict our cache lines. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setaffinity_np */
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vswitch/fdb.h"

#define BURST 32
#define QUERIES (4u * 1024 * 1024) /* 32 MiB of keys, streamed */

struct key {
    uint16_t vlan;
    uint8_t mac[6];
};

struct learner {
    struct vs_fdb *fdb;
    const struct key *keys;
    uint32_t n;
    int stop;
    uint64_t learns;
    double cpu_s;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Entry i: a distinct MAC (an odd multiplier is a bijection on 40 bits). */
static void make_key(uint32_t i, struct key *k)
{
    uint64_t m = ((uint64_t)i * 0x9e3779b97full) & 0xffffffffffull;
    k->vlan = (uint16_t)(1 + i % 4094);
    k->mac[0] = 0x02;
    for (int b = 1; b < 6; b++)
        k->mac[b] = (uint8_t)(m >> (8 * (b - 1)));
}

static uint16_t home_port(uint32_t i) { return (uint16_t)(i & 0xff); }

static void pin(pthread_t t, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    /* Best effort: a machine with one CPU still runs the benchmark. */
    (void)pthread_setaffinity_np(t, sizeof(set), &set);
}

static void *learn_loop(void *arg)
{
    struct learner *l = arg;
    uint64_t rng = 0x2545f4914f6cdd1dull, n = 0;
    double c0 = cpu_s();
    while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
        uint32_t now = vs_fdb_now();
        for (int j = 0; j < 256; j++) {
            uint64_t r = xorshift(&rng);
            uint32_t i = (uint32_t)(r % l->n);
            /* One learn in eight moves the station, the next one moves it back. */
            uint16_t port = home_port(i) ^ ((r >> 40 & 7) == 0);
            vs_fdb_learn(l->fdb, l->keys[i].vlan, l->keys[i].mac, port, now);
        }
        n += 256;
    }
    l->learns = n;
    l->cpu_s = cpu_s() - c0;
    return NULL;
}

struct result {
    double ns_per_lookup;
    uint64_t lookups, misses;
};

enum mode { ONE_BY_ONE, PREFETCHED, BURST_API };

/* The burst API's arguments for every burst of q, made once. */
static uint16_t (*burst_vlans)[BURST];
static const uint8_t *(*burst_macs)[BURST];

static void prepare_bursts(const struct key *q)
{
    burst_vlans = malloc(sizeof(*burst_vlans) * (QUERIES / BURST));
    burst_macs = malloc(sizeof(*burst_macs) * (QUERIES / BURST));
    if (!burst_vlans || !burst_macs) {
        fprintf(stderr, "fdb_bench: out of memory\n");
        exit(1);
    }
    for (uint32_t i = 0; i < QUERIES; i++) {
        burst_vlans[i / BURST][i % BURST] = q[i].vlan;
        burst_macs[i / BURST][i % BURST] = q[i].mac;
    }
}

/* Lookups over q for about seconds; returns the rate. */
static struct result run_lookups(struct vs_fdb *fdb, const struct key *q, double seconds,
                                 enum mode mode)
{
    struct result r = {0};
    uint64_t sum = 0;
    double end = now_s() + seconds, c0 = cpu_s();
    do {
        for (uint32_t base = 0; base < QUERIES; base += BURST) {
            const struct key *b = &q[base];
            if (mode == BURST_API) {
                uint16_t ports[BURST];
                uint64_t hits = vs_fdb_lookup_burst(fdb, BURST, burst_vlans[base / BURST],
                                                    burst_macs[base / BURST], ports);
                r.misses += BURST - (unsigned)__builtin_popcountll(hits);
                sum += ports[0];
                r.lookups += BURST;
                if ((base & 0xffff) == 0 && now_s() >= end)
                    break;
                continue;
            }
            if (mode == PREFETCHED)
                for (int j = 0; j < BURST; j++)
                    vs_fdb_prefetch(fdb, b[j].vlan, b[j].mac);
            for (int j = 0; j < BURST; j++) {
                uint16_t port;
                if (vs_fdb_lookup(fdb, b[j].vlan, b[j].mac, &port))
                    sum += port;
                else
                    r.misses++;
            }
            r.lookups += BURST;
            if ((base & 0xffff) == 0 && now_s() >= end)
                break;
        }
    } while (now_s() < end);
    r.ns_per_lookup = (cpu_s() - c0) * 1e9 / (double)r.lookups;
    /* Keeps the lookups from being optimized away. */
    if (sum == 1)
        fputc('\n', stderr);
    return r;
}

static void usage(void)
{
    fprintf(stderr, "usage: fdb_bench [--seconds N] [--entries N] [--json]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    uint32_t n = 1u << 20;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
            if (!(seconds > 0 && seconds <= 3600))
                usage();
        } else if (!strcmp(argv[i], "--entries") && i + 1 < argc) {
            long v = strtol(argv[++i], NULL, 0);
            if (v < 1 || v > 8 * 1024 * 1024)
                usage();
            n = (uint32_t)v;
        } else {
            usage();
        }
    }

    struct vs_fdb *fdb;
    int err = vs_fdb_create(2 * n, 300, &fdb);
    if (err) {
        fprintf(stderr, "fdb_bench: creating a table of %u: %s\n", 2 * n, strerror(-err));
        return 1;
    }
    struct key *keys = malloc((size_t)n * sizeof(*keys));
    struct key *q = malloc((size_t)QUERIES * sizeof(*q));
    if (!keys || !q) {
        fprintf(stderr, "fdb_bench: out of memory\n");
        return 1;
    }
    pin(pthread_self(), 0);

    uint32_t now = vs_fdb_now();
    double t0 = now_s();
    for (uint32_t i = 0; i < n; i++) {
        make_key(i, &keys[i]);
        vs_fdb_learn(fdb, keys[i].vlan, keys[i].mac, home_port(i), now);
    }
    double fill_s = now_s() - t0;
    uint32_t count = vs_fdb_count(fdb);

    uint64_t rng = 0x853c49e6748fea9bull;
    for (uint32_t i = 0; i < QUERIES; i++)
        q[i] = keys[xorshift(&rng) % n];

    prepare_bursts(q);
    struct result unbatched = run_lookups(fdb, q, seconds / 3, ONE_BY_ONE);
    struct result alone = run_lookups(fdb, q, seconds, PREFETCHED);
    struct result burst = run_lookups(fdb, q, seconds / 3, BURST_API);

    struct learner l = {.fdb = fdb, .keys = keys, .n = n};
    pthread_t t;
    if (pthread_create(&t, NULL, learn_loop, &l) != 0) {
        fprintf(stderr, "fdb_bench: cannot start the learner thread\n");
        return 1;
    }
    pin(t, 1);
    struct result busy = run_lookups(fdb, q, seconds, PREFETCHED);
    __atomic_store_n(&l.stop, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);

    double lookups_per_sec = 1e9 / alone.ns_per_lookup;
    uint64_t misses = alone.misses + busy.misses + unbatched.misses + burst.misses;
    double learns_per_sec = (double)l.learns / l.cpu_s;
    if (json) {
        printf("{\"entries\":%u,\"capacity\":%u,\"ns_per_lookup\":%.2f,"
               "\"ns_per_lookup_with_learner\":%.2f,\"ns_per_lookup_unbatched\":%.2f,"
               "\"ns_per_lookup_burst_api\":%.2f,"
               "\"lookups_per_sec\":%.0f,\"lookups_per_sec_with_learner\":%.0f,"
               "\"learns_per_sec\":%.0f,\"misses\":%llu}\n",
               count, vs_fdb_capacity(fdb), alone.ns_per_lookup, busy.ns_per_lookup,
               unbatched.ns_per_lookup, burst.ns_per_lookup, lookups_per_sec,
               1e9 / busy.ns_per_lookup, learns_per_sec, (unsigned long long)(misses));
    } else {
        printf("fdb: %u entries in %u slots, filled in %.0f ms (%.0f ns per new station)\n", count,
               vs_fdb_capacity(fdb), fill_s * 1e3, fill_s * 1e9 / n);
        printf("%-34s %10s %14s\n", "lookups", "ns/lookup", "lookups/s");
        printf("%-34s %10.2f %14.0f\n", "one at a time", unbatched.ns_per_lookup,
               1e9 / unbatched.ns_per_lookup);
        printf("%-34s %10.2f %14.0f\n", "bursts of 32, prefetched", alone.ns_per_lookup,
               lookups_per_sec);
        printf("%-34s %10.2f %14.0f\n", "vs_fdb_lookup_burst of 32", burst.ns_per_lookup,
               1e9 / burst.ns_per_lookup);
        printf("%-34s %10.2f %14.0f\n", "bursts of 32, learner running", busy.ns_per_lookup,
               1e9 / busy.ns_per_lookup);
        printf("learner: %.0f learns/s (1 in 8 a station move)\n", learns_per_sec);
        if (misses)
            printf("warning: %llu lookups missed\n", (unsigned long long)(misses));
    }
    if (count != n)
        fprintf(stderr, "fdb_bench: only %u of %u entries fit\n", count, n);
    free(burst_vlans);
    free(burst_macs);
    free(q);
    free(keys);
    vs_fdb_destroy(fdb);
    return 0;
}
