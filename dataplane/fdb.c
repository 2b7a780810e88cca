/* The forwarding table: a bucketized hash with two candidate buckets per key.
 *
 * Each bucket is one cache line holding four entries and a version counter
 * that works as a seqlock. Readers never write: they read the version, scan
 * the keys, and retry if the version was odd (a writer inside) or changed.
 * Writers (pollers learning, the control thread aging and flushing) take a
 * bucket by moving its version from even to odd with a CAS, and release it by
 * storing the next even value; a writer that ended up changing nothing stores
 * the old value back so that concurrent readers need not retry.
 *
 * A key is (valid bit, VLAN, MAC) packed in 64 bits so that a slot match is one
 * compare and an empty slot (key 0) never matches. A reader that does not find
 * the key in its first bucket looks at the second inside the first's version
 * window, which makes one view of both. That is what lets a writer move an
 * entry to its other bucket to make room (cuckoo displacement, at most
 * FDB_MOVE_DEPTH hops): the move holds both buckets, so no reader view can
 * catch the entry in neither. New entries go to their first bucket while it
 * has room, so at the loads a table is sized for, ~95% of hits read a single
 * cache line. Two choices of four slots alone overflow early; two hops of
 * displacement carry a table to 85-90% before the first eviction. When no
 * room can be made (or the table is over 15/16 full, where searching mostly
 * fails and a MAC flood would make every new station pay for it), learning
 * replaces the stalest of the eight entries.
 *
 * Every shared field is accessed with __atomic builtins (relaxed, ordered by
 * the version's acquire/release and fences) so that the racing reads a seqlock
 * relies on are defined behaviour; on x86 they compile to plain moves. */
#include "vswitch/fdb.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "vswitch/compiler.h"

#define FDB_WAYS 4
#define FDB_MAX_SIZE (16u * 1024 * 1024)
#define FDB_KEY_VALID (1ull << 63)
#define FDB_VLAN_MASK 0xfffu
/* Learning an unchanged station writes only when its last-seen time is older than this. */
#define FDB_REFRESH_S 1
#define FDB_HUGE_PAGE (2u * 1024 * 1024)
/* Cuckoo hops tried before evicting. Each hop tries four buckets, and a full
 * table pays this on every new station (a MAC flood), so it stays small. */
#define FDB_MOVE_DEPTH 2

/* The lookup path is a handful of loads and compares: no call inside it. */
#define fdb_inline inline __attribute__((always_inline))

struct fdb_bucket {
    uint64_t keys[FDB_WAYS];
    uint32_t seen[FDB_WAYS]; /* vs_fdb_now() seconds of the last write */
    uint16_t port[FDB_WAYS];
    uint32_t version; /* odd while a writer holds the bucket */
    uint8_t flags[FDB_WAYS]; /* VS_FDB_F_*, written only by a holder of the bucket */
} vs_cache_aligned;

_Static_assert(sizeof(struct fdb_bucket) == VS_CACHE_LINE, "a bucket is one cache line");

struct vs_fdb {
    /* Read by every lookup: kept apart from the counter that learners write. */
    struct fdb_bucket *buckets;
    uint32_t mask; /* number of buckets - 1 */
    uint32_t aging_s;
    uint64_t seed[2];
    /* Entries in use: written only when an entry is added or removed. */
    uint32_t count vs_cache_aligned;
    /* Learned (not static) entries per port, for mac_limit: written only when an
     * entry is added, moved or removed, never on a refresh. */
    uint32_t port_count[VS_FDB_PORTS];
} vs_cache_aligned;


/* ---- keys and hashing ---- */

/* The MAC in the low 48 bits (vs_mac_word). VLAN IDs are 12 bits; higher bits are
 * ignored. */
static inline uint64_t fdb_key(uint16_t vlan, const uint8_t mac[6])
{
    uint64_t m = vs_mac_word(mac);
    return FDB_KEY_VALID | (uint64_t)(vlan & FDB_VLAN_MASK) << 48 | m;
}

static inline void fdb_key_unpack(uint64_t key, uint16_t *vlan, uint8_t mac[6])
{
    *vlan = (key >> 48) & FDB_VLAN_MASK;
    for (int i = 0; i < 6; i++)
        mac[i] = key >> (8 * i);
}

