#include "ports/vxlan/vtep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define INDEX_MASK (2 * VS_VX_MAX_VTEPS - 1)

static inline unsigned ip_hash(uint32_t ip)
{
    uint32_t h = ip * 0x9e3779b1u;

    return (h ^ h >> 15) & INDEX_MASK;
}

static void lock(int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            vs_cpu_relax();
}

static void unlock(int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

struct vs_vx_vteps *vs_vx_vteps_create(void)
{
    struct vs_vx_vteps *t;

    if (posix_memalign((void **)&t, VS_CACHE_LINE, sizeof(*t)))
        return NULL;
    memset(t, 0, sizeof(*t));
    return t;
}

void vs_vx_vteps_destroy(struct vs_vx_vteps *t) { free(t); }

int vs_vx_vtep_find(const struct vs_vx_vteps *t, uint32_t ip)
{
    /* The index is at most half full, so a probe ends at an empty slot. */
    for (unsigned h = ip_hash(ip);; h = (h + 1) & INDEX_MASK) {
        unsigned s = __atomic_load_n(&t->index[h], __ATOMIC_ACQUIRE);

        if (!s)
            return -1;
        if (t->v[s - 1].ip == ip)
            return (int)s - 1;
    }
}

int vs_vx_vtep_get(struct vs_vx_vteps *t, uint32_t ip, bool learned)
{
    int s = vs_vx_vtep_find(t, ip);
    unsigned h;

    if (s >= 0)
        return s;
    lock(&t->lock);
    if ((s = vs_vx_vtep_find(t, ip)) >= 0)
        goto out;
    if (t->n == VS_VX_MAX_VTEPS || (learned && t->n_learned == VS_VX_LEARNED_VTEPS_MAX)) {
        s = -ENOSPC;
        goto out;
    }
    s = (int)t->n;
    t->v[s].ip = ip;
    t->v[s].learned = learned;
    t->n_learned += learned;
    for (h = ip_hash(ip); t->index[h]; h = (h + 1) & INDEX_MASK)
        ;
    __atomic_store_n(&t->n, t->n + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&t->index[h], (uint16_t)(s + 1), __ATOMIC_RELEASE);
out:
    unlock(&t->lock);
    return s;
}

struct vs_vx_flood *vs_vx_flood_build(unsigned n_vni, const struct vs_vx_flood_bits *a,
                                      const struct vs_vx_flood_bits *b)
{
    struct vs_vx_flood *f = calloc(1, sizeof(*f));
    size_t total = 0;

    if (!f)
        return NULL;
    for (unsigned i = 0; i < n_vni; i++)
        for (unsigned w = 0; w < VS_VX_FLOOD_WORDS; w++)
            total += (size_t)__builtin_popcountll((a ? a[i].w[w] : 0) | (b ? b[i].w[w] : 0));
    f->n_vni = n_vni;
    f->start = calloc(n_vni + 1, sizeof(*f->start));
    f->vtep = calloc(total ? total : 1, sizeof(*f->vtep));
    if (!f->start || !f->vtep) {
        vs_vx_flood_free(f);
        return NULL;
    }
    total = 0;
    for (unsigned i = 0; i < n_vni; i++) {
        f->start[i] = (uint32_t)total;
        for (unsigned w = 0; w < VS_VX_FLOOD_WORDS; w++) {
            uint64_t bits = (a ? a[i].w[w] : 0) | (b ? b[i].w[w] : 0);

            while (bits) {
                f->vtep[total++] = (uint16_t)(w * 64 + (unsigned)__builtin_ctzll(bits));
                bits &= bits - 1;
            }
        }
    }
    f->start[n_vni] = (uint32_t)total;
    return f;
}

void vs_vx_flood_free(struct vs_vx_flood *f)
{
    if (!f)
        return;
    free(f->start);
    free(f->vtep);
    free(f);
}
