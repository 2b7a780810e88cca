/* A blocking call made on a short-lived thread while the main thread carries on:
 * for kernel requests that wait on us (adding a vDPA device probes its driver,
 * which waits for the device's replies that the main thread serves). The thread
 * writes an eventfd when the call returns; the main loop (or a caller that polls)
 * then collects the result. */
#ifndef VSWITCH_WORKER_H
#define VSWITCH_WORKER_H

#include <pthread.h>
#include <stdbool.h>

struct vs_worker {
    int done_fd; /* readable once the call returned; -1 when idle */
    pthread_t thread;
    bool running; /* started and not yet joined */
    int (*fn)(void *arg, char *why, unsigned why_len);
    void *arg;
    int rc;        /* fn's result, valid after vs_worker_join */
    char why[256]; /* fn's explanation of a failure */
};

void vs_worker_init(struct vs_worker *w);
/* Starts fn(arg, why, len) on a new thread. 0 or -errno. Main thread. */
int vs_worker_start(struct vs_worker *w, int (*fn)(void *, char *, unsigned), void *arg);
/* Waits for the thread (at once when done_fd was readable) and returns fn's result;
 * back to idle. */
int vs_worker_join(struct vs_worker *w);

#endif
