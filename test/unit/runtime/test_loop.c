/* The main event loop: fd callbacks, timers, removal from inside callbacks. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vswitch/loop.h"

static int pipefd[2];
static int reads, ticks, oneshots;

static void on_read(int fd, uint32_t events, void *arg)
{
    char c;

    if (read(fd, &c, 1) == 1)
        reads++;
    if (reads == 2)
        vs_loop_del_fd(fd); /* removing itself from its own callback */
}

static void on_tick(void *arg)
{
    ticks++;
    if (ticks <= 3 && write(pipefd[1], "x", 1) != 1)
        CU_FAIL("write");
    if (ticks == 5)
        vs_loop_stop();
}

static void on_oneshot(void *arg) { oneshots++; }

static void test_loop_basics(void)
{
    int t;

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(pipe(pipefd), 0);
    CU_ASSERT_EQUAL(vs_loop_add_fd(pipefd[0], EPOLLIN, on_read, NULL), 0);
    CU_ASSERT_EQUAL(vs_loop_add_fd(pipefd[0], EPOLLIN, on_read, NULL), -EEXIST);
    t = vs_loop_add_timer(10, 10, on_tick, NULL);
    CU_ASSERT(t > 0);
    CU_ASSERT(vs_loop_add_timer(1, 0, on_oneshot, NULL) > 0);
    CU_ASSERT_EQUAL(vs_loop_run(), 0);
    CU_ASSERT_EQUAL(ticks, 5);
    CU_ASSERT_EQUAL(reads, 2); /* the third byte came after the fd was removed */
    CU_ASSERT_EQUAL(oneshots, 1);
    CU_ASSERT_EQUAL(vs_loop_mod_fd(pipefd[0], EPOLLIN), -ENOENT);
    vs_loop_del_timer(t);
    vs_loop_fini();
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("loop", NULL, NULL);
    CU_add_test(s, "fds and timers", test_loop_basics);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
