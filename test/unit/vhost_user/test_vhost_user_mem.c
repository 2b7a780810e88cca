/* vhost-user memory and log mappings against hostile tables, through the message
 * handler: the port's address-space cap, page alignment, regions and logs at large
 * file offsets (only their own pages are mapped), guest memory left out of core
 * dumps, and files truncated after the handover. Files are sparse memfds: terabytes cost nothing until touched. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ports/vhost_user/dev.h"
#include "ports/vhost_user/port_args.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/peer_mem.h"

#define MiB (1ull << 20)
#define TiB (1ull << 40)

static struct vs_vhu_dev dev;

static int sparse_memfd(uint64_t size)
{
    int fd = memfd_create("guest", MFD_CLOEXEC);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(ftruncate(fd, (off_t)size) == 0);
    return fd;
}

static int send_msg(uint32_t req, const void *payload, uint32_t size, int *fds, unsigned nfds,
                    struct vs_vhu_msg *reply)
{
    struct vs_vhu_hdr hdr = {.request = req, .flags = VS_VHU_VERSION, .size = size};
    struct vs_vhu_msg r;

    return vs_vhost_user_handle_msg(&dev, &hdr, payload, fds, nfds, reply ? reply : &r);
}

static struct vs_vhu_mem_region region(uint64_t gpa, uint64_t size, uint64_t offset)
{
    return (struct vs_vhu_mem_region){
        .gpa = gpa, .size = size, .uva = 0x7f0000000000ull + gpa, .mmap_offset = offset};
}

/* SET_MEM_TABLE of one region backed by a fresh sparse file of file_size bytes. */
static int set_table(struct vs_vhu_mem_region r, uint64_t file_size)
{
    struct vs_vhu_mem_table t = {.nregions = 1, .r = {r}};
    int fd = sparse_memfd(file_size);
    int rc = send_msg(VS_VHU_SET_MEM_TABLE, &t, 8 + sizeof(r), &fd, 1, NULL);

    if (fd >= 0)
        close(fd);
    return rc;
}

static int add_reg(struct vs_vhu_mem_region r, uint64_t file_size)
{
    struct vs_vhu_mem_reg m = {.r = r};
    int fd = sparse_memfd(file_size);
    int rc = send_msg(VS_VHU_ADD_MEM_REG, &m, sizeof(m), &fd, 1, NULL);

    if (fd >= 0)
        close(fd);
    return rc;
}

static int64_t set_log(uint64_t offset, uint64_t size)
{
    struct vs_vhu_log l = {.mmap_size = size, .mmap_offset = offset};
    struct vs_vhu_msg reply = {0};
    int fd = sparse_memfd(offset + size);
    int rc = send_msg(VS_VHU_SET_LOG_BASE, &l, sizeof(l), &fd, 1, &reply);

    if (fd >= 0)
        close(fd);
    return rc < 0 ? rc : (int64_t)reply.p.u64;
}

static void fresh_dev(uint64_t max_map)
{
    vs_vhu_dev_init(&dev, "t", 1);
    dev.max_map = max_map;
    dev.net.features = 1ull << VS_VHU_F_PROTOCOL_FEATURES;
    dev.features_set = true;
    dev.protocol_features = vs_vhu_protocol_features_offered();
}

static void test_cap_mem_table(void)
{
    fresh_dev(64 * MiB);
    CU_ASSERT(set_table(region(0, 128 * MiB, 0), 128 * MiB) < 0);
    CU_ASSERT_EQUAL(dev.net.mem.n, 0);
    CU_ASSERT_EQUAL(dev.msg_err[VS_VHU_ERR_MEMORY], 1);
    CU_ASSERT_EQUAL(set_table(region(0, 64 * MiB, 0), 64 * MiB), 0);
    CU_ASSERT_EQUAL(vs_vhu_mem_mapped(&dev.net.mem), 64 * MiB);
    /* A new table replaces the old one: it has the whole cap again. */
    CU_ASSERT_EQUAL(set_table(region(1ull << 32, 64 * MiB, 0), 64 * MiB), 0);
    CU_ASSERT_EQUAL(dev.net.mem.r[0].gpa, 1ull << 32);
    vs_vhu_dev_reset(&dev);
}

