/* Hugepage-backed memory for packet buffers and NIC rings.
 * Memory is allocated through libhugetlbfs (2 MiB pages by default, 1 GiB when
 * asked); when no hugepages are available it falls back to normal pages and
 * says so once. Every region is IOVA == VA so that VFIO can DMA-map it as is. */
#ifndef VSWITCH_MEM_H
#define VSWITCH_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vs_page_kind { VS_PAGES_2M, VS_PAGES_1G, VS_PAGES_NONE };

struct vs_mem_region {
    void *va;
    size_t len;       /* rounded up to page_size */
    size_t page_size; /* 4096 when the fallback was taken */
    bool huge;        /* false: normal pages (no hugepages were available) */
    int fd;           /* backing file for 1G pages, -1 otherwise */
};

/* Allocates len bytes. Returns 0 or -errno. Never fails only because hugepages are
 * missing: falls back to normal pages with one warning per process. */
int vs_mem_alloc(size_t len, enum vs_page_kind kind, struct vs_mem_region *out);
void vs_mem_free(struct vs_mem_region *r);

/* Regions currently allocated (for DMA mapping by VFIO ports). */
typedef int (*vs_mem_region_cb)(const struct vs_mem_region *r, void *arg);
int vs_mem_foreach(vs_mem_region_cb cb, void *arg);

const char *vs_page_kind_name(enum vs_page_kind kind);
/* Parses "2M", "1G", "none". Returns 0 or -EINVAL. */
int vs_page_kind_parse(const char *s, enum vs_page_kind *out);

#endif
