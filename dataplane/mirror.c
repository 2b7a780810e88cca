/* Port mirroring (mirror.h): the pollers' side, and the table the control thread
 * publishes. */
#include "dataplane/mirror.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp.h"
#include "vswitch/log.h"
#include "vswitch/rcu.h"

/* ---- pollers ---- */

/* One more reference to pkt, which the caller holds: another poller may be
 * dropping one of its own references at the same time (a NIC's completions). */
static inline void hold(struct vs_pkt *pkt) { __atomic_fetch_add(&pkt->refcnt, 1, __ATOMIC_RELAXED); }

/* pkt (a reference the caller gives up) into mirror slot's destination batch, or
 * dropped on the mirror when the batch has no room left. */
static void add(struct vs_poller *p, const struct vs_mirror *m, unsigned slot, struct vs_pkt *pkt)
{
    struct vs_tx_batch *b = &p->tx[m->dst];

    if (b->n >= VS_BURST || (b->n == 0 && p->n_pending >= VS_MAX_PORTS)) {
        p->mirror_dropped[slot]++;
        vs_pkt_free(pkt);
        return;
    }
    if (b->n == 0)
        p->pending[p->n_pending++] = m->dst;
    b->slow |= vs_offload_slow(pkt);
    b->pkts[b->n++] = pkt;
    p->mirror_sent[slot]++;
}

void vs_mirror_rx_hold(struct vs_poller *p, uint16_t port, struct vs_pkt **pkts, uint16_t n)
{
    const struct vs_mirror_table *t = vs_rcu_deref(p->sw->mirrors);
    unsigned refs;

    if (!t || !t->rx_mask[port])
        return;
    /* Held from before forwarding looks at them: a frame dropped or changed on its
     * way is still mirrored as it came in (a held frame is shared, so a tag change
     * goes to a copy). */
    refs = (unsigned)__builtin_popcount(t->rx_mask[port]);
    for (uint16_t i = 0; i < n; i++) {
        __atomic_fetch_add(&pkts[i]->refcnt, (uint16_t)refs, __ATOMIC_RELAXED);
        p->mir_pkts[i] = pkts[i];
    }
    p->mir_n = n;
    p->mir_port = port;
    p->mir_table = t;
}

void vs_mirror_rx_release(struct vs_poller *p)
{
    /* The table the references were taken for: a new one may be out already. */
    const struct vs_mirror_table *t = p->mir_table;
    uint16_t mask = t->rx_mask[p->mir_port];

    for (unsigned s = 0; s < VS_MAX_MIRRORS; s++)
        if (mask & (1u << s))
            for (unsigned i = 0; i < p->mir_n; i++)
                add(p, &t->m[s], s, p->mir_pkts[i]);
    p->mir_n = 0;
}

void vs_mirror_tx(struct vs_poller *p, const struct vs_mirror_table *t, uint16_t port,
                  struct vs_pkt **pkts, uint16_t n)
{
    uint16_t mask = t->tx_mask[port];

    for (unsigned s = 0; s < VS_MAX_MIRRORS; s++)
        if (mask & (1u << s))
            for (uint16_t i = 0; i < n; i++) {
                hold(pkts[i]);
                add(p, &t->m[s], s, pkts[i]);
            }
}

/* ---- control thread ---- */

static void slot_counters(const struct vs_switch *sw, unsigned s, uint64_t *sent, uint64_t *dropped)
{
    *sent = *dropped = 0;
    for (unsigned i = 0; i < sw->params.n_pollers; i++) {
        *sent += VS_READ_ONCE(sw->pollers[i].mirror_sent[s]);
        *dropped += VS_READ_ONCE(sw->pollers[i].mirror_dropped[s]);
    }
}

/* Publishes t (NULL when it holds no mirror; freed then) in place of the old
 * table, which is freed after a grace period. */
