/* The pinned poller loop: rx_burst each (port, queue) of this poller's list,
 * forward, flush, report a quiescent state. In adaptive mode a poller that has
 * seen nothing for a while goes RCU-offline and sleeps on its queues' wait fds,
 * and under light load it naps between iterations, so that whoever shares its
 * core (on a small host, the guests' vCPUs) gets the time it would spin. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/capture.h"
#include "dataplane/dp.h"
#include "vswitch/cpu.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/rcu.h"

#define IDLE_BEFORE_SLEEP_NS (200 * 1000)  /* spin this long with no traffic first */
#define NAPS_BEFORE_SLEEP 20               /* or, napping, this many longest naps */
#define SLEEP_TIMEOUT_MS 100               /* re-check the queue list at least this often */

#define MAX_WAIT_FDS 64
#define CLOCK_READS_PER_SEC 16
#ifndef EMPTY_POLL_PAUSES
#define EMPTY_POLL_PAUSES 8
#endif

/* Collects the fds that wake us: the control thread's and one per queue. Returns
 * 0 when some queue cannot wake us (then sleeping could strand its frames). The
 * fds are asked for at each sleep because a port may replace them (a guest
 * reconnecting sends new kick fds). */
static unsigned wait_fds(struct vs_poller *p, const struct vs_poll_list *l, struct pollfd *fds)
{
    unsigned n = 0;

    if (l->n + 1 > MAX_WAIT_FDS)
        return 0;
    fds[n++] = (struct pollfd){.fd = p->wake_fd, .events = POLLIN};
    for (unsigned i = 0; i < l->n; i++) {
        struct vs_port *port = &l->q[i].port->port;
        int fd = port->ops->rx_wait_fd ? port->ops->rx_wait_fd(port, l->q[i].queue) : -1;

        if (fd < 0)
            return 0;
        fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    return n;
}

static void set_notify(const struct vs_poll_list *l, bool on)
{
    for (unsigned i = 0; i < l->n; i++) {
        struct vs_port *port = &l->q[i].port->port;

        if (port->ops->rx_notify)
            port->ops->rx_notify(port, l->q[i].queue, on);
    }
}

static unsigned poll_once(struct vs_poller *p, const struct vs_poll_list *l, uint32_t now)
{
    struct vs_pkt *pkts[VS_BURST];
    unsigned total = 0;

    for (unsigned i = 0; i < l->n; i++) {
        struct vs_dp_port *dp = l->q[i].port;
        uint16_t n = dp->port.ops->rx_burst(&dp->port, l->q[i].queue, pkts, VS_BURST);

        if (n) {
            if (vs_unlikely(VS_READ_ONCE(dp->capture) & VS_CAP_RX))
                vs_capture_rx(p, dp, pkts, n);
            if (vs_unlikely(vs_rcu_deref(p->sw->mirrors) != NULL))
                vs_mirror_rx_hold(p, dp->port.id, pkts, n);
            vs_forward_burst(p, dp, pkts, n, now);
            if (vs_unlikely(p->mir_n))
                vs_mirror_rx_release(p);
            vs_forward_flush(p);
            /* Every frame of the burst is sent or dropped: lent buffers may go back. */
            if (dp->port.ops->rx_done)
                dp->port.ops->rx_done(&dp->port, l->q[i].queue);
            total += n;
        }
    }
    return total;
}

/* Under light load (NAP_AFTER iterations in a row with fewer than NAP_BELOW frames
 * each; at high rates a short iteration now and then is common) the poller naps,
 * each nap 1 us longer, up to max_nap_us; a busier iteration ends the naps. Fewer,
 * fuller bursts also mean fewer interrupts for the guests. The frames that come
 * meanwhile wait in the rings, which hold far more than a nap's worth at the rates
 * that let naps grow. Naps stay RCU-online: a grace period waits one nap at most.
 * Time napping counts as neither busy nor idle polling. */
#define NAP_BELOW (VS_BURST / 2)
#define NAP_AFTER 32

static void nap(struct vs_poller *p, unsigned us)
{
    struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)us * 1000 };

    p->naps++;
    nanosleep(&ts, NULL);
}

/* Sleeps until a queue has work, the control thread wakes us, or the timeout. */
static void sleep_on(struct vs_poller *p, struct pollfd *fds, unsigned n)
{
    p->sleeps++;
    __atomic_store_n(&p->sleep_seq, p->sleep_seq + 1, __ATOMIC_RELEASE);
    vs_rcu_offline(); /* grace periods must not wait for a sleeping poller */
    poll(fds, n, SLEEP_TIMEOUT_MS);
    /* poll() has dropped its fd references (the kernel does so before returning). */
    __atomic_store_n(&p->sleep_seq, p->sleep_seq + 1, __ATOMIC_RELEASE);
    vs_eventfd_drain(p->wake_fd);
    vs_rcu_online();
}

