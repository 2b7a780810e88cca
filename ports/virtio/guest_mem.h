/* A guest's memory as the device side sees it: regions of guest-physical (or IO
 * virtual) addresses mapped into this process. Every address a guest hands us is
 * translated here, with overflow-safe bounds checks, before it is touched. */
#ifndef VS_PORTS_VIRTIO_GUEST_MEM_H
#define VS_PORTS_VIRTIO_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#define VS_GUEST_MEM_MAX_REGIONS 32 /* VHOST_USER_MAX_RAM_SLOTS in QEMU is 512; we accept 32 */

struct vs_guest_mem_region {
    uint64_t gpa;       /* guest-physical start */
    uint64_t size;      /* bytes */
    uint64_t uva;       /* front-end's virtual address of gpa (vhost-user ring addresses use it) */
    uint8_t *hva;       /* our mapping of gpa */
    void *mmap_addr;    /* what to munmap */
    uint64_t mmap_size;
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

#endif
