/* Config reload: the diff of a running state against a new config (ports added,
 * removed, re-created, kept; settings applied or needing a restart; renames, type
 * changes, option order), and vs_reload_run against a real switch with in-memory
 * ports: unchanged ports are not reopened, a bad file changes nothing, a port
 * that cannot open is reported with FILE:LINE:COL and re-created ones fall back
 * to their old options. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "control/reload.h"
#include "dataplane/switch.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/pkt.h"

/* ---- an in-memory port type ------------------------------------------------ */

#define MAX_MEM 64

struct memport {
    char name[VS_PORT_NAME_MAX];
    bool open;
};

static struct memport mems[MAX_MEM];
static unsigned n_mems, n_opens;

static const char *const mem_keys[] = {"a", "b", "c", "fail", NULL};

static int mem_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    return vs_port_args_check_keys(args, mem_keys, err);
}

static int mem_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    int idx;
    const char *fail = vs_port_args_get(args, "fail", &idx);
    struct memport *m;

    if (fail && !strcmp(fail, "yes")) {
        vs_port_err_set(err, idx, "refused as asked");
        return -EIO;
    }
    if (n_mems == MAX_MEM)
        return -ENOSPC;
    m = &mems[n_mems++];
    snprintf(m->name, sizeof(m->name), "%s", port->name);
    m->open = true;
    n_opens++;
    port->priv = m;
    port->n_rxq = 1;
    port->n_txq = 1;
    return 0;
}

static void mem_close(struct vs_port *port)
{
    struct memport *m = port->priv;

    m->open = false;
}

static uint16_t mem_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return 0;
}

static uint16_t mem_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    vs_pkt_free_bulk(pkts, n);
    return n;
}

static const struct vs_port_ops mem_ops = {
    .type = "mem",
    .keys = mem_keys,
    .validate = mem_validate,
    .open = mem_open,
    .close = mem_close,
    .rx_burst = mem_rx,
    .tx_burst = mem_tx,
};

/* A second type, so that a type change can be seen. */
static const struct vs_port_ops mem2_ops = {
    .type = "mem2",
    .keys = mem_keys,
    .validate = mem_validate,
    .open = mem_open,
    .close = mem_close,
    .rx_burst = mem_rx,
    .tx_burst = mem_tx,
};

/* The open instance of port name, or NULL. */
static struct memport *mem_find(const char *name)
{
    for (unsigned i = 0; i < n_mems; i++)
        if (mems[i].open && !strcmp(mems[i].name, name))
            return &mems[i];
    return NULL;
}

/* ---- the diff ---------------------------------------------------------------- */

static void load(const char *text, struct vs_config *cfg)
{
    char err[512];
    int rc = vs_config_load_string(text, strlen(text), "t.yaml", cfg, err, sizeof(err));

    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
}

/* The running ports of cfg as the diff sees them: every one from the file. */
struct running {
    struct vs_reload_port v[16];
    json_t *opts[16];
    unsigned n;
};

static void running_from(const struct vs_config *cfg, struct running *r, bool from_file)
{
    for (unsigned i = 0; i < cfg->n_ports; i++) {
        json_t *o = json_object();

        for (unsigned j = 0; j < cfg->ports[i].n_args; j++)
            json_object_set_new(o, cfg->ports[i].args[j].key,
                                json_string(cfg->ports[i].args[j].value));
        r->opts[r->n] = o;
        r->v[r->n] = (struct vs_reload_port){.name = cfg->ports[i].name,
                                             .type = cfg->ports[i].type,
                                             .options = o,
                                             .from_file = from_file};
        r->n++;
    }
}

static void running_free(struct running *r)
{
    for (unsigned i = 0; i < r->n; i++)
        json_decref(r->opts[i]);
    r->n = 0;
}

/* The changes of plan as "kind:what" words in plan order, e.g.
 * "added:p3 removed:p1 needs_restart:pollers.cpus". */
static void summary(const struct vs_reload_plan *plan, char *out, size_t size)
{
    size_t o = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < plan->n && o < size; i++)
        o += (size_t)snprintf(out + o, size - o, "%s%s:%s", i ? " " : "",
                              vs_reload_kind_name(plan->v[i].kind), plan->v[i].what);
}

/* Diffs a (all ports running, from the file) against b; returns the summary. */
static void diff(const char *a, const char *b, char *out, size_t size, unsigned *unchanged,
                 struct vs_reload_plan *keep)
{
    struct vs_config ca, cb;
    struct running r = {0};
    struct vs_reload_plan plan;

