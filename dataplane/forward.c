/* Forwarding: parse, learn, look up, and append each frame to its destination
 * ports' tx batches; flush every batch with one tx_burst at the end of the burst.
 * Runs on a poller inside an RCU read-side section (between quiescent states).
 *
 * Every header read here is in our own buffer, also for a frame lent from a guest
 * (vs_pkt_data is then its private head, up to VS_PKT_LEND_HEAD bytes, which is what
 * the destinations send): the guest cannot change it after the decision. */
#include <string.h>
#include <time.h>

#include "dataplane/capture.h"
#include "dataplane/dp.h"
#include "vswitch/cpu.h"
#include "vswitch/fdb.h"
#include "vswitch/log.h"
#include "vswitch/rcu.h"

#define ETH_HLEN 14
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8

_Static_assert(VS_BURST <= VS_FDB_BURST_MAX, "a burst is looked up in one call");
_Static_assert(VS_BURST <= 32, "a burst's refused frames are bits of a word");
_Static_assert(VS_MAX_PORTS <= VS_FDB_PORTS, "every port's stations are counted");
_Static_assert(ETH_HLEN + 2 * 4 <= VS_PKT_LEND_HEAD, "the headers we decide on are private");

static inline void batch_add(struct vs_poller *p, uint16_t port, struct vs_pkt *pkt)
{
    struct vs_tx_batch *b = &p->tx[port];

    if (b->n == 0)
        p->pending[p->n_pending++] = port;
    b->slow |= vs_offload_slow(pkt);
    b->pkts[b->n++] = pkt;
}

static inline void drop(struct vs_poller *p, uint16_t port, enum vs_drop why, struct vs_pkt *pkt)
{
    p->counters[port].drops[why]++;
    if (vs_unlikely(VS_READ_ONCE(p->capture_drops)))
        vs_capture_drop(p, port, why, pkt);
    vs_pkt_free(pkt);
}

/* Does the frame carry a VLAN tag (of either TPID)? */
static inline bool frame_tagged(const uint8_t *eth, uint32_t len)
{
    uint16_t type = (uint16_t)(eth[12] << 8 | eth[13]);

    return (type == ETH_P_8021Q || type == ETH_P_8021AD) && len >= ETH_HLEN + 4;
}

/* pkt, of VLAN vlan, to port dp after action a (vs_vlan_egress) other than
 * VS_VLAN_AS_IS; in_id counts a drop that the ingress caused. */
static void unicast_changed(struct vs_poller *p, struct vs_dp_port *dp, uint16_t in_id,
                            struct vs_pkt *pkt, uint16_t vlan, enum vs_vlan_action a)
{
    struct vs_pkt *own;

    if (a == VS_VLAN_NOT_CARRIED) {
        drop(p, in_id, VS_DROP_VLAN_NOT_ALLOWED, pkt);
    } else if (!(own = vs_vlan_own(pkt))) {
        drop(p, dp->port.id, VS_DROP_NO_BUFFERS, pkt);
    } else {
        vs_vlan_apply(own, a, vlan);
        batch_add(p, dp->port.id, own);
    }
}

/* To every other port that carries the frame's VLAN. A frame has at most two wire
 * forms at egress (as it came, or with its tag pushed or popped): the ports that
 * take it as it came share it, the others share one changed copy. */
