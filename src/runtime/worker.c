/* Blocking calls on a short-lived thread; see vswitch/worker.h. */
#include "vswitch/worker.h"

#include <errno.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vswitch/eventfd.h"

void vs_worker_init(struct vs_worker *w)
{
    w->done_fd = -1;
    w->running = false;
    w->rc = 0;
    w->why[0] = '\0';
}

static void *worker_main(void *arg)
{
    struct vs_worker *w = arg;

    w->rc = w->fn(w->arg, w->why, sizeof(w->why));
    vs_eventfd_wake(w->done_fd);
    return NULL;
}

int vs_worker_start(struct vs_worker *w, int (*fn)(void *, char *, unsigned), void *arg)
{
    sigset_t all, old;
    int rc;

    if (w->running)
        return -EBUSY;
    w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->done_fd < 0)
        return -errno;
    w->fn = fn;
    w->arg = arg;
    w->rc = 0;
    w->why[0] = '\0';
    /* Signals stay with the main thread, which handles them in its loop. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = -pthread_create(&w->thread, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        close(w->done_fd);
        w->done_fd = -1;
        return rc;
    }
    w->running = true;
    return 0;
}

int vs_worker_join(struct vs_worker *w)
{
    if (!w->running)
        return w->rc;
    pthread_join(w->thread, NULL);
    close(w->done_fd);
    w->done_fd = -1;
    w->running = false;
    return w->rc;
}