    load(a, &ca);
    load(b, &cb);
    running_from(&ca, &r, true);
    CU_ASSERT_EQUAL_FATAL(vs_reload_diff(&ca, r.v, r.n, &cb, &plan), 0);
    summary(&plan, out, size);
    if (unchanged)
        *unchanged = plan.unchanged;
    if (keep)
        *keep = plan;
    else
        vs_reload_plan_free(&plan);
    running_free(&r);
    vs_config_free(&ca);
    vs_config_free(&cb);
}

#define PORTS_AB                                                                                   \
    "ports:\n"                                                                                     \
    "  - {name: p1, type: mem, a: '1', b: x}\n"                                                    \
    "  - {name: p2, type: mem}\n"

static void test_same(void)
{
    char s[512];
    unsigned unchanged = 99;

    diff(PORTS_AB, PORTS_AB, s, sizeof(s), &unchanged, NULL);
    CU_ASSERT_STRING_EQUAL(s, "");
    CU_ASSERT_EQUAL(unchanged, 2);
    /* Key order within a port and port order in the list are not changes; neither
     * is a quoted value whose text is the same. */
    diff(PORTS_AB,
         "ports:\n"
         "  - name: p2\n"
         "    type: mem\n"
         "  - {b: x, type: mem, a: \"1\", name: p1}\n",
         s, sizeof(s), &unchanged, NULL);
    CU_ASSERT_STRING_EQUAL(s, "");
    CU_ASSERT_EQUAL(unchanged, 2);
}

static void test_add_remove_recreate(void)
{
    struct vs_reload_plan plan;
    char s[512];
    unsigned unchanged;
    const json_t *c;

    diff(PORTS_AB,
         "ports:\n"
         "  - {name: p1, type: mem, a: '2', b: x}\n"
         "  - {name: p3, type: mem}\n",
         s, sizeof(s), &unchanged, &plan);
    CU_ASSERT_STRING_EQUAL(s, "recreated:p1 added:p3 removed:p2");
    CU_ASSERT_EQUAL(unchanged, 0);
    /* The re-created port says what changed, and only that. */
    CU_ASSERT_EQUAL(json_array_size(plan.v[0].changes), 1);
    c = json_array_get(plan.v[0].changes, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "key")), "a");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "running")), "1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "file")), "2");
    CU_ASSERT_EQUAL(plan.v[1].port, 1); /* p3 is ports[1] of the new file */
    CU_ASSERT_STRING_EQUAL(plan.v[1].type, "mem");
    vs_reload_plan_free(&plan);

    /* An option added and one dropped: both listed, with null for the absent side. */
    diff(PORTS_AB,
         "ports:\n"
         "  - {name: p1, type: mem, b: x, c: new}\n"
         "  - {name: p2, type: mem}\n",
         s, sizeof(s), &unchanged, &plan);
    CU_ASSERT_STRING_EQUAL(s, "recreated:p1");
    CU_ASSERT_EQUAL(unchanged, 1);
    CU_ASSERT_EQUAL(json_array_size(plan.v[0].changes), 2);
    c = json_array_get(plan.v[0].changes, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "key")), "c");
    CU_ASSERT(json_is_null(json_object_get(c, "running")));
    c = json_array_get(plan.v[0].changes, 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "key")), "a");
    CU_ASSERT(json_is_null(json_object_get(c, "file")));
    vs_reload_plan_free(&plan);

    /* An empty value is a value: `c:` differs from no c at all. */
    diff(PORTS_AB,
         "ports:\n"
         "  - {name: p1, type: mem, a: '1', b: x}\n"
         "  - {name: p2, type: mem, c: }\n",
         s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "recreated:p2");

    /* Everything removed. */
    diff(PORTS_AB, "ports: []\n", s, sizeof(s), &unchanged, NULL);
    CU_ASSERT_STRING_EQUAL(s, "removed:p1 removed:p2");
    CU_ASSERT_EQUAL(unchanged, 0);
}