static void publish(struct vs_switch *sw, struct vs_mirror_table *t)
{
    struct vs_mirror_table *old = sw->mirrors;
    bool any = false;

    if (t) {
        memset(t->rx_mask, 0, sizeof(t->rx_mask));
        memset(t->tx_mask, 0, sizeof(t->tx_mask));
        memset(t->is_dst, 0, sizeof(t->is_dst));
        for (unsigned s = 0; s < VS_MAX_MIRRORS; s++) {
            const struct vs_mirror *m = &t->m[s];

            if (!m->used)
                continue;
            any = true;
            t->is_dst[m->dst] = true;
            for (unsigned i = 0; i < m->n_src; i++) {
                if (m->dir & VS_MIRROR_RX)
                    t->rx_mask[m->src[i]] |= (uint16_t)(1u << s);
                if (m->dir & VS_MIRROR_TX)
                    t->tx_mask[m->src[i]] |= (uint16_t)(1u << s);
            }
        }
        if (!any) {
            free(t);
            t = NULL;
        }
    }
    vs_rcu_assign(sw->mirrors, t);
    vs_rcu_synchronize();
    free(old);
}

static struct vs_mirror_table *copy_table(const struct vs_switch *sw)
{
    struct vs_mirror_table *t = calloc(1, sizeof(*t));

    if (t && sw->mirrors)
        memcpy(t, sw->mirrors, sizeof(*t));
    return t;
}

static int find(const struct vs_mirror_table *t, const char *name)
{
    for (unsigned s = 0; t && s < VS_MAX_MIRRORS; s++)
        if (t->m[s].used && !strcmp(t->m[s].name, name))
            return (int)s;
    return -1;
}

static struct vs_dp_port *port_named(struct vs_switch *sw, const char *name)
{
    for (unsigned i = 0; i < VS_MAX_PORTS; i++)
        if (sw->ports[i] && !strcmp(sw->ports[i]->port.name, name))
            return sw->ports[i];
    return NULL;
}

int vs_switch_mirror_add(struct vs_switch *sw, const char *name, const char *const *srcs,
                         unsigned n_src, unsigned dir, const char *dst, char *err, size_t errlen)
{
    const struct vs_mirror_table *cur = sw->mirrors;
    struct vs_dp_port *d = port_named(sw, dst);
    struct vs_mirror m = {.used = true, .dir = (uint8_t)dir};
    struct vs_mirror_table *t;
    int slot = -1;

    if (!vs_port_name_valid(name)) {
        snprintf(err, errlen, "not a valid mirror name; use 1..%d characters of A-Z a-z 0-9 _ . -",
                 VS_PORT_NAME_MAX - 1);
        return -EINVAL;
    }
    if (find(cur, name) >= 0) {
        snprintf(err, errlen, "a mirror named '%s' already exists (mirror del it first)", name);
        return -EEXIST;
    }
    if (!dir || dir > (VS_MIRROR_RX | VS_MIRROR_TX) || !n_src || n_src > VS_MAX_PORTS) {
        snprintf(err, errlen, "a mirror needs at least one source port and a direction");
        return -EINVAL;
    }
    if (!d) {
        snprintf(err, errlen, "no port named '%s' for dst (see list-ports)", dst);
        return -ENOENT;
    }
    m.dst = d->port.id;
    snprintf(m.name, sizeof(m.name), "%s", name);
    for (unsigned i = 0; i < n_src; i++) {
        struct vs_dp_port *s = port_named(sw, srcs[i]);

        if (!s) {
            snprintf(err, errlen, "no port named '%s' for src (see list-ports)", srcs[i]);
            return -ENOENT;
        }
        if (s == d) {
            snprintf(err, errlen, "port %s is both source and destination; mirror to another port",
                     srcs[i]);
            return -EINVAL;
        }
        for (unsigned j = 0; j < m.n_src; j++)
            if (m.src[j] == s->port.id) {
                snprintf(err, errlen, "port %s is listed twice in src", srcs[i]);
                return -EINVAL;
            }
        m.src[m.n_src++] = s->port.id;
    }
    /* Copies are never mirrored again: no chains, no loops between mirrors. */
    for (unsigned s = 0; cur && s < VS_MAX_MIRRORS; s++) {
        const struct vs_mirror *o = &cur->m[s];

        if (!o->used)
            continue;
        for (unsigned i = 0; i < m.n_src; i++)
            if (m.src[i] == o->dst) {
                snprintf(err, errlen, "port %s receives mirror %s's copies and cannot be a source",
                         sw->ports[o->dst]->port.name, o->name);
                return -EINVAL;
            }
        for (unsigned i = 0; i < o->n_src; i++)
            if (o->src[i] == m.dst) {
                snprintf(err, errlen, "port %s is a source of mirror %s and cannot receive copies",
                         dst, o->name);
                return -EINVAL;
            }
    }
    for (unsigned s = 0; s < VS_MAX_MIRRORS && slot < 0; s++)
        if (!cur || !cur->m[s].used)
            slot = (int)s;
    if (slot < 0) {
        snprintf(err, errlen, "the switch already has %d mirrors", VS_MAX_MIRRORS);
        return -ENOSPC;
    }
    if (!(t = copy_table(sw)))
        return -ENOMEM;
    slot_counters(sw, (unsigned)slot, &m.base_sent, &m.base_dropped);
    t->m[slot] = m;
    publish(sw, t);
    vs_info("mirror %s: %u source port%s (%s) to %s", name, n_src, n_src == 1 ? "" : "s",
            dir == VS_MIRROR_RX ? "rx" : dir == VS_MIRROR_TX ? "tx" : "rx and tx", dst);
    return 0;
}

