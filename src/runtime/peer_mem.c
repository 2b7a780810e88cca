/* The registry of peer-owned mappings and the SIGBUS handler (see peer_mem.h).
 *
 * Slots are written by the main thread only; the handler, which may run on any
 * thread, reads them. A slot is filled first and published by a release store of
 * its state, so the handler (acquire load) never sees a half-written range. A slot
 * is unregistered before its memory is unmapped, and nothing touches memory that
 * is being unmapped (the owner stops its users first), so the handler cannot be
 * looking at a slot that is being reused. */
#include "vswitch/peer_mem.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vswitch/loop.h"

/* Every vhost-user port's 32 regions and log, for 256 ports. */
#define SLOTS 8448

enum { FREE, LIVE, FAULTED, REPORTED };

struct slot {
    uintptr_t start;
    size_t len;
    int state;
    vs_peer_mem_fault_cb cb;
    void *arg;
};

static struct slot slots[SLOTS];
static int high;      /* slots in use are below this index */
static int wake_fd = -1;
static uint64_t faults;
static bool installed;
static struct sigaction old_action;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno, n = __atomic_load_n(&high, __ATOMIC_ACQUIRE);
    uintptr_t a = (uintptr_t)si->si_addr;

    (void)uctx;
    /* si_code > 0: raised by the kernel for an access; kill() and raise() are not. */
    for (int i = 0; si->si_code > 0 && i < n; i++) {
        struct slot *s = &slots[i];
        int st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

        if (st == FREE || a - s->start >= s->len)
            continue;
        /* mmap is a plain system call: safe here whatever the interrupted code held. */
        if (mmap((void *)s->start, s->len, PROT_READ | PROT_WRITE,
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
            break;
        if (__atomic_compare_exchange_n(&s->state, &st, FAULTED, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED) &&
            st == LIVE) {
            uint64_t one = 1;
            __atomic_fetch_add(&faults, 1, __ATOMIC_RELAXED);
            if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0) {
                /* The counter is already non-zero: the loop wakes anyway. */
            }
        }
        errno = saved;
        return;
    }
    /* Not ours: the default action, as if no handler had been installed. */
    signal(sig, SIG_DFL);
    if (si->si_code <= 0)
        raise(sig);
    errno = saved;
}

static void on_wake(int fd, uint32_t events, void *arg)
{
    uint64_t v;

    (void)events;
    (void)arg;
    if (read(fd, &v, sizeof(v)) < 0) {
        /* EAGAIN: already drained. */
    }
    vs_peer_mem_dispatch();
}

int vs_peer_mem_init(void)
{
    struct sigaction sa = {.sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO};
    int rc;

    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0)
        return -errno;
    if ((rc = vs_loop_add_fd(wake_fd, EPOLLIN, on_wake, NULL)) < 0) {
        close(wake_fd);
        wake_fd = -1;
        return rc;
    }
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &old_action) < 0) {
        rc = -errno;
        vs_peer_mem_fini();
        return rc;
    }
    installed = true;
    return 0;
}

void vs_peer_mem_fini(void)
{
    if (installed)
        sigaction(SIGBUS, &old_action, NULL);
    installed = false;
    if (wake_fd >= 0) {
        vs_loop_del_fd(wake_fd);
        close(wake_fd);
    }
    wake_fd = -1;
}

int vs_peer_mem_register(void *addr, size_t len, vs_peer_mem_fault_cb cb, void *arg)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *s = &slots[i];

        if (__atomic_load_n(&s->state, __ATOMIC_RELAXED) != FREE)
            continue;
        s->start = (uintptr_t)addr;
        s->len = len;
        s->cb = cb;
        s->arg = arg;
        if (i >= high)
            __atomic_store_n(&high, i + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&s->state, LIVE, __ATOMIC_RELEASE);
        return i + 1;
    }
    return -ENOSPC;
}

void vs_peer_mem_unregister(int id)
{
    if (id > 0 && id <= SLOTS)
        __atomic_store_n(&slots[id - 1].state, FREE, __ATOMIC_RELEASE);
}

void vs_peer_mem_dispatch(void)
{
    int n = __atomic_load_n(&high, __ATOMIC_ACQUIRE);

    for (int i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        int st = FAULTED;

        /* The callback may unregister this slot and others: look at each afresh. */
        if (__atomic_compare_exchange_n(&s->state, &st, REPORTED, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED) &&
            s->cb)
            s->cb(s->arg);
    }
}

uint64_t vs_peer_mem_faults(void) { return __atomic_load_n(&faults, __ATOMIC_RELAXED); }