static void test_rename_and_type(void)
{
    struct vs_reload_plan plan;
    char s[512];
    const json_t *c;

    /* A rename is the old name removed and the new one added, options alike. */
    diff(PORTS_AB,
         "ports:\n"
         "  - {name: p1new, type: mem, a: '1', b: x}\n"
         "  - {name: p2, type: mem}\n",
         s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "added:p1new removed:p1");

    /* Same name and options, another type: re-created, the type named first. */
    diff(PORTS_AB,
         "ports:\n"
         "  - {name: p1, type: mem2, a: '1', b: x}\n"
         "  - {name: p2, type: mem}\n",
         s, sizeof(s), NULL, &plan);
    CU_ASSERT_STRING_EQUAL(s, "recreated:p1");
    CU_ASSERT_STRING_EQUAL(plan.v[0].type, "mem2");
    CU_ASSERT_EQUAL(json_array_size(plan.v[0].changes), 1);
    c = json_array_get(plan.v[0].changes, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "key")), "type");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "running")), "mem");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "file")), "mem2");
    vs_reload_plan_free(&plan);
}

/* Switch settings (the keys set-port takes) alone: changed live; with a type
 * option or an empty value among the changes: re-created. */
static void test_live(void)
{
    static const char a[] = "ports:\n"
                            "  - {name: p1, type: mem, a: '1', vlan_mode: access, tag: 10}\n";
    struct vs_reload_plan plan;
    char s[512];

    diff(a,
         "ports:\n"
         "  - {name: p1, type: mem, a: '1', vlan_mode: access, tag: 20}\n",
         s, sizeof(s), NULL, &plan);
    CU_ASSERT_STRING_EQUAL(s, "changed:p1");
    CU_ASSERT_EQUAL(json_array_size(plan.v[0].changes), 1);
    vs_reload_plan_free(&plan);
    diff(a, "ports:\n  - {name: p1, type: mem, a: '1'}\n", s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "changed:p1");
    diff(a,
         "ports:\n"
         "  - {name: p1, type: mem, a: '1', vlan_mode: trunk, trunks: [10, 20]}\n",
         s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "changed:p1");
    diff(a,
         "ports:\n"
         "  - {name: p1, type: mem, a: '2', vlan_mode: access, tag: 20}\n",
         s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "recreated:p1");
    diff(a,
         "ports:\n"
         "  - {name: p1, type: mem2, a: '1', vlan_mode: access, tag: 20}\n",
         s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "recreated:p1");
}

/* Ports no file named (add-port) are kept; named ones follow the file. */
static void test_runtime_ports(void)
{
    struct vs_config ca, cb, rt;
    struct running r = {0};
    struct vs_reload_plan plan;
    char s[512];

    load(PORTS_AB, &ca);
    load("ports:\n"
         "  - {name: rt1, type: mem}\n"
         "  - {name: rt2, type: mem, a: '5'}\n"
         "  - {name: rt3, type: mem}\n",
         &rt);
    load("ports:\n"
         "  - {name: p1, type: mem, a: '1', b: x}\n"
         "  - {name: p2, type: mem}\n"
         "  - {name: rt2, type: mem, a: '6'}\n"
         "  - {name: rt3, type: mem}\n",
         &cb);
    running_from(&ca, &r, true);
    running_from(&rt, &r, false);
    CU_ASSERT_EQUAL_FATAL(vs_reload_diff(&ca, r.v, r.n, &cb, &plan), 0);
    summary(&plan, s, sizeof(s));
    /* rt2 named with other options: the file wins; rt3 named alike: adopted as is;
     * rt1 not named: kept. */
    CU_ASSERT_STRING_EQUAL(s, "recreated:rt2 kept:rt1");
    CU_ASSERT_EQUAL(plan.unchanged, 3);
    vs_reload_plan_free(&plan);
    running_free(&r);

    /* A file port deleted by hand (not running) comes back. */
    running_from(&rt, &r, false);
    CU_ASSERT_EQUAL_FATAL(vs_reload_diff(&ca, r.v, r.n, &ca, &plan), 0);
    summary(&plan, s, sizeof(s));
    CU_ASSERT_STRING_EQUAL(s, "added:p1 added:p2 kept:rt1 kept:rt2 kept:rt3");
    vs_reload_plan_free(&plan);
    running_free(&r);
    vs_config_free(&ca);
    vs_config_free(&cb);
    vs_config_free(&rt);
}

