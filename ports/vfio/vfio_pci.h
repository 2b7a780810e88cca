/* One PCI device driven from user space through VFIO (/dev/vfio).
 *
 * Promises:
 * - vs_vfio_open() checks everything a user can get wrong before touching an
 *   ioctl (device exists, bound to vfio-pci, has an IOMMU group, the group is
 *   viable, /dev/vfio exists) and fills err with the commands that fix it.
 * - All devices share one container (type1 v2 IOMMU), or the no-IOMMU container
 *   when the kernel offers only /dev/vfio/noiommu-N (with a warning: no
 *   isolation, DMA addresses are physical); an IOMMU group is opened once and
 *   shared by its devices (two ports of one NIC often share a group), so memory
 *   is mapped and pinned once for all ports.
 * - DMA: every runtime memory region (vs_mem_foreach) and every region handed to
 *   vs_vfio_dma_map() is mapped with IOVA == VA, one mapping per region (regions
 *   are whole hugepages, so the IOMMU uses hugepage entries and a pool costs one
 *   of the kernel's DMA entries), after checking RLIMIT_MEMLOCK and the IOMMU's
 *   usable IOVA ranges.
 * - BARs are mmap'ed; config space is read and written through the config region.
 *
 * Paths are resolved under `root` ("" for the real system) so that tests can
 * point the checks at a fake sysfs/dev tree.
 *
 * Threads: everything here runs on the main thread, except vs_vfio_dma_addr()
 * which pollers call: in no-IOMMU mode the physical-address tables it reads
 * are only ever appended to (published with release/acquire) and freed when the
 * container closes. */
#ifndef VS_PORTS_VFIO_VFIO_PCI_H
#define VS_PORTS_VFIO_VFIO_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vswitch/port.h"

#define VS_VFIO_BDF_LEN 13 /* "0000:00:04.0" + NUL */
#define VS_VFIO_MAX_MAPS 64
#define VS_VFIO_MAX_BARS 6

struct vs_vfio_bar {
    void *va; /* NULL when not mapped */
    uint64_t len;
    uint64_t offset; /* region offset in the device fd */
    uint32_t flags;  /* VFIO_REGION_INFO_FLAG_* */
};

/* No-IOMMU mode: physical address of each page of a mapped region. */
struct vs_vfio_pa_table {
    uintptr_t va;
    size_t len, page;
    uint64_t *pa; /* len / page entries */
};

/* The process-wide container: its IOMMU facts and what is mapped into it. */
struct vs_vfio_container {
    int fd;          /* -1 when closed */
    unsigned groups; /* groups attached */
    bool noiommu;
    bool iommu_set;

    /* IOMMU facts (type1). */
    unsigned n_iova_ranges;
    struct {
        uint64_t start, end;
    } iova_ranges[16];  /* inclusive */
    uint32_t dma_avail; /* kernel's remaining DMA entries, 0 when unknown */

    /* What we mapped (to unmap, and to avoid mapping twice). */
    unsigned n_maps;
    struct {
        uintptr_t va;
        size_t len;
    } maps[VS_VFIO_MAX_MAPS];
    struct vs_vfio_pa_table pa[VS_VFIO_MAX_MAPS]; /* noiommu only */
};

struct vs_vfio_dev {
    char bdf[VS_VFIO_BDF_LEN];
    int fd; /* device fd, -1 when closed */
    int group_id;
    bool group_held;             /* this device holds a reference on its group */
    bool noiommu;                /* copy of c->noiommu, for the fast path */
    struct vs_vfio_container *c; /* NULL when closed */
    bool can_reset;
    uint16_t vendor, device;
    uint64_t cfg_offset, cfg_size;
    struct vs_vfio_bar bar[VS_VFIO_MAX_BARS];
    unsigned n_irqs_req; /* VFIO_PCI_REQ_IRQ_INDEX count (0: cannot be told of unbind) */
    unsigned n_msix;     /* MSI-X vectors the device has */
};

/* "0000:00:04.0" (also accepts "00:04.0", domain 0). Lower-cases into out. 0 or -EINVAL. */
int vs_vfio_bdf_parse(const char *s, char out[VS_VFIO_BDF_LEN]);

/* The sysfs checks alone (no ioctl), for open() and for tests. On success sets
 * *group_id and *noiommu (the group node is /dev/vfio/noiommu-N). */
