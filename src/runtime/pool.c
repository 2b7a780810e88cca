/* The packet-buffer pool: one hugepage region cut into fixed buffers, a global
 * free stack under a spinlock, and per-thread caches so that pollers allocate and
 * free without touching shared memory except to move a batch of buffers at once.
 * A pool's large companion is a pool of its own with bigger buffers; a thread's
 * cache serves the small pool, so large buffers go through the global stack (one
 * lock per 64 KB frame is noise next to copying it). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/log.h"
#include "vswitch/pkt.h"

#define CACHE_MAX 128
#define CACHE_BATCH 32
#define MAX_THREADS 128

struct thread_cache {
    struct vs_pool *pool;
    unsigned n;
    struct vs_pkt *objs[CACHE_MAX];
};

struct vs_pool {
    struct vs_mem_region region;
    uint8_t *bufs;
    size_t elt_size;           /* bytes per buffer, metadata included */
    unsigned size;
    struct vs_pool *large;     /* companion of large buffers, or NULL */
    pthread_spinlock_t lock; /* protects free_n/free_stack; taken once per batch */
    unsigned free_n;
    struct vs_pkt **free_stack;
    pthread_mutex_t caches_lock; /* protects caches[] registration */
    struct thread_cache *caches[MAX_THREADS];
};

static __thread struct thread_cache tcache;
unsigned vs_pool_size(const struct vs_pool *pool) { return pool->size; }
const struct vs_mem_region *vs_pool_region(const struct vs_pool *pool) { return &pool->region; }

static int pool_create(unsigned n, uint32_t room, enum vs_page_kind kind, struct vs_pool **out)
{
    struct vs_pool *pool;
    size_t elt = VS_CACHE_LINE + VS_PKT_HEADROOM + (size_t)room;
    int rc;

    if (n == 0 || n > (1u << 24))
        return -EINVAL;
    pool = calloc(1, sizeof(*pool));
    if (!pool)
        return -ENOMEM;
    pool->free_stack = malloc(sizeof(*pool->free_stack) * n);
    if (!pool->free_stack) {
        free(pool);
        return -ENOMEM;
    }
    rc = vs_mem_alloc((size_t)n * elt, kind, &pool->region);
    if (rc < 0) {
        free(pool->free_stack);
        free(pool);
        return rc;
    }
    pool->bufs = pool->region.va;
    pool->elt_size = elt;
    pool->size = n;
    pthread_spin_init(&pool->lock, PTHREAD_PROCESS_PRIVATE);
    pthread_mutex_init(&pool->caches_lock, NULL);
    for (unsigned i = 0; i < n; i++) {
        struct vs_pkt *p = (struct vs_pkt *)(pool->bufs + (size_t)(n - 1 - i) * elt);

        memset(p, 0, VS_CACHE_LINE);
        p->pool = pool;
        p->index = n - 1 - i;
        p->room = room;
        p->iova = (uint64_t)(uintptr_t)p->buf; /* IOVA == VA, as VFIO maps it */
        p->refcnt = 1;
        pool->free_stack[i] = p;
    }
    pool->free_n = n;
    *out = pool;
    return 0;
}

int vs_pool_create(unsigned n, enum vs_page_kind kind, struct vs_pool **out)
{
    return pool_create(n, VS_PKT_DATA_ROOM, kind, out);
}

int vs_pool_add_large(struct vs_pool *pool, unsigned n, enum vs_page_kind kind)
{
    if (pool->large)
        return -EEXIST;
    return pool_create(n, VS_PKT_LARGE_DATA_ROOM, kind, &pool->large);
}

struct vs_pool *vs_pool_large(const struct vs_pool *pool) { return pool->large; }

void vs_pool_destroy(struct vs_pool *pool)
{
    if (!pool)
        return;
    vs_pool_destroy(pool->large);
    if (tcache.pool == pool)
        vs_pool_thread_flush();
    vs_mem_free(&pool->region);
    pthread_spin_destroy(&pool->lock);
    pthread_mutex_destroy(&pool->caches_lock);
    free(pool->free_stack);
    free(pool);
}

unsigned vs_pool_free_count(const struct vs_pool *pool)
{
    struct vs_pool *p = (struct vs_pool *)pool;
    unsigned n;

    pthread_mutex_lock(&p->caches_lock);
    n = __atomic_load_n(&p->free_n, __ATOMIC_RELAXED);
    for (int i = 0; i < MAX_THREADS; i++)
        if (p->caches[i])
            n += __atomic_load_n(&p->caches[i]->n, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->caches_lock);
    return n;
}

static unsigned global_get(struct vs_pool *pool, struct vs_pkt **objs, unsigned n)
{
    pthread_spin_lock(&pool->lock);
    if (n > pool->free_n)
        n = pool->free_n;
    pool->free_n -= n;
    memcpy(objs, &pool->free_stack[pool->free_n], n * sizeof(*objs));
    pthread_spin_unlock(&pool->lock);
    return n;
}

static void global_put(struct vs_pool *pool, struct vs_pkt *const *objs, unsigned n)
{
    pthread_spin_lock(&pool->lock);
    memcpy(&pool->free_stack[pool->free_n], objs, n * sizeof(*objs));
    pool->free_n += n;
    pthread_spin_unlock(&pool->lock);
}

/* Binds this thread's cache to pool (first use). Returns NULL when the thread's
 * cache already serves another pool or no slot is left: callers go global. */
