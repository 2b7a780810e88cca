/* Config loader: every file under bad/ must be refused with exactly the line in
 * its sibling .err file; files under good/, the shipped configs and the
 * embedded default must load with the values they say. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "control/config.h"

#ifndef VS_TEST_DIR
#error "VS_TEST_DIR must name test/unit/control"
#endif
#ifndef VS_SOURCE_DIR
#error "VS_SOURCE_DIR must name the source root"
#endif

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    fclose(f);
    return buf;
}

/* The CPUs of our affinity mask as ranges ("0-1", "0,2-3"), computed here
 * independently of the loader. */
static void allowed_cpus(char *out, size_t size)
{
    cpu_set_t set;
    size_t o = 0;
    int c = 0;

    out[0] = '\0';
    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof(set), &set) == 0);
    while (c < 1024) {
        int first;
        if (!CPU_ISSET(c, &set)) {
            c++;
            continue;
        }
        first = c;
        while (c + 1 < 1024 && CPU_ISSET(c + 1, &set))
            c++;
        if (first == c)
            o += (size_t)snprintf(out + o, size - o, "%s%d", o ? "," : "", first);
        else
            o += (size_t)snprintf(out + o, size - o, "%s%d-%d", o ? "," : "", first, c);
        c++;
    }
}

static int lowest_allowed_cpu(void)
{
    cpu_set_t set;

    sched_getaffinity(0, sizeof(set), &set);
    if (CPU_ISSET(1, &set))
        return 1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set))
            return c;
    return -1;
}

static void replace(char *s, size_t size, const char *token, const char *with)
{
    char *p = strstr(s, token), tail[1024];

    if (!p)
        return;
    snprintf(tail, sizeof(tail), "%s", p + strlen(token));
    snprintf(p, size - (size_t)(p - s), "%s%s", with, tail);
}

static void test_bad_files(void)
{
    DIR *d;
    struct dirent *e;
    unsigned checked = 0;
    char cpus[256];

    CU_ASSERT_FATAL(chdir(VS_TEST_DIR) == 0);
    allowed_cpus(cpus, sizeof(cpus));
    d = opendir("bad");
    CU_ASSERT_FATAL(d != NULL);
    while ((e = readdir(d))) {
        char path[512], errpath[512], expect[1024], err[1024];
        struct vs_config cfg;
        size_t n = strlen(e->d_name);
        char *want;
        int ret;

        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml"))
            continue;
        snprintf(path, sizeof(path), "bad/%s", e->d_name);
        snprintf(errpath, sizeof(errpath), "bad/%.*s.err", (int)(n - 5), e->d_name);
        want = slurp(errpath, NULL);
        if (!want) {
            fprintf(stderr, "\n%s has no %s\n", path, errpath);
            CU_FAIL("bad file without .err");
            continue;
        }
        want[strcspn(want, "\n")] = '\0';
        snprintf(expect, sizeof(expect), "%s", want);
        free(want);
        replace(expect, sizeof(expect), "@CPUS@", cpus);
        replace(expect, sizeof(expect), "@TYPES@", vs_port_type_list());

        memset(err, 'x', sizeof(err));
        ret = vs_config_load_file(path, &cfg, err, sizeof(err));
        CU_ASSERT_EQUAL(ret, -EINVAL);
        CU_ASSERT_PTR_NULL(cfg.ports);
        CU_ASSERT_PTR_NULL(cfg.file);
        if (strcmp(err, expect)) {
            fprintf(stderr, "\n%s:\n  got:  %s\n  want: %s\n", path, err, expect);
            CU_FAIL("wrong error line");
        }
        CU_ASSERT_PTR_NULL(strchr(err, '\n'));
        vs_config_free(&cfg);
        checked++;
    }
    closedir(d);
    CU_ASSERT(checked >= 12);
}

static void assert_defaults(const struct vs_config *c)
{
    CU_ASSERT_EQUAL(c->n_cpus, 1);
    CU_ASSERT_EQUAL(c->cpus[0], lowest_allowed_cpu());
    CU_ASSERT_EQUAL(c->poll_mode, VS_POLL_ADAPTIVE);
    CU_ASSERT_EQUAL(c->max_nap_us, VS_POLL_MAX_NAP_US);
    CU_ASSERT_EQUAL(c->hugepage_size, VS_PAGES_2M);
    CU_ASSERT_EQUAL(c->buffers, 16384);
    CU_ASSERT_EQUAL(c->large_buffers, 512);
    CU_ASSERT_STRING_EQUAL(c->socket, "/run/vswitch/vswitchd.sock");
    CU_ASSERT_EQUAL(c->socket_mode, 0660);
    CU_ASSERT_STRING_EQUAL(c->socket_group, "");
    CU_ASSERT_EQUAL(c->fdb_size, 65536);
    CU_ASSERT_EQUAL(c->fdb_aging, 300);
    CU_ASSERT_EQUAL(c->log_level, VS_LOG_INFO);
}