static void flood(struct vs_poller *p, struct vs_switch *sw, uint16_t in, struct vs_pkt *pkt,
                  uint16_t vlan)
{
    const struct vs_port_set *set = vs_rcu_deref(sw->port_set);
    const struct vs_mirror_table *mt = vs_rcu_deref(sw->mirrors);
    bool tagged = frame_tagged(vs_pkt_data(pkt), pkt->len);
    uint16_t same[VS_MAX_PORTS], conv[VS_MAX_PORTS];
    enum vs_vlan_action change = VS_VLAN_AS_IS;
    unsigned ns = 0, nc = 0;
    struct vs_pkt *c;

    for (unsigned i = 0; i < set->n; i++) {
        uint16_t id = set->id[i];
        struct vs_dp_port *dp = vs_rcu_deref(sw->ports[id]);
        enum vs_vlan_action a;

        if (id == in || !dp || (vs_unlikely(mt != NULL) && mt->is_dst[id]))
            continue;
        a = vs_vlan_egress(&vs_rcu_deref(dp->conf)->vlan, vlan, tagged);
        if (a == VS_VLAN_AS_IS) {
            same[ns++] = id;
        } else if (a != VS_VLAN_NOT_CARRIED) {
            conv[nc++] = id;
            change = a;
        }
    }
    if (ns + nc == 0) {
        drop(p, in, VS_DROP_NO_DEST, pkt);
        return;
    }
    if (nc) {
        c = ns ? vs_pkt_copy(pkt) : vs_vlan_own(pkt);
        if (!c) {
            p->counters[in].drops[VS_DROP_NO_BUFFERS] += nc;
            if (!ns) {
                vs_pkt_free(pkt);
                return;
            }
        } else {
            vs_vlan_apply(c, change, vlan);
            /* Shared by reference: each destination's tx_burst frees it once. */
            vs_pkt_ref(c, (uint16_t)(nc - 1));
            for (unsigned i = 0; i < nc; i++)
                batch_add(p, conv[i], c);
        }
    }
    if (ns) {
        vs_pkt_ref(pkt, (uint16_t)(ns - 1));
        for (unsigned i = 0; i < ns; i++)
            batch_add(p, same[i], pkt);
    }
}

/* (VLAN, MAC) as one comparable word: a burst usually carries few stations. */
static inline uint64_t station(uint16_t vlan, const uint8_t *mac)
{
    return vs_mac_word(mac) | (uint64_t)vlan << 48;
}

static inline bool source_allowed(const struct vs_port_conf *c, const uint8_t *mac)
{
    uint64_t w = vs_mac_word(mac);

    for (unsigned i = 0; i < c->n_allowed; i++)
        if (c->allowed[i] == w)
            return true;
    return false;
}

/* A frame whose source learning refused: counted, and the first time a port reaches
 * its mac_limit, one line in the log. */
static void refuse(struct vs_poller *p, struct vs_dp_port *in, enum vs_drop why,
                   struct vs_pkt *pkt)
{
    if (why == VS_DROP_MAC_LIMIT)
        vs_log_once(&in->mac_limit_logged, VS_LOG_WARN,
                    "port %s: mac_limit reached (%u stations): frames from further new sources "
                    "are dropped; logged once, counted in drops.mac_limit",
                    in->port.name, vs_rcu_deref(in->conf)->mac_limit);
    drop(p, in->port.id, why, pkt);
}

/* Storm control and policing: in's buckets on this poller, refilled for the time
 * since the last burst. Rates are shared evenly by the port's rx queues (each
 * polled by one poller), so a single-queue port gets exactly its rate. */
