/* vs_attack_sparse SOCK PID: a front-end that fills the address space of the
 * switch (process PID) with sparse memory files. It negotiates normally, then
 * sends ADD_MEM_REG regions, each as large as the largest free range left in the
 * switch's address space (read from /proc/PID/maps), backed by a sparse memfd that
 * costs nothing until touched, until no range of 64 MiB is left or a region is
 * refused. Then another guest's memory table has nowhere to go. Holds until SIGTERM. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test/hostile/hostile.h"

#define MiB (1ull << 20)
#define USER_TOP 0x7ffffffff000ull /* end of the x86-64 user address space (4 levels) */

/* The largest gap between the mappings of pid, from 1 MiB up to USER_TOP. */
static uint64_t largest_gap(const char *pid)
{
    char path[64], line[512];
    uint64_t prev = MiB, best = 0, lo, hi;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/maps", pid);
    if (!(f = fopen(path, "r")))
        hx_die("%s: %m", path);
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%" SCNx64 "-%" SCNx64, &lo, &hi) != 2 || lo >= USER_TOP)
            continue;
        if (lo > prev && lo - prev > best)
            best = lo - prev;
        if (hi > prev)
            prev = hi;
    }
    fclose(f);
    if (USER_TOP > prev && USER_TOP - prev > best)
        best = USER_TOP - prev;
    return best;
}

int main(int argc, char **argv)
{
    struct fe fe;
    struct fe_opts o = hx_default_opts();
    uint64_t total = 0;
    unsigned n = 0;
    int rc;

    hx_set_prog(argv[0]);
    if (argc != 3)
        hx_die("usage: vs_attack_sparse SOCK PID");
    o.add_mem_reg = true;
    if ((rc = hx_connect(&fe, argv[1], 5000)) < 0)
        hx_die("cannot connect to %s: %s", argv[1], strerror(-rc));
    if ((rc = fe_negotiate(&fe, &o)) != 0)
        hx_die("negotiation failed at step %d", rc);
    for (unsigned i = 0; i < 31; i++) {
        /* Leave 2 MiB of slack: a range next to a stack keeps a guard gap. */
        uint64_t gap = largest_gap(argv[2]);
        if (gap < 64 * MiB)
            break;
        uint64_t size = (gap - 2 * MiB) & ~(2 * MiB - 1);
        int fd = memfd_create("sparse", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
            hx_die("sparse memfd of %" PRIu64 " bytes: %m", size);
        struct vs_vhu_mem_reg m = {
            .r = {.gpa = (1ull << 50) + ((uint64_t)i << 47), .size = size,
                  .uva = (1ull << 50) + ((uint64_t)i << 47), .mmap_offset = 0}};
        int64_t ack = fe_ack(&fe, VS_VHU_ADD_MEM_REG, &m, sizeof(m), &fd, 1);
        close(fd);
        if (ack != 0) {
            hx_say("region %u of %" PRIu64 " GiB refused", i, size >> 30);
            break;
        }
        n++;
        total += size;
    }
    hx_say("%u sparse regions mapped, %" PRIu64 " GiB; largest free range left %" PRIu64 " MiB",
           n, total >> 30, largest_gap(argv[2]) >> 20);
    hx_ready_and_hold(n ? "address space taken" : "refused");
}
