/* Peer-owned mappings: a file shrunk under a registered mapping costs a fault that
 * is caught (reads give zeros, writes go nowhere, on any thread), reported once to
 * the owner on the main loop; a SIGBUS anywhere else still kills the process. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vswitch/loop.h"
#include "vswitch/peer_mem.h"

#define LEN (4 * 4096)

static int calls;
static void on_fault(void *arg) { calls += *(int *)arg; }

static uint8_t *map_file(int *fd)
{
    *fd = memfd_create("peer", MFD_CLOEXEC);
    CU_ASSERT_FATAL(*fd >= 0 && ftruncate(*fd, LEN) == 0);
    uint8_t *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    CU_ASSERT_FATAL(p != MAP_FAILED);
    memset(p, 0xab, LEN);
    return p;
}

static void *touch(void *arg)
{
    volatile uint8_t *p = arg;
    p[LEN - 1] = 1; /* past the end of the shrunk file */
    return (void *)(uintptr_t)p[2 * 4096];
}

static void test_caught(void)
{
    int fd, one = 1;
    uint8_t *p = map_file(&fd);
    int id = vs_peer_mem_register(p, LEN, on_fault, &one);
    uint64_t before = vs_peer_mem_faults();
    pthread_t t;
    void *got;

    CU_ASSERT_FATAL(id > 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(fd, 4096), 0);
    /* On another thread, as on a poller. */
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, touch, p), 0);
    pthread_join(t, &got);
    CU_ASSERT_EQUAL((uintptr_t)got, 0);
    CU_ASSERT_EQUAL(vs_peer_mem_faults(), before + 1);
    CU_ASSERT_EQUAL(p[0], 0); /* the whole mapping was replaced */
    CU_ASSERT_EQUAL(calls, 0);
    vs_peer_mem_dispatch();
    CU_ASSERT_EQUAL(calls, 1);
    vs_peer_mem_dispatch();
    CU_ASSERT_EQUAL(calls, 1); /* once */
    vs_peer_mem_unregister(id);
    munmap(p, LEN);
    close(fd);
}

/* In a child: touches a shrunk mapping, registered or not, or raises SIGBUS. */
static int child_status(int how)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core); /* the death is expected: no core file */
        int fd;
        uint8_t *p = map_file(&fd);
        if (how == 0)
            vs_peer_mem_register(p + LEN / 2, LEN / 2, NULL, NULL); /* not the page touched */
        if (ftruncate(fd, 0) != 0)
            _exit(3);
        if (how == 2)
            raise(SIGBUS);
        else
            ((volatile uint8_t *)p)[0] = 1;
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void test_not_ours(void)
{
    for (int how = 0; how < 3; how++) {
        int st = child_status(how);
        CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
    }
}

int main(void)
{
    if (vs_loop_init() < 0 || vs_peer_mem_init() < 0)
        return 1;
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("peer_mem", NULL, NULL);
    CU_add_test(s, "fault in a registered mapping is caught", test_caught);
    CU_add_test(s, "other SIGBUS still kills", test_not_ours);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    vs_peer_mem_fini();
    vs_loop_fini();
    return fails ? 1 : 0;
}