/* Multiply-xorshift mixing (the splitmix64 finalizer, which spreads every key
 * bit over every hash bit) with a per-table random seed, so that a flood of
 * crafted MACs cannot aim at a few buckets without knowing the seed. The
 * first shift matters: MACs often differ only in their last bytes, which sit
 * high in the key, and a multiply carries no change downward into the low bits
 * that pick a bucket. */
static inline uint64_t fdb_hash(const struct vs_fdb *fdb, uint64_t key)
{
    uint64_t x = key ^ fdb->seed[0];
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x += fdb->seed[1];
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline void fdb_buckets(const struct vs_fdb *fdb, uint64_t key, uint32_t *b1, uint32_t *b2)
{
    uint64_t h = fdb_hash(fdb, key);
    uint32_t mask = fdb->mask;
    *b1 = (uint32_t)h & mask;
    *b2 = (uint32_t)(h >> 32) & mask;
    /* Two distinct candidates whenever there are two buckets at all. */
    if (vs_unlikely(*b2 == *b1))
        *b2 = (*b1 ^ 1) & mask;
}

/* ---- seqlock ---- */

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Counts a learned entry of port coming (+1) or going (-1). */
static inline void port_count_add(struct vs_fdb *fdb, uint16_t port, uint8_t flags, int delta)
{
    if (port < VS_FDB_PORTS && !(flags & VS_FDB_F_STATIC))
        __atomic_fetch_add(&fdb->port_count[port], (uint32_t)delta, __ATOMIC_RELAXED);
}

/* May port take one more station? */
static inline bool port_has_room(const struct vs_fdb *fdb, uint16_t port, uint32_t limit)
{
    return !limit || port >= VS_FDB_PORTS || LOAD(&fdb->port_count[port]) < limit;
}

/* Waiting on a writer: spin briefly, then give the CPU away in case the
 * writer was preempted on this very core (the machine may be oversubscribed). */
static __attribute__((noinline, cold)) void fdb_wait(unsigned *spins)
{
    if (++*spins < 256) {
        vs_cpu_relax();
    } else {
        *spins = 0;
        sched_yield();
    }
}

static inline uint32_t bucket_read_begin(const struct fdb_bucket *b)
{
    return __atomic_load_n(&b->version, __ATOMIC_ACQUIRE);
}

static inline bool bucket_read_retry(const struct fdb_bucket *b, uint32_t v)
{
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return LOAD(&b->version) != v;
}

static uint32_t bucket_lock(struct fdb_bucket *b)
{
    unsigned spins = 0;
    for (;;) {
        uint32_t v = LOAD(&b->version);
        if (!(v & 1) && __atomic_compare_exchange_n(&b->version, &v, v + 1, false, __ATOMIC_ACQUIRE,
                                                    __ATOMIC_RELAXED)) {
            /* The entry stores that follow must not be seen before the odd version. */
            __atomic_thread_fence(__ATOMIC_RELEASE);
            return v;
        }
        fdb_wait(&spins);
    }
}

/* For displacement, which already holds other buckets: never wait there. */
static inline bool bucket_trylock(struct fdb_bucket *b, uint32_t *v)
{
    uint32_t cur = LOAD(&b->version);
    if ((cur & 1) || !__atomic_compare_exchange_n(&b->version, &cur, cur + 1, false,
                                                  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    *v = cur;
    return true;
}

/* v: what bucket_lock returned. An untouched bucket gets its old version back:
 * readers that started before the lock still read consistent data. */
static inline void bucket_unlock(struct fdb_bucket *b, uint32_t v, bool changed)
{
    __atomic_store_n(&b->version, changed ? v + 2 : v, __ATOMIC_RELEASE);
}

/* Which slots of b hold key, as a 4-bit mask. No branch per slot: which slot
 * matches is random, so a branch there would mispredict on most lookups.
 * (A learner that holds the bucket leaves at most one slot with the key.) */
static inline unsigned bucket_match(const struct fdb_bucket *b, uint64_t key)
{
    return (unsigned)(LOAD(&b->keys[0]) == key) | (unsigned)(LOAD(&b->keys[1]) == key) << 1 |
           (unsigned)(LOAD(&b->keys[2]) == key) << 2 | (unsigned)(LOAD(&b->keys[3]) == key) << 3;
}

enum { FDB_MISS, FDB_HIT, FDB_RETRY };

/* What a reader saw of an entry, and where. */
struct fdb_hit {
    uint32_t seen;
    uint16_t port;
    uint8_t second; /* in the second bucket */
    uint8_t slot;
};

/* One attempt at finding key: the first bucket, and the second only when the
 * first does not have it (learning fills first buckets first, so at the loads
 * a table is sized for nearly every hit costs one cache line). The first
 * bucket's version is checked last, so a miss there and the look at the second
 * bucket form one view of both: an entry being moved between them is never
 * missed. *hit comes from that view; FDB_RETRY when a writer got in the way. */
static fdb_inline int fdb_find_once(const struct fdb_bucket *b1, const struct fdb_bucket *b2,
                                    uint64_t key, struct fdb_hit *hit)
{
    const struct fdb_bucket *b = b1;
    uint32_t v1 = bucket_read_begin(b1), v2 = 0;
    unsigned m = bucket_match(b1, key);
    bool second = !m;
    if (second) {
        b = b2;
        v2 = bucket_read_begin(b2);
        m = bucket_match(b2, key);
    }
    unsigned i = 0;
    uint16_t p = 0;
    uint32_t s = 0;
    if (m) {
        i = (unsigned)__builtin_ctz(m);
        p = LOAD(&b->port[i]);
        s = LOAD(&b->seen[i]);
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (vs_unlikely(((v1 | v2) & 1) || (second && LOAD(&b2->version) != v2) ||
                    LOAD(&b1->version) != v1))
        return FDB_RETRY;
    hit->port = p;
    hit->seen = s;
    hit->second = second;
    hit->slot = (uint8_t)i;
    return m ? FDB_HIT : FDB_MISS;
}

/* Out of line so that the fast path keeps no retry state. */
static __attribute__((noinline)) bool fdb_find_slow(const struct fdb_bucket *b1,
                                                    const struct fdb_bucket *b2, uint64_t key,
                                                    struct fdb_hit *hit)
{
    unsigned spins = 0;
    int r;
    while ((r = fdb_find_once(b1, b2, key, hit)) == FDB_RETRY)
        fdb_wait(&spins);
    return r == FDB_HIT;
}

static fdb_inline bool fdb_find(const struct fdb_bucket *b1, const struct fdb_bucket *b2,
                                uint64_t key, struct fdb_hit *hit)
{
    int r = fdb_find_once(b1, b2, key, hit);
    if (vs_likely(r != FDB_RETRY))
        return r == FDB_HIT;
    return fdb_find_slow(b1, b2, key, hit);
}

/* A consistent copy of a bucket, for the control thread's scans. */
static void bucket_snapshot(const struct fdb_bucket *b, struct fdb_bucket *copy)
{
    unsigned spins = 0;
    for (;;) {
        uint32_t v = bucket_read_begin(b);
        if (v & 1) {
            fdb_wait(&spins);
            continue;
        }
        for (int i = 0; i < FDB_WAYS; i++) {
            copy->keys[i] = LOAD(&b->keys[i]);
            copy->seen[i] = LOAD(&b->seen[i]);
            copy->port[i] = LOAD(&b->port[i]);
            copy->flags[i] = LOAD(&b->flags[i]);
        }
        if (!bucket_read_retry(b, v))
            return;
    }
}

/* Seconds from seen to now, signed: the clock wraps, and pollers read it a
 * moment apart, so a last-seen a little "after" now is idle 0, not 4 billion. */
static inline int32_t fdb_idle(uint32_t seen, uint32_t now) { return (int32_t)(now - seen); }

/* ---- lifecycle ---- */

static void fdb_seed(uint64_t seed[2])
{
    if (getrandom(seed, 2 * sizeof(seed[0]), GRND_NONBLOCK) == (ssize_t)(2 * sizeof(seed[0])))
        return;
    /* No entropy yet (early boot): still differ between runs and tables. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed[0] = ((uint64_t)ts.tv_nsec << 20 ^ (uint64_t)getpid()) * 0x9e3779b97f4a7c15ull;
    seed[1] = ((uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)seed) * 0xbf58476d1ce4e5b9ull;
}

int vs_fdb_create(uint32_t size, uint32_t aging_s, struct vs_fdb **out)
{
    if (!out || size == 0 || size > FDB_MAX_SIZE)
        return -EINVAL;

    uint32_t nbuckets = 1;
    while ((uint64_t)nbuckets * FDB_WAYS < size)
        nbuckets <<= 1;

    struct vs_fdb *fdb = aligned_alloc(VS_CACHE_LINE, sizeof(*fdb));
    if (!fdb)
        return -ENOMEM;
    memset(fdb, 0, sizeof(*fdb));

    /* Large tables are huge-page aligned so transparent huge pages can back
     * them: random lookups over tens of MiB otherwise miss the TLB each time. */
    size_t bytes = (size_t)nbuckets * sizeof(struct fdb_bucket);
    size_t align = bytes >= FDB_HUGE_PAGE ? FDB_HUGE_PAGE : VS_CACHE_LINE;
    void *mem = NULL;
    if (posix_memalign(&mem, align, bytes) != 0) {
        free(fdb);
        return -ENOMEM;
    }
    if (bytes >= FDB_HUGE_PAGE)
        (void)madvise(mem, bytes, MADV_HUGEPAGE); /* a hint: fine if THP is off */
    memset(mem, 0, bytes);

    fdb->buckets = mem;
    fdb->mask = nbuckets - 1;
    fdb->aging_s = aging_s;
    fdb_seed(fdb->seed);
    *out = fdb;
    return 0;
}

void vs_fdb_destroy(struct vs_fdb *fdb)
{
    if (!fdb)
        return;
    free(fdb->buckets);
    free(fdb);
}

uint32_t vs_fdb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint32_t)ts.tv_sec;
}

/* ---- data path ---- */

bool vs_fdb_lookup(const struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6], uint16_t *port)
{
    uint64_t key = fdb_key(vlan, mac);
    uint32_t b1, b2;
    fdb_buckets(fdb, key, &b1, &b2);
    struct fdb_hit hit;
    if (!fdb_find(&fdb->buckets[b1], &fdb->buckets[b2], key, &hit))
        return false;
    *port = hit.port;
    return true;
}

void vs_fdb_prefetch(const struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6])
{
    uint32_t b1, b2;
    fdb_buckets(fdb, fdb_key(vlan, mac), &b1, &b2);
    vs_prefetch(&fdb->buckets[b1]);
    vs_prefetch(&fdb->buckets[b2]);
}