static struct thread_cache *cache_for(struct vs_pool *pool)
{
    if (vs_likely(tcache.pool == pool))
        return &tcache;
    if (tcache.pool || pool->elt_size != VS_PKT_SIZE) /* large buffers: no cache */
        return NULL;
    pthread_mutex_lock(&pool->caches_lock);
    for (int i = 0; i < MAX_THREADS; i++) {
        if (!pool->caches[i]) {
            pool->caches[i] = &tcache;
            tcache.pool = pool;
            tcache.n = 0;
            break;
        }
    }
    pthread_mutex_unlock(&pool->caches_lock);
    return tcache.pool == pool ? &tcache : NULL;
}

void vs_pool_thread_flush(void)
{
    struct vs_pool *pool = tcache.pool;

    if (!pool)
        return;
    pthread_mutex_lock(&pool->caches_lock);
    global_put(pool, tcache.objs, tcache.n);
    tcache.n = 0;
    for (int i = 0; i < MAX_THREADS; i++)
        if (pool->caches[i] == &tcache)
            pool->caches[i] = NULL;
    tcache.pool = NULL;
    pthread_mutex_unlock(&pool->caches_lock);
}

static inline void reset(struct vs_pkt *p)
{
    p->data_off = VS_PKT_HEADROOM;
    p->data = p->buf + VS_PKT_HEADROOM;
    p->len = 0;
    p->flags = 0;
    p->ol_flags = 0;
    p->vlan = 0;
}

unsigned vs_pkt_alloc_bulk(struct vs_pool *pool, struct vs_pkt **pkts, unsigned n)
{
    struct thread_cache *c = cache_for(pool);
    unsigned got;

    if (vs_unlikely(!c)) {
        got = global_get(pool, pkts, n);
    } else {
        if (c->n < n) {
            unsigned want = VS_MIN(CACHE_MAX - c->n, n - c->n + CACHE_BATCH);
            unsigned added = global_get(pool, &c->objs[c->n], want);
            __atomic_store_n(&c->n, c->n + added, __ATOMIC_RELAXED);
        }
        got = VS_MIN(n, c->n);
        memcpy(pkts, &c->objs[c->n - got], got * sizeof(*pkts));
        __atomic_store_n(&c->n, c->n - got, __ATOMIC_RELAXED);
    }
    for (unsigned i = 0; i < got; i++)
        reset(pkts[i]);
    return got;
}

struct vs_pkt *vs_pkt_alloc(struct vs_pool *pool)
{
    struct vs_pkt *p;

    return vs_pkt_alloc_bulk(pool, &p, 1) ? p : NULL;
}

struct vs_pkt *vs_pkt_alloc_len(struct vs_pool *pool, uint32_t len)
{
    if (vs_likely(len <= VS_PKT_DATA_ROOM))
        return vs_pkt_alloc(pool);
    if (!pool->large || len > VS_PKT_LARGE_DATA_ROOM)
        return NULL;
    return vs_pkt_alloc(pool->large);
}

struct vs_pkt *vs_pkt_copy(const struct vs_pkt *p)
{
    struct vs_pkt *c = p->len <= p->room ? vs_pkt_alloc(p->pool) : vs_pkt_alloc_len(p->pool, p->len);

    if (!c)
        return NULL;
    vs_pkt_copy_out(p, vs_pkt_data(c));
    c->len = p->len;
    c->vlan = p->vlan;
    c->in_port = p->in_port;
    c->flags |= p->flags & VS_PKT_F_OVERLAY;
    c->ol_flags = p->ol_flags;
    c->csum_start = p->csum_start;
    c->csum_offset = p->csum_offset;
    c->gso_size = p->gso_size;
    c->hdr_len = p->hdr_len;
    return c;
}

void vs_pkt_chain_read(const struct vs_pkt *p, uint8_t *dst, uint32_t n)
{
    const struct vs_pkt_chain *c = vs_pkt_chain(p);

    /* The pieces sum to the rest of the frame (the dequeue made them so), and n is
     * at most that; the bound on i only keeps a broken chain in the array. */
    for (uint32_t i = 0; n && i < c->n && i < VS_PKT_CHAIN_MAX; i++) {
        uint32_t l = VS_MIN(n, c->piece[i].len);

        /* Pieces are long (page fragments): the library's copy is the faster. */
        memcpy(dst, c->piece[i].data, l);
        dst += l;
        n -= l;
    }
}

struct vs_pkt *vs_pkt_linear(struct vs_pkt *p)
{
    struct vs_pkt *c;

    if (vs_likely(!(p->flags & VS_PKT_F_CHAIN)))
        return p;
    if ((c = vs_pkt_copy(p)))
        vs_pkt_free(p);
    return c;
}

static inline bool drop_ref(struct vs_pkt *p)
{
    /* The common single-owner case needs no atomic. Shared frames may be released
     * by several pollers (a NIC's tx completions), so the count is atomic then. */
    if (vs_likely(p->refcnt == 1))
        return true;
    if (__atomic_sub_fetch(&p->refcnt, 1, __ATOMIC_ACQ_REL) != 0)
        return false;
    p->refcnt = 1;
    return true;
}

void vs_pkt_free(struct vs_pkt *p) { vs_pkt_free_bulk(&p, 1); }

void vs_pkt_free_bulk(struct vs_pkt **pkts, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct vs_pkt *p = pkts[i];
        struct vs_pool *pool = p->pool;
        struct thread_cache *c;

        if (!drop_ref(p))
            continue;
        c = cache_for(pool);
        if (vs_unlikely(!c)) {
            global_put(pool, &p, 1);
            continue;
        }
        if (c->n == CACHE_MAX) {
            global_put(pool, &c->objs[CACHE_MAX - CACHE_BATCH], CACHE_BATCH);
            __atomic_store_n(&c->n, CACHE_MAX - CACHE_BATCH, __ATOMIC_RELAXED);
        }
        c->objs[c->n] = p;
        __atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELAXED);
    }
}
