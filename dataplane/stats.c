/* Per-port counters live in each poller's memory (no shared writes on the fast
 * path) and are summed here on read. A port slot's counters keep growing across
 * port lifetimes; a port shows the difference from the sum when it took the slot. */
#include "dataplane/dp.h"

const char *vs_drop_name(enum vs_drop d)
{
    static const char *const names[VS_DROP__COUNT] = {
        [VS_DROP_RUNT] = "runt",           [VS_DROP_BAD_SRC] = "bad_source_mac",
        [VS_DROP_FILTERED] = "filtered",   [VS_DROP_NO_DEST] = "no_destination",
        [VS_DROP_TX_FULL] = "tx_queue_full", [VS_DROP_LINK_DOWN] = "link_down",
        [VS_DROP_BAD_OFFLOAD] = "bad_offload", [VS_DROP_OVERSIZE] = "oversize",
        [VS_DROP_NO_BUFFERS] = "no_buffers", [VS_DROP_VLAN_TAGGED] = "tagged_on_access",
        [VS_DROP_VLAN_NOT_ALLOWED] = "vlan_not_allowed",
        [VS_DROP_SRC_NOT_ALLOWED] = "source_not_allowed", [VS_DROP_MAC_LIMIT] = "mac_limit",
        [VS_DROP_MAC_PINNED] = "source_mac_pinned", [VS_DROP_STORM_BCAST] = "broadcast_limit",
        [VS_DROP_STORM_MCAST] = "multicast_limit", [VS_DROP_STORM_UNKNOWN] = "unknown_unicast_limit",
        [VS_DROP_POLICED] = "ingress_rate",
    };
    return d < VS_DROP__COUNT ? names[d] : "unknown";
}

void vs_stats_sum(const struct vs_switch *sw, uint16_t port_id, struct vs_port_counters *out)
{
    *out = (struct vs_port_counters){0};
    for (unsigned i = 0; i < sw->params.n_pollers; i++) {
        const struct vs_port_counters *c = &sw->pollers[i].counters[port_id];

        /* Racy 64-bit reads of counters another core increments: each value is
         * whole on x86-64 and at most one burst old. */
        out->rx_packets += VS_READ_ONCE(c->rx_packets);
        out->rx_bytes += VS_READ_ONCE(c->rx_bytes);
        out->tx_packets += VS_READ_ONCE(c->tx_packets);
        out->tx_bytes += VS_READ_ONCE(c->tx_bytes);
        for (int d = 0; d < VS_DROP__COUNT; d++)
            out->drops[d] += VS_READ_ONCE(c->drops[d]);
        out->sw_segmented += VS_READ_ONCE(c->sw_segmented);
        out->sw_csum += VS_READ_ONCE(c->sw_csum);
    }
}

void vs_stats_sub(struct vs_port_counters *a, const struct vs_port_counters *b)
{
    a->rx_packets -= b->rx_packets;
    a->rx_bytes -= b->rx_bytes;
    a->tx_packets -= b->tx_packets;
    a->tx_bytes -= b->tx_bytes;
    for (int d = 0; d < VS_DROP__COUNT; d++)
        a->drops[d] -= b->drops[d];
    a->sw_segmented -= b->sw_segmented;
    a->sw_csum -= b->sw_csum;
}

uint64_t vs_stats_drops_total(const struct vs_port_counters *c)
{
    uint64_t t = 0;

    for (int d = 0; d < VS_DROP__COUNT; d++)
        t += c->drops[d];
    return t;
}