uint64_t vs_fdb_lookup_burst(const struct vs_fdb *fdb, unsigned n, const uint16_t vlans[],
                             const uint8_t *const macs[], uint16_t ports[])
{
    uint64_t keys[VS_FDB_BURST_MAX];
    const struct fdb_bucket *b1[VS_FDB_BURST_MAX], *b2[VS_FDB_BURST_MAX];
    uint64_t hits = 0;

    n = VS_MIN(n, VS_FDB_BURST_MAX);
    /* All the hashing and prefetching first, so the burst's cache misses overlap. */
    for (unsigned i = 0; i < n; i++) {
        uint32_t i1, i2;
        keys[i] = fdb_key(vlans[i], macs[i]);
        fdb_buckets(fdb, keys[i], &i1, &i2);
        b1[i] = &fdb->buckets[i1];
        b2[i] = &fdb->buckets[i2];
        vs_prefetch(b1[i]);
        vs_prefetch(b2[i]);
    }
    for (unsigned i = 0; i < n; i++) {
        struct fdb_hit hit;
        if (fdb_find(b1[i], b2[i], keys[i], &hit)) {
            ports[i] = hit.port;
            hits |= 1ull << i;
        }
    }
    return hits;
}

static int bucket_free_slot(const struct fdb_bucket *b)
{
    for (int i = 0; i < FDB_WAYS; i++)
        if (LOAD(&b->keys[i]) == 0)
            return i;
    return -1;
}

