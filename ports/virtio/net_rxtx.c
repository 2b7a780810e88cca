/* The device's data path: the port ops a virtio-net transport puts in its table.
 * port->priv points at the struct vs_vnet_dev (see net_dev.h). Pollers only, under
 * the gate rules of net_dev.h. */
#include "ports/virtio/net_dev.h"

#include "vswitch/eventfd.h"

static inline struct vs_vnet_dev *dev_of(struct vs_port *port)
{
    return port->priv;
}

uint16_t vs_vnet_rx_burst(struct vs_port *port, uint16_t qi, struct vs_pkt **pkts, uint16_t n)
{
    struct vs_vnet_dev *dev = dev_of(port);
    struct vs_vnet_queue *q;
    uint16_t got = 0;
    int gate;

    if (vs_unlikely(qi >= dev->n_qp || n == 0))
        return 0;
    q = &dev->q[2 * qi + 1];
    gate = vs_vnet_gate_get(q);
    if (gate == VS_VNET_GATE_STOPPED)
        return 0;
    if (vs_unlikely(gate == VS_VNET_GATE_DISABLED)) {
        /* A disabled queue is still drained, and what the driver sent is dropped. */
        got = vs_virtq_dequeue(&q->vq, port->pool, pkts, n);
        vs_pkt_free_bulk(pkts, got);
        if (got)
            vs_virtq_notify(&q->vq);
        return 0;
    }
    if (qi == 0 && vs_unlikely(VS_READ_ONCE(dev->rarp)))
        got = vs_vnet_rarp_take(dev, port->pool, pkts);
    /* Frames in one driver buffer are lent, not copied: a virtio destination then
     * copies straight from this driver's memory. They go back in vs_vnet_rx_done. */
    uint16_t k = vs_virtq_dequeue_lend(&q->vq, port->pool, pkts + got, n - got);
    /* Dropped frames may have completed buffers without any frame to forward (no
     * rx_done follows then): the driver may be waiting for them. */
    if (!k)
        vs_virtq_notify(&q->vq);
    return got + k;
}

/* The switch is done with the burst: return the lent TX buffers and, when the driver
 * asked (Linux stops a nearly full TX queue and waits), interrupt it once. Runs in
 * the same poller iteration as rx_burst, so the queue cannot have changed since (a
 * stop waits for the grace period), whatever the gate says now. */
void vs_vnet_rx_done(struct vs_port *port, uint16_t qi)
{
    struct vs_vnet_dev *dev = dev_of(port);
    struct vs_vnet_queue *q;

    if (vs_unlikely(qi >= dev->n_qp))
        return;
    q = &dev->q[2 * qi + 1];
    vs_virtq_dequeue_done(&q->vq);
    vs_virtq_notify(&q->vq);
}

/* Our tx queue qi is the driver's RX queue qi; when the driver enabled fewer queue
 * pairs than we offered, spread over the ones it did enable. */
static struct vs_vnet_queue *tx_queue(struct vs_vnet_dev *dev, uint16_t qi)
{
    unsigned n = dev->n_qp;

    for (unsigned i = 0; i < n; i++) {
        struct vs_vnet_queue *q = &dev->q[2 * ((qi + i) % n)];

        if (vs_vnet_gate_get(q) == VS_VNET_GATE_OPEN)
            return q;
    }
    return NULL;
}

uint16_t vs_vnet_tx_burst(struct vs_port *port, uint16_t qi, struct vs_pkt **pkts, uint16_t n)
{
    struct vs_vnet_queue *q;
    uint16_t sent;

    if (vs_unlikely(n == 0))
        return 0;
    q = tx_queue(dev_of(port), qi);
    if (!q)
        return 0;
    /* Several of our tx queues can land on one driver queue: one lock per burst. */
    while (__atomic_exchange_n(&q->tx_lock, 1, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
    sent = vs_virtq_enqueue(&q->vq, pkts, n);
    vs_virtq_notify(&q->vq);
    __atomic_store_n(&q->tx_lock, 0, __ATOMIC_RELEASE);
    vs_pkt_free_bulk(pkts, sent);
    return sent;
}

/* Adaptive pollers sleep on the driver's kick eventfd of the queue, or, while the
 * queue is stopped, on our wake fd, which a starting queue writes. A queue in
 * polling mode (no kick fd) keeps its poller awake. */
int vs_vnet_rx_wait_fd(struct vs_port *port, uint16_t qi)
{
    struct vs_vnet_dev *dev = dev_of(port);
    struct vs_vnet_queue *q;

    if (qi >= dev->n_qp)
        return -1;
    q = &dev->q[2 * qi + 1];
    if (vs_vnet_gate_get(q) == VS_VNET_GATE_STOPPED)
        return dev->wake_fd;
    return q->vq.kickfd;
}

void vs_vnet_rx_notify(struct vs_port *port, uint16_t qi, bool enable)
{
    struct vs_vnet_dev *dev = dev_of(port);
    struct vs_vnet_queue *q;

    if (qi >= dev->n_qp)
        return;
    q = &dev->q[2 * qi + 1];
    if (!enable)
        vs_eventfd_drain(dev->wake_fd);
    if (vs_vnet_gate_get(q) == VS_VNET_GATE_STOPPED)
        return;
    vs_virtq_set_kick_suppression(&q->vq, !enable);
    /* Kicks that arrived while we were awake anyway must not wake the next sleep. */
    if (!enable)
        vs_eventfd_drain(q->vq.kickfd);
}
