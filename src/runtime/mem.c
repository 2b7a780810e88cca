/* Hugepage memory through libhugetlbfs: get_huge_pages() for the default (2 MiB)
 * size, an unlinked hugetlbfs file for other sizes (1 GiB). When the requested
 * size has no mount or no free pages, normal pages are used and one warning line
 * says how to reserve hugepages. Regions are remembered so that VFIO ports can
 * DMA-map every one of them. */
#include <errno.h>
#include <stddef.h> /* hugetlbfs.h uses size_t without including it */
#include <hugetlbfs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vswitch/log.h"
#include "vswitch/mem.h"

#define MAX_REGIONS 64

static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vs_mem_region regions[MAX_REGIONS];
static bool fallback_warned;

static size_t kind_bytes(enum vs_page_kind kind)
{
    switch (kind) {
    case VS_PAGES_2M: return 2ul << 20;
    case VS_PAGES_1G: return 1ul << 30;
    default: return 0;
    }
}

const char *vs_page_kind_name(enum vs_page_kind kind)
{
    switch (kind) {
    case VS_PAGES_2M: return "2M";
    case VS_PAGES_1G: return "1G";
    default: return "none";
    }
}

int vs_page_kind_parse(const char *s, enum vs_page_kind *out)
{
    if (!strcmp(s, "2M"))
        *out = VS_PAGES_2M;
    else if (!strcmp(s, "1G"))
        *out = VS_PAGES_1G;
    else if (!strcmp(s, "none"))
        *out = VS_PAGES_NONE;
    else
        return -EINVAL;
    return 0;
}

/* Free pages of this size per the kernel, without asking libhugetlbfs (which
 * prints its own warnings when nothing is configured). */
static long free_hugepages(size_t page)
{
    char path[128];
    long n = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
             page >> 10);
    if (!(f = fopen(path, "r")))
        return 0;
    if (fscanf(f, "%ld", &n) != 1)
        n = 0;
    fclose(f);
    return n;
}

static bool hugetlbfs_mounted(size_t page)
{
    char line[512], dev[64], dir[256], type[64], opts[256];
    bool found = false;
    FILE *f = fopen("/proc/mounts", "r");

    if (!f)
        return false;
    while (!found && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%63s %255s %63s %255s", dev, dir, type, opts) != 4)
            continue;
        if (strcmp(type, "hugetlbfs"))
            continue;
        char *ps = strstr(opts, "pagesize=");
        size_t sz = 2ul << 20;
        if (ps) {
            sz = strtoul(ps + 9, &ps, 10);
            sz <<= (*ps == 'G') ? 30 : (*ps == 'M') ? 20 : (*ps == 'K') ? 10 : 0;
        }
        found = sz == page;
    }
    fclose(f);
    return found;
}

static void *huge_alloc(size_t len, size_t page, int *fd)
{
    void *va;

    *fd = -1;
    if (page == (size_t)gethugepagesize()) {
        va = get_huge_pages(len, GHP_DEFAULT);
        return va;
    }
    *fd = hugetlbfs_unlinked_fd_for_size((long)page);
    if (*fd < 0)
        return NULL;
    va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, *fd, 0);
    if (va == MAP_FAILED) {
        close(*fd);
        *fd = -1;
        return NULL;
    }
    return va;
}

int vs_mem_alloc(size_t len, enum vs_page_kind kind, struct vs_mem_region *out)
{
    size_t page = kind_bytes(kind);
    struct vs_mem_region r = {.fd = -1};

    if (len == 0)
        return -EINVAL;
    if (page && hugetlbfs_mounted(page) &&
        free_hugepages(page) >= (long)((len + page - 1) / page)) {
        r.len = (len + page - 1) & ~(page - 1);
        r.va = huge_alloc(r.len, page, &r.fd);
        if (r.va) {
            r.page_size = page;
            r.huge = true;
        }
    }
    if (!r.va) {
        if (page && !__atomic_exchange_n(&fallback_warned, true, __ATOMIC_RELAXED))
            vs_warn("no free %s hugepages mounted: using normal pages (slower; to reserve, "
                    "echo 1024 > /proc/sys/vm/nr_hugepages and mount -t hugetlbfs none "
                    "/dev/hugepages)",
                    vs_page_kind_name(kind));
        r.page_size = (size_t)sysconf(_SC_PAGESIZE);
        r.len = (len + r.page_size - 1) & ~(r.page_size - 1);
        r.va = mmap(NULL, r.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                    -1, 0);
        if (r.va == MAP_FAILED)
            return -errno;
        r.huge = false;
    }

    pthread_mutex_lock(&regions_lock);
    for (int i = 0; i < MAX_REGIONS; i++) {
        if (!regions[i].va) {
            regions[i] = r;
            break;
        }
    }
    pthread_mutex_unlock(&regions_lock);
    *out = r;
    return 0;
}

void vs_mem_free(struct vs_mem_region *r)
{
    if (!r->va)
        return;
    pthread_mutex_lock(&regions_lock);
    for (int i = 0; i < MAX_REGIONS; i++)
        if (regions[i].va == r->va)
            memset(&regions[i], 0, sizeof(regions[i]));
    pthread_mutex_unlock(&regions_lock);
    if (r->huge && r->fd < 0) {
        free_huge_pages(r->va);
    } else {
        munmap(r->va, r->len);
        if (r->fd >= 0)
            close(r->fd);
    }
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

int vs_mem_foreach(vs_mem_region_cb cb, void *arg)
{
    struct vs_mem_region copy[MAX_REGIONS];
    int n = 0, rc = 0;

    pthread_mutex_lock(&regions_lock);
    for (int i = 0; i < MAX_REGIONS; i++)
        if (regions[i].va)
            copy[n++] = regions[i];
    pthread_mutex_unlock(&regions_lock);
    for (int i = 0; i < n && rc == 0; i++)
        rc = cb(&copy[i], arg);
    return rc;
}
