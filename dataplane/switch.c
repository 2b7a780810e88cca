/* The switch object. Every function runs on the main (control) thread, the only
 * writer of the port table and the poll lists; pollers read them under RCU. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/capture.h"
#include "dataplane/dp.h"
#include "vswitch/cpu.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/rcu.h"

static int remove_port(struct vs_switch *sw, struct vs_dp_port *dp);

static void age_fdb(void *arg)
{
    struct vs_switch *sw = arg;
    unsigned n = vs_fdb_age(sw->fdb, vs_fdb_now());

    if (n)
        vs_debug("fdb: %u entries aged out", n);
}

struct station_dump {
    struct vs_fdb_entry *e;
    unsigned n, cap;
};

static void collect_station(const struct vs_fdb_entry *e, void *arg)
{
    struct station_dump *d = arg;

    if (d->n < d->cap)
        d->e[d->n++] = *e;
}

/* Ports that mirror the stations of the other ports elsewhere (local_stations: a
 * VXLAN port with EVPN) get the whole table every few seconds: a periodic look at
 * the table from the main thread is simpler than a stream of learn and age events
 * from the pollers, never loses one, and its latency is small next to BGP's. */
#define STATION_SYNC_S 2
static void sync_local_stations(struct vs_switch *sw)
{
    static unsigned tick;
    struct station_dump d = {0};

    if (++tick % STATION_SYNC_S)
        return;
    for (unsigned i = 0; i < VS_MAX_PORTS; i++) {
        struct vs_dp_port *dp = sw->ports[i];

        if (!dp || !dp->port.ops->local_stations)
            continue;
        if (!d.e) {
            d.cap = vs_fdb_count(sw->fdb) + 64;
            if (!(d.e = malloc(d.cap * sizeof(*d.e))))
                return;
            vs_fdb_foreach(sw->fdb, vs_fdb_now(), collect_station, &d);
        }
        dp->port.ops->local_stations(&dp->port, d.e, d.n);
    }
    free(d.e);
}

/* Ports cannot call the dataplane; one that failed for good says so in its flag
 * and is removed here, so the others keep forwarding. */
static void reap_failed_ports(void *arg)
{
    struct vs_switch *sw = arg;

    for (unsigned i = 0; i < VS_MAX_PORTS; i++) {
        struct vs_dp_port *dp = sw->ports[i];
        int rc;

        if (!dp || !VS_READ_ONCE(dp->port.failed))
            continue;
        if (!dp->reap_tried)
            vs_err("port %s: failed (see the messages above); removing it", dp->port.name);
        if ((rc = remove_port(sw, dp)) < 0) {
            if (!dp->reap_tried)
                vs_err("port %s: cannot remove it yet (%s); trying again every second",
                       dp->port.name, strerror(-rc));
            dp->reap_tried = true;
        }
    }
    sync_local_stations(sw);
}

int vs_switch_create(const struct vs_switch_params *params, struct vs_switch **out)
{
    struct vs_switch *sw;
    int rc;

    if (params->n_pollers == 0 || params->n_pollers > VS_MAX_POLLERS || !params->pool)
        return -EINVAL;
    sw = calloc(1, sizeof(*sw));
    if (!sw)
        return -ENOMEM;
    sw->params = *params;
    sw->aging_timer = -1;
    sw->health_timer = -1;
    if ((rc = vs_fdb_create(params->fdb_size, params->fdb_aging, &sw->fdb)) < 0)
        goto fail;
    rc = -ENOMEM;
    sw->port_set = calloc(1, sizeof(*sw->port_set));
    /* Pollers are large (per-port batches and counters) and cache-line aligned. */
    sw->pollers = aligned_alloc(VS_CACHE_LINE, sizeof(*sw->pollers) * params->n_pollers);
    if (!sw->port_set || !sw->pollers)
        goto fail;
    memset(sw->pollers, 0, sizeof(*sw->pollers) * params->n_pollers);
    for (unsigned i = 0; i < params->n_pollers; i++) {
        struct vs_poller *p = &sw->pollers[i];

        p->sw = sw;
        p->id = i;
        p->cpu = params->cpus[i];
        p->wake_fd = -1;
        if (!(p->list = calloc(1, sizeof(*p->list))))
            goto fail;
    }
    *out = sw;
    return 0;
fail:
    vs_switch_destroy(sw);
    return rc;
}

