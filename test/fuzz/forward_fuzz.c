/* libFuzzer target: the forwarding loop (dataplane/forward.c) with four in-memory
 * ports whose VLAN modes and port security come from the input, and bursts of
 * frames (untagged or tagged, to a few stations or broadcast) it describes. The
 * decisions themselves (vlan.h) have their own unit tests; this checks that the
 * loop applies them to every frame and destination:
 *   - a frame leaves only on ports other than its own that carry its VLAN, at
 *     most once per port, with exactly the header vs_vlan_egress asks for (as it
 *     came, tag pushed with its VLAN, or tag popped) and its payload intact;
 *   - a broadcast the ingress port accepts reaches every other port that carries
 *     its VLAN (ingress ports without port security, whose sources are never
 *     refused);
 *   - every buffer goes back to the pool.
 *
 * Input:
 *   4 x u8  port settings: bits 0-1 mode (0 transparent, 1 access, 2 trunk,
 *           3 trunk with native VLAN), bits 2-3 its VLAN (1..4: the access tag, or
 *           the trunk's native VLAN; a trunk carries VLANs 1 and 2), bit 4
 *           mac_limit 2
 *   then per frame 3 bytes: in port (bits 0-1), dst (bits 2-3: stations 0..2 or
 *           broadcast), tag (bits 4-6: 0 untagged, else VID tag-1), src station
 *           (bit 7); then payload length (0..255) */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp.h"
#include "dataplane/switch.h"
#include "dataplane/vlan.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"

#define NPORTS 4
#define MAXOUT 512

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
    uint16_t len;
    uint8_t data[320];
};

static struct {
    struct out out[MAXOUT];
    unsigned n;
} outs[NPORTS];

static struct vs_pool *pool;
static struct vs_switch *sw;
static unsigned pool_free;

static int m_validate(const struct vs_port_args *a, struct vs_port_err *e) { return 0; }

static int m_open(struct vs_port *port, const struct vs_port_args *a, struct vs_port_err *e)
{
    port->n_rxq = port->n_txq = 1;
    port->link_up = 1;
    return 0;
}

static void m_close(struct vs_port *port) {}

static uint16_t m_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n) { return 0; }

static uint16_t m_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        if (outs[port->id].n < MAXOUT && pkts[i]->len <= sizeof(outs[0].out[0].data)) {
            struct out *o = &outs[port->id].out[outs[port->id].n++];
            o->len = (uint16_t)pkts[i]->len;
            vs_pkt_copy_out(pkts[i], o->data);
        }
    }
    vs_pkt_free_bulk(pkts, n);
    return n;
}

static const char *const m_keys[] = {NULL};
static const struct vs_port_ops m_ops = {
    .type = "fz", .keys = m_keys, .validate = m_validate, .open = m_open,
    .close = m_close, .rx_burst = m_rx, .tx_burst = m_tx,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct vs_switch_params prm = {.n_pollers = 1, .cpus = {0}, .mode = VS_POLL_BUSY,
                                   .fdb_size = 1024, .fdb_aging = 300};
    struct vs_port_args none = {0, NULL};
    struct vs_port_err err;
    char name[8];

    vs_log_set_level(VS_LOG_ERR);
    if (vs_loop_init() < 0 || vs_port_type_register(&m_ops) < 0 ||
        vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0)
        abort();
    prm.pool = pool;
    if (vs_switch_create(&prm, &sw) < 0)
        abort();
    for (int i = 0; i < NPORTS; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        if (vs_switch_add_port(sw, name, "fz", &none, &err) < 0 || sw->ports[i]->port.id != i)
            abort();
    }
    pool_free = vs_pool_free_count(pool);
    return 0;
}

/* The frame with id: MACs, optional tag, ethertype 0x88b5, id, then a pattern. */
static uint16_t build(uint8_t *f, unsigned id, unsigned in, unsigned dst, unsigned src, int vid,
                      unsigned plen)
{
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint16_t o = 12;

    if (dst == 3)
        memcpy(f, bcast, 6);
    else
        memcpy(f, (uint8_t[6]){2, 0, 0, 0, 0xd, (uint8_t)dst}, 6);
    /* Sources are the ingress port's own: no port claims another's stations. */
    memcpy(f + 6, (uint8_t[6]){2, 0, 0, 0, (uint8_t)in, (uint8_t)src}, 6);
    if (vid >= 0) {
        f[o++] = 0x81, f[o++] = 0x00, f[o++] = (uint8_t)(vid >> 8), f[o++] = (uint8_t)vid;
    }
    f[o++] = 0x88, f[o++] = 0xb5;
    f[o++] = (uint8_t)(id >> 8), f[o++] = (uint8_t)id;
    for (unsigned i = 0; i < plen; i++)
        f[o++] = (uint8_t)(id * 31 + i);
    return o;
}

struct sent {
    uint8_t frame[320];
    uint16_t len;
    uint8_t in, dst, tagged;
    uint16_t vid;
};

