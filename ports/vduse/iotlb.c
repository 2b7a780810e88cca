/* The device's IOTLB: the driver's IO virtual addresses, mapped into this process
 * through the files VDUSE_IOTLB_GET_FD hands out. Entries are checked before they
 * are mapped: a size and a page-aligned offset that fit, read-write permission (we
 * write received frames into any buffer), and room within the device's
 * address-space budget and region table. An entry may be smaller than a page (a
 * packed ring's 4-byte event areas are one coherent allocation each): the mapping
 * covers whole pages, the region only the entry. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ports/vduse/dev.h"

/* GET_FD calls per refresh: every entry is reached in one call each, so this only
 * bounds a kernel that keeps answering. */
#define MAX_LOOKUPS (2 * VS_GUEST_MEM_MAX_REGIONS)

static long page_size(void)
{
    static long ps;

    if (!ps)
        ps = sysconf(_SC_PAGESIZE);
    return ps;
}

uint64_t vs_vduse_iotlb_mapped(const struct vs_vduse_dev *dev)
{
    uint64_t sum = 0;

    for (unsigned i = 0; i < dev->net.mem.n; i++)
        sum += dev->net.mem.r[i].mmap_size;
    return sum;
}

static bool mapped(const struct vs_vduse_dev *dev, uint64_t start, uint64_t last)
{
    for (unsigned i = 0; i < dev->net.mem.n; i++)
        if (dev->net.mem.r[i].gpa == start && dev->net.mem.r[i].size == last - start + 1)
            return true;
    return false;
}

static bool overlaps(const struct vs_guest_mem_region *r, uint64_t start, uint64_t last)
{
    return r->gpa <= last && start <= r->gpa + (r->size - 1);
}

/* Maps one entry whose fd we hold. 1 when added, 0 when already mapped, -errno when
 * refused (counted). */
static int map_entry(struct vs_vduse_dev *dev, const struct vduse_iotlb_entry *e, int fd)
{
    uint64_t size, map_size, ps = (uint64_t)page_size();
    struct vs_guest_mem_region *r;
    void *p;

    if (e->start > e->last) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB, "IOTLB entry 0x%llx..0x%llx is backwards",
                        (unsigned long long)e->start, (unsigned long long)e->last);
        return -EINVAL;
    }
    if (mapped(dev, e->start, e->last))
        return 0;
    size = e->last - e->start + 1;
    if (size == 0 || size > dev->max_map || (e->offset & (ps - 1)) ||
        e->offset > UINT64_MAX - size - ps) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB,
                        "IOTLB entry 0x%llx..0x%llx at offset 0x%llx: offset not page-aligned "
                        "or size too large",
                        (unsigned long long)e->start, (unsigned long long)e->last,
                        (unsigned long long)e->offset);
        return -EINVAL;
    }
    if (e->perm != VDUSE_ACCESS_RW) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB,
                        "IOTLB entry 0x%llx..0x%llx is not read-write (perm %u): received "
                        "frames are written into any buffer",
                        (unsigned long long)e->start, (unsigned long long)e->last, e->perm);
        return -EPERM;
    }
    map_size = (size + ps - 1) & ~(ps - 1);
    if (dev->net.mem.n >= VS_GUEST_MEM_MAX_REGIONS ||
        vs_vduse_iotlb_mapped(dev) + map_size > dev->max_map) {
        vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB,
                        "IOTLB entry 0x%llx..0x%llx does not fit (%u regions, %llu bytes "
                        "mapped, at most %u and %llu)",
                        (unsigned long long)e->start, (unsigned long long)e->last, dev->net.mem.n,
                        (unsigned long long)vs_vduse_iotlb_mapped(dev), VS_GUEST_MEM_MAX_REGIONS,
                        (unsigned long long)dev->max_map);
        return -ENOSPC;
    }
    for (unsigned i = 0; i < dev->net.mem.n; i++) {
        if (overlaps(&dev->net.mem.r[i], e->start, e->last)) {
            vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB,
                            "IOTLB entry 0x%llx..0x%llx overlaps a mapped one at 0x%llx",
                            (unsigned long long)e->start, (unsigned long long)e->last,
                            (unsigned long long)dev->net.mem.r[i].gpa);
            return -EEXIST;
        }
    }
    p = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)e->offset);
    if (p == MAP_FAILED) {
        int rc = -errno;
        vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB, "mmap of IOTLB entry 0x%llx..0x%llx: %s",
                        (unsigned long long)e->start, (unsigned long long)e->last, strerror(errno));
        return rc;
    }
    /* What the ring code never dumps: another kernel's buffers. */
    madvise(p, map_size, MADV_DONTDUMP);
    r = &dev->net.mem.r[dev->net.mem.n];
    r->gpa = e->start;
    r->size = size;
    r->uva = 0;
    r->hva = p;
    r->mmap_addr = p;
    r->mmap_size = map_size;
    r->peer_id = 0;
    r->fd = -1;
    dev->map[dev->net.mem.n] = (struct vs_vduse_map_info){.offset = e->offset, .perm = e->perm};
    dev->net.mem.n++;
    dev->maps++;
    return 1;
}

int vs_vduse_iotlb_refresh(struct vs_vduse_dev *dev)
{
    uint64_t cursor = 0;
    int added = 0;

    for (unsigned n = 0; n < MAX_LOOKUPS; n++) {
        struct vduse_iotlb_entry e = {.start = cursor, .last = UINT64_MAX};
        int fd = dev->sys->ioctl(dev->fd, VDUSE_IOTLB_GET_FD, &e);

        if (fd < 0) /* EINVAL: nothing at or above cursor */
            return errno == EINVAL ? added : (added ? added : -errno);
        /* The kernel returns the first entry overlapping [cursor, ~0]; one that does
         * not end at or above cursor would have us loop. */
        if (e.last < cursor) {
            close(fd);
            vs_vduse_refuse(dev, VS_VDUSE_ERR_IOTLB,
                            "IOTLB lookup from 0x%llx returned 0x%llx..0x%llx",
                            (unsigned long long)cursor, (unsigned long long)e.start,
                            (unsigned long long)e.last);
            return added ? added : -EINVAL;
        }
        int rc = map_entry(dev, &e, fd);
        close(fd);
        if (rc > 0)
            added++;
        if (e.last == UINT64_MAX)
            break;
        cursor = e.last + 1;
    }
    return added;
}

static void unmap_region(struct vs_vduse_dev *dev, unsigned i)
{
    struct vs_guest_mem_region *r = &dev->net.mem.r[i];

    munmap(r->mmap_addr, r->mmap_size);
    /* Keep the table dense: the last region takes this slot. */
    dev->net.mem.n--;
    if (i != dev->net.mem.n) {
        *r = dev->net.mem.r[dev->net.mem.n];
        dev->map[i] = dev->map[dev->net.mem.n];
    }
    memset(&dev->net.mem.r[dev->net.mem.n], 0, sizeof(dev->net.mem.r[0]));
    dev->net.mem.r[dev->net.mem.n].fd = -1;
}

unsigned vs_vduse_iotlb_invalidate(struct vs_vduse_dev *dev, uint64_t start, uint64_t last)
{
    unsigned n = 0;

    for (unsigned i = 0; i < dev->net.mem.n;) {
        if (overlaps(&dev->net.mem.r[i], start, last)) {
            unmap_region(dev, i);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

void vs_vduse_iotlb_unmap_all(struct vs_vduse_dev *dev)
{
    while (dev->net.mem.n)
        unmap_region(dev, dev->net.mem.n - 1);
}