int vs_switch_start(struct vs_switch *sw)
{
    int rc;
    uint64_t period = VS_MIN(VS_MAX(sw->params.fdb_aging / 30, 1u), 10u) * 1000;

    for (unsigned i = 0; i < sw->params.n_pollers; i++) {
        if ((rc = vs_poller_start(&sw->pollers[i])) < 0) {
            vs_err("poller %u: cannot start thread: %s", i, strerror(-rc));
            return rc;
        }
    }
    if ((rc = vs_loop_add_timer(1000, 1000, reap_failed_ports, sw)) < 0)
        return rc;
    sw->health_timer = rc;
    if (sw->params.fdb_aging) {
        rc = vs_loop_add_timer(period, period, age_fdb, sw);
        if (rc < 0)
            return rc;
        sw->aging_timer = rc;
    }
    sw->started = true;
    return 0;
}

static struct vs_dp_port *find_port(const struct vs_switch *sw, const char *name)
{
    for (unsigned i = 0; i < VS_MAX_PORTS; i++)
        if (sw->ports[i] && !strcmp(sw->ports[i]->port.name, name))
            return sw->ports[i];
    return NULL;
}

/* Publishes a new flood set from the port table and returns the old one, which
 * pollers may read until the next grace period; NULL (nothing changed) when out of
 * memory. */
static struct vs_port_set *publish_port_set(struct vs_switch *sw)
{
    struct vs_port_set *set = calloc(1, sizeof(*set)), *old = sw->port_set;

    if (!set)
        return NULL;
    for (unsigned i = 0; i < VS_MAX_PORTS; i++)
        if (sw->ports[i])
            set->id[set->n++] = (uint16_t)i;
    vs_rcu_assign(sw->port_set, set);
    return old;
}

/* Puts dp (NULL: none) into slot id and gives the pollers their new queue lists,
 * with the grace periods after which nothing reads what slot id held before.
 * -ENOMEM: nothing changed. */
static int set_port(struct vs_switch *sw, uint16_t id, struct vs_dp_port *dp)
{
    struct vs_dp_port *prev = sw->ports[id];
    struct vs_port_set *old_set = sw->port_set, *unused = old_set;
    unsigned n_ports = sw->n_ports;
    int rc;

    vs_rcu_assign(sw->ports[id], dp);
    sw->n_ports = n_ports - (prev != NULL) + (dp != NULL);
    rc = publish_port_set(sw) ? vs_sched_rebalance(sw) : -ENOMEM;
    if (rc < 0) {
        /* Nothing but the table and the flood set was published: put both back,
         * and wait for pollers that may have flooded through them. */
        unused = sw->port_set;
        vs_rcu_assign(sw->port_set, old_set);
        vs_rcu_assign(sw->ports[id], prev);
        sw->n_ports = n_ports;
        vs_rcu_synchronize();
    }
    if (unused != sw->port_set)
        free(unused);
    return rc;
}

static void free_dp_port(struct vs_dp_port *dp)
{
    json_decref(dp->options);
    free(dp->conf);
    free(dp);
}

