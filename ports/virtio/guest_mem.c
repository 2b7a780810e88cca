/* Guest address translation. Linear scans: a guest has a handful of regions, and
 * the per-descriptor path uses vs_guest_mem_gpa_hint (guest_mem.h) which hits the
 * last region with one compare. All bounds checks are written as "offset < size"
 * and "len <= size - offset", never as "addr + len <= end", so a hostile address
 * or length near 2^64 cannot wrap past them. */
#include "ports/virtio/guest_mem.h"

#include <stddef.h>

static unsigned region_count(const struct vs_guest_mem *m)
{
    return m->n < VS_GUEST_MEM_MAX_REGIONS ? m->n : VS_GUEST_MEM_MAX_REGIONS;
}

/* Finds the region holding addr, where base_of() picks the address space. */
static const struct vs_guest_mem_region *find(const struct vs_guest_mem *m, uint64_t addr,
                                              bool uva, uint64_t *off)
{
    unsigned n = region_count(m);
    for (unsigned i = 0; i < n; i++) {
        const struct vs_guest_mem_region *r = &m->r[i];
        uint64_t o = addr - (uva ? r->uva : r->gpa);
        if (o < r->size) {
            *off = o;
            return r;
        }
    }
    return NULL;
}

static void *translate(const struct vs_guest_mem *m, uint64_t addr, uint64_t *len, bool uva)
{
    uint64_t off;
    const struct vs_guest_mem_region *r = find(m, addr, uva, &off);
    if (!r)
        return NULL;
    if (*len > r->size - off)
        *len = r->size - off;
    return r->hva + off;
}

static void *translate_range(const struct vs_guest_mem *m, uint64_t addr, uint64_t len,
                             bool uva)
{
    uint64_t off;
    const struct vs_guest_mem_region *r = find(m, addr, uva, &off);
    if (!r || len > r->size - off)
        return NULL;
    return r->hva + off;
}

void *vs_guest_mem_gpa(const struct vs_guest_mem *m, uint64_t gpa, uint64_t *len)
{
    return translate(m, gpa, len, false);
}

void *vs_guest_mem_uva(const struct vs_guest_mem *m, uint64_t uva, uint64_t *len)
{
    return translate(m, uva, len, true);
}

void *vs_guest_mem_gpa_range(const struct vs_guest_mem *m, uint64_t gpa, uint64_t len)
{
    return translate_range(m, gpa, len, false);
}

void *vs_guest_mem_uva_range(const struct vs_guest_mem *m, uint64_t uva, uint64_t len)
{
    return translate_range(m, uva, len, true);
}

bool vs_guest_mem_hva_range(const struct vs_guest_mem *m, const void *hva, uint64_t len,
                            uint64_t *gpa)
{
    unsigned n = region_count(m);
    for (unsigned i = 0; i < n; i++) {
        const struct vs_guest_mem_region *r = &m->r[i];
        uint64_t off = (uint64_t)(uintptr_t)hva - (uint64_t)(uintptr_t)r->hva;
        if (off < r->size && len <= r->size - off) {
            if (gpa)
                *gpa = r->gpa + off;
            return true;
        }
    }
    return false;
}
