/* forward_bench: the dataplane's forwarding loop alone, on one thread, with
 * in-memory ports: bursts of 32 64-byte unicast frames from port a to port b
 * through vs_forward_burst and vs_forward_flush (learning, lookup, batching,
 * tx_burst, freeing), with no poller thread and no ring in between.
 *
 *   forward_bench [--bursts N] [--port-options KEY=VALUE[,KEY=VALUE...]]
 *
 * --port-options gives both ports the same switch options (for instance
 * vlan_mode=access,tag=10) to compare against the default. It prints ns per
 * frame; run it under `valgrind --tool=callgrind --toggle-collect=run` for
 * instruction counts that a busy machine does not disturb. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/dp.h"
#include "dataplane/switch.h"
#include "vswitch/loop.h"

#define FRAME 64

static struct vs_pkt *pending[VS_BURST];

static int m_validate(const struct vs_port_args *a, struct vs_port_err *e) { return 0; }

static int m_open(struct vs_port *port, const struct vs_port_args *a, struct vs_port_err *e)
{
    port->n_rxq = 1;
    port->n_txq = 1;
    port->link_up = 1;
    return 0;
}

static void m_close(struct vs_port *port) {}

static uint16_t m_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return 0;
}

static uint16_t m_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    vs_pkt_free_bulk(pkts, n);
    return n;
}

static const char *const m_keys[] = {NULL};
static const struct vs_port_ops m_ops = {
    .type = "bench",
    .keys = m_keys,
    .validate = m_validate,
    .open = m_open,
    .close = m_close,
    .rx_burst = m_rx,
    .tx_burst = m_tx,
};

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The measured loop (callgrind's --toggle-collect target). */
void run(struct vs_poller *p, struct vs_dp_port *in, struct vs_pool *pool, unsigned bursts);
__attribute__((noinline)) void run(struct vs_poller *p, struct vs_dp_port *in, struct vs_pool *pool,
                                   unsigned bursts)
{
    static const uint8_t hdr[14] = {2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00};

    for (unsigned b = 0; b < bursts; b++) {
        unsigned n = vs_pkt_alloc_bulk(pool, pending, VS_BURST);

        for (unsigned i = 0; i < n; i++) {
            memcpy(vs_pkt_data(pending[i]), hdr, sizeof(hdr));
            pending[i]->len = FRAME;
        }
        vs_forward_burst(p, in, pending, (uint16_t)n, 1);
        vs_forward_flush(p);
    }
}

static void add(struct vs_switch *sw, const char *name, char *opts)
{
    struct vs_port_arg a[16];
    struct vs_port_args args = {0, a};
    struct vs_port_err err;

    for (char *s = opts ? strtok(opts, ",") : NULL; s && args.n < 16; s = strtok(NULL, ",")) {
        char *eq = strchr(s, '=');
        if (!eq) {
            fprintf(stderr, "forward_bench: '%s' is not KEY=VALUE\n", s);
            exit(2);
        }
        *eq = 0;
        a[args.n++] = (struct vs_port_arg){.key = s, .value = eq + 1};
    }
    if (vs_switch_add_port(sw, name, "bench", &args, &err) < 0) {
        fprintf(stderr, "forward_bench: port %s: %s\n", name, err.msg);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct vs_switch_params prm = {
        .n_pollers = 1, .cpus = {0}, .mode = VS_POLL_BUSY, .fdb_size = 4096, .fdb_aging = 300};
    unsigned bursts = 200000;
    const char *opts = NULL;
    struct vs_switch *sw;
    struct vs_pool *pool;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bursts") && i + 1 < argc)
            bursts = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--port-options") && i + 1 < argc)
            opts = argv[++i];
        else {
            fprintf(stderr, "usage: forward_bench [--bursts N] [--port-options K=V,...]\n");
            return 2;
        }
    }
    if (vs_loop_init() < 0 || vs_port_type_register(&m_ops) < 0 ||
        vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0)
        return 1;
    prm.pool = pool;
    if (vs_switch_create(&prm, &sw) < 0)
        return 1;
    char *o1 = opts ? strdup(opts) : NULL, *o2 = opts ? strdup(opts) : NULL;
    add(sw, "a", o1);
    add(sw, "b", o2);
    free(o1);
    free(o2);

    struct vs_poller *p = &sw->pollers[0];
    struct vs_dp_port *a = sw->ports[0], *b = sw->ports[1];
    /* b's station is known, as in a steady flow. */
    static const uint8_t rev[14] = {2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x08, 0x00};
    struct vs_pkt *r = vs_pkt_alloc(pool);
    memcpy(vs_pkt_data(r), rev, sizeof(rev));
    r->len = FRAME;
    vs_forward_burst(p, b, &r, 1, 1);
    vs_forward_flush(p);

    run(p, a, pool, 1000); /* warm-up */
    double t0 = now_ns();
    run(p, a, pool, bursts);
    double t1 = now_ns();
    struct vs_port_counters c;
    vs_switch_port_counters(sw, "b", &c);
    printf("{\"frames\": %llu, \"ns_per_frame\": %.2f, \"tx_b\": %llu}\n",
           (unsigned long long)bursts * VS_BURST, (t1 - t0) / ((double)bursts * VS_BURST),
           (unsigned long long)c.tx_packets);
    vs_switch_destroy(sw);
    vs_pool_destroy(pool);
    vs_loop_fini();
    return 0;
}