int vs_switch_add_port(struct vs_switch *sw, const char *name, const char *type,
                       const struct vs_port_args *args, struct vs_port_err *err)
{
    const struct vs_port_ops *ops = vs_port_type_find(type);
    struct vs_dp_port *dp;
    int id = -1, rc;

    err->arg = -1;
    err->msg[0] = 0;
    if (!ops) {
        vs_port_err_set(err, -1, "unknown port type '%s'; known types: %s", type,
                        vs_port_type_list());
        return -ENOENT;
    }
    if (!vs_port_name_valid(name)) {
        vs_port_err_set(err, -1,
                        "not a valid port name; use 1..%d characters of "
                        "A-Z a-z 0-9 _ . -",
                        VS_PORT_NAME_MAX - 1);
        return -EINVAL;
    }
    if (find_port(sw, name)) {
        vs_port_err_set(err, -1, "a port named '%s' already exists", name);
        return -EEXIST;
    }
    for (unsigned i = 0; i < VS_MAX_PORTS && id < 0; i++)
        if (!sw->ports[i])
            id = (int)i;
    if (id < 0) {
        vs_port_err_set(err, -1, "the switch already has %d ports", VS_MAX_PORTS);
        return -ENOSPC;
    }
    if (!(dp = calloc(1, sizeof(*dp))) || !(dp->conf = malloc(sizeof(*dp->conf)))) {
        free(dp);
        return -ENOMEM;
    }
    if ((rc = vs_port_conf_parse(args, dp->conf, err)) < 0) {
        free_dp_port(dp);
        return rc;
    }
    snprintf(dp->port.name, sizeof(dp->port.name), "%s", name);
    snprintf(dp->type, sizeof(dp->type), "%s", type);
    dp->port.ops = ops;
    dp->port.id = (uint16_t)id;
    dp->port.pool = sw->params.pool;
    dp->port.mtu = VS_PORT_MTU_DEFAULT; /* a type without the option carries standard frames */
    dp->options = json_object();
    for (unsigned i = 0; i < args->n; i++)
        json_object_set_new(dp->options, args->v[i].key, json_string(args->v[i].value));

    /* The type sees its own options only. */
    struct vs_port_arg type_args[args->n ? args->n : 1];
    int map[args->n ? args->n : 1];
    struct vs_port_args targs = {vs_port_conf_split(args, type_args, map), type_args};
    if ((rc = ops->open(&dp->port, &targs, err)) < 0) {
        if (err->arg >= 0 && (unsigned)err->arg < targs.n)
            err->arg = map[err->arg];
        free_dp_port(dp);
        return rc;
    }
    if (dp->port.n_rxq > VS_PORT_MAX_QUEUES || dp->port.n_txq == 0 ||
        dp->port.n_txq > VS_PORT_MAX_QUEUES) {
        vs_port_err_set(err, -1, "port type %s opened %u rx / %u tx queues (1 to %d allowed)",
                        type, dp->port.n_rxq, dp->port.n_txq, VS_PORT_MAX_QUEUES);
        ops->close(&dp->port);
        free_dp_port(dp);
        return -EINVAL;
    }
    dp->txq_shared = sw->params.n_pollers > dp->port.n_txq;
    vs_stats_sum(sw, (uint16_t)id, &dp->base);

    if ((rc = set_port(sw, (uint16_t)id, dp)) < 0) {
        ops->close(&dp->port);
        free_dp_port(dp);
        vs_port_err_set(err, -1, "cannot give its queues to pollers: %s", strerror(-rc));
        return rc;
    }
    vs_info("port %s: added (type %s, %u rx / %u tx queues%s)", name, type, dp->port.n_rxq,
            dp->port.n_txq, dp->txq_shared ? ", tx queues shared by pollers" : "");
    return 0;
}

/* 0: afterwards no poller polls, floods to, or flushes a batch into the port, and
 * it is gone. -ENOMEM: it is still in place and working. */
static int remove_port(struct vs_switch *sw, struct vs_dp_port *dp)
{
    uint16_t id = dp->port.id;
    int rc;

    vs_mirror_port_gone(sw, id);
    if ((rc = set_port(sw, id, NULL)) < 0)
        return rc;
    /* A device that lingered after close (a TAP held by a sleeping poller's
     * poll()) would refuse its name to a port opened right after, as a reload
     * that re-creates a port does. */
    for (unsigned i = 0; i < sw->params.n_pollers; i++)
        vs_poller_wait_sleep_over(&sw->pollers[i]);
    vs_capture_port_removed(sw, id);
    dp->port.ops->close(&dp->port);
    vs_fdb_forget_port(sw->fdb, id);
    free_dp_port(dp);
    return 0;
}

int vs_switch_set_port(struct vs_switch *sw, const char *name, const struct vs_port_args *args,
                       struct vs_port_err *err)
{
    struct vs_dp_port *dp = find_port(sw, name);
    struct vs_port_conf *conf, *old;
    json_t *opts;
    int rc = 0;