/* The other candidate bucket of a key that lives in b. */
static struct fdb_bucket *fdb_other_bucket(const struct vs_fdb *fdb, uint64_t key,
                                           const struct fdb_bucket *b)
{
    uint32_t b1, b2;
    fdb_buckets(fdb, key, &b1, &b2);
    return &fdb->buckets[&fdb->buckets[b1] == b ? b2 : b1];
}

/* Moves entry i of b into a free slot of c. Both are held, so no reader view
 * sees the entry in both buckets or in neither. */
static void fdb_move(struct fdb_bucket *b, int i, struct fdb_bucket *c, int slot)
{
    STORE(&c->port[slot], b->port[i]);
    STORE(&c->seen[slot], b->seen[i]);
    c->flags[slot] = b->flags[i];
    STORE(&c->keys[slot], b->keys[i]);
    STORE(&b->keys[i], 0);
}

/* Frees a slot of the full bucket b, which the caller holds, by moving one of
 * its entries to that entry's other bucket, making room there first if depth
 * allows. Other buckets are only tried, never waited for: the caller already
 * holds locks out of address order. (A bucket held further up the chain fails
 * its trylock, so the search cannot cycle.) Returns the freed slot or -1. */
static int fdb_make_room(struct vs_fdb *fdb, struct fdb_bucket *b, unsigned depth)
{
    /* Breadth first: an entry whose other bucket has room costs one move. */
    for (unsigned pass = 1; pass <= VS_MIN(depth, 2u); pass++) {
        for (int i = 0; i < FDB_WAYS; i++) {
            struct fdb_bucket *c = fdb_other_bucket(fdb, b->keys[i], b);
            uint32_t v;
            if (c == b || (pass == 1 && bucket_free_slot(c) < 0) || !bucket_trylock(c, &v))
                continue;
            int slot = bucket_free_slot(c);
            if (slot < 0 && pass == 2)
                slot = fdb_make_room(fdb, c, depth - 1);
            /* A failed deeper search moved nothing: c is unchanged then. */
            if (slot >= 0)
                fdb_move(b, i, c, slot);
            bucket_unlock(c, v, slot >= 0);
            if (slot >= 0)
                return i;
        }
    }
    return -1;
}

