/* The guest memory table: SET_MEM_TABLE, ADD_MEM_REG, REM_MEM_REG.
 *
 * Regions come from the front-end and are checked before anything is mapped:
 * non-zero sizes, page-aligned addresses, sizes and offsets, no address
 * wrap-around, no overlap in guest-physical or user address space, a backing file
 * at least as large as offset + size (touching a mapping past the end of a file
 * raises SIGBUS), and room left under the port's address-space cap. Only the
 * pages of the region are mapped, whatever its offset in the file. The fd is
 * closed once mapped: the mapping keeps the memory alive. Callers stop every ring
 * first. */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ports/vhost_user/dev.h"
#include "vswitch/peer_mem.h"

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Page size the kernel will insist on for mmap of this fd. */
static uint64_t fd_page_size(int fd)
{
    struct statfs sfs;

    if (fstatfs(fd, &sfs) == 0 && (uint32_t)sfs.f_type == (uint32_t)HUGETLBFS_MAGIC &&
        sfs.f_bsize > 0)
        return (uint64_t)sfs.f_bsize;
    long ps = sysconf(_SC_PAGESIZE);
    return ps > 0 ? (uint64_t)ps : 4096;
}

void *vs_vhu_map_fd(int fd, uint64_t offset, uint64_t len, const struct vs_vhu_map_ctx *mc,
                    void **map_addr, uint64_t *map_len, int *peer_id, char *why,
                    unsigned why_len)
{
    struct stat st;
    uint64_t end, page, start, maplen;
    void *p;

    if (len == 0) {
        snprintf(why, why_len, "size is 0");
        return NULL;
    }
    if (__builtin_add_overflow(offset, len, &end)) {
        snprintf(why, why_len, "offset 0x%llx + size 0x%llx overflows",
                 (unsigned long long)offset, (unsigned long long)len);
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(why, why_len, "fstat: %s", strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "fd is not a memory file (memfd, hugetlbfs or shm)");
        return NULL;
    }
    if ((uint64_t)st.st_size < end) {
        snprintf(why, why_len, "file has 0x%llx bytes, region needs 0x%llx",
                 (unsigned long long)st.st_size, (unsigned long long)end);
        return NULL;
    }
    page = fd_page_size(fd);
    start = offset & ~(page - 1);
    maplen = ((end + page - 1) & ~(page - 1)) - start;
    if (end + page - 1 < end || maplen > (uint64_t)SIZE_MAX) {
        snprintf(why, why_len, "region too large");
        return NULL;
    }
    if (maplen > mc->room) {
        snprintf(why, why_len,
                 "mapping 0x%llx bytes would exceed the port's max_memory (0x%llx bytes left)",
                 (unsigned long long)maplen, (unsigned long long)mc->room);
        return NULL;
    }
    p = mmap(NULL, (size_t)maplen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd,
             (off_t)start);
    if (p == MAP_FAILED) {
        snprintf(why, why_len, "mmap of 0x%llx bytes: %s", (unsigned long long)maplen,
                 strerror(errno));
        return NULL;
    }
    /* A core dump of the switch must not carry every guest's RAM. Advice only: a
     * kernel that refuses it changes nothing else. */
    (void)madvise(p, (size_t)maplen, MADV_DONTDUMP);
    /* The front-end keeps its fd and may shrink the file: a fault must not kill us. */
    *peer_id = vs_peer_mem_register(p, (size_t)maplen, mc->on_fault, mc->arg);
    if (*peer_id < 0) {
        snprintf(why, why_len, "too many guest memory mappings in this process");
        munmap(p, (size_t)maplen);
        return NULL;
    }
    *map_addr = p;
    *map_len = maplen;
    return (uint8_t *)p + (offset - start);
}

void vs_vhu_unmap(void *addr, uint64_t len, int peer_id)
{
    /* Unregistered first: a fault in a range that is no longer ours must not be
     * caught as a guest's. */
    vs_peer_mem_unregister(peer_id);
    if (addr)
        munmap(addr, (size_t)len);
}

uint64_t vs_vhu_mem_mapped(const struct vs_guest_mem *mem)
{
    uint64_t sum = 0;

    for (unsigned i = 0; i < mem->n && i < VS_GUEST_MEM_MAX_REGIONS; i++)
        sum += mem->r[i].mmap_size;
    return sum;
}

/* Do [a, a + alen) and [b, b + blen) intersect? Both are known not to wrap. */
static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int check_region(const struct vs_vhu_mem_region *r, const struct vs_vhu_mem_region *others,
                        unsigned n_others, const struct vs_guest_mem *mapped, int idx, char *why,
                        unsigned why_len)
{
    uint64_t end;

    if (r->size == 0) {
        snprintf(why, why_len, "region %d: size is 0", idx);
        return -EINVAL;
    }
    /* QEMU and DPDK hand over whole pages; anything else is not guest RAM. */
    if ((r->gpa | r->uva | r->size | r->mmap_offset) & (VS_VHU_REGION_ALIGN - 1)) {
        snprintf(why, why_len,
                 "region %d: address 0x%llx, user address 0x%llx, size 0x%llx or offset 0x%llx "
                 "is not a multiple of %u",
                 idx, (unsigned long long)r->gpa, (unsigned long long)r->uva,
                 (unsigned long long)r->size, (unsigned long long)r->mmap_offset,
                 VS_VHU_REGION_ALIGN);
        return -EINVAL;
    }
    if (__builtin_add_overflow(r->gpa, r->size, &end) ||
        __builtin_add_overflow(r->uva, r->size, &end) ||
        __builtin_add_overflow(r->mmap_offset, r->size, &end)) {
        snprintf(why, why_len, "region %d: address + size 0x%llx wraps around", idx,
                 (unsigned long long)r->size);
        return -EINVAL;
    }
    for (unsigned i = 0; i < n_others; i++) {
        const struct vs_vhu_mem_region *o = &others[i];
        if (ranges_overlap(r->gpa, r->size, o->gpa, o->size) ||
            ranges_overlap(r->uva, r->size, o->uva, o->size)) {
            snprintf(why, why_len, "region %d [0x%llx, +0x%llx) overlaps region %u", idx,
                     (unsigned long long)r->gpa, (unsigned long long)r->size, i);
            return -EINVAL;
        }
    }
    for (unsigned i = 0; mapped && i < mapped->n; i++) {
        const struct vs_guest_mem_region *o = &mapped->r[i];
        if (ranges_overlap(r->gpa, r->size, o->gpa, o->size) ||
            ranges_overlap(r->uva, r->size, o->uva, o->size)) {
            snprintf(why, why_len, "region [0x%llx, +0x%llx) overlaps mapped region %u",
                     (unsigned long long)r->gpa, (unsigned long long)r->size, i);
            return -EINVAL;
        }
    }
    return 0;
}