    err->arg = -1;
    err->msg[0] = 0;
    if (!dp) {
        vs_port_err_set(err, -1, "no port named '%s' (see list-ports)", name);
        return -ENOENT;
    }
    for (unsigned i = 0; i < args->n; i++)
        if (!vs_port_conf_is_key(args->v[i].key)) {
            vs_port_err_set(err, (int)i,
                            "option '%s' cannot change while the port runs (set-port takes %s); "
                            "del-port and add-port it with the new value",
                            args->v[i].key, vs_port_conf_key_list());
            return -EINVAL;
        }
    /* The new options: the old ones with these replaced; an empty value goes back to
     * the default, and a new vlan_mode starts its VLAN settings afresh. */
    if (!(opts = json_deep_copy(dp->options)))
        return -ENOMEM;
    if (vs_port_args_get(args, "vlan_mode", NULL)) {
        const char *k;
        json_t *v, *tmp;

        json_object_foreach_safe(opts, tmp, k, v) if (vs_port_conf_is_vlan_key(k))
            json_object_del(opts, k);
    }
    for (unsigned i = 0; i < args->n; i++) {
        if (args->v[i].value[0])
            json_object_set_new(opts, args->v[i].key, json_string(args->v[i].value));
        else
            json_object_del(opts, args->v[i].key);
    }
    /* Parsed from the merged options so that the rules across keys hold; errors name
     * the key as given here. */
    size_t n = json_object_size(opts);
    struct vs_port_arg all[n ? n : 1];
    struct vs_port_args merged = {0, all};
    const char *k;
    json_t *v;

    json_object_foreach(opts, k, v) all[merged.n++] = (struct vs_port_arg){k, json_string_value(v), 0, 0};
    if (!(conf = malloc(sizeof(*conf)))) {
        json_decref(opts);
        return -ENOMEM;
    }
    if ((rc = vs_port_conf_parse(&merged, conf, err)) < 0) {
        if (err->arg >= 0)
            vs_port_args_get(args, all[err->arg].key, &err->arg);
        free(conf);
        json_decref(opts);
        return rc;
    }
    old = dp->conf;
    bool vlans_changed = memcmp(&old->vlan, &conf->vlan, sizeof(conf->vlan)) != 0;
    vs_rcu_assign(dp->conf, conf);
    json_decref(dp->options);
    dp->options = opts;
    vs_rcu_synchronize();
    free(old);
    /* Stations learned in VLANs the port no longer carries would be unreachable. */
    if (vlans_changed)
        vs_fdb_flush_port(sw->fdb, dp->port.id);
    vs_info("port %s: switch settings changed", name);
    return 0;
}

int vs_switch_del_port(struct vs_switch *sw, const char *name)
{
    struct vs_dp_port *dp = find_port(sw, name);
    int rc;

    if (!dp)
        return -ENOENT;
    if ((rc = remove_port(sw, dp)) < 0)
        return rc;
    vs_info("port %s: removed", name);
    return 0;
}

void vs_switch_destroy(struct vs_switch *sw)
{
    if (!sw)
        return;
    if (sw->aging_timer > 0)
        vs_loop_del_timer(sw->aging_timer);
    if (sw->health_timer > 0)
        vs_loop_del_timer(sw->health_timer);
    if (sw->pollers) {
        for (unsigned i = 0; i < sw->params.n_pollers; i++)
            vs_poller_stop(&sw->pollers[i]);
        /* Pollers are gone: nothing reads the tables any more. */
        for (unsigned i = 0; i < VS_MAX_PORTS; i++) {
            struct vs_dp_port *dp = sw->ports[i];

            if (!dp)
                continue;
            sw->ports[i] = NULL;
            dp->port.ops->close(&dp->port);
            free_dp_port(dp);
        }
        for (unsigned i = 0; i < sw->params.n_pollers; i++)
            free(sw->pollers[i].list);
        free(sw->pollers);
    }
    free(sw->port_set);
    free(sw->captures); /* their owners stopped the sessions */
    free(sw->mirrors);
    vs_fdb_destroy(sw->fdb);
    free(sw);
}

unsigned vs_switch_port_count(const struct vs_switch *sw) { return sw->n_ports; }

int vs_switch_port_counters(struct vs_switch *sw, const char *name, struct vs_port_counters *out)
{
    struct vs_dp_port *dp = find_port(sw, name);

    if (!dp)
        return -ENOENT;
    vs_stats_sum(sw, dp->port.id, out);
    vs_stats_sub(out, &dp->base);
    return 0;
}

#define JINT(v) json_integer((json_int_t)(v))

static json_t *summary(struct vs_switch *sw, struct vs_dp_port *dp, struct vs_port_counters *c)
{
    char vlan[128];

    vs_stats_sum(sw, dp->port.id, c);
    vs_stats_sub(c, &dp->base);
    vs_port_conf_vlan_text(dp->conf, vlan, sizeof(vlan));
    return json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:s}", "name", dp->port.name, "type",
                     dp->type, "id", (int)dp->port.id, "link",
                     VS_READ_ONCE(dp->port.link_up) ? "up" : "down", "rx_queues",
                     (int)dp->port.n_rxq, "tx_queues", (int)dp->port.n_txq, "vlan", vlan);
}