static void *poller_main(void *arg)
{
    struct vs_poller *p = arg;
    struct vs_switch *sw = p->sw;
    bool adaptive = sw->params.mode == VS_POLL_ADAPTIVE;
    uint64_t tsc_hz = vs_tsc_hz();
    uint64_t idle_limit = tsc_hz * IDLE_BEFORE_SLEEP_NS / 1000000000ull;
    /* The forwarding table counts in seconds: reading the clock a few times a second
     * is enough, and keeps a clock call out of every iteration. */
    uint64_t clock_period = tsc_hz / CLOCK_READS_PER_SEC, clock_due = 0;
    uint32_t now = 0;
    int max_nap = adaptive ? (int)sw->params.max_nap_us : 0, nap_us = -NAP_AFTER;
    /* A sleep costs a wake-up and the drivers' kicks meanwhile: under light load
     * naps are cheaper for both, so a napping poller sleeps only after longer. */
    idle_limit = VS_MAX(idle_limit, tsc_hz / 1000000 * max_nap * NAPS_BEFORE_SLEEP);
    int rc;

    char name[16];
    /* ps -L, top -H and perf tell the pollers apart by name. */
    snprintf(name, sizeof(name), "vs-poller%u", p->id);
    prctl(PR_SET_NAME, name);
    if ((rc = vs_cpu_pin_self(p->cpu)) < 0)
        vs_warn("poller %u: cannot pin to cpu %d: %s", p->id, p->cpu, strerror(-rc));
    /* Naps of a few microseconds would otherwise last the default 50 us slack. */
    if (max_nap && prctl(PR_SET_TIMERSLACK, 1000UL) < 0)
        vs_warn("poller %u: cannot set its timer slack: %s", p->id, strerror(errno));
    vs_rcu_register_thread();
    /* One TSC read per iteration: its end is the next one's start. */
    uint64_t t0 = vs_rdtsc(), idle_since = t0;
    while (!VS_READ_ONCE(p->stop)) {
        const struct vs_poll_list *l = vs_rcu_deref(p->list);
        if (t0 >= clock_due) {
            now = vs_fdb_now();
            clock_due = t0 + clock_period;
        }
        unsigned n = poll_once(p, l, now);
        uint64_t t1 = vs_rdtsc();

        p->iterations++;
        if (n) {
            p->busy_cycles += t1 - t0;
            idle_since = t1;
        } else {
            p->idle_cycles += t1 - t0;
            struct pollfd fds[MAX_WAIT_FDS];
            unsigned nfds;

            if (adaptive && t1 - idle_since > idle_limit && (nfds = wait_fds(p, l, fds))) {
                set_notify(l, true);
                /* A frame may have arrived before notifications were on: look once more. */
                if (poll_once(p, l, vs_fdb_now()) == 0)
                    sleep_on(p, fds, nfds);
                set_notify(vs_rcu_deref(p->list), false);
                /* Time asleep is neither busy nor idle polling. Woken, we have
                 * frames waiting: no nap before them. */
                t1 = idle_since = vs_rdtsc();
                clock_due = 0;
                nap_us = -NAP_AFTER;
            } else {
                /* Nothing came: give the drivers a moment before reading their
                 * rings again. Every read of a ring index the driver writes takes
                 * that line away from the driver's core, and its next write waits
                 * for it: polling an empty ring flat out costs the guest. */
                for (unsigned i = 0; i < EMPTY_POLL_PAUSES; i++)
                    vs_cpu_relax();
            }
        }
        if (max_nap && n < NAP_BELOW) {
            if (nap_us > 0) {
                nap(p, (unsigned)nap_us);
                t1 = vs_rdtsc(); /* napping is neither busy nor idle polling */
            }
            nap_us += nap_us < max_nap;
        } else {
            nap_us = -NAP_AFTER;
        }
        vs_rcu_quiescent(); /* nothing read under RCU survives past this line */
        t0 = t1;
    }
    vs_rcu_unregister_thread();
    vs_pool_thread_flush();
    return NULL;
}

int vs_poller_start(struct vs_poller *p)
{
    int rc;

    p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->wake_fd < 0)
        return -errno;
    p->stop = false;
    if ((rc = pthread_create(&p->thread, NULL, poller_main, p)) != 0) {
        close(p->wake_fd);
        p->wake_fd = -1;
        return -rc;
    }
    p->running = true;
    return 0;
}

void vs_poller_wake(struct vs_poller *p)
{
    vs_eventfd_wake(p->wake_fd);
}

void vs_poller_wait_sleep_over(struct vs_poller *p)
{
    unsigned seq = __atomic_load_n(&p->sleep_seq, __ATOMIC_ACQUIRE);

    if (!p->running || !(seq & 1))
        return;
    /* A sleep that began after the grace period polls only queues the poller owns
     * now; the one we saw began before it, so wait for that one alone. */
    while (__atomic_load_n(&p->sleep_seq, __ATOMIC_ACQUIRE) == seq) {
        vs_poller_wake(p);
        usleep(50);
    }
}

void vs_poller_stop(struct vs_poller *p)
{
    if (!p->running)
        return;
    VS_WRITE_ONCE(p->stop, true);
    vs_poller_wake(p);
    pthread_join(p->thread, NULL);
    close(p->wake_fd);
    p->wake_fd = -1;
    p->running = false;
}
