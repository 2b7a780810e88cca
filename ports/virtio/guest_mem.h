/* A guest's memory as the device side sees it: regions of guest-physical (or IO
 * virtual) addresses mapped into this process. Every address a guest hands us is
 * translated here, with overflow-safe bounds checks, before it is touched. */
#ifndef VS_PORTS_VIRTIO_GUEST_MEM_H
#define VS_PORTS_VIRTIO_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VS_GUEST_MEM_MAX_REGIONS 32 /* VHOST_USER_MAX_RAM_SLOTS in QEMU is 512; we accept 32 */

struct vs_guest_mem_region {
    uint64_t gpa;       /* guest-physical start */
    uint64_t size;      /* bytes */
    uint64_t uva;       /* front-end's virtual address of gpa (vhost-user ring addresses use it) */
    uint8_t *hva;       /* our mapping of gpa */
    void *mmap_addr;    /* what to munmap */
    uint64_t mmap_size;
    int peer_id;        /* vs_peer_mem registration of the mapping, 0 when none */
    int fd;             /* -1 when the mapping owns no fd */
};

struct vs_guest_mem {
    unsigned n;
    struct vs_guest_mem_region r[VS_GUEST_MEM_MAX_REGIONS];
};

/* Translates [gpa, gpa + *len) to a host pointer. On success returns the pointer and
 * clamps *len to the bytes contiguous in that region (a buffer may continue in the
 * next region: call again for the rest). Returns NULL when gpa is in no region. */
void *vs_guest_mem_gpa(const struct vs_guest_mem *m, uint64_t gpa, uint64_t *len);
/* Same for the front-end's virtual addresses (vhost-user ring addresses). */
void *vs_guest_mem_uva(const struct vs_guest_mem *m, uint64_t uva, uint64_t *len);
/* Translates and requires the whole range to be contiguous in one region (rings). */
void *vs_guest_mem_gpa_range(const struct vs_guest_mem *m, uint64_t gpa, uint64_t len);
void *vs_guest_mem_uva_range(const struct vs_guest_mem *m, uint64_t uva, uint64_t len);

/* Is [hva, hva + len) inside one region's mapping? (Ring pointers the owner already
 * translated are checked again by vs_virtq_start.) On success stores the range's
 * guest-physical address in *gpa (may be NULL). */
bool vs_guest_mem_hva_range(const struct vs_guest_mem *m, const void *hva, uint64_t len,
                            uint64_t *gpa);

/* The per-descriptor fast path: like vs_guest_mem_gpa, with a caller-owned hint (the
 * region of the last hit, any value at first) so that consecutive buffers in one
 * region cost one compare. The hint lives with the caller (a queue), never in the
 * shared table, so pollers write no shared cache line. Also returns the region's
 * remaining bytes from gpa in *len (clamped) like vs_guest_mem_gpa. */
static inline void *vs_guest_mem_gpa_hint(const struct vs_guest_mem *m, uint64_t gpa,
                                          uint64_t *len, unsigned *hint)
{
    unsigned h = *hint;
    if (__builtin_expect(h < m->n && h < VS_GUEST_MEM_MAX_REGIONS, 1)) {
        const struct vs_guest_mem_region *r = &m->r[h];
        /* Unsigned difference: a gpa below the region start wraps to a huge offset,
         * so one compare covers both ends without computing gpa + len. */
        uint64_t off = gpa - r->gpa;
        if (__builtin_expect(off < r->size, 1)) {
            uint64_t room = r->size - off;
            if (*len > room)
                *len = room;
            return r->hva + off;
        }
    }
    for (unsigned i = 0; i < m->n && i < VS_GUEST_MEM_MAX_REGIONS; i++) {
        const struct vs_guest_mem_region *r = &m->r[i];
        uint64_t off = gpa - r->gpa;
        if (off < r->size) {
            uint64_t room = r->size - off;
            if (*len > room)
                *len = room;
            *hint = i;
            return r->hva + off;
        }
    }
    return NULL;
}

#endif
