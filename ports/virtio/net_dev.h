/* The device side of virtio-net, shared by its transports (vhost-user, VDUSE): per
 * queue state and the gate that tells pollers what they may do with a queue,
 * pausing and resuming queues when the transport changes them, the link state that
 * follows from the queues, and the data path the port ops call.
 *
 * A transport owns a struct vs_vnet_dev (embedded in its own device), fills in what
 * its control channel says (features, guest memory, each queue's size, ring
 * addresses, base index, kick fd, enable) and calls vs_vnet_queues_pause() before it
 * changes anything a started queue uses and vs_vnet_queues_resume() afterwards. What
 * differs between transports goes through struct vs_vnet_ops. The transport's port
 * ops table takes the data path from here (vs_vnet_rx_burst, ...): its port->priv
 * points at the struct vs_vnet_dev (the first member of its port struct).
 *
 * Threads: everything here runs on the main thread except the data path (the
 * pollers). A poller reads a queue only after seeing its gate open (acquire load);
 * a change to a started queue closes the gate, waits for an RCU grace period so that
 * no poller can still be inside that queue, changes it, and opens the gate again
 * once the queue is complete.
 *
 * Hostile drivers: the rings are validated by vs_virtq (virtq.h); ring addresses are
 * translated here through the guest memory table before a queue starts, and a queue
 * that cannot start stays stopped (counted) while the others carry on. */
#ifndef VS_PORTS_VIRTIO_NET_DEV_H
#define VS_PORTS_VIRTIO_NET_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/virtio/dirty_log.h"
#include "ports/virtio/guest_mem.h"
#include "ports/virtio/virtq.h"
#include "vswitch/port.h"

#define VS_VNET_MAX_QUEUE_PAIRS 8
#define VS_VNET_MAX_QUEUES (2 * VS_VNET_MAX_QUEUE_PAIRS)
#define VS_VNET_MAX_RING_SIZE 32768u
/* The largest MTU a virtio-net port takes: a 9216-byte jumbo frame with its Ethernet
 * header and one VLAN tag. Such frames travel in the pool's large buffers, and to
 * a guest over several merged receive buffers. */
#define VS_VNET_MTU_MAX (9216u - VS_ETH_OVERHEAD)
/* The largest without large buffers: a frame in one small buffer. */
#define VS_VNET_MTU_MAX_SMALL (VS_PKT_MAX_FRAME - VS_ETH_OVERHEAD)

/* What a poller may do with a queue (vs_vnet_queue.gate). */
enum vs_vnet_gate {
    VS_VNET_GATE_STOPPED = 0,  /* hands off */
    VS_VNET_GATE_DISABLED = 1, /* started but disabled: drain guest TX, deliver nothing */
    VS_VNET_GATE_OPEN = 2,     /* started and enabled */
};

/* One virtqueue. Queue 2q is the driver's RX queue q (our tx queue q), 2q + 1 its TX
 * queue q (our rx queue q). */
struct vs_vnet_queue {
    struct vs_virtq vq;

    /* Set by the transport on the main thread, with the queue paused. */
    uint32_t num;          /* ring size, 0 until known */
    bool addr_set;         /* desc_addr, avail_addr, used_addr are known */
    uint64_t desc_addr, avail_addr, used_addr; /* as the transport gives them (ops->ring_map) */
    uint64_t log_addr;     /* guest-physical address of the used ring (dirty logging) */
    uint32_t base;         /* index to start from (packed: wrap counter in bit 15) */
    bool ready;            /* the driver handed the queue over (vhost-user: SET_VRING_KICK
                              since the last stop): it may start */
    bool enabled;          /* the driver enabled it (vhost-user: SET_VRING_ENABLE) */
    int kickfd;            /* the driver's kick eventfd (the transport's), -1 when none */
    struct vs_eventfd_signal *call; /* the driver's interrupt eventfd, NULL when none
                                       (with ops->interrupt NULL: no interrupts) */

    /* Pollers. */
    int gate;              /* enum vs_vnet_gate, atomic */
    int tx_lock;           /* driver RX queues: serialises tx_burst callers sharing it */

    uint64_t starts, start_failures;
    struct vs_vnet_dev *dev;  /* the device and our index in dev->q[] */
    unsigned index;
    char name[64];
};

/* The queue of a vs_virtq that a vs_vnet_dev started (for ops->interrupt). */
static inline struct vs_vnet_queue *vs_vnet_queue_of(struct vs_virtq *vq)
{
    return vs_container_of(vq, struct vs_vnet_queue, vq);
}