static void test_settings(void)
{
    struct vs_reload_plan plan;
    char s[1024];
    const json_t *c;

    diff("pollers: {cpus: [0], mode: adaptive}\n" PORTS_AB,
         "pollers: {cpus: [0, 1], mode: busy}\n"
         "memory: {buffers: 4096, hugepage_size: none, large_buffers: 0}\n"
         "control: {socket: /run/x.sock, mode: 0600, group: adm, idle_timeout: 5}\n"
         "fdb: {size: 2048, aging: 10}\n"
         "log: {level: debug}\n" PORTS_AB,
         s, sizeof(s), NULL, &plan);
    CU_ASSERT_STRING_EQUAL(s, "needs_restart:pollers.cpus needs_restart:pollers.mode "
                              "needs_restart:memory.hugepage_size needs_restart:memory.buffers "
                              "needs_restart:memory.large_buffers needs_restart:control.socket "
                              "needs_restart:control.mode needs_restart:control.group "
                              "applied:control.idle_timeout needs_restart:fdb.size "
                              "needs_restart:fdb.aging applied:log.level");
    c = json_array_get(plan.v[0].changes, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "running")), "0");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "file")), "0, 1");
    c = json_array_get(plan.v[6].changes, 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "running")), "0660");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(c, "file")), "0600");
    vs_reload_plan_free(&plan);

    /* A value written out that equals the default is no change. */
    diff("log: {level: info}\n", "{}\n", s, sizeof(s), NULL, NULL);
    CU_ASSERT_STRING_EQUAL(s, "");
}

/* ---- vs_reload_run against a switch ----------------------------------------- */

static struct vs_pool *pool;
static struct vs_switch *sw;
static struct vs_config running_cfg;
static char path[64];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");

    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    fclose(f);
}

static int run(json_t **res, char *err, size_t errlen)
{
    *res = NULL;
    err[0] = '\0';
    return vs_reload_run(res, err, errlen);
}

static size_t list_size(const json_t *res, const char *list)
{
    return json_array_size(json_object_get(res, list));
}

static void test_run_setup(void)
{
    struct vs_switch_params prm = {
        .n_pollers = 1, .cpus = {0}, .mode = VS_POLL_ADAPTIVE, .fdb_size = 1024, .fdb_aging = 300};
    char err[512];

    snprintf(path, sizeof(path), "/tmp/test_reload.%d.yaml", (int)getpid());
    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(2048, VS_PAGES_NONE, &pool), 0);
    prm.pool = pool;
    CU_ASSERT_EQUAL_FATAL(vs_switch_create(&prm, &sw), 0);
    CU_ASSERT_EQUAL_FATAL(vs_switch_start(sw), 0);

    write_file("pollers: {cpus: [0]}\n" PORTS_AB);
    CU_ASSERT_EQUAL_FATAL(vs_config_load_file(path, &running_cfg, err, sizeof(err)), 0);
    for (unsigned i = 0; i < running_cfg.n_ports; i++) {
        struct vs_config_port *cp = &running_cfg.ports[i];
        struct vs_port_args args = {cp->n_args, cp->args};
        struct vs_port_err perr;
        CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, cp->name, cp->type, &args, &perr), 0);
    }
    vs_reload_setup(&(struct vs_reloader){.file = path, .running = &running_cfg, .sw = sw});
}

static void test_run_no_change(void)
{
    json_t *res;
    char err[512];
    unsigned opens = n_opens;

    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "unchanged")), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res, "file")), path);
    CU_ASSERT_EQUAL(list_size(res, "added") + list_size(res, "removed") +
                        list_size(res, "recreated") + list_size(res, "failed"),
                    0);
    CU_ASSERT_EQUAL(n_opens, opens);
    json_decref(res);
}

