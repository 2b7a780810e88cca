/* The dataplane's side of offloads: the ingress gate for frames that carry offload
 * requests or are longer than a standard frame, and the egress fallback that does
 * in software what the destination port does not take (segmentation, checksums).
 * Only such frames come here: the 64-byte path pays one test per frame. */
#include <errno.h>

#include "dataplane/capture.h"
#include "dataplane/dp.h"
#include "vswitch/log.h"
#include "vswitch/offload.h"

static void count_drop(struct vs_poller *p, uint16_t port, enum vs_drop why, struct vs_pkt *pkt)
{
    p->counters[port].drops[why]++;
    if (vs_unlikely(VS_READ_ONCE(p->capture_drops)))
        vs_capture_drop(p, port, why, pkt);
    vs_pkt_free(pkt);
}

bool vs_offload_rx(struct vs_poller *p, struct vs_dp_port *in, struct vs_pkt *pkt)
{
    if (pkt->ol_flags & VS_OL_REQUESTS) {
        enum vs_offload_error e = vs_offload_check(pkt);

        if (vs_unlikely(e != VS_OL_ERR_NONE)) {
            vs_log_once(&in->bad_offload_logged, VS_LOG_WARN,
                        "port %s: dropping a frame whose offload requests do not match it "
                        "(%s); logged once, counted in drops.bad_offload",
                        in->port.name, vs_offload_error_name(e));
            count_drop(p, in->port.id, VS_DROP_BAD_OFFLOAD, pkt);
            return false;
        }
        if (pkt->ol_flags & VS_OL_GSO)
            return true; /* cut to gso_size on the way out where needed */
    }
    if (vs_unlikely(pkt->len > (uint32_t)in->port.mtu + VS_ETH_OVERHEAD)) {
        count_drop(p, in->port.id, VS_DROP_OVERSIZE, pkt);
        return false;
    }
    return true;
}

/* Up to VS_BURST frames on their way to one port queue. */
struct out {
    struct vs_poller *p;
    struct vs_dp_port *dp;
    uint16_t q;
    uint16_t n;
    struct vs_pkt *pkts[VS_BURST];
};

static void out_flush(struct out *o)
{
    if (o->n)
        vs_forward_send(o->p, o->dp, o->q, o->pkts, o->n);
    o->n = 0;
}

/* Queues pkt for the port; a lent chain goes as a copy to a port that cannot send
 * one (every lent chain comes this way: see VS_PKT_F_CHAIN). */
static void out_add(struct out *o, struct vs_pkt *pkt)
{
    if (vs_unlikely(pkt->flags & VS_PKT_F_CHAIN) && !o->dp->port.tx_chains) {
        struct vs_pkt *c = vs_pkt_linear(pkt);

        if (!c) {
            count_drop(o->p, o->dp->port.id, VS_DROP_NO_BUFFERS, pkt);
            return;
        }
        pkt = c;
    }
    if (o->n == VS_BURST)
        out_flush(o);
    o->pkts[o->n++] = pkt;
}

/* A private copy of a shared or lent frame, so that completing its checksum does not
 * change what the frame's other destinations (which may take the request) receive,
 * nor write to a peer's memory. */
static struct vs_pkt *private_copy(struct vs_pkt *pkt)
{
    struct vs_pkt *c;

    if (pkt->refcnt == 1 && !(pkt->flags & VS_PKT_F_EXTERNAL))
        return pkt;
    if ((c = vs_pkt_copy(pkt)))
        vs_pkt_free(pkt);
    return c;
}

static void segment(struct out *o, struct vs_pkt *pkt)
{
    struct vs_port_counters *c = &o->p->counters[o->dp->port.id];
    uint32_t max = (uint32_t)o->dp->port.mtu + VS_ETH_OVERHEAD;
    struct vs_pkt *segs[VS_OFFLOAD_MAX_SEGS], *whole = vs_pkt_linear(pkt);
    int n = -ENOBUFS;

    /* Segments are cut from a frame in our own buffer. */
    if (whole) {
        pkt = whole;
        n = vs_offload_segment(pkt, o->dp->port.pool, segs, VS_OFFLOAD_MAX_SEGS);
    }
    if (n < 0) {
        count_drop(o->p, o->dp->port.id, VS_DROP_NO_BUFFERS, pkt);
        return;
    }
    c->sw_segmented++;
    vs_pkt_free(pkt);
    for (int i = 0; i < n; i++) {
        if (vs_unlikely(segs[i]->len > max))
            count_drop(o->p, o->dp->port.id, VS_DROP_OVERSIZE, segs[i]);
        else
            out_add(o, segs[i]);
    }
}

void vs_offload_tx(struct vs_poller *p, struct vs_dp_port *dp, uint16_t q, struct vs_pkt **pkts,
                   uint16_t n)
{
    struct out o = {.p = p, .dp = dp, .q = q};
    uint8_t take = VS_READ_ONCE(dp->port.tx_offloads);
    uint32_t max = (uint32_t)dp->port.mtu + VS_ETH_OVERHEAD;

    for (uint16_t i = 0; i < n; i++) {
        struct vs_pkt *pkt = pkts[i];
        uint8_t req = pkt->ol_flags & VS_OL_REQUESTS;
        uint8_t need = req & (uint8_t)~take;

        if (req & VS_OL_GSO) {
            /* A port that takes the segment takes its checksum request too. */
            if (need)
                segment(&o, pkt);
            else
                out_add(&o, pkt);
            continue;
        }
        if (vs_unlikely(pkt->len > max)) {
            count_drop(p, dp->port.id, VS_DROP_OVERSIZE, pkt);
            continue;
        }
        if (need & VS_OL_CSUM) {
            pkt = private_copy(pkt);
            if (!pkt) {
                count_drop(p, dp->port.id, VS_DROP_NO_BUFFERS, pkts[i]);
                continue;
            }
            vs_offload_csum(pkt);
            pkt->ol_flags |= VS_OL_CSUM_VALID;
            p->counters[dp->port.id].sw_csum++;
        }
        out_add(&o, pkt);
    }
    out_flush(&o);
}