/* Is a search for room worth its cost? It touches up to twenty random buckets
 * and rarely succeeds in a table nearly full, which is where a flood of made-up
 * source MACs keeps a table: there, evicting at once keeps a new station at a
 * few hundred ns instead of microseconds. */
static inline bool fdb_worth_moving(const struct vs_fdb *fdb)
{
    uint32_t capacity = (fdb->mask + 1) * FDB_WAYS;
    return LOAD(&fdb->count) < capacity - capacity / 16;
}

/* Holds both candidate buckets, in address order so that two writers never wait
 * on each other in a cycle. c[0] is the first-hash bucket, c[1] the second (the
 * same pointer in a one-bucket table). Returns how many distinct buckets. */
static unsigned pair_lock(struct fdb_bucket *c[2], uint32_t v[2], unsigned *first)
{
    unsigned n = c[0] == c[1] ? 1 : 2;

    *first = n == 2 && c[1] < c[0] ? 1 : 0;
    v[*first] = bucket_lock(c[*first]);
    if (n == 2)
        v[!*first] = bucket_lock(c[!*first]);
    return n;
}

static void pair_unlock(struct fdb_bucket *c[2], const uint32_t v[2], unsigned n, unsigned first,
                        const bool changed[2])
{
    if (n == 2)
        bucket_unlock(c[!first], v[!first], changed[!first]);
    bucket_unlock(c[first], v[first], changed[first]);
}

/* The station at slot i of b, seen now on port: refreshed, or moved when nothing
 * forbids it. Sets *changed when it wrote. */
static enum vs_fdb_learned fdb_seen(struct vs_fdb *fdb, struct fdb_bucket *b, int i, uint16_t port,
                                    uint32_t now, uint32_t limit, bool pin, bool *changed)
{
    uint8_t f = b->flags[i];

    if (b->port[i] != port) {
        if (f & (VS_FDB_F_STATIC | VS_FDB_F_PINNED))
            return VS_FDB_PINNED;
        if (!port_has_room(fdb, port, limit))
            return VS_FDB_LIMIT;
        port_count_add(fdb, b->port[i], f, -1);
        port_count_add(fdb, port, 0, +1);
        STORE(&b->port[i], port);
        STORE(&b->seen[i], now);
        b->flags[i] = pin ? VS_FDB_F_PINNED : 0;
        *changed = true;
    } else if (fdb_idle(b->seen[i], now) > FDB_REFRESH_S ||
               (pin && !(f & (VS_FDB_F_STATIC | VS_FDB_F_PINNED)))) {
        STORE(&b->seen[i], now);
        if (pin && !(f & VS_FDB_F_STATIC))
            b->flags[i] = f | VS_FDB_F_PINNED;
        *changed = true;
    }
    return VS_FDB_OK;
}