struct vs_vnet_dev;

/* What differs between transports. Both learn of kicks through an eventfd the
 * transport puts in vs_vnet_queue.kickfd (vhost-user: SET_VRING_KICK; VDUSE: the one
 * it gives the kernel with VDUSE_VQ_SETUP_KICKFD): an adaptive poller sleeps on it
 * (vs_vnet_rx_wait_fd), and on dev->wake_fd while the queue is stopped. */
struct vs_vnet_ops {
    /* Maps len bytes of a ring at addr (an address as the transport gives ring
     * addresses) to our pointer, or returns NULL when the range is not inside one
     * region of mem. Main thread, when a queue starts. vhost-user: the front-end's
     * virtual addresses; VDUSE: IOVAs, the space descriptors use too. */
    void *(*ring_map)(const struct vs_guest_mem *mem, uint64_t addr, uint64_t len);
    /* Interrupts the driver for the queue of vq (vs_vnet_queue_of). Poller thread,
     * hot path: vs_virtq_notify calls it only when the driver's event suppression
     * (flags or event idx) asks for an interrupt. Must not wait; 0, or -errno when
     * none was given (counted in the queue's kicks_failed). VDUSE:
     * VDUSE_VQ_INJECT_IRQ. NULL: signal the queue's call eventfd (vhost-user's
     * SET_VRING_CALL; no interrupts while it has none). */
    int (*interrupt)(struct vs_virtq *vq);
    /* Buffer addresses may become mappable after the queues started (VDUSE: the
     * kernel's bounce buffer appears with the first frame). A buffer outside mem
     * then stops the queue quietly (vs_virtq.late_mappings); the transport maps
     * the new range and restarts it, or says why it cannot. false: vhost-user,
     * whose memory table is complete before any queue starts. */
    bool late_mappings;
};

struct vs_vnet_dev {
    const char *name;      /* port name for log lines; outlives the device */
    const struct vs_vnet_ops *ops;
    unsigned n_qp;         /* queue pairs offered, 1..VS_VNET_MAX_QUEUE_PAIRS */
    uint64_t features;     /* negotiated; queues take what they need when they start */
    uint16_t mtu;          /* the port's: the driver's TX frames without a GSO request
                              longer than mtu + 18 are dropped (0: VS_PKT_MAX_FRAME) */
    uint8_t *tx_offloads;  /* where vs_vnet_offloads_publish() writes the offloads the
                              driver takes on RX (&port->tx_offloads), or NULL */
    struct vs_guest_mem mem; /* filled by the transport with every queue paused */
    struct vs_dirty_log *log; /* the transport's dirty log while logging, else NULL;
                                 taken by queues when they start */

    struct vs_vnet_queue q[VS_VNET_MAX_QUEUES];

    /* A RARP announcement to send from rx queue 0 (vs_vnet_rarp_request): MAC in the
     * low 48 bits, bit 63 set while a frame is pending. */
    uint64_t rarp;
    uint64_t rarps_sent;

    /* Written when a queue starts, so that a poller sleeping on a stopped queue's
     * behalf (rx_wait_fd) wakes up and finds it. -1 when nobody sleeps. */
    int wake_fd;
};

/* Prepares dev: no memory, every queue stopped and empty, wake_fd -1. name must
 * outlive dev; n_qp is clamped to 1..VS_VNET_MAX_QUEUE_PAIRS. */
void vs_vnet_dev_init(struct vs_vnet_dev *dev, const char *name, unsigned n_qp,
                      const struct vs_vnet_ops *ops);
/* Queue i back to its state after init, keeping its counters. The queue must be
 * stopped (vs_vnet_queues_pause); the transport closes its fds first. */
void vs_vnet_queue_reset(struct vs_vnet_dev *dev, unsigned i);

static inline int vs_vnet_gate_get(const struct vs_vnet_queue *q)
{
    return __atomic_load_n(&q->gate, __ATOMIC_ACQUIRE);
}

static inline void vs_vnet_gate_set(struct vs_vnet_queue *q, int g)
{
    __atomic_store_n(&q->gate, g, __ATOMIC_RELEASE);
}

static inline bool vs_vnet_has_feature(const struct vs_vnet_dev *dev, unsigned bit)
{
    return dev->features & (1ull << bit);
}