static void test_defaults(void)
{
    static const char *const files[] = {"good/empty.yaml", "good/braces.yaml",
                                        "good/comments.yaml", "good/null_sections.yaml"};
    char err[512];

    CU_ASSERT_FATAL(chdir(VS_TEST_DIR) == 0);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        struct vs_config c;
        int ret = vs_config_load_file(files[i], &c, err, sizeof(err));
        if (ret)
            fprintf(stderr, "\n%s: %s\n", files[i], err);
        CU_ASSERT_EQUAL_FATAL(ret, 0);
        CU_ASSERT_STRING_EQUAL(c.file, files[i]);
        assert_defaults(&c);
        CU_ASSERT_EQUAL(c.n_ports, 0);
        CU_ASSERT_PTR_NULL(c.ports);
        vs_config_free(&c);
    }
}

static void test_full(void)
{
    struct vs_config c;
    char err[512];
    int ret;

    CU_ASSERT_FATAL(chdir(VS_TEST_DIR) == 0);
    ret = vs_config_load_file("good/full.yaml", &c, err, sizeof(err));
    if (ret)
        fprintf(stderr, "\n%s\n", err);
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    CU_ASSERT_EQUAL(c.n_cpus, 1);
    CU_ASSERT_EQUAL(c.cpus[0], 0);
    CU_ASSERT_EQUAL(c.poll_mode, VS_POLL_BUSY);
    CU_ASSERT_EQUAL(c.max_nap_us, 0);
    CU_ASSERT_EQUAL(c.hugepage_size, VS_PAGES_1G);
    CU_ASSERT_EQUAL(c.buffers, 1024);
    CU_ASSERT_STRING_EQUAL(c.socket, "/tmp/vswitch-test/ctl.sock");
    CU_ASSERT_EQUAL(c.socket_mode, 0600);
    CU_ASSERT_STRING_EQUAL(c.socket_group, "wheel");
    CU_ASSERT_EQUAL(c.fdb_size, 16777216);
    CU_ASSERT_EQUAL(c.fdb_aging, 0);
    CU_ASSERT_EQUAL(c.log_level, VS_LOG_DEBUG);
    CU_ASSERT_EQUAL_FATAL(c.n_ports, 2);
    CU_ASSERT_STRING_EQUAL(c.ports[0].name, "ns1");
    CU_ASSERT_STRING_EQUAL(c.ports[0].type, "tap");
    CU_ASSERT_EQUAL(c.ports[0].line, 19);
    CU_ASSERT_EQUAL(c.ports[0].col, 5);
    CU_ASSERT_EQUAL_FATAL(c.ports[0].n_args, 1);
    CU_ASSERT_STRING_EQUAL(c.ports[0].args[0].key, "ifname");
    CU_ASSERT_STRING_EQUAL(c.ports[0].args[0].value, "vs-ns1");
    CU_ASSERT_EQUAL(c.ports[0].args[0].line, 21);
    CU_ASSERT_EQUAL(c.ports[0].args[0].col, 13);
    /* Keys in any order, quoted values are plain strings. */
    CU_ASSERT_STRING_EQUAL(c.ports[1].name, "Port_2.b-c");
    CU_ASSERT_EQUAL_FATAL(c.ports[1].n_args, 1);
    CU_ASSERT_STRING_EQUAL(c.ports[1].args[0].value, "vs-ns2");
    CU_ASSERT_EQUAL(c.ports[1].args[0].line, 23);
    CU_ASSERT_EQUAL(c.ports[1].args[0].col, 13);
    vs_config_free(&c);
    vs_config_free(&c); /* idempotent */
}