json_t *vs_switch_port_summary(struct vs_switch *sw, const char *name)
{
    struct vs_dp_port *dp = find_port(sw, name);
    struct vs_port_counters c;
    json_t *o;

    if (!dp)
        return NULL;
    o = summary(sw, dp, &c);
    json_object_set_new(o, "rx_packets", JINT(c.rx_packets));
    json_object_set_new(o, "tx_packets", JINT(c.tx_packets));
    json_object_set_new(o, "rx_bytes", JINT(c.rx_bytes));
    json_object_set_new(o, "tx_bytes", JINT(c.tx_bytes));
    json_object_set_new(o, "drops", JINT(vs_stats_drops_total(&c)));
    return o;
}

json_t *vs_switch_list_ports(struct vs_switch *sw)
{
    json_t *arr = json_array();

    for (unsigned i = 0; i < VS_MAX_PORTS; i++)
        if (sw->ports[i])
            json_array_append_new(arr, vs_switch_port_summary(sw, sw->ports[i]->port.name));
    return json_pack("{s:o}", "ports", arr);
}

/* The requests a port takes as they are, by name. */
static json_t *offload_names(uint8_t ol)
{
    static const struct {
        uint8_t bit;
        const char *name;
    } names[] = {{VS_OL_CSUM, "csum"}, {VS_OL_TSO4, "tso4"}, {VS_OL_TSO6, "tso6"},
                 {VS_OL_USO, "uso"},   {VS_OL_ECN, "ecn"}};
    json_t *a = json_array();

    for (unsigned i = 0; i < VS_ARRAY_SIZE(names); i++)
        if (ol & names[i].bit)
            json_array_append_new(a, json_string(names[i].name));
    return a;
}

json_t *vs_switch_port_show(struct vs_switch *sw, const char *name)
{
    struct vs_dp_port *dp = find_port(sw, name);
    struct vs_port_counters c;
    json_t *o, *drops, *details;

    if (!dp)
        return NULL;
    o = summary(sw, dp, &c);
    drops = json_object();
    for (int d = 0; d < VS_DROP__COUNT; d++)
        json_object_set_new(drops, vs_drop_name(d), JINT(c.drops[d]));
    json_object_set_new(o, "counters",
                        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "rx_packets",
                                  (json_int_t)c.rx_packets, "rx_bytes", (json_int_t)c.rx_bytes,
                                  "tx_packets", (json_int_t)c.tx_packets, "tx_bytes",
                                  (json_int_t)c.tx_bytes, "sw_segmented",
                                  (json_int_t)c.sw_segmented, "sw_csum", (json_int_t)c.sw_csum,
                                  "drops", drops));
    json_object_set_new(o, "mtu", json_integer(dp->port.mtu));
    json_object_set_new(o, "tx_offloads", offload_names(VS_READ_ONCE(dp->port.tx_offloads)));
    json_object_set(o, "options", dp->options);
    json_t *conf = vs_port_conf_json(dp->conf);
    json_object_update(o, conf);
    json_decref(conf);
    json_object_set_new(o, "tx_queues_shared", json_boolean(dp->txq_shared));
    details = json_object();
    if (dp->port.ops->show)
        dp->port.ops->show(&dp->port, details);
    json_object_set_new(o, "details", details);
    return o;
}