/* Every queue of the device's queue pairs. */
static inline uint32_t vs_vnet_all_queues(const struct vs_vnet_dev *dev)
{
    return (uint32_t)((1ull << (2 * dev->n_qp)) - 1);
}

/* Closes the gates of the queues in mask and waits a grace period when any was
 * open; then stops each running one, saving its index in q->base (q->ready stays
 * set, so resuming starts it again from there). Returns the queues that were
 * running. */
uint32_t vs_vnet_queues_pause(struct vs_vnet_dev *dev, uint32_t mask);
/* Starts every ready and complete queue in mask and opens its gate (enabled or
 * disabled). 0, or the first failure with the reason in why; that queue stays
 * stopped. */
int vs_vnet_queues_resume(struct vs_vnet_dev *dev, uint32_t mask, char *why, unsigned why_len);
/* The same for all queues after a device-wide change, which itself succeeded: a
 * queue that cannot run now waits (stopped) for the next change. */
void vs_vnet_queues_resume_all(struct vs_vnet_dev *dev);
/* The driver enabled or disabled queue i. A started queue's gate follows; disabling
 * waits a grace period, so that once this returns nothing more lands in it. */
void vs_vnet_queue_enable(struct vs_vnet_dev *dev, unsigned i, bool enabled);
/* Translates a ring of num entries at desc/avail/used (ops->ring_map addresses)
 * through dev->mem, with the areas' sizes for packed or split rings, with or
 * without event idx. 0, or -EINVAL (misaligned) / -EFAULT (outside guest memory)
 * with the reason in why. */
int vs_vnet_ring_translate(const struct vs_vnet_dev *dev, uint64_t desc, uint64_t avail,
                           uint64_t used, uint32_t num, bool packed, bool event_idx,
                           void **desc_p, void **avail_p, void **used_p, char *why,
                           unsigned why_len);
/* A transport's open(): applies the port's mtu and offloads options to dev, port
 * (mtu, tx_offloads 0 until a driver negotiates) and the features the transport
 * offers (*offered). Without large buffers in port->pool an mtu above
 * VS_VNET_MTU_MAX_SMALL is refused (-EINVAL with err) and only the checksum
 * offloads are offered. */
int vs_vnet_port_options(struct vs_vnet_dev *dev, struct vs_port *port, uint16_t mtu,
                         bool offloads, uint64_t *offered, const struct vs_port_args *args,
                         struct vs_port_err *err);
/* Publishes the receive offloads of dev->features (vs_vnet_guest_offloads) at
 * dev->tx_offloads for the pollers (VS_WRITE_ONCE). A transport calls it after its
 * features changed and before it resumes the queues; with features 0 on a reset.
 * Requests in flight stay safe either way: a frame reaches a queue only through an
 * open gate, and the pause before the change waited for the pollers. */
void vs_vnet_offloads_publish(struct vs_vnet_dev *dev);
/* The offload features of f as a JSON array of names (show), csum, guest_csum, ... */
json_t *vs_vnet_offloads_json(uint64_t f);

/* Is at least one queue pair open in both directions? (link state) */
bool vs_vnet_link_up(const struct vs_vnet_dev *dev);

/* Data path (net_rxtx.c): the port ops of a virtio-net port, port->priv being the
 * struct vs_vnet_dev. Rx queue q is the driver's TX queue q (dev->q[2q + 1]), tx
 * queue q its RX queue q (dev->q[2q], or another open one when the driver enabled
 * fewer pairs). Pollers only. */
uint16_t vs_vnet_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n);
void vs_vnet_rx_done(struct vs_port *port, uint16_t q);
uint16_t vs_vnet_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n);
int vs_vnet_rx_wait_fd(struct vs_port *port, uint16_t q);
void vs_vnet_rx_notify(struct vs_port *port, uint16_t q, bool enable);

/* RARP announcements (rarp.c). Main thread: have rx queue 0 send one from mac into
 * the switch, as if the driver had sent it (a migrated guest's new location). */
void vs_vnet_rarp_request(struct vs_vnet_dev *dev, const uint8_t mac[6]);
/* Rx queue 0's poller: the pending announcement into pkts[0] (a buffer of pool).
 * Returns 1, or 0 when none is pending or the pool is empty (it stays pending). */
uint16_t vs_vnet_rarp_take(struct vs_vnet_dev *dev, struct vs_pool *pool, struct vs_pkt **pkts);

/* The per-queue part of `show` (net_show.c): an array with one object per queue. */
json_t *vs_vnet_queues_json(const struct vs_vnet_dev *dev);

#endif
