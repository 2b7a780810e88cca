/* The virtio-net part of a port's `show`: the offloads negotiated, and each queue's
 * state, ring type, size, kick fd and counters. Main thread. */
#include "ports/virtio/net_dev.h"
#include "ports/virtio/net_hdr.h"

const char *vs_vnet_offload_name(unsigned bit)
{
    switch (bit) {
    case VIRTIO_NET_F_CSUM: return "csum";
    case VIRTIO_NET_F_GUEST_CSUM: return "guest_csum";
    case VIRTIO_NET_F_GUEST_TSO4: return "guest_tso4";
    case VIRTIO_NET_F_GUEST_TSO6: return "guest_tso6";
    case VIRTIO_NET_F_GUEST_ECN: return "guest_ecn";
    case VIRTIO_NET_F_HOST_TSO4: return "host_tso4";
    case VIRTIO_NET_F_HOST_TSO6: return "host_tso6";
    case VIRTIO_NET_F_HOST_ECN: return "host_ecn";
    case VS_VIRTIO_NET_F_GUEST_USO4: return "guest_uso4";
    case VS_VIRTIO_NET_F_GUEST_USO6: return "guest_uso6";
    case VS_VIRTIO_NET_F_HOST_USO: return "host_uso";
    default: return NULL;
    }
}

json_t *vs_vnet_offloads_json(uint64_t f)
{
    json_t *a = json_array();

    for (unsigned b = 0; b < 64; b++) {
        const char *name = vs_vnet_offload_name(b);

        if ((f & VS_VNET_BIT(b)) && name)
            json_array_append_new(a, json_string(name));
    }
    return a;
}

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
                     "s:I, s:o}",
                     "direction", (i & 1) ? "rx" : "tx", "queue", (int)(i / 2), "vring", (int)i,
                     "state", state, "ring", vq->packed ? "packed" : "split", "size",
                     (int)q->num, "kick", q->kickfd >= 0 ? "eventfd" : "none", "packets",
                     (json_int_t)vq->stats.packets, "bytes", (json_int_t)vq->stats.bytes,
                     "no_buffers", (json_int_t)vq->stats.no_buffers, "no_mbufs",
                     (json_int_t)vq->stats.no_mbufs, "walk_cut", (json_int_t)vq->stats.walk_cut,
                     "lent_chains", (json_int_t)vq->stats.lent_chains,
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