static struct vs_police *police_refill(struct vs_poller *p, struct vs_dp_port *in,
                                       const struct vs_port_conf *c)
{
    struct vs_police *b = &p->police[in->port.id];
    struct timespec ts;
    uint64_t now;
    double share = 1.0 / (in->port.n_rxq ? in->port.n_rxq : 1);
    /* A bucket holds a tenth of a second of frames (at least a burst's worth). */
    double cap_b = VS_MAX(c->bcast_pps * share / 10, VS_BURST);
    double cap_m = VS_MAX(c->mcast_pps * share / 10, VS_BURST);
    double cap_u = VS_MAX(c->unknown_pps * share / 10, VS_BURST);
    double cap_r = (double)c->ingress_burst * share;

    /* The clock's own nanoseconds (vDSO, one read per burst of a limited port): a
     * TSC frequency measured at start-up on a busy machine can be off by percents. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;

    if (b->conf != c) {
        b->conf = c;
        b->bcast = cap_b;
        b->mcast = cap_m;
        b->unknown = cap_u;
        b->bytes = cap_r;
    } else {
        double dt = (double)(now - b->last) / 1e9;

        b->bcast = VS_MIN(b->bcast + dt * c->bcast_pps * share, cap_b);
        b->mcast = VS_MIN(b->mcast + dt * c->mcast_pps * share, cap_m);
        b->unknown = VS_MIN(b->unknown + dt * c->unknown_pps * share, cap_u);
        b->bytes = VS_MIN(b->bytes + dt * (double)c->ingress_rate * share, cap_r);
    }
    b->last = now;
    return b;
}

/* Takes n tokens when there are (limit 0: no bucket, always true). */
static inline bool take(double *tokens, uint64_t limit, double n)
{
    if (!limit)
        return true;
    if (*tokens < n)
        return false;
    *tokens -= n;
    return true;
}

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* Takes the refused frames (and the frames after each from the same source) out of
 * the burst's arrays, dropping them. Returns how many frames are left. */
static __attribute__((noinline)) unsigned
drop_refused(struct vs_poller *p, struct vs_dp_port *in, uint32_t refused, const uint8_t *learn,
             const uint8_t *why, unsigned m, struct vs_pkt **ok, const uint8_t **eths,
             uint16_t *vlans, uint8_t *dst_of)
{
    unsigned k = 0;
    int reason = -1;

    for (unsigned j = 0; j < m; j++) {
        if (learn[j])
            reason = (refused >> j & 1) ? why[j] : -1;
        if (reason >= 0) {
            refuse(p, in, (enum vs_drop)reason, ok[j]);
            continue;
        }
        ok[k] = ok[j];
        eths[k] = eths[j];
        vlans[k] = vlans[j];
        dst_of[k] = dst_of[j];
        k++;
    }
    return k;
}

/* Four passes over the burst so that the table's memory accesses overlap instead
 * of stalling one frame at a time: parse and prefetch the source buckets, learn,
 * look every destination up at once, then append to the tx batches. A source or
 * destination equal to the previous frame's is neither learned nor looked up again
 * (the answer cannot differ within a burst), which saves most of the table's work
 * for bulk flows. */
static inline __attribute__((always_inline)) void
forward_burst(struct vs_poller *p, struct vs_dp_port *in, const struct vs_port_conf *ic,
              struct vs_pkt **pkts, uint16_t n, uint32_t now, const bool fast)
{
    struct vs_switch *sw = p->sw;
    uint16_t in_id = in->port.id;
    struct vs_port_counters *rxc = &p->counters[in_id];
    struct vs_pkt *ok[VS_BURST];
    const uint8_t *eths[VS_BURST];  /* the frames */
    const uint8_t *dsts[VS_BURST];  /* distinct consecutive destinations, to look up */
    uint16_t vlans[VS_BURST], dst_vlans[VS_BURST], outs[VS_BURST];
    uint8_t acts[VS_BURST]; /* enum vs_vlan_action per distinct destination */
    uint8_t learn[VS_BURST], dst_of[VS_BURST];
    uint8_t why[VS_BURST]; /* the drop reason of a frame whose source was refused */
    uint32_t refused = 0;  /* those frames, one bit each */
    struct vs_police *pol = !fast && ic->limits ? police_refill(p, in, ic) : NULL;
    uint64_t last_src = UINT64_MAX, last_dst = UINT64_MAX, hits;
    unsigned m = 0, nd = 0;

    /* Every header of the burst at once: the lines are usually in the sending
     * peer's cache, and the misses overlap instead of queueing one by one. */
    for (uint16_t i = 0; i < n; i++)
        vs_prefetch(vs_pkt_data(pkts[i]));
    for (uint16_t i = 0; i < n; i++) {
        struct vs_pkt *pkt = pkts[i];
        const uint8_t *eth = vs_pkt_data(pkt);
        uint16_t vlan = 0;

        rxc->rx_packets++;
        rxc->rx_bytes += pkt->len;
        pkt->in_port = in_id;
        if (vs_unlikely(pkt->len < ETH_HLEN)) {
            drop(p, in_id, VS_DROP_RUNT, pkt);
            continue;
        }
        if (vs_unlikely(vs_offload_slow(pkt)) && !vs_offload_rx(p, in, pkt))
            continue;
        if (vs_unlikely(vs_mac_is_group(eth + 6))) {
            drop(p, in_id, VS_DROP_BAD_SRC, pkt);
            continue;
        }
        uint16_t type = (uint16_t)(eth[12] << 8 | eth[13]);
        if ((type == ETH_P_8021Q || type == ETH_P_8021AD) && pkt->len >= ETH_HLEN + 4)
            vlan = (uint16_t)((eth[14] << 8 | eth[15]) & 0x0fff);
        if (!fast) {
            int v = vs_vlan_ingress(&ic->vlan, frame_tagged(eth, pkt->len), vlan);

            if (v < 0) {
                drop(p, in_id, (enum vs_drop)-v, pkt);
                continue;
            }
            vlan = (uint16_t)v;
            if (ic->n_allowed && !source_allowed(ic, eth + 6)) {
                drop(p, in_id, VS_DROP_SRC_NOT_ALLOWED, pkt);
                continue;
            }
            if (pol) {
                if (!take(&pol->bytes, ic->ingress_rate, pkt->len)) {
                    drop(p, in_id, VS_DROP_POLICED, pkt);
                    continue;
                }
                if (vs_mac_is_group(eth)) {
                    bool b = !memcmp(eth, bcast_mac, 6);

                    if (b ? !take(&pol->bcast, ic->bcast_pps, 1)
                          : !take(&pol->mcast, ic->mcast_pps, 1)) {
                        drop(p, in_id, b ? VS_DROP_STORM_BCAST : VS_DROP_STORM_MCAST, pkt);
                        continue;
                    }
                }
            }
        }
        pkt->vlan = vlan;

        uint64_t src = station(vlan, eth + 6), dst = station(vlan, eth);
        learn[m] = src != last_src;
        if (learn[m]) {
            vs_fdb_prefetch(sw->fdb, vlan, eth + 6);
            last_src = src;
        }
        if (dst != last_dst) {
            dsts[nd] = eth;
            dst_vlans[nd] = vlan;
            outs[nd] = 0; /* a miss leaves it alone */
            nd++;
            last_dst = dst;
        }
        dst_of[m] = (uint8_t)(nd - 1);
        ok[m] = pkt;
        eths[m] = eth;
        vlans[m] = vlan;
        m++;
    }
    if (vs_unlikely(m == 0))
        return;
    /* A frame whose source may not be learned here goes nowhere, and neither do the
     * frames after it from the same source (they were not learned again). They
     * leave the burst once the lookups no longer read their headers. */
    for (unsigned j = 0; j < m; j++) {
        if (!learn[j])
            continue;
        enum vs_fdb_learned verdict =
            fast ? vs_fdb_learn(sw->fdb, vlans[j], eths[j] + 6, in_id, now)
                 : vs_fdb_learn_secure(sw->fdb, vlans[j], eths[j] + 6, in_id, now, ic->mac_limit,
                                       ic->secure);
        if (vs_unlikely(verdict != VS_FDB_OK)) {
            refused |= 1u << j;
            why[j] = verdict == VS_FDB_LIMIT ? VS_DROP_MAC_LIMIT : VS_DROP_MAC_PINNED;
        }
    }
    hits = vs_fdb_lookup_burst(sw->fdb, nd, dst_vlans, dsts, outs);
    /* What a frame needs at egress depends on its destination port, its VLAN, and
     * whether it came tagged; on one ingress port the VLAN decides the last (see
     * vlan.h), so it is worked out once per distinct destination (the first frame
     * that has it tells whether it came tagged; on a transparent port a frame has a
     * VLAN other than 0 only when it came tagged). */
    for (unsigned d = 0, j = 0; d < nd; d++) {
        struct vs_dp_port *dp;

        while (dst_of[j] != d)
            j++;
        acts[d] = VS_VLAN_AS_IS;
        if ((hits & (1ull << d)) && (dp = vs_rcu_deref(sw->ports[outs[d]])))
            acts[d] = (uint8_t)vs_vlan_egress(&vs_rcu_deref(dp->conf)->vlan, dst_vlans[d],
                                              fast ? dst_vlans[d] != 0
                                                   : frame_tagged(eths[j], ok[j]->len));
    }
    if (vs_unlikely(refused))
        m = drop_refused(p, in, refused, learn, why, m, ok, eths, vlans, dst_of);
    for (unsigned j = 0; j < m; j++) {
        unsigned d = dst_of[j];
        uint16_t out = outs[d];
        struct vs_dp_port *dp;

        if (vs_mac_is_group(eths[j]) || !(hits & (1ull << d)) ||
            !(dp = vs_rcu_deref(sw->ports[out]))) {
            if (!fast && pol && !vs_mac_is_group(eths[j]) &&
                !take(&pol->unknown, ic->unknown_pps, 1)) {
                drop(p, in_id, VS_DROP_STORM_UNKNOWN, ok[j]);
                continue;
            }
            flood(p, sw, in_id, ok[j], vlans[j]);
            continue;
        }
        if (out == in_id) {
            drop(p, in_id, VS_DROP_FILTERED, ok[j]);
            continue;
        }
        if (vs_likely(acts[d] == VS_VLAN_AS_IS))
            batch_add(p, out, ok[j]);
        else
            unicast_changed(p, dp, in_id, ok[j], vlans[j], (enum vs_vlan_action)acts[d]);
    }
}

void vs_forward_burst(struct vs_poller *p, struct vs_dp_port *in, struct vs_pkt **pkts,
                      uint16_t n, uint32_t now)
{
    const struct vs_port_conf *ic = vs_rcu_deref(in->conf);

    /* Two copies of the loop: the default settings' pays nothing for the others. */
    if (vs_likely(ic->vlan.mode == VS_VLAN_TRANSPARENT && !ic->secure && !ic->limits))
        forward_burst(p, in, ic, pkts, n, now, true);
    else
        forward_burst(p, in, ic, pkts, n, now, false);
}

static inline void txq_lock(struct vs_txq_lock *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
            vs_cpu_relax();
}

static inline void txq_unlock(struct vs_txq_lock *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE); }