int vs_vfio_preflight(const char *root, const char *bdf, int *group_id, bool *noiommu,
                      struct vs_port_err *err);
/* Lists devices of the device's IOMMU group bound to a driver other than vfio-pci
 * (or pci-stub/pcieport, which do not block). Writes "BDF (driver), ..." into buf.
 * Returns how many block the group (-errno when the group cannot be read). */
int vs_vfio_group_blockers(const char *root, const char *bdf, char *buf, size_t len);
/* RLIMIT_MEMLOCK check: 0 when need more bytes can be pinned, else -ENOMEM with err
 * saying how to raise the limit. limit == UINT64_MAX means unlimited. */
int vs_vfio_memlock_check(uint64_t need, uint64_t locked, uint64_t limit, bool cap_ipc_lock,
                          struct vs_port_err *err);

int vs_vfio_open(struct vs_vfio_dev *d, const char *bdf, const char *root, struct vs_port_err *err);
/* Closes the device; its group and the container when it was their last user. */
void vs_vfio_close(struct vs_vfio_dev *d);

/* Maps BAR i (if not yet mapped). 0 or -errno. */
int vs_vfio_map_bar(struct vs_vfio_dev *d, unsigned i, struct vs_port_err *err);
int vs_vfio_cfg_read(const struct vs_vfio_dev *d, unsigned off, void *buf, size_t len);
int vs_vfio_cfg_write(const struct vs_vfio_dev *d, unsigned off, const void *buf, size_t len);
/* Sets memory space and bus master in the command register. */
int vs_vfio_enable_bus_master(const struct vs_vfio_dev *d);
/* Function-level (or bus) reset when the device supports one; 0 when it does not. */
int vs_vfio_reset(const struct vs_vfio_dev *d);
/* An eventfd signalled when the kernel asks us to release the device (unbind). -errno
 * when the device has no request interrupt. */
int vs_vfio_request_eventfd(const struct vs_vfio_dev *d);

/* Routes MSI-X vectors [0, n) to new eventfds, returned in fds (non-blocking).
 * 0 or -errno (-ENOTSUP: fewer than n vectors). */
int vs_vfio_msix_enable(const struct vs_vfio_dev *d, unsigned n, int *fds);
void vs_vfio_msix_disable(const struct vs_vfio_dev *d);

/* Maps every runtime memory region not mapped yet (RLIMIT_MEMLOCK checked first). */
int vs_vfio_dma_map_all(struct vs_vfio_dev *d, struct vs_port_err *err);
/* Brings the mappings in line with the runtime's regions: maps new ones, unmaps
 * those that were freed (their VA may be reused by another allocation, which must
 * not reach the old pages). Called periodically from the main thread. */
int vs_vfio_dma_sync(struct vs_vfio_dev *d, struct vs_port_err *err);
/* Maps one region just allocated (va, len: page-aligned), replacing any mapping
 * left over its addresses by freed memory. 0, or -errno with err filled. */
int vs_vfio_dma_map(struct vs_vfio_dev *d, void *va, size_t len, size_t page,
                    struct vs_port_err *err);

/* Unmaps a region before it is freed. */
void vs_vfio_dma_unmap(struct vs_vfio_dev *d, void *va, size_t len);

/* A driver's own DMA memory (rings): len bytes of hugepage memory, mapped for the
 * device. 0, or -errno with err saying what could not be had ("what" names it). */
int vs_vfio_dma_alloc(struct vs_vfio_dev *d, size_t len, const char *what,
                      struct vs_mem_region *out, struct vs_port_err *err);
/* Unmaps (when d is set) and frees memory from vs_vfio_dma_alloc; r may be empty. */
void vs_vfio_dma_free(struct vs_vfio_dev *d, struct vs_mem_region *r);

/* Bus address of len bytes at va for the device (IOVA == VA, or the physical
 * address in no-IOMMU mode). 0 when the range is not DMA-able as one piece. */
uint64_t vs_vfio_dma_addr_slow(const struct vs_vfio_dev *d, const void *va, size_t len);
static inline uint64_t vs_vfio_dma_addr(const struct vs_vfio_dev *d, const void *va, size_t len)
{
    if (__builtin_expect(!d || !d->noiommu, 1))
        return (uint64_t)(uintptr_t)va;
    return vs_vfio_dma_addr_slow(d, va, len);
}

#endif