/* The slot to overwrite when both buckets are full: the stalest entry that is not
 * static, an unpinned one before any pinned one. False when all are static. */
static bool fdb_victim(struct fdb_bucket *c[2], unsigned n, unsigned *bj, int *bi)
{
    int best = -1;

    for (unsigned rank = 0; rank < 2 && best < 0; rank++)
        for (unsigned j = 0; j < n; j++)
            for (int i = 0; i < FDB_WAYS; i++) {
                uint8_t f = c[j]->flags[i];
                if ((f & VS_FDB_F_STATIC) || (rank == 0 && (f & VS_FDB_F_PINNED)))
                    continue;
                if (best < 0 || fdb_idle(c[j]->seen[i], c[*bj]->seen[*bi]) > 0) {
                    *bj = j;
                    *bi = i;
                    best = 1;
                }
            }
    return best >= 0;
}

/* The slow half of learning, with both candidate buckets held. */
static enum vs_fdb_learned fdb_learn_locked(struct vs_fdb *fdb, struct fdb_bucket *c[2],
                                            uint64_t key, uint16_t port, uint32_t now,
                                            uint32_t limit, bool pin)
{
    uint32_t v[2];
    bool changed[2] = {false, false};
    unsigned first, n = pair_lock(c, v, &first);
    enum vs_fdb_learned r = VS_FDB_OK;

    for (unsigned j = 0; j < n; j++) {
        struct fdb_bucket *b = c[j];
        for (int i = 0; i < FDB_WAYS; i++) {
            if (b->keys[i] != key)
                continue;
            r = fdb_seen(fdb, b, i, port, now, limit, pin, &changed[j]);
            goto out;
        }
    }
    if (!port_has_room(fdb, port, limit)) {
        r = VS_FDB_LIMIT;
        goto out;
    }

    /* New station: the first bucket when it has room (lookups then read one
     * line), else the second, else make room in either by moving an entry. */
    unsigned j;
    int slot = -1;
    for (j = 0; j < n; j++)
        if ((slot = bucket_free_slot(c[j])) >= 0)
            break;
    if (slot < 0 && fdb_worth_moving(fdb)) {
        for (j = 0; j < n; j++) {
            if ((slot = fdb_make_room(fdb, c[j], FDB_MOVE_DEPTH)) >= 0) {
                changed[j] = true;
                break;
            }
        }
    }
    if (slot >= 0) {
        __atomic_fetch_add(&fdb->count, 1, __ATOMIC_RELAXED);
    } else {
        /* Full: forget the station heard from longest ago; a miss is only a flood. */
        j = 0;
        if (!fdb_victim(c, n, &j, &slot))
            goto out; /* all static: not learned, the frame still goes out */
        port_count_add(fdb, c[j]->port[slot], c[j]->flags[slot], -1);
    }
    STORE(&c[j]->keys[slot], key);
    STORE(&c[j]->port[slot], port);
    STORE(&c[j]->seen[slot], now);
    c[j]->flags[slot] = pin ? VS_FDB_F_PINNED : 0;
    port_count_add(fdb, port, 0, +1);
    changed[j] = true;

out:
    pair_unlock(c, v, n, first, changed);
    return r;
}

/* A refresh or a move of an entry seen at b's slot: only b needs holding,
 * since whoever else changes this key (a learner, a mover, a flush) holds b
 * too. -1 when the entry went elsewhere in the meantime. */
static int fdb_update(struct vs_fdb *fdb, struct fdb_bucket *b, unsigned slot, uint64_t key,
                      uint16_t port, uint32_t now, uint32_t limit, bool pin)
{
    uint32_t v = bucket_lock(b);
    bool changed = false;
    int r = -1;

    if (b->keys[slot] == key)
        r = (int)fdb_seen(fdb, b, (int)slot, port, now, limit, pin, &changed);
    bucket_unlock(b, v, changed);
    return r;
}

