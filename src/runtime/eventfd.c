/* Eventfd reads, our own wake-ups, and signalling a peer's eventfd through an
 * io_uring's registered completion eventfd: see vswitch/eventfd.h. The io_uring is
 * driven by raw system calls: it only ever submits one prepared no-op. */
#include "vswitch/eventfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/io_uring.h>

#include "vswitch/compiler.h"
#include "vswitch/log.h"

static int what_is(int fd, char *what, size_t len)
{
    char path[32];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, what, len - 1);
    if (n < 0)
        return -errno;
    what[n] = '\0';
    return 0;
}

int vs_eventfd_check(int fd, char *why, size_t why_len)
{
    char what[64];
    int rc;

    if (fd < 0)
        return -EBADF;
    if ((rc = what_is(fd, what, sizeof(what))) < 0) {
        snprintf(why, why_len, "cannot tell what fd %d is: %s", fd, strerror(-rc));
        return rc;
    }
    if (strcmp(what, "anon_inode:[eventfd]") != 0) {
        snprintf(why, why_len, "not an eventfd but %s", what);
        return -EINVAL;
    }
    return 0;
}

int vs_eventfd_check_readable(int fd, char *why, size_t why_len)
{
    uint64_t v;
    struct iovec iov = {.iov_base = &v, .iov_len = sizeof(v)};
    int rc = vs_eventfd_check(fd, why, why_len);

    if (rc < 0)
        return rc;
    if (preadv2(fd, &iov, 1, -1, RWF_NOWAIT) < 0 && errno != EAGAIN) {
        rc = -errno;
        snprintf(why, why_len, "this kernel cannot read an eventfd without waiting (%s)",
                 strerror(errno));
        return rc;
    }
    return 0;
}

uint64_t vs_eventfd_drain(int fd)
{
    uint64_t v = 0;
    struct iovec iov = {.iov_base = &v, .iov_len = sizeof(v)};

    if (fd < 0 || preadv2(fd, &iov, 1, -1, RWF_NOWAIT) != (ssize_t)sizeof(v))
        return 0;
    return v;
}

void vs_eventfd_wake(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0) {
        /* EAGAIN: the counter is full, a wake-up is pending anyway. */
    }
}

/* ---- signalling a peer's eventfd ------------------------------------------------ */

void vs_eventfd_signal_init(struct vs_eventfd_signal *s)
{
    memset(s, 0, sizeof(*s));
    s->fd = s->ring = -1;
}

static void ring_close(struct vs_eventfd_signal *s)
{
    if (s->rings)
        munmap(s->rings, s->rings_len);
    if (s->sqes)
        munmap(s->sqes, s->sqes_len);
    if (s->ring >= 0)
        close(s->ring); /* also unregisters the eventfd */
    s->rings = s->sqes = NULL;
    s->ring = -1;
}

/* One-entry io_uring whose completions signal s->fd, with its only SQE prepared
 * as a no-op once and for all. 0 or -errno. */
static int ring_open(struct vs_eventfd_signal *s)
{
    struct io_uring_params p;
    struct io_uring_sqe *sqe;
    uint32_t *array;
    int rc;

    memset(&p, 0, sizeof(p));
    s->ring = (int)syscall(__NR_io_uring_setup, 1, &p);
    if (s->ring < 0) {
        s->ring = -1;
        return -errno;
    }
    if (!(p.features & IORING_FEAT_SINGLE_MMAP)) {
        ring_close(s);
        return -EOPNOTSUPP;
    }
    s->rings_len = VS_MAX(p.sq_off.array + p.sq_entries * sizeof(uint32_t),
                          p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe));
    s->rings = mmap(NULL, s->rings_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->ring,
                    IORING_OFF_SQ_RING);
    s->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
    s->sqes = mmap(NULL, s->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->ring,
                   IORING_OFF_SQES);
    if (s->rings == MAP_FAILED || s->sqes == MAP_FAILED) {
        rc = -errno;
        if (s->rings == MAP_FAILED)
            s->rings = NULL;
        if (s->sqes == MAP_FAILED)
            s->sqes = NULL;
        ring_close(s);
        return rc;
    }
    if (syscall(__NR_io_uring_register, s->ring, IORING_REGISTER_EVENTFD, &s->fd, 1) < 0) {
        rc = -errno;
        ring_close(s);
        return rc;
    }
    /* Every submission is this no-op in slot 0 (a one-entry ring). */
    sqe = s->sqes;
    memset(sqe, 0, sizeof(*sqe));
    sqe->opcode = IORING_OP_NOP;
    array = (uint32_t *)((char *)s->rings + p.sq_off.array);
    for (unsigned i = 0; i < p.sq_entries; i++)
        array[i] = 0;
    s->sq_tail = (uint32_t *)((char *)s->rings + p.sq_off.tail);
    s->cq_head = (uint32_t *)((char *)s->rings + p.cq_off.head);
    s->cq_tail = (uint32_t *)((char *)s->rings + p.cq_off.tail);
    return 0;
}

int vs_eventfd_signal_open(struct vs_eventfd_signal *s, int fd, char *why, size_t why_len)
{
    static bool fallback_logged;
    int rc;

    vs_eventfd_signal_init(s);
    if ((rc = vs_eventfd_check(fd, why, why_len)) < 0) {
        close(fd);
        return rc;
    }
    s->fd = fd;
    if ((rc = ring_open(s)) == 0)
        return 0;
    /* The best we can do without io_uring; it holds until the peer clears the flag. */
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    vs_log_once(&fallback_logged, VS_LOG_WARN,
                "io_uring unavailable (%s): guest interrupts are written to the peer's "
                "eventfd, which a peer that clears O_NONBLOCK on it can make wait",
                strerror(-rc));
    return 0;
}

int vs_eventfd_signal(struct vs_eventfd_signal *s)
{
    if (s->fd < 0)
        return -EBADF;
    if (s->ring < 0) {
        uint64_t one = 1;

        return write(s->fd, &one, sizeof(one)) == (ssize_t)sizeof(one) ? 0 : -errno;
    }
    uint32_t tail = *s->sq_tail; /* only we write it */
    int rc = 0;

    /* The kernel reads the prepared SQE after it sees the new tail (release). */
    __atomic_store_n(s->sq_tail, tail + 1, __ATOMIC_RELEASE);
    long n = syscall(__NR_io_uring_enter, s->ring, 1, 0, 0, NULL, 0);
    if (n != 1) {
        /* Not taken: the kernel only looks at the tail inside io_uring_enter. */
        rc = n < 0 ? -errno : -EAGAIN;
        __atomic_store_n(s->sq_tail, tail, __ATOMIC_RELEASE);
    }
    /* The no-op completes inline and its completion signals the eventfd. Nobody
     * reads completions: the head follows the tail so the queue never overflows. */
    __atomic_store_n(s->cq_head, __atomic_load_n(s->cq_tail, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    return rc;
}

void vs_eventfd_signal_close(struct vs_eventfd_signal *s)
{
    ring_close(s);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}
