/* Dataplane internals shared by switch.c, poller.c, forward.c, sched.c and stats.c. */
#ifndef VS_DATAPLANE_DP_H
#define VS_DATAPLANE_DP_H

#include <pthread.h>

#include "dataplane/switch.h"
#include "vswitch/compiler.h"
#include "vswitch/pkt.h"

/* A tx queue lock, taken once per burst when several pollers share the queue. */
struct vs_txq_lock {
    int locked;
} vs_cache_aligned;

/* A port as the dataplane holds it. */
struct vs_dp_port {
    struct vs_port port;
    char type[32];
    json_t *options;              /* the key=value options it was created with */
    bool txq_shared;              /* more pollers than tx queues: lock per burst */
    struct vs_txq_lock txq_lock[VS_PORT_MAX_QUEUES];
    struct vs_port_counters base; /* counters of the slot when this port took it */
    bool reap_tried;              /* it failed, and removing it did not work yet */
};

struct vs_rxq_ref {
    struct vs_dp_port *port;
    uint16_t queue;
};

/* What one poller polls. Published with RCU; replaced, never edited. */
struct vs_poll_list {
    unsigned n;
    struct vs_rxq_ref q[];
};

struct vs_tx_batch {
    uint16_t n;
    struct vs_pkt *pkts[VS_BURST];
};

struct vs_poller {
    struct vs_switch *sw;
    unsigned id;
    int cpu;
    pthread_t thread;
    bool running;
    int wake_fd;                    /* eventfd: the control thread wakes a sleeping poller */
    struct vs_poll_list *list;      /* RCU */
    volatile bool stop;

    /* Written only by the poller; read (racily, for display) by the control thread. */
    uint64_t busy_cycles, idle_cycles, iterations, sleeps;
    struct vs_port_counters counters[VS_MAX_PORTS];

    /* Poller-local forwarding state. */
    struct vs_tx_batch tx[VS_MAX_PORTS];
    uint16_t pending[VS_MAX_PORTS]; /* ports with a non-empty tx batch */
    unsigned n_pending;
} vs_cache_aligned;

/* The ids of the ports in the table, for flooding. Published with RCU. */
struct vs_port_set {
    unsigned n;
    uint16_t id[VS_MAX_PORTS];
};

struct vs_switch {
    struct vs_switch_params params;
    struct vs_fdb *fdb;
    struct vs_dp_port *ports[VS_MAX_PORTS]; /* RCU: pollers read, control swaps */
    struct vs_port_set *port_set;           /* RCU */
    unsigned n_ports;
    struct vs_poller *pollers;
    int aging_timer;
    int health_timer;
    bool started;
};

/* forward.c */
void vs_forward_burst(struct vs_poller *p, struct vs_dp_port *in, struct vs_pkt **pkts,
                      uint16_t n, uint32_t now);
void vs_forward_flush(struct vs_poller *p);

/* poller.c */
int vs_poller_start(struct vs_poller *p);
void vs_poller_stop(struct vs_poller *p);
void vs_poller_wake(struct vs_poller *p);

/* sched.c: recompute every poller's queue list after the port table changed.
 * 0, or -ENOMEM before anything was published (every list is as it was). */
int vs_sched_rebalance(struct vs_switch *sw);
/* Test only: this many of the next poll list allocations fail. */
extern unsigned vs_sched_test_fail_allocs;

/* stats.c */
void vs_stats_sum(const struct vs_switch *sw, uint16_t port_id, struct vs_port_counters *out);
void vs_stats_sub(struct vs_port_counters *a, const struct vs_port_counters *b);
uint64_t vs_stats_drops_total(const struct vs_port_counters *c);

#endif