enum vs_fdb_learned vs_fdb_learn_secure(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6],
                                        uint16_t port, uint32_t now, uint32_t limit, bool pin)
{
    uint64_t key = fdb_key(vlan, mac);
    uint32_t b1, b2;
    fdb_buckets(fdb, key, &b1, &b2);
    struct fdb_bucket *c[2] = {&fdb->buckets[b1], &fdb->buckets[b2]};

    /* A known station on the same port, refreshed within the last second, is
     * the common case: it must not write, or every frame would pull the bucket's
     * cache line away from the other pollers. */
    struct fdb_hit hit;
    if (fdb_find(c[0], c[1], key, &hit)) {
        if (hit.port == port && fdb_idle(hit.seen, now) <= FDB_REFRESH_S)
            return VS_FDB_OK;
        int r = fdb_update(fdb, c[hit.second], hit.slot, key, port, now, limit, pin);
        if (r >= 0)
            return (enum vs_fdb_learned)r;
    }
    return fdb_learn_locked(fdb, c, key, port, now, limit, pin);
}

enum vs_fdb_learned vs_fdb_learn(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6],
                                 uint16_t port, uint32_t now)
{
    return vs_fdb_learn_secure(fdb, vlan, mac, port, now, 0, false);
}

uint32_t vs_fdb_port_count(const struct vs_fdb *fdb, uint16_t port)
{
    return port < VS_FDB_PORTS ? LOAD(&fdb->port_count[port]) : 0;
}

int vs_fdb_add_static(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6], uint16_t port,
                      uint32_t now)
{
    uint64_t key = fdb_key(vlan, mac);
    uint32_t b1, b2, v[2];
    fdb_buckets(fdb, key, &b1, &b2);
    struct fdb_bucket *c[2] = {&fdb->buckets[b1], &fdb->buckets[b2]};
    bool changed[2] = {false, false};
    unsigned first, n = pair_lock(c, v, &first), j = 0;
    int slot = -1, rc = 0;

    for (unsigned jj = 0; jj < n && slot < 0; jj++)
        for (int i = 0; i < FDB_WAYS; i++)
            if (c[jj]->keys[i] == key) {
                j = jj;
                slot = i;
                port_count_add(fdb, c[j]->port[i], c[j]->flags[i], -1);
                break;
            }
    for (unsigned jj = 0; jj < n && slot < 0; jj++)
        if ((slot = bucket_free_slot(c[jj])) >= 0) {
            j = jj;
            __atomic_fetch_add(&fdb->count, 1, __ATOMIC_RELAXED);
        }
    if (slot < 0) {
        if (fdb_victim(c, n, &j, &slot))
            port_count_add(fdb, c[j]->port[slot], c[j]->flags[slot], -1);
        else
            rc = -ENOSPC;
    }
    if (slot >= 0) {
        STORE(&c[j]->keys[slot], key);
        STORE(&c[j]->port[slot], port);
        STORE(&c[j]->seen[slot], now);
        c[j]->flags[slot] = VS_FDB_F_STATIC;
        changed[j] = true;
    }
    pair_unlock(c, v, n, first, changed);
    return rc;
}

int vs_fdb_del(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6])
{
    uint64_t key = fdb_key(vlan, mac);
    uint32_t b1, b2, v[2];
    fdb_buckets(fdb, key, &b1, &b2);
    struct fdb_bucket *c[2] = {&fdb->buckets[b1], &fdb->buckets[b2]};
    bool changed[2] = {false, false};
    unsigned first, n = pair_lock(c, v, &first);
    int rc = -ENOENT;

    for (unsigned j = 0; j < n && rc; j++)
        for (int i = 0; i < FDB_WAYS; i++)
            if (c[j]->keys[i] == key) {
                port_count_add(fdb, c[j]->port[i], c[j]->flags[i], -1);
                STORE(&c[j]->keys[i], 0);
                __atomic_fetch_sub(&fdb->count, 1, __ATOMIC_RELAXED);
                changed[j] = true;
                rc = 0;
                break;
            }
    pair_unlock(c, v, n, first, changed);
    return rc;
}

/* ---- control thread ---- */

typedef bool (*fdb_match_fn)(const struct fdb_bucket *b, int i, const void *arg);

