#include "ports/vxlan/station.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "vswitch/compiler.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define MAX_SIZE (1u << 22)
#define REFRESH_S 1

/* key: valid bit, VNI index (15 bits), MAC (48 bits); 0 is an empty slot. */
#define KEY_VALID (1ull << 63)

struct bucket {
    uint32_t version; /* odd while a writer changes the bucket */
    uint8_t origin[VS_VX_WAYS];
    uint8_t pad;
    uint64_t key[VS_VX_WAYS];
    uint16_t vtep[VS_VX_WAYS];
    uint32_t seen[VS_VX_WAYS];
} vs_cache_aligned;

struct vs_vx_stations {
    struct bucket *b;
    uint32_t mask;
    uint64_t seed;
    int lock;
    unsigned count;
};

static inline uint64_t key_of(uint16_t vni, const uint8_t mac[6])
{
    uint64_t m = 0;

    for (int i = 0; i < 6; i++)
        m |= (uint64_t)mac[i] << (8 * i);
    return KEY_VALID | (uint64_t)(vni & 0x7fff) << 48 | m;
}

static inline uint32_t bucket_of(const struct vs_vx_stations *t, uint64_t key)
{
    uint64_t x = key ^ t->seed;

    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (uint32_t)x & t->mask;
}

int vs_vx_stations_create(unsigned size, struct vs_vx_stations **out)
{
    struct vs_vx_stations *t;
    unsigned nb = 1;

    if (size == 0 || size > MAX_SIZE)
        return -EINVAL;
    while (nb * VS_VX_WAYS < size)
        nb <<= 1;
    if (!(t = calloc(1, sizeof(*t))))
        return -ENOMEM;
    if (posix_memalign((void **)&t->b, VS_CACHE_LINE, nb * sizeof(*t->b))) {
        free(t);
        return -ENOMEM;
    }
    memset(t->b, 0, nb * sizeof(*t->b));
    t->mask = nb - 1;
    /* A random seed: made-up MACs from a hostile VTEP cannot aim at one bucket. */
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != sizeof(t->seed))
        t->seed = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ull;
    *out = t;
    return 0;
}

void vs_vx_stations_destroy(struct vs_vx_stations *t)
{
    if (!t)
        return;
    free(t->b);
    free(t);
}

unsigned vs_vx_stations_capacity(const struct vs_vx_stations *t)
{
    return (t->mask + 1) * VS_VX_WAYS;
}

unsigned vs_vx_stations_count(const struct vs_vx_stations *t) { return LOAD(&t->count); }

bool vs_vx_station_lookup(const struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6],
                          uint16_t *vtep)
{
    uint64_t key = key_of(vni, mac);
    const struct bucket *b = &t->b[bucket_of(t, key)];

    for (;;) {
        uint32_t v = __atomic_load_n(&b->version, __ATOMIC_ACQUIRE);
        bool hit = false;
        uint16_t out = 0;

        if (vs_unlikely(v & 1)) {
            sched_yield();
            continue;
        }
        for (int i = 0; i < VS_VX_WAYS; i++)
            if (LOAD(&b->key[i]) == key) {
                out = LOAD(&b->vtep[i]);
                hit = true;
                break;
            }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (LOAD(&b->version) != v)
            continue;
        if (hit)
            *vtep = out;
        return hit;
    }
}

/* Writers hold the table lock; the version makes readers retry around a change. */
static void lock(struct vs_vx_stations *t)
{
    while (__atomic_exchange_n(&t->lock, 1, __ATOMIC_ACQUIRE))
        while (LOAD(&t->lock))
            vs_cpu_relax();
}

static void unlock(struct vs_vx_stations *t) { __atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE); }

static void write_begin(struct bucket *b)
{
    STORE(&b->version, b->version + 1);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct bucket *b)
{
    __atomic_store_n(&b->version, b->version + 1, __ATOMIC_RELEASE);
}

static void slot_put(struct bucket *b, int i, uint64_t key, uint16_t vtep, uint8_t origin,
                     uint32_t now)
{
    STORE(&b->key[i], key);
    STORE(&b->vtep[i], vtep);
    STORE(&b->origin[i], origin);
    STORE(&b->seen[i], now);
}

/* The slot for a new key in b: an empty one, else the stalest learned one (-1 when
 * every slot is static or EVPN). *evicted says whether a live entry goes. */
static int free_slot(const struct bucket *b, bool *evicted)
{
    int stale = -1;

    *evicted = false;
    for (int i = 0; i < VS_VX_WAYS; i++) {
        if (!b->key[i])
            return i;
        if (b->origin[i] == VS_VX_LEARNED && (stale < 0 || b->seen[i] < b->seen[stale]))
            stale = i;
    }
    *evicted = stale >= 0;
    return stale;
}

static int find(const struct bucket *b, uint64_t key)
{
    for (int i = 0; i < VS_VX_WAYS; i++)
        if (b->key[i] == key)
            return i;
    return -1;
}

