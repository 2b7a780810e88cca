/* The vswitchctl binary against the real control server with canned results in
 * the shapes commands.c produces: what it sends, what it prints, its exit codes. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "control/server.h"
#include "vswitch/loop.h"

#ifndef VSWITCHCTL
#error "VSWITCHCTL must name the vswitchctl binary"
#endif

static char dir[64], sock_path[100];
static json_t *last_params; /* params of the last request, for the client thread */
static char last_command[32];
static bool weird;          /* answer with shapes vswitchctl does not know */

static void remember(const char *cmd, json_t *params)
{
    json_decref(last_params);
    last_params = json_deep_copy(params);
    snprintf(last_command, sizeof(last_command), "%s", cmd);
}

static int cmd_add_port(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("add-port", params);
    *result = json_pack("{s:O}", "name", json_object_get(params, "name"));
    return 0;
}

static int cmd_del_port(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("del-port", params);
    snprintf(err, errlen, "no port named '%s'", json_string_value(json_object_get(params, "name")));
    return -ENOENT;
}

static int cmd_list_ports(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("list-ports", params);
    if (__atomic_load_n(&weird, __ATOMIC_ACQUIRE)) {
        *result = json_pack("{s:s, s:{s:i}}", "ports", "not a list", "extra", "n", 1);
        return 0;
    }
    *result = json_pack(
        "{s:[{s:s,s:s,s:i,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i},"
        "{s:s,s:s,s:i,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s}]}",
        "ports",
        "name", "vm1", "type", "vhost-user", "id", 0, "link", "up", "rx_queues", 2, "tx_queues",
        2, "rx_packets", 1234567, "tx_packets", 89, "rx_bytes", 1, "tx_bytes", 2, "drops", 0,
        "name", "tap0", "type", "tap", "id", 1, "link", "down", "rx_queues", 1, "tx_queues", 1,
        "rx_packets", 0, "tx_packets", 5, "rx_bytes", 0, "tx_bytes", 300, "drops", 17, "numa",
        "n0");
    return 0;
}

static int cmd_show(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("show", params);
    *result = json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:{s:i, s:i, s:i, s:i, s:{s:i, s:i}}, "
                        "s:{s:s}, s:{s:[i,i], s:[{s:i, s:i}, {s:i, s:i}], s:{}}}",
                        "name", "vm1", "type", "vhost-user", "id", 0, "link", "up", "rx_queues",
                        1, "tx_queues", 1, "counters", "rx_packets", 10, "rx_bytes", 600,
                        "tx_packets", 12, "tx_bytes", 720, "drops", "ring_full", 3, "no_buffer",
                        0, "options", "path", "/tmp/vm1.sock", "details", "features", 1, 2,
                        "queues", "index", 0, "size", 256, "index", 1, "size", 256, "empty");
    return 0;
}

static int cmd_fdb_show(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("fdb-show", params);
    *result = json_pack("{s:[{s:i, s:s, s:s, s:i}, {s:i, s:s, s:s, s:i}], s:i, s:i, s:i}",
                        "entries", "vlan", 0, "mac", "52:54:00:00:00:01", "port", "vm1", "age", 3,
                        "vlan", 100, "mac", "52:54:00:00:00:02", "port", "tap0", "age", 120,
                        "count", 2, "capacity", 65536, "aging", 300);
    return 0;
}

static int cmd_fdb_flush(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("fdb-flush", params);
    *result = json_pack("{s:i}", "removed", json_object_get(params, "port") ? 1 : 5);
    return 0;
}

static int cmd_pollers(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("pollers", params);
    *result = json_pack("{s:s, s:[{s:i, s:i, s:[{s:s, s:i}, {s:s, s:i}], s:i, s:i, s:i, s:i}], "
                        "s:[{s:s, s:i, s:b}]}",
                        "mode", "adaptive", "pollers", "id", 0, "cpu", 1, "queues", "port", "vm1",
                        "queue", 0, "port", "tap0", "queue", 0, "busy_cycles", 250, "idle_cycles",
                        750, "iterations", 1000, "sleeps", 4, "tx_queues", "port", "vm1", "queue",
                        0, "shared", 1);
    return 0;
}