void vs_forward_send(struct vs_poller *p, struct vs_dp_port *dp, uint16_t q, struct vs_pkt **pkts,
                     uint16_t n)
{
    struct vs_port_counters *c = &p->counters[dp->port.id];
    uint32_t bytes[VS_BURST + 1];
    uint8_t capture = VS_READ_ONCE(dp->capture) & (VS_CAP_TX | VS_CAP_DROPS);
    uint16_t sent;

    /* Lengths first: the port may free (and reuse) what it sends. */
    bytes[0] = 0;
    for (uint16_t k = 0; k < n; k++)
        bytes[k + 1] = bytes[k] + pkts[k]->len;
    if (vs_unlikely(capture))
        vs_capture_tx_begin(p, dp, pkts, n);
    if (dp->txq_shared)
        txq_lock(&dp->txq_lock[q]);
    sent = dp->port.ops->tx_burst(&dp->port, q, pkts, n);
    if (dp->txq_shared)
        txq_unlock(&dp->txq_lock[q]);
    c->tx_packets += sent;
    c->tx_bytes += bytes[sent];
    if (vs_unlikely(capture))
        vs_capture_tx_end(p, dp, sent,
                          VS_READ_ONCE(dp->port.link_up) ? VS_DROP_TX_FULL : VS_DROP_LINK_DOWN);
    if (sent < n) {
        bool down = !VS_READ_ONCE(dp->port.link_up);
        c->drops[down ? VS_DROP_LINK_DOWN : VS_DROP_TX_FULL] += (uint64_t)(n - sent);
        vs_pkt_free_bulk(&pkts[sent], n - sent);
    }
}

void vs_forward_flush(struct vs_poller *p)
{
    struct vs_switch *sw = p->sw;
    const struct vs_mirror_table *mt = vs_rcu_deref(sw->mirrors);

    /* A mirror adds its copies to batches further down the list (n_pending grows). */
    for (unsigned i = 0; i < p->n_pending; i++) {
        uint16_t id = p->pending[i];
        struct vs_tx_batch *b = &p->tx[id];
        struct vs_dp_port *dp = vs_rcu_deref(sw->ports[id]);

        if (vs_likely(dp)) {
            uint16_t q = (uint16_t)(p->id % dp->port.n_txq);

            if (vs_unlikely(mt != NULL) && mt->tx_mask[id])
                vs_mirror_tx(p, mt, id, b->pkts, b->n);

            if (vs_unlikely(b->slow))
                vs_offload_tx(p, dp, q, b->pkts, b->n);
            else
                vs_forward_send(p, dp, q, b->pkts, b->n);
        } else {
            p->counters[id].drops[VS_DROP_LINK_DOWN] += b->n;
            vs_pkt_free_bulk(b->pkts, b->n);
        }
        b->n = 0;
        b->slow = 0;
    }
    p->n_pending = 0;
}