static void test_cap_add_mem_reg(void)
{
    fresh_dev(64 * MiB);
    CU_ASSERT_EQUAL(add_reg(region(0, 32 * MiB, 0), 32 * MiB), 0);
    CU_ASSERT_EQUAL(add_reg(region(32 * MiB, 32 * MiB, 0), 32 * MiB), 0);
    CU_ASSERT(add_reg(region(64 * MiB, 4096, 0), 4096) < 0);
    CU_ASSERT_EQUAL(dev.net.mem.n, 2);
    /* Repeated regions of a huge sparse file: every one counts. */
    fresh_dev(VS_VHU_MAX_MEMORY_DEFAULT);
    unsigned ok = 0;
    for (unsigned i = 0; i < VS_GUEST_MEM_MAX_REGIONS; i++)
        ok += add_reg(region((uint64_t)i * 4 * TiB, 4 * TiB, 0), 4 * TiB) == 0;
    CU_ASSERT_EQUAL(ok, 0);
    CU_ASSERT_EQUAL(vs_vhu_mem_mapped(&dev.net.mem), 0);
    vs_vhu_dev_reset(&dev);
}

/* A small region far into a file maps its own pages, not the file up to it. */
static void test_region_at_large_offset(void)
{
    fresh_dev(VS_VHU_MAX_MEMORY_DEFAULT);
    struct vs_vhu_mem_table t = {.nregions = 1, .r = {region(0, 2 * MiB, 2 * TiB)}};
    int fd = sparse_memfd(2 * TiB + 2 * MiB);
    CU_ASSERT_FATAL(pwrite(fd, "guest", 5, (off_t)(2 * TiB + 4096)) == 5);
    CU_ASSERT_EQUAL(send_msg(VS_VHU_SET_MEM_TABLE, &t, 8 + sizeof(t.r[0]), &fd, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(dev.net.mem.n, 1);
    CU_ASSERT_EQUAL(dev.net.mem.r[0].mmap_size, 2 * MiB);
    uint64_t len = 5;
    const void *p = vs_guest_mem_gpa(&dev.net.mem, 4096, &len);
    CU_ASSERT(p && memcmp(p, "guest", 5) == 0);
    if (fd >= 0)
        close(fd);
    vs_vhu_dev_reset(&dev);
}

static void test_alignment(void)
{
    fresh_dev(VS_VHU_MAX_MEMORY_DEFAULT);
    CU_ASSERT(set_table(region(0x800, 2 * MiB, 0), 4 * MiB) < 0);
    CU_ASSERT(set_table(region(0, 2 * MiB + 1, 0), 4 * MiB) < 0);
    CU_ASSERT(set_table(region(0, 2 * MiB, 512), 4 * MiB) < 0);
    CU_ASSERT(add_reg(region(0, 2 * MiB, 100), 4 * MiB) < 0);
    CU_ASSERT_EQUAL(dev.net.mem.n, 0);
    CU_ASSERT_EQUAL(set_table(region(0, 2 * MiB, 4096), 4 * MiB), 0);
    vs_vhu_dev_reset(&dev);
}

/* The log: mapped from its offset only, and counted in the cap with the table. */
static void test_log_bounds(void)
{
    fresh_dev(64 * MiB);
    CU_ASSERT_EQUAL(set_table(region(0, 60 * MiB, 0), 60 * MiB), 0);
    CU_ASSERT_EQUAL(set_log(1 * TiB, 4096), 0);
    CU_ASSERT_EQUAL(dev.log_map_size, 4096);
    CU_ASSERT(set_log(0, 8 * MiB) != 0);
    CU_ASSERT_EQUAL(dev.log_map_size, 4096); /* the old log stays */
    /* Nor may a table grow into the room the log holds. */
    CU_ASSERT(add_reg(region(60 * MiB, 4 * MiB, 0), 4 * MiB) < 0);
    vs_vhu_dev_reset(&dev);
}

/* Does /proc/self/smaps mark the mapping at addr "dd" (not dumped)? */
static bool not_dumped(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false, dd = false;

    CU_ASSERT_FATAL(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            continue;
        }
        if (in && !strncmp(line, "VmFlags:", 8)) {
            dd = strstr(line, " dd") != NULL;
            break;
        }
    }
    fclose(f);
    return dd;
}

static void test_dontdump(void)
{
    fresh_dev(VS_VHU_MAX_MEMORY_DEFAULT);
    CU_ASSERT_EQUAL(set_table(region(0, 2 * MiB, 0), 2 * MiB), 0);
    CU_ASSERT_EQUAL(set_log(0, 4096), 0);
    CU_ASSERT_EQUAL_FATAL(dev.net.mem.n, 1);
    CU_ASSERT(not_dumped(dev.net.mem.r[0].hva));
    CU_ASSERT(not_dumped(dev.log.bitmap));
    vs_vhu_dev_reset(&dev);
}

static int faults_seen;
static void on_fault(void *arg) { faults_seen += arg == &dev; }

/* The front-end shrinks its memory file, then its log file, after handing them
 * over: the next access (a ring read, a dirty-log write) is caught, and the port
 * hears of it on the main loop, once per mapping. */
static void test_truncated_files(void)
{
    struct vs_vhu_mem_table t = {.nregions = 1, .r = {region(0, 2 * MiB, 0)}};
    struct vs_vhu_log l = {.mmap_size = 4096};
    struct vs_vhu_msg reply;
    int mfd = sparse_memfd(2 * MiB), lfd = sparse_memfd(4096);
    int mcopy = dup(mfd), lcopy = dup(lfd);

    fresh_dev(VS_VHU_MAX_MEMORY_DEFAULT);
    dev.on_fault = on_fault;
    dev.fault_arg = &dev;
    faults_seen = 0;
    CU_ASSERT_EQUAL_FATAL(send_msg(VS_VHU_SET_MEM_TABLE, &t, 8 + sizeof(t.r[0]), &mcopy, 1, NULL),
                          0);
    CU_ASSERT_FATAL(send_msg(VS_VHU_SET_LOG_BASE, &l, sizeof(l), &lcopy, 1, &reply) >= 0);
    CU_ASSERT_EQUAL_FATAL(reply.p.u64, 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(mfd, 0), 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(lfd, 0), 0);
    uint64_t len = 8;
    const volatile uint8_t *p = vs_guest_mem_gpa(&dev.net.mem, 4096, &len);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_EQUAL(p[0], 0);
    vs_dirty_log_mark(&dev.log, 0, 4096);
    CU_ASSERT_EQUAL(faults_seen, 0); /* not from the signal handler */
    vs_peer_mem_dispatch();
    CU_ASSERT_EQUAL(faults_seen, 2);
    vs_vhu_dev_reset(&dev);
    close(mfd);
    close(lfd);
}

int main(void)
{
    vs_log_set_level(VS_LOG_ERR);
    if (vs_loop_init() < 0 || vs_peer_mem_init() < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("vhost-user memory", NULL, NULL);
    CU_add_test(s, "address-space cap: SET_MEM_TABLE", test_cap_mem_table);
    CU_add_test(s, "address-space cap: ADD_MEM_REG", test_cap_add_mem_reg);
    CU_add_test(s, "region at a large file offset", test_region_at_large_offset);
    CU_add_test(s, "page alignment", test_alignment);
    CU_add_test(s, "log offset and size", test_log_bounds);
    CU_add_test(s, "guest memory not in core dumps", test_dontdump);
    CU_add_test(s, "memory and log files truncated", test_truncated_files);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