static int map_region(const struct vs_vhu_mem_region *r, int fd, const struct vs_vhu_map_ctx *mc,
                      struct vs_guest_mem_region *out, int idx, char *why, unsigned why_len)
{
    char what[160];
    void *map_addr;
    uint64_t map_len;
    int peer_id;
    uint8_t *hva = vs_vhu_map_fd(fd, r->mmap_offset, r->size, mc, &map_addr, &map_len, &peer_id,
                                 what, sizeof(what));

    if (!hva) {
        snprintf(why, why_len, "region %d [0x%llx, +0x%llx): %s", idx,
                 (unsigned long long)r->gpa, (unsigned long long)r->size, what);
        return -EINVAL;
    }
    out->gpa = r->gpa;
    out->size = r->size;
    out->uva = r->uva;
    out->hva = hva;
    out->mmap_addr = map_addr;
    out->mmap_size = map_len;
    out->peer_id = peer_id;
    out->fd = -1;
    return 0;
}

static void unmap_region(struct vs_guest_mem_region *r)
{
    vs_vhu_unmap(r->mmap_addr, r->mmap_size, r->peer_id);
    close_fd(&r->fd);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

void vs_vhu_mem_unmap_all(struct vs_guest_mem *mem)
{
    for (unsigned i = 0; i < mem->n && i < VS_GUEST_MEM_MAX_REGIONS; i++)
        unmap_region(&mem->r[i]);
    mem->n = 0;
}

int vs_vhu_mem_set_table(struct vs_guest_mem *mem, const struct vs_vhu_mem_region *r, unsigned n,
                         int *fds, const struct vs_vhu_map_ctx *mc, char *why, unsigned why_len)
{
    struct vs_vhu_map_ctx left = *mc;
    struct vs_guest_mem fresh = {0};
    int rc;

    if (n > VS_GUEST_MEM_MAX_REGIONS || n > VS_VHU_MEM_TABLE_MAX) {
        snprintf(why, why_len, "%u regions, at most %u accepted", n, VS_VHU_MEM_TABLE_MAX);
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++)
        if ((rc = check_region(&r[i], r, i, NULL, (int)i, why, why_len)) < 0)
            return rc;
    for (unsigned i = 0; i < n; i++) {
        if ((rc = map_region(&r[i], fds[i], &left, &fresh.r[i], (int)i, why, why_len)) < 0) {
            vs_vhu_mem_unmap_all(&fresh);
            return rc;
        }
        fresh.n = i + 1;
        left.room -= fresh.r[i].mmap_size;
    }
    for (unsigned i = 0; i < n; i++)
        close_fd(&fds[i]);
    vs_vhu_mem_unmap_all(mem);
    *mem = fresh;
    return 0;
}

int vs_vhu_mem_add(struct vs_guest_mem *mem, const struct vs_vhu_mem_region *r, int *fd,
                   const struct vs_vhu_map_ctx *mc, char *why, unsigned why_len)
{
    int rc;

    /* A front-end may re-send a region it already gave us; that is not an error. */
    for (unsigned i = 0; i < mem->n; i++) {
        const struct vs_guest_mem_region *o = &mem->r[i];
        if (o->gpa == r->gpa && o->size == r->size && o->uva == r->uva) {
            close_fd(fd);
            return 0;
        }
    }
    if (mem->n >= VS_GUEST_MEM_MAX_REGIONS) {
        snprintf(why, why_len, "all %u memory slots are in use", VS_GUEST_MEM_MAX_REGIONS);
        return -ENOSPC;
    }
    if ((rc = check_region(r, NULL, 0, mem, (int)mem->n, why, why_len)) < 0)
        return rc;
    if ((rc = map_region(r, *fd, mc, &mem->r[mem->n], (int)mem->n, why, why_len)) < 0)
        return rc;
    close_fd(fd);
    mem->n++;
    return 0;
}

int vs_vhu_mem_remove(struct vs_guest_mem *mem, const struct vs_vhu_mem_region *r, char *why,
                      unsigned why_len)
{
    for (unsigned i = 0; i < mem->n; i++) {
        struct vs_guest_mem_region *o = &mem->r[i];
        if (o->gpa == r->gpa && o->size == r->size && o->uva == r->uva) {
            unmap_region(o);
            mem->r[i] = mem->r[mem->n - 1];
            mem->n--;
            memset(&mem->r[mem->n], 0, sizeof(mem->r[0]));
            mem->r[mem->n].fd = -1;
            return 0;
        }
    }
    snprintf(why, why_len, "no region [0x%llx, +0x%llx) at user address 0x%llx",
             (unsigned long long)r->gpa, (unsigned long long)r->size, (unsigned long long)r->uva);
    return -ENOENT;
}