static int cmd_version(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("version", params);
    *result = json_pack("{s:s}", "version", "0.1.0");
    return 0;
}

static int reload_calls;

/* First call: every kind of change and one failure; second: a refused file. */
static int cmd_reload(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    remember("reload", params);
    if (reload_calls++ % 2) {
        snprintf(err, errlen, "/etc/v.yaml:7:3: fdb.size: 'x' is not a number; nothing changed");
        return -EINVAL;
    }
    *result = json_pack(
        "{s:s, s:[{s:s, s:s}], s:[{s:s, s:s}], s:[{s:s, s:s, s:[{s:s, s:s, s:s}, {s:s, s:n, "
        "s:s}]}], s:[{s:s, s:s}], s:[{s:s, s:s, s:s}], s:[{s:s, s:s, s:s}], s:[{s:s, s:s, s:s}], "
        "s:i}",
        "file", "/etc/v.yaml", "added", "name", "p3", "type", "tap", "removed", "name", "vm2",
        "type", "vhost-user", "recreated", "name", "p1", "type", "tap", "changes", "key", "mtu",
        "running", "1500", "file", "9000", "key", "offloads", "running", "file", "off", "kept",
        "name", "rt", "type", "tap", "applied", "key", "log.level", "running", "info", "file",
        "debug", "needs_restart", "key", "pollers.cpus", "running", "1", "file", "1, 2", "failed",
        "name", "p4", "type", "tap", "error", "/etc/v.yaml:9:5: ports[3]: port p4: busy",
        "unchanged", 1);
    return 0;
}

static const struct vs_ctl_command cmds[] = {
    {"reload", cmd_reload},
    {"add-port", cmd_add_port}, {"del-port", cmd_del_port},   {"list-ports", cmd_list_ports},
    {"show", cmd_show},         {"fdb-show", cmd_fdb_show},   {"fdb-flush", cmd_fdb_flush},
    {"pollers", cmd_pollers},   {"version", cmd_version},     {NULL, NULL},
};

/* ---- running vswitchctl (client thread) --------------------------------- */

struct run {
    int status;
    char out[8192], err[2048];
};

/* Runs vswitchctl with args (a shell word list) and captures stdout and stderr. */
static void ctl(struct run *r, const char *args)
{
    char cmd[1024], errfile[128];
    FILE *p, *e;
    size_t n;

    snprintf(errfile, sizeof(errfile), "%s/stderr", dir);
    snprintf(cmd, sizeof(cmd), "VSWITCH_SOCKET=%s %s %s 2>%s", sock_path, VSWITCHCTL, args,
             errfile);
    memset(r, 0, sizeof(*r));
    p = popen(cmd, "r");
    if (!p) {
        r->status = -1;
        return;
    }
    n = fread(r->out, 1, sizeof(r->out) - 1, p);
    r->out[n] = '\0';
    r->status = pclose(p);
    r->status = WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
    e = fopen(errfile, "r");
    if (e) {
        n = fread(r->err, 1, sizeof(r->err) - 1, e);
        r->err[n] = '\0';
        fclose(e);
    }
}

static bool check(const struct run *r, int status, const char *out, const char *err)
{
    bool ok = r->status == status && (!out || !strcmp(r->out, out)) &&
              (!err || !strcmp(r->err, err));
    if (!ok)
        fprintf(stderr, "\nstatus %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s\n",
                r->status, status, r->out, out ? out : "(any)", r->err, err ? err : "(any)");
    return ok;
}

static const char *param_str(const char *key)
{
    return json_string_value(json_object_get(last_params, key));
}