json_t *vs_switch_pollers(struct vs_switch *sw)
{
    json_t *pollers = json_array(), *txqs = json_array();

    for (unsigned i = 0; i < sw->params.n_pollers; i++) {
        const struct vs_poller *p = &sw->pollers[i];
        json_t *queues = json_array();
        uint64_t packets = 0; /* received from its queues: cycles per packet */

        for (unsigned j = 0; j < VS_MAX_PORTS; j++)
            packets += VS_READ_ONCE(p->counters[j].rx_packets);
        for (unsigned j = 0; j < p->list->n; j++)
            json_array_append_new(queues, json_pack("{s:s, s:i}", "port",
                                                    p->list->q[j].port->port.name, "queue",
                                                    (int)p->list->q[j].queue));
        json_array_append_new(
            pollers, json_pack("{s:i, s:i, s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "id", (int)p->id,
                               "cpu", p->cpu, "queues", queues, "busy_cycles",
                               (json_int_t)VS_READ_ONCE(p->busy_cycles), "idle_cycles",
                               (json_int_t)VS_READ_ONCE(p->idle_cycles), "iterations",
                               (json_int_t)VS_READ_ONCE(p->iterations), "sleeps",
                               (json_int_t)VS_READ_ONCE(p->sleeps), "naps",
                               (json_int_t)VS_READ_ONCE(p->naps), "packets",
                               (json_int_t)packets));
    }
    for (unsigned i = 0; i < VS_MAX_PORTS; i++) {
        struct vs_dp_port *dp = sw->ports[i];

        for (uint16_t q = 0; dp && q < dp->port.n_txq; q++)
            json_array_append_new(txqs, json_pack("{s:s, s:i, s:b}", "port", dp->port.name,
                                                  "queue", (int)q, "shared", dp->txq_shared));
    }
    return json_pack("{s:s, s:i, s:o, s:o, s:I}", "mode", vs_poll_mode_name(sw->params.mode),
                     "max_nap_us",
                     sw->params.mode == VS_POLL_ADAPTIVE ? (int)sw->params.max_nap_us : 0,
                     "pollers", pollers, "tx_queues", txqs, "tsc_hz", (json_int_t)vs_tsc_hz());
}

struct fdb_dump {
    struct vs_switch *sw;
    json_t *arr;
};

static void dump_entry(const struct vs_fdb_entry *e, void *arg)
{
    struct fdb_dump *d = arg;
    struct vs_dp_port *dp = e->port < VS_MAX_PORTS ? d->sw->ports[e->port] : NULL;
    char mac[18];

    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", e->mac[0], e->mac[1], e->mac[2],
             e->mac[3], e->mac[4], e->mac[5]);
    json_t *j = json_pack("{s:i, s:s, s:s, s:i, s:s}", "vlan", (int)e->vlan, "mac", mac, "port",
                          dp ? dp->port.name : "?", "age", (int)e->age_s, "kind",
                          (e->flags & VS_FDB_F_STATIC)   ? "static"
                          : (e->flags & VS_FDB_F_PINNED) ? "pinned"
                                                         : "learned");

    if (dp && dp->port.ops->fdb_entry)
        dp->port.ops->fdb_entry(&dp->port, e->vlan, e->mac, j);
    json_array_append_new(d->arr, j);
}

json_t *vs_switch_fdb_show(struct vs_switch *sw)
{
    struct fdb_dump d = {sw, json_array()};

    vs_fdb_foreach(sw->fdb, vs_fdb_now(), dump_entry, &d);
    return json_pack("{s:o, s:i, s:i, s:i}", "entries", d.arr, "count",
                     (int)vs_fdb_count(sw->fdb), "capacity", (int)vs_fdb_capacity(sw->fdb),
                     "aging", (int)vs_fdb_aging(sw->fdb));
}

int vs_switch_fdb_add(struct vs_switch *sw, uint16_t vlan, const uint8_t mac[6], const char *name)
{
    struct vs_dp_port *dp = find_port(sw, name);
    int rc;

    if (!dp)
        return -ENOENT;
    if (vlan > 4095 || vs_mac_is_group(mac))
        return -EINVAL;
    if ((rc = vs_fdb_add_static(sw->fdb, vlan, mac, dp->port.id, vs_fdb_now())) < 0)
        return rc;
    vs_info("fdb: static %u %02x:%02x:%02x:%02x:%02x:%02x -> %s", vlan, mac[0], mac[1], mac[2],
            mac[3], mac[4], mac[5], name);
    return 0;
}

int vs_switch_fdb_del(struct vs_switch *sw, uint16_t vlan, const uint8_t mac[6])
{
    return vs_fdb_del(sw->fdb, vlan, mac);
}

int vs_switch_fdb_flush(struct vs_switch *sw, const char *name)
{
    struct vs_dp_port *dp;

    if (!name)
        return (int)vs_fdb_flush(sw->fdb);
    if (!(dp = find_port(sw, name)))
        return -ENOENT;
    return (int)vs_fdb_flush_port(sw->fdb, dp->port.id);
}

void vs_switch_fdb_usage(const struct vs_switch *sw, uint32_t *count, uint32_t *capacity)
{
    *count = vs_fdb_count(sw->fdb);
    *capacity = vs_fdb_capacity(sw->fdb);
}