static void test_run_changes(void)
{
    struct memport *p2 = mem_find("p2");
    json_t *res;
    char err[512];

    CU_ASSERT_PTR_NOT_NULL_FATAL(p2);
    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, "rt", "mem", &(struct vs_port_args){0, NULL},
                                             &(struct vs_port_err){0}),
                          0);
    write_file("pollers: {cpus: [0, 1]}\n"
               "log: {level: warn}\n"
               "ports:\n"
               "  - {name: p3, type: mem}\n"
               "  - {name: p2, type: mem}\n"
               "  - {name: p1, type: mem, a: '7', b: x}\n");
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "added"), 1);
    CU_ASSERT_EQUAL(list_size(res, "recreated"), 1);
    CU_ASSERT_EQUAL(list_size(res, "removed"), 0);
    CU_ASSERT_EQUAL(list_size(res, "kept"), 1);
    CU_ASSERT_EQUAL(list_size(res, "applied"), 1);
    CU_ASSERT_EQUAL(list_size(res, "needs_restart"), 1);
    CU_ASSERT_EQUAL(list_size(res, "failed"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "unchanged")), 1);
    json_decref(res);
    /* p2 did not change: the same open instance; p1 is a new one with a=7. */
    CU_ASSERT_PTR_EQUAL(mem_find("p2"), p2);
    CU_ASSERT_PTR_NOT_NULL(mem_find("p3"));
    CU_ASSERT_PTR_NOT_NULL(mem_find("rt"));
    res = vs_switch_port_show(sw, "p1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(res, "options"), "a")),
                           "7");
    json_decref(res);
    CU_ASSERT_EQUAL(vs_log_get_level(), VS_LOG_WARN);
    CU_ASSERT_EQUAL(running_cfg.log_level, VS_LOG_WARN);
    /* A restart-only setting keeps its running value, so it is reported again. */
    CU_ASSERT_EQUAL(running_cfg.n_cpus, 1);
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "needs_restart"), 1);
    CU_ASSERT_EQUAL(list_size(res, "applied"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "unchanged")), 3);
    json_decref(res);

    /* p3 leaves the file: it was the file's, so it goes; rt stays. */
    write_file("pollers: {cpus: [0]}\n"
               "log: {level: warn}\n"
               "ports:\n"
               "  - {name: p2, type: mem}\n"
               "  - {name: p1, type: mem, a: '7', b: x}\n");
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "removed"), 1);
    CU_ASSERT_EQUAL(list_size(res, "needs_restart"), 0);
    json_decref(res);
    CU_ASSERT_PTR_NULL(mem_find("p3"));
    CU_ASSERT_PTR_NOT_NULL(mem_find("rt"));
    CU_ASSERT_PTR_EQUAL(mem_find("p2"), p2);
}

static void test_run_bad_file(void)
{
    json_t *res;
    char err[512], want[128];
    unsigned opens = n_opens;

    /* Valid YAML, a bad port further down: nothing is applied, not even p9. */
    write_file("ports:\n"
               "  - {name: p9, type: mem}\n"
               "  - {name: p2, type: mem, zzz: 1}\n");
    CU_ASSERT_EQUAL(run(&res, err, sizeof(err)), -EINVAL);
    CU_ASSERT_PTR_NULL(res);
    snprintf(want, sizeof(want), "%s:3:32: ports[1].zzz: unknown option 'zzz'", path);
    CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nothing changed"));
    /* Duplicate port names are refused whole too. */
    write_file("ports:\n"
               "  - {name: p2, type: mem}\n"
               "  - {name: p2, type: mem, a: '1'}\n");
    CU_ASSERT_EQUAL(run(&res, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "%s:3:12: ports[1].name: duplicate port name 'p2'", path);
    CU_ASSERT_NSTRING_EQUAL(err, want, strlen(want));
    CU_ASSERT_PTR_NULL(mem_find("p9"));
    CU_ASSERT_PTR_NOT_NULL(mem_find("p1"));
    CU_ASSERT_EQUAL(n_opens, opens);
}

static void test_run_open_fails(void)
{
    struct memport *p1 = mem_find("p1");
    json_t *res, *f;
    char err[512], want[128];

    CU_ASSERT_PTR_NOT_NULL_FATAL(p1);
    /* p1 cannot open with its new options: it comes back with its old ones; p4
     * cannot open at all; p5 opens. */
    write_file("log: {level: warn}\n"
               "ports:\n"
               "  - {name: p2, type: mem}\n"
               "  - {name: p1, type: mem, a: '7', b: x, fail: 'yes'}\n"
               "  - {name: p4, type: mem, fail: 'yes'}\n"
               "  - {name: p5, type: mem}\n");
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "failed"), 2);
    CU_ASSERT_EQUAL(list_size(res, "recreated"), 0);
    CU_ASSERT_EQUAL(list_size(res, "added"), 1);
    f = json_array_get(json_object_get(res, "failed"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "name")), "p1");
    snprintf(want, sizeof(want), "%s:4:47: ports[1]: port p1: refused as asked", path);
    CU_ASSERT_NSTRING_EQUAL(json_string_value(json_object_get(f, "error")), want, strlen(want));
    CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(f, "error")), "old options"));
    f = json_array_get(json_object_get(res, "failed"), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "name")), "p4");
    json_decref(res);
    CU_ASSERT_PTR_NOT_NULL(mem_find("p1"));
    CU_ASSERT_PTR_NULL(mem_find("p4"));
    CU_ASSERT_PTR_NOT_NULL(mem_find("p5"));
    res = vs_switch_port_show(sw, "p1");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(res, "options"), "a")),
                           "7");
    json_decref(res);

    /* The file fixed: both failed ports are tried again. */
    write_file("log: {level: warn}\n"
               "ports:\n"
               "  - {name: p2, type: mem}\n"
               "  - {name: p1, type: mem, a: '8', b: x}\n"
               "  - {name: p4, type: mem}\n"
               "  - {name: p5, type: mem}\n");
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "failed"), 0);
    CU_ASSERT_EQUAL(list_size(res, "recreated"), 1);
    CU_ASSERT_EQUAL(list_size(res, "added"), 1);
    json_decref(res);
    CU_ASSERT_PTR_NOT_NULL(mem_find("p4"));
}