static void client_scenarios(void)
{
    struct run r;

    ctl(&r, "list-ports");
    CU_ASSERT(check(&r, 0,
                    "NAME  TYPE        LINK  RXQ  TXQ  RX-PKTS  TX-PKTS  DROPS  NUMA\n"
                    "vm1   vhost-user  up      2    2  1234567       89      0  -\n"
                    "tap0  tap         down    1    1        0        5     17  n0\n",
                    ""));

    ctl(&r, "--json list-ports");
    CU_ASSERT_EQUAL(r.status, 0);
    {
        json_t *j = json_loads(r.out, 0, NULL);
        CU_ASSERT(json_is_array(json_object_get(j, "ports")));
        CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "ports")), 2);
        json_decref(j);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\n  \"ports\": [")); /* pretty */

    ctl(&r, "show vm1");
    CU_ASSERT(check(&r, 0,
                    "name:      vm1\n"
                    "type:      vhost-user\n"
                    "id:        0\n"
                    "link:      up\n"
                    "rx_queues: 1\n"
                    "tx_queues: 1\n"
                    "counters:\n"
                    "  rx_packets: 10\n"
                    "  rx_bytes:   600\n"
                    "  tx_packets: 12\n"
                    "  tx_bytes:   720\n"
                    "  drops:\n"
                    "    ring_full: 3\n"
                    "    no_buffer: 0\n"
                    "options:\n"
                    "  path: /tmp/vm1.sock\n"
                    "details:\n"
                    "  features: 1, 2\n"
                    "  queues:\n"
                    "    - index: 0\n"
                    "      size:  256\n"
                    "    - index: 1\n"
                    "      size:  256\n"
                    "  empty:    {}\n",
                    ""));
    CU_ASSERT_STRING_EQUAL(last_command, "show");
    CU_ASSERT_STRING_EQUAL(param_str("name"), "vm1");

    ctl(&r, "add-port vm2 vhost-user path=/tmp/vm2.sock queues=2 empty=");
    CU_ASSERT(check(&r, 0, "", ""));
    CU_ASSERT_STRING_EQUAL(last_command, "add-port");
    CU_ASSERT_STRING_EQUAL(param_str("name"), "vm2");
    CU_ASSERT_STRING_EQUAL(param_str("type"), "vhost-user");
    {
        json_t *o = json_object_get(last_params, "options");
        CU_ASSERT_EQUAL(json_object_size(o), 3);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "path")), "/tmp/vm2.sock");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "queues")), "2");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "empty")), "");
    }

    ctl(&r, "del-port nope");
    CU_ASSERT(check(&r, 1, "", "vswitchctl: no port named 'nope'\n"));

    ctl(&r, "fdb show");
    CU_ASSERT(check(&r, 0,
                    "VLAN  MAC                PORT  AGE\n"
                    "   0  52:54:00:00:00:01  vm1     3\n"
                    " 100  52:54:00:00:00:02  tap0  120\n"
                    "2 entries, capacity 65536, aging 300 s\n",
                    ""));
    CU_ASSERT_STRING_EQUAL(last_command, "fdb-show");

    ctl(&r, "fdb flush");
    CU_ASSERT(check(&r, 0, "removed 5 entries\n", ""));
    CU_ASSERT_STRING_EQUAL(last_command, "fdb-flush");
    CU_ASSERT_PTR_NULL(json_object_get(last_params, "port"));
    ctl(&r, "fdb flush vm1");
    CU_ASSERT(check(&r, 0, "removed 1 entry\n", ""));
    CU_ASSERT_STRING_EQUAL(param_str("port"), "vm1");

    ctl(&r, "pollers");
    CU_ASSERT(check(&r, 0,
                    "mode: adaptive\n"
                    "\n"
                    "poller 0 on cpu 1\n"
                    "  rx queues: vm1/0 tap0/0\n"
                    "  busy: 25.0%\n"
                    "  busy_cycles: 250\n"
                    "  idle_cycles: 750\n"
                    "  iterations:  1000\n"
                    "  sleeps:      4\n"
                    "\n"
                    "tx queues:\n"
                    "PORT  QUEUE  SHARED\n"
                    "vm1       0  yes\n",
                    ""));

    /* A reload's table; a port that failed makes it exit 1, with --json too. */
    ctl(&r, "reload");
    CU_ASSERT(check(&r, 1,
                    "CHANGE           NAME          DETAIL\n"
                    "added            p3            tap\n"
                    "removed          vm2           vhost-user\n"
                    "re-created       p1            mtu: 1500 -> 9000, offloads: - -> off\n"
                    "kept             rt            tap, not in the file (added with add-port)\n"
                    "applied          log.level     info -> debug\n"
                    "needs a restart  pollers.cpus  1 -> 1, 2\n"
                    "FAILED           p4            /etc/v.yaml:9:5: ports[3]: port p4: busy\n"
                    "/etc/v.yaml: 1 port unchanged\n",
                    ""));
    CU_ASSERT_STRING_EQUAL(last_command, "reload");
    ctl(&r, "reload");
    CU_ASSERT(check(&r, 1, "",
                    "vswitchctl: /etc/v.yaml:7:3: fdb.size: 'x' is not a number; nothing "
                    "changed\n"));
    ctl(&r, "--json reload");
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "\"needs_restart\": ["));
    ctl(&r, "reload now");
    CU_ASSERT(check(&r, 2, "", NULL));

    ctl(&r, "version");
    CU_ASSERT(check(&r, 0, "vswitchd 0.1.0\n", ""));
    ctl(&r, "--json version");
    CU_ASSERT(check(&r, 0, "{\n  \"version\": \"0.1.0\"\n}\n", ""));

    /* Shapes it does not know are printed, not crashed on. */
    __atomic_store_n(&weird, true, __ATOMIC_RELEASE);
    ctl(&r, "list-ports");
    CU_ASSERT(check(&r, 0, "ports: not a list\nextra:\n  n: 1\n", ""));
    __atomic_store_n(&weird, false, __ATOMIC_RELEASE);

    /* Usage errors: exit 2, nothing sent. */
    last_command[0] = '\0';
    ctl(&r, "show");
    CU_ASSERT(check(&r, 2, "", NULL));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "usage: vswitchctl"));
    ctl(&r, "add-port x tap ifname");
    CU_ASSERT(check(&r, 2, "", NULL));
    ctl(&r, "add-port x tap a=1 a=2");
    CU_ASSERT(check(&r, 2, "", NULL));
    ctl(&r, "frobnicate");
    CU_ASSERT(check(&r, 2, "", NULL));
    ctl(&r, "--timeout -1 version");
    CU_ASSERT(check(&r, 2, "", NULL));
    CU_ASSERT_STRING_EQUAL(last_command, "");

    ctl(&r, "--help");
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "add-port NAME TYPE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "  reload "));
    ctl(&r, "--version");
    CU_ASSERT(check(&r, 0, "vswitchctl " VS_VERSION "\n", ""));

    /* No daemon there. */
    ctl(&r, "-s /nonexistent/vs.sock list-ports");
    CU_ASSERT(check(&r, 1, "",
                    "vswitchctl: cannot connect to /nonexistent/vs.sock: No such file or "
                    "directory (is vswitchd running? see -s)\n"));
}