static void set_port(unsigned i, uint8_t b)
{
    static const char *const modes[] = {"", "access", "trunk", "trunk"};
    char vlan[8], name[8];
    struct vs_port_arg a[4];
    struct vs_port_args args = {0, a};
    struct vs_port_err err;
    unsigned mode = b & 3, v = ((b >> 2) & 3) + 1;

    snprintf(vlan, sizeof(vlan), "%u", v);
    snprintf(name, sizeof(name), "p%u", i);
    a[args.n++] = (struct vs_port_arg){.key = "vlan_mode", .value = modes[mode]};
    if (mode == 1)
        a[args.n++] = (struct vs_port_arg){.key = "tag", .value = vlan};
    if (mode >= 2)
        a[args.n++] = (struct vs_port_arg){.key = "trunks", .value = "1,2"};
    if (mode == 3)
        a[args.n++] = (struct vs_port_arg){.key = "native_vlan", .value = vlan};
    a[args.n++] = (struct vs_port_arg){.key = "mac_limit", .value = (b & 0x10) ? "2" : ""};
    if (vs_switch_set_port(sw, name, &args, &err) < 0) {
        fprintf(stderr, "set-port %s: %s\n", name, err.msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sent sent[64];
    struct vs_poller *p = &sw->pollers[0];
    unsigned n = 0;

    if (size < NPORTS)
        return 0;
    for (unsigned i = 0; i < NPORTS; i++)
        set_port(i, data[i]);
    vs_fdb_flush(sw->fdb);
    data += NPORTS;
    size -= NPORTS;
    memset(outs, 0, sizeof(outs));
    while (size >= 3 && n < 64) {
        struct sent *s = &sent[n];
        unsigned tag = (data[0] >> 4) & 7;

        s->in = data[0] & 3;
        s->dst = (data[0] >> 2) & 3;
        s->tagged = tag != 0;
        s->vid = (uint16_t)(tag ? tag - 1 : 0);
        s->len = build(s->frame, n, s->in, s->dst, data[0] >> 7, tag ? tag - 1 : -1,
                       data[1] % 240 + (data[2] & 7));
        data += 3;
        size -= 3;
        n++;
    }
    /* Bursts of consecutive frames of one ingress port. */
    for (unsigned i = 0; i < n;) {
        struct vs_pkt *pkts[VS_BURST];
        unsigned k = 0, in = sent[i].in;

        while (i < n && sent[i].in == in && k < VS_BURST) {
            struct vs_pkt *pkt = vs_pkt_alloc(pool);
            if (!pkt)
                abort();
            memcpy(vs_pkt_data(pkt), sent[i].frame, sent[i].len);
            pkt->len = sent[i].len;
            pkts[k++] = pkt;
            i++;
        }
        vs_forward_burst(p, sw->ports[in], pkts, (uint16_t)k, 1);
        vs_forward_flush(p);
    }
    if (vs_pool_free_count(pool) != pool_free)
        abort(); /* a buffer was lost or freed twice */

    uint8_t got[64][NPORTS] = {{0}};
    for (unsigned o = 0; o < NPORTS; o++) {
        const struct vs_port_conf *oc = sw->ports[o]->conf;

        for (unsigned j = 0; j < outs[o].n; j++) {
            const struct out *f = &outs[o].out[j];
            /* The id sits right after the ethertype: find it from the end of the MACs. */
            unsigned off = (f->len >= 16 && f->data[12] == 0x81) ? 18 : 14;
            if (f->len < off + 2)
                abort();
            unsigned id = (unsigned)(f->data[off] << 8 | f->data[off + 1]);
            if (id >= n)
                abort();
            const struct sent *s = &sent[id];
            const struct vs_port_conf *ic = sw->ports[s->in]->conf;
            int v = vs_vlan_ingress(&ic->vlan, s->tagged, s->vid);
            if (o == s->in || v < 0 || got[id][o]++)
                abort(); /* back out of its port, refused at ingress, or twice */
            enum vs_vlan_action a = vs_vlan_egress(&oc->vlan, (uint16_t)v, s->tagged);
            uint8_t want[330];
            uint16_t wlen = s->len;
            if (a == VS_VLAN_NOT_CARRIED)
                abort();
            memcpy(want, s->frame, s->len);
            if (a == VS_VLAN_PUSH) {
                memcpy(want + 16, s->frame + 12, s->len - 12u);
                want[12] = 0x81, want[13] = 0, want[14] = (uint8_t)(v >> 8), want[15] = (uint8_t)v;
                wlen = (uint16_t)(s->len + 4);
            } else if (a == VS_VLAN_POP) {
                memcpy(want + 12, s->frame + 16, s->len - 16u);
                wlen = (uint16_t)(s->len - 4);
            }
            if (f->len != wlen || memcmp(f->data, want, wlen))
                abort();
        }
    }
    /* Broadcasts from ports without port security reach every port carrying them. */
    for (unsigned id = 0; id < n; id++) {
        const struct sent *s = &sent[id];
        const struct vs_port_conf *ic = sw->ports[s->in]->conf;
        int v = vs_vlan_ingress(&ic->vlan, s->tagged, s->vid);

        if (s->dst != 3 || v < 0 || ic->secure)
            continue;
        for (unsigned o = 0; o < NPORTS; o++)
            if (o != s->in &&
                vs_vlan_egress(&sw->ports[o]->conf->vlan, (uint16_t)v, s->tagged) !=
                    VS_VLAN_NOT_CARRIED &&
                !got[id][o])
                abort();
    }
    return 0;
}
