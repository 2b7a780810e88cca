/* The main thread's epoll loop. Handlers are looked up by fd in a table; a handler
 * removed while events for it are still pending in the current epoll batch is
 * marked dead and freed only after the batch, so callbacks may remove any fd,
 * including their own. Timers are timerfds on the same epoll set. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "vswitch/loop.h"

struct handler {
    int fd;
    bool dead;
    bool is_timer;
    bool periodic;
    vs_loop_fd_cb fd_cb;
    vs_loop_timer_cb timer_cb;
    void *arg;
    struct handler *next_dead;
};

static int epfd = -1;
static struct handler **by_fd;
static int by_fd_len;
static struct handler *dead_list;
static volatile bool running;

uint64_t vs_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vs_loop_init(void)
{
    if (epfd >= 0)
        return 0;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    return epfd < 0 ? -errno : 0;
}

static void reap_dead(void)
{
    while (dead_list) {
        struct handler *h = dead_list;

        dead_list = h->next_dead;
        free(h);
    }
}

void vs_loop_fini(void)
{
    for (int fd = 0; fd < by_fd_len; fd++) {
        struct handler *h = by_fd[fd];

        if (!h)
            continue;
        if (h->is_timer)
            close(fd);
        free(h);
    }
    free(by_fd);
    by_fd = NULL;
    by_fd_len = 0;
    reap_dead();
    if (epfd >= 0)
        close(epfd);
    epfd = -1;
}

static int table_reserve(int fd)
{
    if (fd < by_fd_len)
        return 0;
    int len = by_fd_len ? by_fd_len : 64;
    while (len <= fd)
        len *= 2;
    struct handler **t = realloc(by_fd, sizeof(*t) * (size_t)len);
    if (!t)
        return -ENOMEM;
    memset(t + by_fd_len, 0, sizeof(*t) * (size_t)(len - by_fd_len));
    by_fd = t;
    by_fd_len = len;
    return 0;
}

static int add_handler(struct handler *h, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    int rc;

    if (h->fd < 0)
        return -EBADF;
    if ((rc = vs_loop_init()) < 0 || (rc = table_reserve(h->fd)) < 0)
        return rc;
    if (by_fd[h->fd])
        return -EEXIST;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, h->fd, &ev) < 0)
        return -errno;
    by_fd[h->fd] = h;
    return 0;
}

int vs_loop_add_fd(int fd, uint32_t events, vs_loop_fd_cb cb, void *arg)
{
    struct handler *h = calloc(1, sizeof(*h));
    int rc;

    if (!h)
        return -ENOMEM;
    h->fd = fd;
    h->fd_cb = cb;
    h->arg = arg;
    if ((rc = add_handler(h, events)) < 0)
        free(h);
    return rc;
}

int vs_loop_mod_fd(int fd, uint32_t events)
{
    if (fd < 0 || fd >= by_fd_len || !by_fd[fd])
        return -ENOENT;
    struct epoll_event ev = {.events = events, .data.ptr = by_fd[fd]};
    return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

static void remove_handler(int fd)
{
    struct handler *h;

    if (fd < 0 || fd >= by_fd_len || !(h = by_fd[fd]))
        return;
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    by_fd[fd] = NULL;
    h->dead = true;
    h->next_dead = dead_list;
    dead_list = h;
}

void vs_loop_del_fd(int fd) { remove_handler(fd); }

int vs_loop_add_timer(uint64_t first_ms, uint64_t period_ms, vs_loop_timer_cb cb, void *arg)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {0};
    struct handler *h;
    int rc;

    if (fd < 0)
        return -errno;
    if (first_ms == 0)
        first_ms = 1; /* a zero it_value would disarm the timer */
    its.it_value.tv_sec = (time_t)(first_ms / 1000);
    its.it_value.tv_nsec = (long)(first_ms % 1000) * 1000000L;
    its.it_interval.tv_sec = (time_t)(period_ms / 1000);
    its.it_interval.tv_nsec = (long)(period_ms % 1000) * 1000000L;
    if (timerfd_settime(fd, 0, &its, NULL) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        return -ENOMEM;
    }
    h->fd = fd;
    h->is_timer = true;
    h->periodic = period_ms != 0;
    h->timer_cb = cb;
    h->arg = arg;
    if ((rc = add_handler(h, EPOLLIN)) < 0) {
        free(h);
        close(fd);
        return rc;
    }
    return fd + 1; /* ids are > 0 */
}

void vs_loop_del_timer(int id)
{
    int fd = id - 1;

    if (fd < 0 || fd >= by_fd_len || !by_fd[fd] || !by_fd[fd]->is_timer)
        return;
    remove_handler(fd);
    close(fd);
}

static void dispatch(struct handler *h, uint32_t events)
{
    if (h->dead)
        return;
    if (!h->is_timer) {
        h->fd_cb(h->fd, events, h->arg);
        return;
    }
    uint64_t expirations;
    if (read(h->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
        return;
    vs_loop_timer_cb cb = h->timer_cb;
    void *arg = h->arg;
    if (!h->periodic)
        vs_loop_del_timer(h->fd + 1);
    cb(arg);
}

int vs_loop_run(void)
{
    struct epoll_event evs[64];
    int rc;

    if ((rc = vs_loop_init()) < 0)
        return rc;
    running = true;
    while (running) {
        int n = epoll_wait(epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), 1000);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            running = false;
            return -errno;
        }
        for (int i = 0; i < n; i++)
            dispatch(evs[i].data.ptr, evs[i].events);
        reap_dead();
    }
    return 0;
}

void vs_loop_stop(void) { running = false; }
bool vs_loop_running(void) { return running; }
