/* The queues part of a virtio-net port's `show`: each queue's state, ring type,
 * size, kick fd and counters. Main thread. */
#include "ports/virtio/net_dev.h"

static json_t *queue_json(const struct vs_vnet_dev *dev, unsigned i)
{
    const struct vs_vnet_queue *q = &dev->q[i];
    const struct vs_virtq *vq = &q->vq;
    int gate = vs_vnet_gate_get(q);
    const char *state = vq->broken                      ? "broken"
                        : gate == VS_VNET_GATE_OPEN     ? "enabled"
                        : gate == VS_VNET_GATE_DISABLED ? "disabled"
                                                        : "stopped";
    json_t *errs = json_object();

    for (unsigned e = 0; e < VS_VQ_ERR__COUNT; e++)
        json_object_set_new(errs, vs_virtq_error_name(e),
                            json_integer((json_int_t)vq->stats.err[e]));
    return json_pack("{s:s, s:i, s:i, s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                     "s:o}",
                     "direction", (i & 1) ? "rx" : "tx", "queue", (int)(i / 2), "vring", (int)i,
                     "state", state, "ring", vq->packed ? "packed" : "split", "size",
                     (int)q->num, "kick", q->kickfd >= 0 ? "eventfd" : "none", "packets",
                     (json_int_t)vq->stats.packets, "bytes", (json_int_t)vq->stats.bytes,
                     "no_buffers", (json_int_t)vq->stats.no_buffers, "no_mbufs",
                     (json_int_t)vq->stats.no_mbufs, "walk_cut", (json_int_t)vq->stats.walk_cut,
                     "kicks", (json_int_t)vq->stats.kicks_sent, "kicks_failed",
                     (json_int_t)vq->stats.kicks_failed,
                     "starts", (json_int_t)q->starts, "errors", errs);
}

json_t *vs_vnet_queues_json(const struct vs_vnet_dev *dev)
{
    json_t *queues = json_array();

    for (unsigned i = 0; i < 2 * dev->n_qp; i++)
        json_array_append_new(queues, queue_json(dev, i));
    return queues;
}