/* Removes the matching entries of every bucket. Buckets with nothing to remove
 * are only read, so a scan does not disturb the pollers' caches more than needed.
 * Inlined into each caller, so match is a compare rather than a call per slot:
 * a pass over 2M slots takes ~13 ms instead of ~35. */
static fdb_inline unsigned fdb_remove_if(struct vs_fdb *fdb, fdb_match_fn match, const void *arg)
{
    unsigned removed = 0;
    for (uint32_t bi = 0; bi <= fdb->mask; bi++) {
        struct fdb_bucket *b = &fdb->buckets[bi];
        struct fdb_bucket copy;
        bucket_snapshot(b, &copy);
        bool any = false;
        for (int i = 0; i < FDB_WAYS && !any; i++)
            any = copy.keys[i] && match(&copy, i, arg);
        if (!any)
            continue;

        uint32_t v = bucket_lock(b);
        unsigned n = 0;
        for (int i = 0; i < FDB_WAYS; i++) {
            if (b->keys[i] && match(b, i, arg)) {
                port_count_add(fdb, b->port[i], b->flags[i], -1);
                STORE(&b->keys[i], 0);
                n++;
            }
        }
        bucket_unlock(b, v, n > 0);
        if (n)
            __atomic_fetch_sub(&fdb->count, n, __ATOMIC_RELAXED);
        removed += n;
    }
    return removed;
}

struct fdb_age_arg {
    uint32_t now, aging_s;
};

static bool fdb_match_expired(const struct fdb_bucket *b, int i, const void *arg)
{
    const struct fdb_age_arg *a = arg;
    int32_t idle = fdb_idle(b->seen[i], a->now);
    return !(b->flags[i] & VS_FDB_F_STATIC) && idle > 0 && (uint32_t)idle > a->aging_s;
}

static bool fdb_match_port(const struct fdb_bucket *b, int i, const void *arg)
{
    return !(b->flags[i] & VS_FDB_F_STATIC) && b->port[i] == *(const uint16_t *)arg;
}

static bool fdb_match_port_all(const struct fdb_bucket *b, int i, const void *arg)
{
    return b->port[i] == *(const uint16_t *)arg;
}

static bool fdb_match_all(const struct fdb_bucket *b, int i, const void *arg)
{
    return !(b->flags[i] & VS_FDB_F_STATIC);
}

unsigned vs_fdb_age(struct vs_fdb *fdb, uint32_t now)
{
    if (fdb->aging_s == 0)
        return 0;
    struct fdb_age_arg a = {.now = now, .aging_s = fdb->aging_s};
    return fdb_remove_if(fdb, fdb_match_expired, &a);
}

unsigned vs_fdb_flush_port(struct vs_fdb *fdb, uint16_t port)
{
    return fdb_remove_if(fdb, fdb_match_port, &port);
}

unsigned vs_fdb_forget_port(struct vs_fdb *fdb, uint16_t port)
{
    return fdb_remove_if(fdb, fdb_match_port_all, &port);
}

unsigned vs_fdb_flush(struct vs_fdb *fdb) { return fdb_remove_if(fdb, fdb_match_all, NULL); }

uint32_t vs_fdb_count(const struct vs_fdb *fdb) { return LOAD(&fdb->count); }

uint32_t vs_fdb_capacity(const struct vs_fdb *fdb) { return (fdb->mask + 1) * FDB_WAYS; }

uint32_t vs_fdb_aging(const struct vs_fdb *fdb) { return fdb->aging_s; }

void vs_fdb_foreach(const struct vs_fdb *fdb, uint32_t now, vs_fdb_entry_cb cb, void *arg)
{
    for (uint32_t bi = 0; bi <= fdb->mask; bi++) {
        struct fdb_bucket copy;
        bucket_snapshot(&fdb->buckets[bi], &copy);
        for (int i = 0; i < FDB_WAYS; i++) {
            if (!copy.keys[i])
                continue;
            struct vs_fdb_entry e;
            fdb_key_unpack(copy.keys[i], &e.vlan, e.mac);
            e.port = copy.port[i];
            e.flags = copy.flags[i];
            int32_t idle = fdb_idle(copy.seen[i], now);
            e.age_s = idle > 0 ? (uint32_t)idle : 0;
            /* Called with no bucket held: cb may call back into the table. */
            cb(&e, arg);
        }
    }
}