static void test_embedded_default(void)
{
    struct vs_config emb, file;
    char err[512], path[512];
    size_t len;
    char *text;

    /* The compiled-in copy is exactly configs/default.yaml. */
    snprintf(path, sizeof(path), "%s/configs/default.yaml", VS_SOURCE_DIR);
    text = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(len, vs_config_default_yaml_len);
    CU_ASSERT(len == vs_config_default_yaml_len && !memcmp(text, vs_config_default_yaml, len));
    CU_ASSERT_EQUAL(vs_config_default_yaml[vs_config_default_yaml_len], '\0');
    free(text);

    CU_ASSERT_EQUAL_FATAL(vs_config_load_default(&emb, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(emb.file, "<embedded default>");
    CU_ASSERT_EQUAL(emb.n_cpus, 1);
    CU_ASSERT_EQUAL(emb.cpus[0], 1);
    CU_ASSERT_EQUAL(emb.poll_mode, VS_POLL_ADAPTIVE);
    CU_ASSERT_EQUAL(emb.hugepage_size, VS_PAGES_2M);
    CU_ASSERT_EQUAL(emb.buffers, 16384);
    CU_ASSERT_STRING_EQUAL(emb.socket, "/run/vswitch/vswitchd.sock");
    CU_ASSERT_EQUAL(emb.socket_mode, 0660);
    CU_ASSERT_EQUAL(emb.fdb_size, 65536);
    CU_ASSERT_EQUAL(emb.fdb_aging, 300);
    CU_ASSERT_EQUAL(emb.log_level, VS_LOG_INFO);

    CU_ASSERT_EQUAL_FATAL(vs_config_load_file(path, &file, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(file.n_ports, emb.n_ports);
    for (unsigned i = 0; i < file.n_ports && i < emb.n_ports; i++) {
        CU_ASSERT_STRING_EQUAL(file.ports[i].name, emb.ports[i].name);
        CU_ASSERT_STRING_EQUAL(file.ports[i].type, emb.ports[i].type);
    }
    vs_config_free(&file);
    vs_config_free(&emb);
}

static void test_example(void)
{
    struct vs_config c;
    char err[512], path[512];

    snprintf(path, sizeof(path), "%s/configs/examples/two-namespaces.yaml", VS_SOURCE_DIR);
    CU_ASSERT_EQUAL_FATAL(vs_config_load_file(path, &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(c.n_ports, 2);
    CU_ASSERT_STRING_EQUAL(c.ports[0].args[0].value, "vs-ns1");
    CU_ASSERT_STRING_EQUAL(c.ports[1].args[0].value, "vs-ns2");
    CU_ASSERT_EQUAL(c.hugepage_size, VS_PAGES_NONE);
    vs_config_free(&c);
}

static void test_tenants_example(void)
{
    struct vs_config c;
    char err[512], path[512];

    snprintf(path, sizeof(path), "%s/configs/examples/two-tenants.yaml", VS_SOURCE_DIR);
    int ret = vs_config_load_file(path, &c, err, sizeof(err));
    if (ret)
        fprintf(stderr, "\n%s\n", err);
    CU_ASSERT_EQUAL_FATAL(ret, 0);
    CU_ASSERT_EQUAL_FATAL(c.n_ports, 4);
    /* The trunk list reaches the port as the key=value form. */
    const struct vs_config_port *up = &c.ports[3];
    bool found = false;
    for (unsigned i = 0; i < up->n_args; i++)
        if (!strcmp(up->args[i].key, "trunks")) {
            CU_ASSERT_STRING_EQUAL(up->args[i].value, "10,20");
            found = true;
        }
    CU_ASSERT_TRUE(found);
    CU_ASSERT_EQUAL_FATAL(c.n_fdb_static, 1);
    CU_ASSERT_EQUAL(c.fdb_static[0].vlan, 10);
    CU_ASSERT_EQUAL(c.fdb_static[0].mac[5], 1);
    CU_ASSERT_STRING_EQUAL(c.fdb_static[0].port, "uplink");
    vs_config_free(&c);
}

/* A VXLAN port's list and mapping options reach the port as one string each. */
static void test_example_vxlan(void)
{
    static const char nested[] = "ports:\n  - name: o\n    type: vxlan\n"
                                 "    local_ip: 198.51.100.1\n    vni_map: {100: [1, 2]}\n";
    struct vs_config c;
    char err[512], path[512];

    snprintf(path, sizeof(path), "%s/configs/examples/vxlan.yaml", VS_SOURCE_DIR);
    CU_ASSERT_EQUAL_FATAL(vs_config_load_file(path, &c, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL_FATAL(c.n_ports, 2);
    CU_ASSERT_STRING_EQUAL(c.ports[1].type, "vxlan");
    CU_ASSERT_STRING_EQUAL(c.ports[1].args[1].key, "vni_map");
    CU_ASSERT_STRING_EQUAL(c.ports[1].args[1].value, "100:0,200:20");
    CU_ASSERT_STRING_EQUAL(c.ports[1].args[2].value, "198.51.100.2,198.51.100.3@200");
    vs_config_free(&c);
    CU_ASSERT_EQUAL(vs_config_load_string(nested, strlen(nested), "t", &c, err, sizeof(err)),
                    -EINVAL);
    CU_ASSERT(strstr(err, "t:5:20: ports[0].vni_map: expected a plain value") == err);
    vs_config_free(&c);
}

static void test_unreadable(void)
{
    struct vs_config c;
    char err[512];

    CU_ASSERT_EQUAL(vs_config_load_file("/nonexistent/vs.yaml", &c, err, sizeof(err)), -ENOENT);
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/vs.yaml: cannot read: No such file or directory");
    CU_ASSERT_EQUAL(vs_config_load_file("/", &c, err, sizeof(err)), -EISDIR);
    CU_ASSERT_STRING_EQUAL(err, "/: cannot read: Is a directory");
    vs_config_free(&c);
}

static void test_strings(void)
{
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"fdb: {size: 1023}", "t:1:13: fdb.size: '1023' is out of range; use 1024..16777216 entries"},
        {"fdb: {size: 99999999999999999999}",
         "t:1:13: fdb.size: '99999999999999999999' is out of range; use 1024..16777216 entries"},
        {"fdb: {size: -5}", "t:1:13: fdb.size: '-5' is not a number; use an integer in "
                            "1024..16777216 entries"},
        {"memory: {buffers: [1]}",
         "t:1:19: memory.buffers: expected a number in 1024..4194304, not a list"},
        {"memory: {buffers: }", "t:1:19: memory.buffers: missing value; expected a number in "
                                "1024..4194304"},
        {"memory: {large_buffers: 70000}",
         "t:1:25: memory.large_buffers: '70000' is out of range; use 0..65536"},
        {"ports: [{name: a, type: tap, ifname: x, ifname: y}]",
         "t:1:41: ports[0].ifname: duplicate key (first at line 1); give each key once"},
        {"ports: [{type: tap}]",
         "t:1:9: ports[0]: missing key 'name'; each port needs a name and a type"},
        {"ports: [{name: abcdefghijabcdefghijabcdefghijab, type: tap}]",
         "t:1:16: ports[0].name: 'abcdefghijabcdefghijabcdefghijab' is not a valid port name; "
         "use 1..31 characters of A-Z a-z 0-9 _ . -"},
        {"ports: [{name: \"a\\0b\", type: tap}]",
         "t:1:16: ports[0].name: 'a?b' is not a valid port name; use 1..31 characters of "
         "A-Z a-z 0-9 _ . -"},
        {"[1, 2]", "t:1:1: top level: expected a mapping of sections (pollers, memory, control, "
                   "fdb, log, ports, mirrors), not a list"},
        {"control: {socket: /a/very/long/path/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock}",
         "t:1:19: control.socket: '/a/very/long/path/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' "
         "is too long (130 bytes); expected an absolute path of at most 107 bytes"},
        {"? [a]\n: 1\n", "t:1:3: top level: keys must be plain names, not a list"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vs_config c;
        int ret = vs_config_load_string(cases[i].text, strlen(cases[i].text), "t", &c, err,
                                        sizeof(err));
        CU_ASSERT_EQUAL(ret, -EINVAL);
        if (strcmp(err, cases[i].err)) {
            fprintf(stderr, "\ncase %zu:\n  got:  %s\n  want: %s\n", i, err, cases[i].err);
            CU_FAIL("wrong error line");
        }
        vs_config_free(&c);
    }
}

/* A tiny err buffer truncates but never overflows; errlen 0 writes nothing. */
static void test_small_err(void)
{
    struct vs_config c;
    char err[8] = "1234567";

    CU_ASSERT_EQUAL(vs_config_load_string("x: 1", 4, "t", &c, err, 0), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "1234567");
    CU_ASSERT_EQUAL(vs_config_load_string("x: 1", 4, "t", &c, err, sizeof(err)), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err, "t:1:1: ");
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("config", NULL, NULL);
    CU_add_test(s, "bad files", test_bad_files);
    CU_add_test(s, "defaults", test_defaults);
    CU_add_test(s, "full", test_full);
    CU_add_test(s, "embedded default", test_embedded_default);
    CU_add_test(s, "example", test_example);
    CU_add_test(s, "two-tenants example", test_tenants_example);
    CU_add_test(s, "example: vxlan", test_example_vxlan);
    CU_add_test(s, "unreadable", test_unreadable);
    CU_add_test(s, "strings", test_strings);
    CU_add_test(s, "small err", test_small_err);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
