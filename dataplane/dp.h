/* Dataplane internals shared by switch.c, poller.c, forward.c, sched.c and stats.c. */
#ifndef VS_DATAPLANE_DP_H
#define VS_DATAPLANE_DP_H

#include <pthread.h>

#include "dataplane/mirror.h"
#include "dataplane/port_conf.h"
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
    json_t *options;              /* the key=value options it was created with (set-port
                                     updates the switch's keys) */
    struct vs_port_conf *conf;    /* RCU: the switch's settings for it, never NULL */
    bool txq_shared;              /* more pollers than tx queues: lock per burst */
    struct vs_txq_lock txq_lock[VS_PORT_MAX_QUEUES];
    struct vs_port_counters base; /* counters of the slot when this port took it */
    bool reap_tried;              /* it failed, and removing it did not work yet */
    bool bad_offload_logged;      /* a frame with bad offload requests was logged */
    uint8_t capture;              /* VS_CAP_* bits some capture session wants (capture.h) */
    bool mac_limit_logged;        /* reaching mac_limit was logged */
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
    uint8_t slow; /* a frame of the batch needs vs_offload_tx (requests, or long) */
    struct vs_pkt *pkts[VS_BURST];
};

/* A port's token buckets on one poller (storm control and policing): tokens are
 * frames (or bytes for the rate), refilled once per burst from the clock. */
struct vs_police {
    const struct vs_port_conf *conf; /* the settings they were filled for */
    uint64_t last;                   /* CLOCK_MONOTONIC ns of the last refill */
    double bcast, mcast, unknown, bytes;
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
    /* Odd while the poller sleeps in poll(), which holds a reference to each fd it
     * waits on: a port's device outlives close() until that poll() returns. */
    unsigned sleep_seq;

    /* Written only by the poller; read (racily, for display) by the control thread. */
    uint64_t busy_cycles, idle_cycles, iterations, sleeps, naps;
    uint8_t capture_drops;          /* some capture session wants drops (capture.h) */
    struct vs_port_counters counters[VS_MAX_PORTS];

    /* Mirrors (mirror.h): frames received by a mirrored port, held during the burst,
     * and per mirror slot the copies sent to its port and those dropped for room. */
    uint64_t mirror_sent[VS_MAX_MIRRORS], mirror_dropped[VS_MAX_MIRRORS];
    struct vs_pkt *mir_pkts[VS_BURST];
    uint16_t mir_n, mir_port;
    const struct vs_mirror_table *mir_table;

    /* Poller-local forwarding state. */
    struct vs_police police[VS_MAX_PORTS];
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
    struct vs_capture_set *captures;        /* RCU; NULL when nobody captures */
    struct vs_mirror_table *mirrors;        /* RCU; NULL when there is no mirror */
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
/* Sends pkts[0..n) through dp's tx queue q (locked when shared), counts what went
 * and drops (and frees) what the port did not take. */
void vs_forward_send(struct vs_poller *p, struct vs_dp_port *dp, uint16_t q, struct vs_pkt **pkts,
                     uint16_t n);

/* offload_path.c. A standard frame: 1500 bytes of IP behind Ethernet and a VLAN
 * tag. Longer frames and frames with offload requests take the functions below. */
#define VS_STD_FRAME (VS_PORT_MTU_DEFAULT + VS_ETH_OVERHEAD)
_Static_assert(VS_STD_FRAME < VS_PKT_DATA_ROOM,
               "a lent chain (requests, or longer than a small buffer) is always slow");
static inline bool vs_offload_slow(const struct vs_pkt *pkt)
{
    return (pkt->ol_flags & VS_OL_REQUESTS) | (pkt->len > VS_STD_FRAME);
}
/* Ingress: checks pkt's offload requests (vs_offload_check) and its length against
 * in's MTU. Returns true when it may be forwarded; otherwise it was counted on in
 * and freed. */
bool vs_offload_rx(struct vs_poller *p, struct vs_dp_port *in, struct vs_pkt *pkt);
/* Egress: sends pkts[0..n) to dp's queue q (vs_forward_send), first doing in
 * software what dp does not take: segmenting GSO frames, completing checksums,
 * copying lent chains into our own buffers (for a port without tx_chains); frames
 * longer than dp's MTU without GSO are dropped as oversize. */
void vs_offload_tx(struct vs_poller *p, struct vs_dp_port *dp, uint16_t q, struct vs_pkt **pkts,
                   uint16_t n);

/* capture.c: the pollers' side of capture.h. Called only when dp->capture (rx,
 * tx) or p->capture_drops (drops) says a session may want the frames. */
void vs_capture_rx(struct vs_poller *p, struct vs_dp_port *dp, struct vs_pkt **pkts, uint16_t n);
/* Around a tx_burst: frames are copied before (the port may free them), and only
 * those it took count as sent; the others become drops with reason why. */
void vs_capture_tx_begin(struct vs_poller *p, struct vs_dp_port *dp, struct vs_pkt **pkts,
                         uint16_t n);
void vs_capture_tx_end(struct vs_poller *p, struct vs_dp_port *dp, uint16_t sent,
                       enum vs_drop why);
void vs_capture_drop(struct vs_poller *p, uint16_t port, enum vs_drop why, struct vs_pkt *pkt);

/* mirror.c: the pollers' side of mirror.h. rx_hold takes references on a burst from
 * port when a mirror wants what it receives; rx_release hands them to the mirror
 * ports' batches after forwarding; vs_mirror_tx does the same for a batch about to
 * leave port (t non-NULL). */
void vs_mirror_rx_hold(struct vs_poller *p, uint16_t port, struct vs_pkt **pkts, uint16_t n);
void vs_mirror_rx_release(struct vs_poller *p);
void vs_mirror_tx(struct vs_poller *p, const struct vs_mirror_table *t, uint16_t port,
                  struct vs_pkt **pkts, uint16_t n);
/* Control thread: removes the mirrors that use port id (which is going away). */
void vs_mirror_port_gone(struct vs_switch *sw, uint16_t id);

/* poller.c */
int vs_poller_start(struct vs_poller *p);
void vs_poller_stop(struct vs_poller *p);
void vs_poller_wake(struct vs_poller *p);
/* After a grace period: waits until p is no longer in a poll() it entered before,
 * so that the fds of queues it no longer owns are not held by it any more. */
void vs_poller_wait_sleep_over(struct vs_poller *p);

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