/* A change of VLAN settings is made live: the same open port, new options. */
static void test_run_live(void)
{
    struct memport *p2 = mem_find("p2");
    json_t *res, *opts;
    char err[512];

    CU_ASSERT_PTR_NOT_NULL_FATAL(p2);
    write_file("log: {level: warn}\n"
               "ports:\n"
               "  - {name: p2, type: mem, vlan_mode: trunk, trunks: [10, 20]}\n"
               "  - {name: p1, type: mem, a: '8', b: x}\n"
               "  - {name: p4, type: mem}\n"
               "  - {name: p5, type: mem}\n");
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "changed"), 1);
    CU_ASSERT_EQUAL(list_size(res, "recreated") + list_size(res, "failed"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "unchanged")), 3);
    json_decref(res);
    CU_ASSERT_PTR_EQUAL(mem_find("p2"), p2);
    res = vs_switch_port_show(sw, "p2");
    opts = json_object_get(res, "options");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(opts, "vlan_mode")), "trunk");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(opts, "trunks")), "10,20");
    json_decref(res);
    /* The same file again: nothing to do, so set-port stored what the file says. */
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "changed"), 0);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(res, "unchanged")), 4);
    json_decref(res);
    /* Back to no VLAN settings: dropped keys go back to their defaults, live. */
    write_file("log: {level: warn}\n"
               "ports:\n"
               "  - {name: p2, type: mem}\n"
               "  - {name: p1, type: mem, a: '8', b: x}\n"
               "  - {name: p4, type: mem}\n"
               "  - {name: p5, type: mem}\n");
    CU_ASSERT_EQUAL_FATAL(run(&res, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(list_size(res, "changed"), 1);
    json_decref(res);
    CU_ASSERT_PTR_EQUAL(mem_find("p2"), p2);
    res = vs_switch_port_show(sw, "p2");
    CU_ASSERT_EQUAL(json_object_size(json_object_get(res, "options")), 0);
    json_decref(res);
}

static void test_run_no_file(void)
{
    json_t *res;
    char err[512];

    vs_reload_setup(&(struct vs_reloader){.file = NULL, .running = &running_cfg, .sw = sw});
    CU_ASSERT_EQUAL(run(&res, err, sizeof(err)), -ENOENT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "-c FILE"));
    vs_reload_setup(NULL);
    CU_ASSERT_EQUAL(run(&res, err, sizeof(err)), -ENOENT);
}

static void test_run_teardown(void)
{
    vs_switch_destroy(sw);
    vs_pool_destroy(pool);
    vs_config_free(&running_cfg);
    vs_loop_fini();
    unlink(path);
    for (unsigned i = 0; i < n_mems; i++)
        CU_ASSERT_FALSE(mems[i].open);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (vs_port_type_register(&mem_ops) || vs_port_type_register(&mem2_ops))
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("reload", NULL, NULL);
    CU_add_test(s, "same config", test_same);
    CU_add_test(s, "add, remove, re-create", test_add_remove_recreate);
    CU_add_test(s, "rename and type change", test_rename_and_type);
    CU_add_test(s, "switch settings change live", test_live);
    CU_add_test(s, "ports added at run time", test_runtime_ports);
    CU_add_test(s, "settings", test_settings);
    CU_add_test(s, "run: setup", test_run_setup);
    CU_add_test(s, "run: no change", test_run_no_change);
    CU_add_test(s, "run: changes", test_run_changes);
    CU_add_test(s, "run: bad file", test_run_bad_file);
    CU_add_test(s, "run: a port cannot open", test_run_open_fails);
    CU_add_test(s, "run: switch settings live", test_run_live);
    CU_add_test(s, "run: no file", test_run_no_file);
    CU_add_test(s, "run: teardown", test_run_teardown);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