static volatile bool client_done;

static void *client_main(void *arg)
{
    client_scenarios();
    __atomic_store_n(&client_done, true, __ATOMIC_RELEASE);
    return NULL;
}

static void check_done(void *arg)
{
    if (__atomic_load_n(&client_done, __ATOMIC_ACQUIRE))
        vs_loop_stop();
}

static void test_vswitchctl(void)
{
    struct vs_ctl_server *s;
    pthread_t th;
    int timer;

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_ctl_server_start(sock_path, 0600, NULL, cmds, NULL, &s), 0);
    timer = vs_loop_add_timer(10, 10, check_done, NULL);
    CU_ASSERT_FATAL(timer > 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, client_main, NULL), 0);
    vs_loop_run();
    pthread_join(th, NULL);
    vs_loop_del_timer(timer);
    vs_ctl_server_stop(s);
    vs_loop_fini();
    json_decref(last_params);
    last_params = NULL;
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;
    char path[128];

    snprintf(dir, sizeof(dir), "/tmp/vs-ctl-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    snprintf(sock_path, sizeof(sock_path), "%s/ctl.sock", dir);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("vswitchctl", NULL, NULL);
    CU_add_test(s, "vswitchctl", test_vswitchctl);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    snprintf(path, sizeof(path), "%s/stderr", dir);
    unlink(path);
    rmdir(dir);
    return failed ? 1 : 0;
}
