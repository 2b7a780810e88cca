/* Shared pieces of the hostile front-end programs: see hostile.h. */
#include "test/hostile/hostile.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *prog = "hostile";

void hx_set_prog(const char *argv0)
{
    const char *s = strrchr(argv0, '/');

    prog = s ? s + 1 : argv0;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

void hx_die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void hx_say(const char *fmt, ...)
{
    va_list ap;

    printf("%s: ", prog);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

uint64_t hx_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int hx_connect(struct fe *fe, const char *path, int timeout_ms)
{
    uint64_t deadline = hx_now_ms() + (uint64_t)timeout_ms;
    int rc;

    while ((rc = fe_connect(fe, path)) < 0 && hx_now_ms() < deadline)
        usleep(20000);
    return rc;
}

struct fe_opts hx_default_opts(void) { return (struct fe_opts){.nqp = 1, .ring_size = 256}; }

unsigned hx_post_rx(struct fe *fe)
{
    struct vs_vdrv *d = &fe->ring[0];
    unsigned n = 0;

    while (vs_vdrv_free_count(d) > 0 && vs_vdrv_post_rx(d, 2048, 1, false) >= 0)
        n++;
    vs_vdrv_want_interrupts(d, true);
    hx_kick(fe, 0);
    return n;
}

void hx_kick(struct fe *fe, unsigned i)
{
    uint64_t one = 1;

    if (fe->kick[i] >= 0 && vs_vdrv_kick_needed(&fe->ring[i]) &&
        write(fe->kick[i], &one, sizeof(one)) < 0) {
        /* Our own non-blocking eventfd: EAGAIN means a kick is pending anyway. */
    }
}

void hx_ready_and_hold(const char *what)
{
    printf("READY %s\n", what);
    fflush(stdout);
    for (;;)
        pause(); /* SIGTERM's default action ends us; the kernel closes everything */
}