void vs_vx_station_learn(struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6],
                         uint16_t vtep, uint32_t now)
{
    uint64_t key = key_of(vni, mac);
    struct bucket *b = &t->b[bucket_of(t, key)];
    int i;
    bool evicted;

    /* The common case, a known station on the same VTEP, writes at most its time. */
    for (i = 0; i < VS_VX_WAYS; i++)
        if (LOAD(&b->key[i]) == key)
            break;
    if (i < VS_VX_WAYS && LOAD(&b->vtep[i]) == vtep && LOAD(&b->key[i]) == key) {
        if (LOAD(&b->origin[i]) == VS_VX_LEARNED && now - LOAD(&b->seen[i]) >= REFRESH_S)
            STORE(&b->seen[i], now);
        return;
    }
    lock(t);
    if ((i = find(b, key)) >= 0) {
        if (b->origin[i] == VS_VX_LEARNED && b->vtep[i] != vtep) {
            write_begin(b);
            slot_put(b, i, key, vtep, VS_VX_LEARNED, now);
            write_end(b);
        }
    } else if ((i = free_slot(b, &evicted)) >= 0) {
        write_begin(b);
        slot_put(b, i, key, vtep, VS_VX_LEARNED, now);
        write_end(b);
        if (!evicted)
            STORE(&t->count, t->count + 1);
    }
    unlock(t);
}

int vs_vx_station_set(struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6], uint16_t vtep,
                      enum vs_vx_origin origin, uint32_t now)
{
    uint64_t key = key_of(vni, mac);
    struct bucket *b = &t->b[bucket_of(t, key)];
    bool evicted = false;
    int i, rc = 0;

    lock(t);
    if ((i = find(b, key)) < 0) {
        i = free_slot(b, &evicted);
        if (i >= 0 && !evicted)
            STORE(&t->count, t->count + 1);
    }
    if (i < 0) {
        rc = -ENOSPC;
    } else {
        write_begin(b);
        slot_put(b, i, key, vtep, (uint8_t)origin, now);
        write_end(b);
    }
    unlock(t);
    return rc;
}

int vs_vx_station_del(struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6],
                      enum vs_vx_origin origin)
{
    uint64_t key = key_of(vni, mac);
    struct bucket *b = &t->b[bucket_of(t, key)];
    int i, rc = -ENOENT;

    lock(t);
    if ((i = find(b, key)) >= 0 && b->origin[i] == origin) {
        write_begin(b);
        slot_put(b, i, 0, 0, 0, 0);
        write_end(b);
        STORE(&t->count, t->count - 1);
        rc = 0;
    }
    unlock(t);
    return rc;
}

/* Removes the entries of every bucket that match; the lock is taken per bucket so
 * the rx poller's learning never waits for a whole pass. */
static unsigned sweep(struct vs_vx_stations *t, uint32_t now, uint32_t aging_s, uint8_t origin,
                      bool age)
{
    unsigned removed = 0;

    for (uint32_t n = 0; n <= t->mask; n++) {
        struct bucket *b = &t->b[n];
        bool any = false;

        for (int i = 0; i < VS_VX_WAYS && !any; i++)
            any = LOAD(&b->key[i]) != 0;
        if (!any)
            continue;
        lock(t);
        for (int i = 0; i < VS_VX_WAYS; i++) {
            bool go;

            if (!b->key[i])
                continue;
            if (age)
                go = b->origin[i] == VS_VX_LEARNED && now - LOAD(&b->seen[i]) > aging_s;
            else
                go = !origin || b->origin[i] == origin;
            if (!go)
                continue;
            write_begin(b);
            slot_put(b, i, 0, 0, 0, 0);
            write_end(b);
            STORE(&t->count, t->count - 1);
            removed++;
        }
        unlock(t);
    }
    return removed;
}

unsigned vs_vx_stations_age(struct vs_vx_stations *t, uint32_t now, uint32_t aging_s)
{
    return aging_s ? sweep(t, now, aging_s, 0, true) : 0;
}

unsigned vs_vx_stations_flush(struct vs_vx_stations *t, enum vs_vx_origin origin)
{
    return sweep(t, 0, 0, (uint8_t)origin, false);
}

void vs_vx_stations_foreach(const struct vs_vx_stations *t, uint32_t now, vs_vx_station_cb cb,
                            void *arg)
{
    for (uint32_t n = 0; n <= t->mask; n++) {
        const struct bucket *b = &t->b[n];

        for (int i = 0; i < VS_VX_WAYS; i++) {
            uint64_t key = LOAD(&b->key[i]);
            struct vs_vx_station s;
            uint32_t seen;

            if (!key)
                continue;
            s.vni = (uint16_t)(key >> 48 & 0x7fff);
            for (int k = 0; k < 6; k++)
                s.mac[k] = (uint8_t)(key >> (8 * k));
            s.vtep = LOAD(&b->vtep[i]);
            s.origin = LOAD(&b->origin[i]);
            seen = LOAD(&b->seen[i]);
            s.age_s = s.origin == VS_VX_LEARNED && now > seen ? now - seen : 0;
            cb(&s, arg);
        }
    }
}