int vs_switch_mirror_del(struct vs_switch *sw, const char *name)
{
    int s = find(sw->mirrors, name);
    struct vs_mirror_table *t;

    if (s < 0)
        return -ENOENT;
    if (!(t = copy_table(sw)))
        return -ENOMEM;
    t->m[s].used = false;
    publish(sw, t);
    vs_info("mirror %s: removed", name);
    return 0;
}

void vs_mirror_port_gone(struct vs_switch *sw, uint16_t id)
{
    const struct vs_mirror_table *cur = sw->mirrors;
    struct vs_mirror_table *t;
    bool change = false;

    for (unsigned s = 0; cur && s < VS_MAX_MIRRORS; s++) {
        bool uses = cur->m[s].used && cur->m[s].dst == id;

        for (unsigned i = 0; cur->m[s].used && i < cur->m[s].n_src; i++)
            uses |= cur->m[s].src[i] == id;
        change |= uses;
    }
    if (!change)
        return;
    /* Out of memory: the table stays; copies to a port that is gone are dropped
     * as link_down, and list shows it as "?". */
    if (!(t = copy_table(sw)))
        return;
    for (unsigned s = 0; s < VS_MAX_MIRRORS; s++) {
        struct vs_mirror *m = &t->m[s];
        bool uses = m->used && m->dst == id;

        for (unsigned i = 0; m->used && i < m->n_src; i++)
            uses |= m->src[i] == id;
        if (uses) {
            vs_info("mirror %s: removed with port %s", m->name, sw->ports[id]->port.name);
            m->used = false;
        }
    }
    publish(sw, t);
}

static const char *port_name(const struct vs_switch *sw, uint16_t id)
{
    return sw->ports[id] ? sw->ports[id]->port.name : "?";
}

json_t *vs_switch_mirror_list(struct vs_switch *sw)
{
    const struct vs_mirror_table *t = sw->mirrors;
    json_t *arr = json_array();

    for (unsigned s = 0; t && s < VS_MAX_MIRRORS; s++) {
        const struct vs_mirror *m = &t->m[s];
        json_t *src;
        uint64_t sent, dropped;

        if (!m->used)
            continue;
        src = json_array();
        for (unsigned i = 0; i < m->n_src; i++)
            json_array_append_new(src, json_string(port_name(sw, m->src[i])));
        slot_counters(sw, s, &sent, &dropped);
        json_array_append_new(
            arr, json_pack("{s:s, s:o, s:s, s:s, s:I, s:I}", "name", m->name, "src", src, "dir",
                           m->dir == VS_MIRROR_RX   ? "rx"
                           : m->dir == VS_MIRROR_TX ? "tx"
                                                    : "both",
                           "dst", port_name(sw, m->dst), "mirrored",
                           (json_int_t)(sent - m->base_sent), "dropped",
                           (json_int_t)(dropped - m->base_dropped)));
    }
    return json_pack("{s:o}", "mirrors", arr);
}
