/* Eventfds a peer holds: only eventfds are accepted, and reading or signalling
 * one never waits, whatever the peer did to the flags or the counter. A wait
 * would hang the test: an alarm turns that into a failure. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vswitch/eventfd.h"

#define FULL 0xfffffffffffffffeull /* the largest count an eventfd holds */

static void on_alarm(int sig)
{
    static const char msg[] = "test_eventfd: an eventfd operation waited\n";

    (void)sig;
    if (write(2, msg, sizeof(msg) - 1) < 0) {
        /* exiting anyway */
    }
    _exit(1);
}

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static void test_kinds(void)
{
    int p[2], s[2], e = eventfd(0, 0);
    char why[120] = "";
    struct vs_eventfd_signal sig;

    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    CU_ASSERT_EQUAL(vs_eventfd_check(e, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_eventfd_check_readable(e, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_eventfd_check(p[0], why, sizeof(why)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "not an eventfd but pipe:["));
    CU_ASSERT_EQUAL(vs_eventfd_check_readable(s[0], why, sizeof(why)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "not an eventfd but socket:["));
    CU_ASSERT_EQUAL(vs_eventfd_check(-1, why, sizeof(why)), -EBADF);
    /* A refused fd is closed by signal_open, which owns it. */
    CU_ASSERT_EQUAL(vs_eventfd_signal_open(&sig, p[1], why, sizeof(why)), -EINVAL);
    CU_ASSERT(!fd_open(p[1]));
    CU_ASSERT_EQUAL(sig.fd, -1);
    CU_ASSERT_EQUAL(vs_eventfd_signal(&sig), -EBADF);
    vs_eventfd_signal_close(&sig); /* harmless on an unused one */
    close(p[0]);
    close(s[0]);
    close(s[1]);
    close(e);
}

/* The peer's copy is blocking and the counter one short of overflow: a write(2)
 * of 1 would wait forever. The signal saturates the counter instead. */
static void test_signal_full_blocking(void)
{
    int e = eventfd(0, 0);
    uint64_t v = FULL;
    char why[120];
    struct vs_eventfd_signal sig;

    CU_ASSERT_EQUAL_FATAL(write(e, &v, sizeof(v)), (ssize_t)sizeof(v));
    CU_ASSERT_EQUAL_FATAL(vs_eventfd_signal_open(&sig, dup(e), why, sizeof(why)), 0);
    CU_ASSERT(sig.ring >= 0); /* io_uring is available on the machines we test on */
    /* Whatever signal_open set, the peer clears it (shared open file description). */
    CU_ASSERT_EQUAL(fcntl(e, F_SETFL, 0), 0);
    alarm(5);
    for (int i = 0; i < 1000; i++)
        CU_ASSERT_EQUAL(vs_eventfd_signal(&sig), 0);
    alarm(0);
    CU_ASSERT_EQUAL(read(e, &v, sizeof(v)), (ssize_t)sizeof(v));
    CU_ASSERT(v >= FULL);
    /* And an empty counter counts each signal. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(vs_eventfd_signal(&sig), 0);
    CU_ASSERT_EQUAL(read(e, &v, sizeof(v)), (ssize_t)sizeof(v));
    CU_ASSERT_EQUAL(v, 3);
    vs_eventfd_signal_close(&sig);
    CU_ASSERT_EQUAL(sig.fd, -1);
    CU_ASSERT_EQUAL(sig.ring, -1);
    close(e);
}

/* A blocking, empty eventfd: a read(2) would wait for the peer. */
static void test_drain_blocking(void)
{
    int e = eventfd(0, 0);
    uint64_t v = 5;
    char why[120];

    alarm(5);
    CU_ASSERT_EQUAL(vs_eventfd_drain(e), 0);
    CU_ASSERT_EQUAL(vs_eventfd_check_readable(e, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(write(e, &v, sizeof(v)), (ssize_t)sizeof(v));
    CU_ASSERT_EQUAL(vs_eventfd_drain(e), 5);
    CU_ASSERT_EQUAL(vs_eventfd_drain(e), 0);
    CU_ASSERT_EQUAL(vs_eventfd_drain(-1), 0);
    alarm(0);
    close(e);
}

static void test_wake(void)
{
    int e = eventfd(0, EFD_NONBLOCK);
    uint64_t v = FULL;

    vs_eventfd_wake(e);
    vs_eventfd_wake(e);
    CU_ASSERT_EQUAL(vs_eventfd_drain(e), 2);
    CU_ASSERT_EQUAL(write(e, &v, sizeof(v)), (ssize_t)sizeof(v));
    vs_eventfd_wake(e); /* full: a wake-up is pending anyway */
    CU_ASSERT_EQUAL(vs_eventfd_drain(e), FULL);
    close(e);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    signal(SIGALRM, on_alarm);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("eventfd", NULL, NULL);
    CU_add_test(s, "only eventfds", test_kinds);
    CU_add_test(s, "signal a full blocking eventfd", test_signal_full_blocking);
    CU_add_test(s, "drain a blocking eventfd", test_drain_blocking);
    CU_add_test(s, "our own wake-ups", test_wake);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
