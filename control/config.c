/* YAML → struct vs_config with libyaml's document API.
 *
 * The whole document is loaded first, then walked section by section; every
 * check reports the node it is about, so errors carry the node's own position.
 * The walk visits only the shape the schema allows and bounds every list before
 * looping over it, so a hostile file (huge mappings, aliases) costs little. */
#include "control/config.h"
#include "control/server.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <yaml.h>

#include "dataplane/port_conf.h"
#include "vswitch/compiler.h"
#include "vswitch/cpu.h"
#include "vswitch/listen.h"

#define CPU_LIMIT 1024            /* highest CPU number we accept + 1 */
#define MAX_PORT_OPTIONS VS_CONFIG_MAX_PORT_OPTIONS
#define MAX_OPTION_KEY 63
#define MAX_OPTION_VALUE 4095
#define MAX_FILE_SIZE (16u << 20) /* a config is a few KiB; refuse anything absurd */

struct loader {
    const char *name;
    yaml_document_t *doc;
    struct vs_config *cfg;
    char *err;
    size_t errlen;
};

/* ---- error reporting ---------------------------------------------------- */

static int fail_at(struct loader *ld, unsigned line, unsigned col, const char *key, const char *fmt,
                   ...) __attribute__((format(printf, 5, 6)));
static int fail_at(struct loader *ld, unsigned line, unsigned col, const char *key, const char *fmt,
                   ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ld->errlen) {
        snprintf(ld->err, ld->errlen, "%s:%u:%u: %s: %s", ld->name, line, col, key, msg);
        /* Keys and values from the file may hold line breaks; the error is one line. */
        for (char *c = ld->err; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
    }
    return -EINVAL;
}

#define fail(ld, node, key, ...)                                                         \
    fail_at((ld), (unsigned)(node)->start_mark.line + 1, (unsigned)(node)->start_mark.column + 1, \
            (key), __VA_ARGS__)

/* A scalar as it may appear inside an error line: quoted, printable, bounded. */
static const char *show(const yaml_node_t *n, char *buf, size_t size)
{
    size_t o = 0, max = size > 8 ? size - 6 : 0;

    if (n->type != YAML_SCALAR_NODE) {
        snprintf(buf, size, "%s", n->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
        return buf;
    }
    buf[o++] = '\'';
    for (size_t i = 0; i < n->data.scalar.length && o < max; i++) {
        unsigned char c = n->data.scalar.value[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (o >= max && max) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

static const char *kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

/* ---- scalar helpers ----------------------------------------------------- */

static bool is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    size_t len;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    len = n->data.scalar.length;
    if (len == 0)
        return true;
    for (size_t i = 0; i < VS_ARRAY_SIZE(nulls); i++)
        if (len == strlen(nulls[i]) && !memcmp(n->data.scalar.value, nulls[i], len))
            return true;
    return false;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

/* A scalar's text, which must not contain NUL and must fit in size bytes. */
static int get_string(struct loader *ld, const yaml_node_t *n, const char *key, const char *expect,
                      size_t size, char *out)
{
    char b[64];

    if (n->type != YAML_SCALAR_NODE)
        return fail(ld, n, key, "expected %s, not %s", expect, kind(n));
    if (is_null(n))
        return fail(ld, n, key, "missing value; expected %s", expect);
    if (memchr(n->data.scalar.value, '\0', n->data.scalar.length))
        return fail(ld, n, key, "%s contains a NUL character; expected %s", show(n, b, sizeof(b)),
                    expect);
    if (n->data.scalar.length >= size)
        return fail(ld, n, key, "%s is too long (%zu bytes); expected %s of at most %zu bytes",
                    show(n, b, sizeof(b)), n->data.scalar.length, expect, size - 1);
    memcpy(out, n->data.scalar.value, n->data.scalar.length);
    out[n->data.scalar.length] = '\0';
    return 0;
}

/* Decimal integer within [min, max], as a plain (unquoted) scalar. */
static int get_uint(struct loader *ld, const yaml_node_t *n, const char *key, unsigned long min,
                    unsigned long max, const char *unit, unsigned long *out)
{
    const unsigned char *s = n->data.scalar.value;
    unsigned long v = 0;
    size_t len;
    char b[64];

    if (n->type != YAML_SCALAR_NODE)
        return fail(ld, n, key, "expected a number in %lu..%lu%s, not %s", min, max, unit, kind(n));
    if (is_null(n))
        return fail(ld, n, key, "missing value; expected a number in %lu..%lu%s", min, max, unit);
    len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return fail(ld, n, key, "%s is a quoted string; write a number in %lu..%lu%s without quotes",
                    show(n, b, sizeof(b)), min, max, unit);
    for (size_t i = 0; i < len; i++) {
        if (!isdigit(s[i]))
            return fail(ld, n, key, "%s is not a number; use an integer in %lu..%lu%s",
                        show(n, b, sizeof(b)), min, max, unit);
        if (v <= max)
            v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < min || v > max)
        return fail(ld, n, key, "%s is out of range; use %lu..%lu%s", show(n, b, sizeof(b)), min,
                    max, unit);
    *out = v;
    return 0;
}

struct choice {
    const char *name;
    int value;
};

static int get_choice(struct loader *ld, const yaml_node_t *n, const char *key,
                      const struct choice *choices, size_t n_choices, const char *what,
                      const char *accepted, int *out)
{
    char b[64];

    if (n->type != YAML_SCALAR_NODE)
        return fail(ld, n, key, "expected %s, not %s; use %s", what, kind(n), accepted);
    if (is_null(n))
        return fail(ld, n, key, "missing value; use %s", accepted);
    for (size_t i = 0; i < n_choices; i++) {
        if (scalar_is(n, choices[i].name)) {
            *out = choices[i].value;
            return 0;
        }
    }
    return fail(ld, n, key, "%s is not %s; use %s", show(n, b, sizeof(b)), what, accepted);
}

/* ---- mapping walk ------------------------------------------------------- */

/* Calls cb for every key/value of a mapping after checking that keys are
 * scalars and unique. A null node stands for an empty mapping. */
typedef int (*pair_cb)(struct loader *ld, const char *path, const yaml_node_t *k,
                       const yaml_node_t *v, void *arg);

static void join(char *out, size_t size, const char *path, const yaml_node_t *k)
{
    int n = (int)VS_MIN(k->data.scalar.length, 64u), len;

    if (path[0])
        len = snprintf(out, size, "%s.%.*s", path, n, (const char *)k->data.scalar.value);
    else
        len = snprintf(out, size, "%.*s", n, (const char *)k->data.scalar.value);
    /* A key path only names the place in messages: a cut one still does. */
    if (len >= (int)size)
        out[size - 1] = '\0';
}

static int walk_mapping(struct loader *ld, const yaml_node_t *map, const char *path,
                        const char *expect, pair_cb cb, void *arg)
{
    const yaml_node_pair_t *start, *end;
    char b[64];
    int ret;

    if (is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, path[0] ? path : "top level", "expected %s, not %s", expect,
                    map->type == YAML_SCALAR_NODE ? show(map, b, sizeof(b)) : kind(map));
    start = map->data.mapping.pairs.start;
    end = map->data.mapping.pairs.top;
    for (const yaml_node_pair_t *p = start; p < end; p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(ld->doc, p->value);
        char key[192];

        if (!k || !v)
            return fail_at(ld, 1, 1, path[0] ? path : "top level", "malformed mapping");
        if (k->type != YAML_SCALAR_NODE || k->data.scalar.length == 0 ||
            memchr(k->data.scalar.value, '\0', k->data.scalar.length))
            return fail(ld, k, path[0] ? path : "top level",
                        "keys must be plain names, not %s", kind(k));
        join(key, sizeof(key), path, k);
        /* Callers bound the number of keys they accept, so this stays small. */
        for (const yaml_node_pair_t *q = start; q < p; q++) {
            const yaml_node_t *k2 = yaml_document_get_node(ld->doc, q->key);
            if (k2->data.scalar.length == k->data.scalar.length &&
                !memcmp(k2->data.scalar.value, k->data.scalar.value, k->data.scalar.length))
                return fail(ld, k, key, "duplicate key (first at line %u); give each key once",
                            (unsigned)k2->start_mark.line + 1);
        }
        ret = cb(ld, path, k, v, arg);
        if (ret)
            return ret;
    }
    return 0;
}

/* ---- sections ----------------------------------------------------------- */

static void format_cpus(char *out, size_t size)
{
    size_t o = 0;
    int first = -1;

    out[0] = '\0';
    for (int c = 0; c <= CPU_LIMIT && o < size; c++) {
        bool ok = c < CPU_LIMIT && vs_cpu_allowed(c) > 0;
        if (ok && first < 0)
            first = c;
        if (!ok && first >= 0) {
            int n;
            if (first == c - 1)
                n = snprintf(out + o, size - o, "%s%d", o ? "," : "", first);
            else
                n = snprintf(out + o, size - o, "%s%d-%d", o ? "," : "", first, c - 1);
            o += n > 0 ? (size_t)n : 0;
            first = -1;
        }
    }
    if (!out[0])
        snprintf(out, size, "none");
}

static int load_cpus(struct loader *ld, const char *key, const yaml_node_t *seq)
{
    struct vs_config *cfg = ld->cfg;
    const yaml_node_item_t *items;
    size_t n;

    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(ld, seq, key, "expected a list of CPU numbers such as [1, 2], not %s",
                    seq->type == YAML_SCALAR_NODE ? "a scalar" : kind(seq));
    items = seq->data.sequence.items.start;
    n = (size_t)(seq->data.sequence.items.top - items);
    if (n == 0)
        return fail(ld, seq, key, "empty list; give at least one CPU, such as [1]");
    if (n > VS_CONFIG_MAX_CPUS)
        return fail(ld, seq, key, "%zu CPUs listed; at most %d pollers are supported", n,
                    VS_CONFIG_MAX_CPUS);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = yaml_document_get_node(ld->doc, items[i]);
        char ikey[256], avail[256];
        unsigned long v;
        int ret;

        snprintf(ikey, sizeof(ikey), "%s[%zu]", key, i);
        ret = get_uint(ld, it, ikey, 0, CPU_LIMIT - 1, "", &v);
        if (ret)
            return ret;
        for (size_t j = 0; j < i; j++)
            if (cfg->cpus[j] == (int)v)
                return fail(ld, it, ikey, "CPU %lu is listed twice; give each CPU once", v);
        if (vs_cpu_allowed((int)v) <= 0) {
            format_cpus(avail, sizeof(avail));
            return fail(ld, it, ikey, "CPU %lu is not available to this process; use one of %s", v,
                        avail);
        }
        cfg->cpus[i] = (int)v;
    }
    cfg->n_cpus = (unsigned)n;
    return 0;
}

static int pollers_pair(struct loader *ld, const char *path, const yaml_node_t *k,
                        const yaml_node_t *v, void *arg)
{
    static const struct choice modes[] = {{"adaptive", VS_POLL_ADAPTIVE}, {"busy", VS_POLL_BUSY}};
    char key[192];
    int mode, ret;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "cpus"))
        return load_cpus(ld, key, v);
    if (scalar_is(k, "mode")) {
        ret = get_choice(ld, v, key, modes, VS_ARRAY_SIZE(modes), "a poll mode",
                         "busy or adaptive", &mode);
        ld->cfg->poll_mode = (enum vs_poll_mode)mode;
        return ret;
    }
    if (scalar_is(k, "max_nap_us")) {
        unsigned long n;

        ret = get_uint(ld, v, key, 0, VS_POLL_MAX_NAP_LIMIT_US, " microseconds (0 = never nap)",
                       &n);
        ld->cfg->max_nap_us = (unsigned)n;
        return ret;
    }
    return fail(ld, k, key, "unknown key; use cpus, mode or max_nap_us");
}

static int memory_pair(struct loader *ld, const char *path, const yaml_node_t *k,
                       const yaml_node_t *v, void *arg)
{
    static const struct choice kinds[] = {
        {"2M", VS_PAGES_2M}, {"1G", VS_PAGES_1G}, {"none", VS_PAGES_NONE}};
    char key[192];
    unsigned long n;
    int kd, ret;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "hugepage_size")) {
        ret = get_choice(ld, v, key, kinds, VS_ARRAY_SIZE(kinds), "a page size",
                         "2M, 1G or none", &kd);
        ld->cfg->hugepage_size = (enum vs_page_kind)kd;
        return ret;
    }
    if (scalar_is(k, "buffers")) {
        ret = get_uint(ld, v, key, 1024, 4194304, "", &n);
        ld->cfg->buffers = (unsigned)n;
        return ret;
    }
    if (scalar_is(k, "large_buffers")) {
        ret = get_uint(ld, v, key, 0, 65536, "", &n);
        ld->cfg->large_buffers = (unsigned)n;
        return ret;
    }
    return fail(ld, k, key, "unknown key; use hugepage_size, buffers or large_buffers");
}

static int get_mode(struct loader *ld, const yaml_node_t *v, const char *key, unsigned *out)
{
    const char *accepted = "use octal permissions such as 0660 (at most 0777)";
    unsigned m = 0;
    char b[64];

    if (v->type != YAML_SCALAR_NODE)
        return fail(ld, v, key, "expected permissions, not %s; %s", kind(v), accepted);
    if (is_null(v))
        return fail(ld, v, key, "missing value; %s", accepted);
    if (v->data.scalar.length > 5)
        return fail(ld, v, key, "%s is not a file mode; %s", show(v, b, sizeof(b)), accepted);
    for (size_t i = 0; i < v->data.scalar.length; i++) {
        unsigned char c = v->data.scalar.value[i];
        if (c < '0' || c > '7')
            return fail(ld, v, key, "%s is not a file mode; %s", show(v, b, sizeof(b)), accepted);
        m = m * 8 + (unsigned)(c - '0');
    }
    if (m > 0777)
        return fail(ld, v, key, "%s is not a file mode; %s", show(v, b, sizeof(b)), accepted);
    *out = m;
    return 0;
}

static int control_pair(struct loader *ld, const char *path, const yaml_node_t *k,
                        const yaml_node_t *v, void *arg)
{
    struct vs_config *cfg = ld->cfg;
    char key[192], b[64];
    int ret;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "socket")) {
        ret = get_string(ld, v, key, "an absolute path", sizeof(cfg->socket), cfg->socket);
        if (!ret && cfg->socket[0] != '/')
            return fail(ld, v, key, "%s is not an absolute path; use one such as "
                        "/run/vswitch/vswitchd.sock", show(v, b, sizeof(b)));
        return ret;
    }
    if (scalar_is(k, "mode"))
        return get_mode(ld, v, key, &cfg->socket_mode);
    if (scalar_is(k, "group")) {
        ret = get_string(ld, v, key, "a group name", sizeof(cfg->socket_group),
                         cfg->socket_group);
        if (ret)
            return ret;
        for (const char *c = cfg->socket_group; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == ':' || *c == '/' || (unsigned char)*c >= 0x7f)
                return fail(ld, v, key, "%s is not a group name; use a name from /etc/group",
                            show(v, b, sizeof(b)));
        return 0;
    }
    if (scalar_is(k, "idle_timeout")) {
        unsigned long n;
        ret = get_uint(ld, v, key, 0, 86400, " seconds (0 = never)", &n);
        cfg->idle_timeout = (unsigned)n;
        return ret;
    }
    if (scalar_is(k, "metrics")) {
        struct sockaddr_storage ss;
        unsigned len;

        ret = get_string(ld, v, key, "ADDRESS:PORT", sizeof(cfg->metrics), cfg->metrics);
        if (!ret && vs_parse_addr_port(cfg->metrics, &ss, &len) < 0)
            return fail(ld, v, key, "%s is not ADDRESS:PORT; use one such as 127.0.0.1:9417 or "
                        "[::1]:9417", show(v, b, sizeof(b)));
        return ret;
    }
    return fail(ld, k, key, "unknown key; use socket, mode, group, idle_timeout or metrics");
}

#define MAX_FDB_STATIC 4096

struct static_walk {
    struct vs_config_fdb_static *e;
    bool vlan, mac, port;
};

static int static_pair(struct loader *ld, const char *path, const yaml_node_t *k,
                       const yaml_node_t *v, void *arg)
{
    struct static_walk *w = arg;
    char key[192], text[32], b[64];
    unsigned long n;
    unsigned m[6];
    char tail;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "vlan")) {
        w->vlan = true;
        if (get_uint(ld, v, key, 0, 4094, " (0: untagged frames of transparent ports)", &n))
            return -EINVAL;
        w->e->vlan = (uint16_t)n;
        return 0;
    }
    if (scalar_is(k, "mac")) {
        w->mac = true;
        if (get_string(ld, v, key, "a MAC address such as 52:54:00:12:34:56", sizeof(text), text))
            return -EINVAL;
        if (strlen(text) != 17 || sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2],
                                         &m[3], &m[4], &m[5], &tail) != 6)
            return fail(ld, v, key, "%s is not a MAC address; write 52:54:00:12:34:56",
                        show(v, b, sizeof(b)));
        if (m[0] & 1)
            return fail(ld, v, key, "%s is a group address; static entries are for stations "
                        "(unicast MACs)", show(v, b, sizeof(b)));
        for (int i = 0; i < 6; i++)
            w->e->mac[i] = (uint8_t)m[i];
        return 0;
    }
    if (scalar_is(k, "port")) {
        w->port = true;
        if (get_string(ld, v, key, "the name of a port in ports", sizeof(w->e->port), w->e->port))
            return -EINVAL;
        return 0;
    }
    return fail(ld, k, key, "unknown key; use vlan, mac and port");
}

/* fdb.static: [{vlan, mac, port}...]; the ports are checked once the whole file is read. */
static int load_fdb_static(struct loader *ld, const char *key, const yaml_node_t *seq)
{
    struct vs_config *cfg = ld->cfg;
    const yaml_node_item_t *items;
    size_t n;

    if (is_null(seq))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(ld, seq, key, "expected a list of {vlan, mac, port}, not %s", kind(seq));
    items = seq->data.sequence.items.start;
    n = (size_t)(seq->data.sequence.items.top - items);
    if (n > MAX_FDB_STATIC)
        return fail(ld, seq, key, "%zu entries; at most %d", n, MAX_FDB_STATIC);
    if (n && !(cfg->fdb_static = calloc(n, sizeof(*cfg->fdb_static))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = yaml_document_get_node(ld->doc, items[i]);
        struct static_walk w = {.e = &cfg->fdb_static[i]};
        char ikey[256];
        int ret;

        snprintf(ikey, sizeof(ikey), "%s[%zu]", key, i);
        if (!it || it->type != YAML_MAPPING_NODE)
            return fail(ld, it ? it : seq, ikey, "expected {vlan: ID, mac: MAC, port: NAME}");
        w.e->line = (unsigned)it->start_mark.line + 1;
        w.e->col = (unsigned)it->start_mark.column + 1;
        cfg->n_fdb_static = (unsigned)i + 1;
        if ((ret = walk_mapping(ld, it, ikey, "a static entry", static_pair, &w)))
            return ret;
        if (!w.vlan || !w.mac || !w.port)
            return fail(ld, it, ikey, "missing key '%s'; a static entry has vlan, mac and port",
                        !w.vlan ? "vlan" : !w.mac ? "mac" : "port");
    }
    return 0;
}

#define MAX_MIRRORS 16

static char *join_list(struct loader *ld, const yaml_node_t *seq, const char *key);

struct mirror_walk {
    struct vs_config_mirror *m;
    const yaml_node_t *src;
    bool name, dst;
};

static int mirror_pair(struct loader *ld, const char *path, const yaml_node_t *k,
                       const yaml_node_t *v, void *arg)
{
    static const struct choice dirs[] = {{"rx", 1}, {"tx", 2}, {"both", 3}};
    struct mirror_walk *w = arg;
    char key[192];
    int d;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "name")) {
        w->name = true;
        if (get_string(ld, v, key, "a mirror name", sizeof(w->m->name), w->m->name))
            return -EINVAL;
        if (!vs_port_name_valid(w->m->name))
            return fail(ld, v, key, "not a valid name; use 1..%d characters of A-Z a-z 0-9 _ . -",
                        VS_PORT_NAME_MAX - 1);
        return 0;
    }
    if (scalar_is(k, "dst")) {
        w->dst = true;
        return get_string(ld, v, key, "the name of a port in ports", sizeof(w->m->dst), w->m->dst);
    }
    if (scalar_is(k, "dir")) {
        if (get_choice(ld, v, key, dirs, VS_ARRAY_SIZE(dirs), "a direction", "rx, tx or both", &d))
            return -EINVAL;
        w->m->dir = (unsigned)d;
        return 0;
    }
    if (scalar_is(k, "src")) {
        char *joined;

        w->src = v;
        if (v->type == YAML_SEQUENCE_NODE) {
            if (!(joined = join_list(ld, v, key)))
                return -EINVAL;
        } else {
            char one[VS_PORT_NAME_MAX];
            if (get_string(ld, v, key, "a port name or a list of them", sizeof(one), one))
                return -EINVAL;
            joined = strdup(one);
        }
        if (!joined)
            return -ENOMEM;
        if (strlen(joined) >= sizeof(w->m->src) || !joined[0]) {
            free(joined);
            return fail(ld, v, key, "expected 1 to %d source ports", VS_MAX_PORTS);
        }
        snprintf(w->m->src, sizeof(w->m->src), "%s", joined);
        free(joined);
        return 0;
    }
    return fail(ld, k, key, "unknown key; use name, src, dir and dst");
}

static int load_mirrors(struct loader *ld, const yaml_node_t *seq)
{
    struct vs_config *cfg = ld->cfg;
    const yaml_node_item_t *items;
    size_t n;

    if (is_null(seq))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(ld, seq, "mirrors", "expected a list of {name, src, dir, dst}, not %s",
                    kind(seq));
    items = seq->data.sequence.items.start;
    n = (size_t)(seq->data.sequence.items.top - items);
    if (n > MAX_MIRRORS)
        return fail(ld, seq, "mirrors", "%zu mirrors; at most %d", n, MAX_MIRRORS);
    if (n && !(cfg->mirrors = calloc(n, sizeof(*cfg->mirrors))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = yaml_document_get_node(ld->doc, items[i]);
        struct mirror_walk w = {.m = &cfg->mirrors[i]};
        char ikey[64];
        int ret;

        snprintf(ikey, sizeof(ikey), "mirrors[%zu]", i);
        if (!it || it->type != YAML_MAPPING_NODE)
            return fail(ld, it ? it : seq, ikey, "expected {name, src, dir, dst}");
        w.m->line = (unsigned)it->start_mark.line + 1;
        w.m->col = (unsigned)it->start_mark.column + 1;
        w.m->dir = 3;
        cfg->n_mirrors = (unsigned)i + 1;
        if ((ret = walk_mapping(ld, it, ikey, "a mirror", mirror_pair, &w)))
            return ret;
        if (!w.name || !w.src || !w.dst)
            return fail(ld, it, ikey, "missing key '%s'; a mirror has name, src, dst (and dir)",
                        !w.name ? "name" : !w.src ? "src" : "dst");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->mirrors[j].name, w.m->name))
                return fail(ld, it, ikey, "duplicate mirror name '%s'", w.m->name);
    }
    return 0;
}

static bool has_port(const struct vs_config *cfg, const char *name)
{
    for (unsigned j = 0; j < cfg->n_ports; j++)
        if (!strcmp(cfg->ports[j].name, name))
            return true;
    return false;
}

/* Every mirror's ports are ports of the file. */
static int check_mirrors(struct loader *ld)
{
    struct vs_config *cfg = ld->cfg;

    for (unsigned i = 0; i < cfg->n_mirrors; i++) {
        const struct vs_config_mirror *m = &cfg->mirrors[i];
        char key[64], list[VS_CONFIG_MIRROR_SRCS];

        snprintf(key, sizeof(key), "mirrors[%u]", i);
        if (!has_port(cfg, m->dst))
            return fail_at(ld, m->line, m->col, key,
                           "dst: no port named '%s' in ports; name one of the file's ports", m->dst);
        snprintf(list, sizeof(list), "%s", m->src);
        for (char *save = NULL, *w = strtok_r(list, ",", &save); w; w = strtok_r(NULL, ",", &save))
            if (!has_port(cfg, w))
                return fail_at(ld, m->line, m->col, key,
                               "src: no port named '%s' in ports; name the file's ports", w);
    }
    return 0;
}

/* Every static entry names a port of the file. */
static int check_fdb_static(struct loader *ld)
{
    struct vs_config *cfg = ld->cfg;

    for (unsigned i = 0; i < cfg->n_fdb_static; i++) {
        const struct vs_config_fdb_static *e = &cfg->fdb_static[i];
        bool found = false;
        char key[64];

        for (unsigned j = 0; j < cfg->n_ports && !found; j++)
            found = !strcmp(cfg->ports[j].name, e->port);
        snprintf(key, sizeof(key), "fdb.static[%u].port", i);
        if (!found)
            return fail_at(ld, e->line, e->col, key,
                           "no port named '%s' in ports; name one of the file's ports", e->port);
    }
    return 0;
}

static int fdb_pair(struct loader *ld, const char *path, const yaml_node_t *k, const yaml_node_t *v,
                    void *arg)
{
    char key[192];
    unsigned long n;
    int ret;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "size")) {
        ret = get_uint(ld, v, key, 1024, 16777216, " entries", &n);
        ld->cfg->fdb_size = (uint32_t)n;
        return ret;
    }
    if (scalar_is(k, "aging")) {
        ret = get_uint(ld, v, key, 0, 86400, " seconds (0 = never)", &n);
        ld->cfg->fdb_aging = (uint32_t)n;
        return ret;
    }
    if (scalar_is(k, "static"))
        return load_fdb_static(ld, key, v);
    return fail(ld, k, key, "unknown key; use size, aging or static");
}

static int log_pair(struct loader *ld, const char *path, const yaml_node_t *k, const yaml_node_t *v,
                    void *arg)
{
    static const struct choice levels[] = {{"err", VS_LOG_ERR},
                                           {"warn", VS_LOG_WARN},
                                           {"info", VS_LOG_INFO},
                                           {"debug", VS_LOG_DEBUG}};
    char key[192];
    int lvl, ret;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "level")) {
        ret = get_choice(ld, v, key, levels, VS_ARRAY_SIZE(levels), "a log level",
                         "err, warn, info or debug", &lvl);
        ld->cfg->log_level = (enum vs_log_level)lvl;
        return ret;
    }
    return fail(ld, k, key, "unknown key; use level");
}

/* ---- ports -------------------------------------------------------------- */

/* A list option (trunks: [10, 20, 100-199]) as the comma-separated text the
 * key=value form takes. NULL after reporting a bad item (or out of memory). */
static char *join_list(struct loader *ld, const yaml_node_t *seq, const char *key)
{
    const yaml_node_item_t *items = seq->data.sequence.items.start;
    size_t n = (size_t)(seq->data.sequence.items.top - items), len = 0;
    char *out = calloc(1, MAX_OPTION_VALUE + 1), ikey[256];

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = yaml_document_get_node(ld->doc, items[i]);

        snprintf(ikey, sizeof(ikey), "%s[%zu]", key, i);
        if (!it || it->type != YAML_SCALAR_NODE || is_null(it) ||
            memchr(it->data.scalar.value, '\0', it->data.scalar.length) ||
            memchr(it->data.scalar.value, ',', it->data.scalar.length)) {
            fail(ld, it ? it : seq, ikey, "expected one value per item (such as 10 or 100-199)");
            free(out);
            return NULL;
        }
        if (len + it->data.scalar.length + 1 > MAX_OPTION_VALUE) {
            fail(ld, seq, key, "list is too long; use at most %d bytes", MAX_OPTION_VALUE);
            free(out);
            return NULL;
        }
        if (len)
            out[len++] = ',';
        memcpy(out + len, it->data.scalar.value, it->data.scalar.length);
        len += it->data.scalar.length;
    }
    return out;
}

struct port_walk {
    struct vs_config_port *port;
    const yaml_node_t *name, *type;
    const yaml_node_t *vals[MAX_PORT_OPTIONS + 2];
    bool listed[MAX_PORT_OPTIONS + 2]; /* the value was a list or mapping */
};

/* Appends scalar x (an item of the list or mapping option value) to b, behind sep
 * (none when 0). 0, or a failure at x. */
static int append_item(struct loader *ld, const yaml_node_t *x, const char *key, char *b,
                       size_t *len, char sep)
{
    if (x->type != YAML_SCALAR_NODE || memchr(x->data.scalar.value, '\0', x->data.scalar.length))
        return fail(ld, x, key,
                    "expected a plain value here, not %s; a list or mapping option holds plain "
                    "values only",
                    kind(x));
    if (*len + x->data.scalar.length + 1 > MAX_OPTION_VALUE)
        return fail(ld, x, key, "value is too long; use at most %d bytes", MAX_OPTION_VALUE);
    if (sep)
        b[(*len)++] = sep;
    memcpy(b + *len, x->data.scalar.value, x->data.scalar.length);
    *len += x->data.scalar.length;
    b[*len] = '\0';
    return 0;
}

/* A list or mapping option value as the one string port types parse: "a,b" for
 * [a, b], "k1:v1,k2:v2" for {k1: v1, k2: v2} (a VXLAN port's remotes and vni_map). */
static int flatten(struct loader *ld, const yaml_node_t *v, const char *key, char **out)
{
    char *b = malloc(MAX_OPTION_VALUE + 1);
    size_t len = 0;
    int rc = 0;

    if (!b)
        return -ENOMEM;
    b[0] = '\0';
    if (v->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *i = v->data.sequence.items.start;
             rc == 0 && i < v->data.sequence.items.top; i++)
            rc = append_item(ld, yaml_document_get_node(ld->doc, *i), key, b, &len,
                             i == v->data.sequence.items.start ? 0 : ',');
    } else {
        for (yaml_node_pair_t *p = v->data.mapping.pairs.start;
             rc == 0 && p < v->data.mapping.pairs.top; p++) {
            rc = append_item(ld, yaml_document_get_node(ld->doc, p->key), key, b, &len,
                             p == v->data.mapping.pairs.start ? 0 : ',');
            if (rc == 0)
                rc = append_item(ld, yaml_document_get_node(ld->doc, p->value), key, b, &len,
                                 ':');
        }
    }
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static int port_pair(struct loader *ld, const char *path, const yaml_node_t *k,
                     const yaml_node_t *v, void *arg)
{
    struct port_walk *pw = arg;
    struct vs_config_port *port = pw->port;
    struct vs_port_arg *a;
    char key[192], *ks, *vs;

    join(key, sizeof(key), path, k);
    if (scalar_is(k, "name")) {
        pw->name = v;
        return 0;
    }
    if (scalar_is(k, "type")) {
        pw->type = v;
        return 0;
    }
    if (k->data.scalar.length > MAX_OPTION_KEY)
        return fail(ld, k, key, "option name is too long; use at most %d characters",
                    MAX_OPTION_KEY);
    ks = strndup((const char *)k->data.scalar.value, k->data.scalar.length);
    if (!ks)
        return -ENOMEM;
    if (v->type == YAML_SEQUENCE_NODE && vs_port_conf_is_list_key(ks)) {
        vs = join_list(ld, v, key);
        if (!vs) {
            free(ks);
            return -EINVAL;
        }
        goto add;
    }
    if (v->type == YAML_SEQUENCE_NODE || v->type == YAML_MAPPING_NODE) {
        int rc;

        if ((rc = flatten(ld, v, key, &vs)) < 0) {
            free(ks);
            return rc;
        }
        /* The type says later whether it reads this key as a list (list_keys). */
        pw->listed[port->n_args] = true;
        goto add;
    }
    if (v->type != YAML_SCALAR_NODE) {
        free(ks);
        return fail(ld, v, key, "expected a scalar value, not %s; port options are key: value",
                    kind(v));
    }
    if (memchr(v->data.scalar.value, '\0', v->data.scalar.length)) {
        free(ks);
        return fail(ld, v, key, "value contains a NUL character; use plain text");
    }
    if (v->data.scalar.length > MAX_OPTION_VALUE) {
        free(ks);
        return fail(ld, v, key, "value is too long; use at most %d bytes", MAX_OPTION_VALUE);
    }
    vs = is_null(v) ? strdup("") : strndup((const char *)v->data.scalar.value,
                                           v->data.scalar.length);
add:
    if (!ks || !vs) {
        free(ks);
        free(vs);
        return -ENOMEM;
    }
    pw->vals[port->n_args] = v;
    a = &port->args[port->n_args++];
    a->key = ks;
    a->value = vs;
    a->line = (unsigned)v->start_mark.line + 1;
    a->col = (unsigned)v->start_mark.column + 1;
    return 0;
}

static int load_port(struct loader *ld, unsigned idx, const yaml_node_t *map)
{
    struct vs_config_port *port = &ld->cfg->ports[idx];
    const struct vs_port_ops *ops;
    struct port_walk pw = {.port = port};
    struct vs_port_args args;
    struct vs_port_err perr;
    char path[32], key[128], b[64];
    size_t n_pairs;
    int ret;

    snprintf(path, sizeof(path), "ports[%u]", idx);
    port->line = (unsigned)map->start_mark.line + 1;
    port->col = (unsigned)map->start_mark.column + 1;
    if (map->type != YAML_MAPPING_NODE)
        return fail(ld, map, path, "expected a mapping with name, type and the type's options, "
                    "not %s", map->type == YAML_SCALAR_NODE ? show(map, b, sizeof(b)) : kind(map));
    n_pairs = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start);
    if (n_pairs > MAX_PORT_OPTIONS + 2)
        return fail(ld, map, path, "%zu keys; a port takes name, type and at most %d options",
                    n_pairs, MAX_PORT_OPTIONS);
    port->args = calloc(n_pairs ? n_pairs : 1, sizeof(*port->args));
    if (!port->args)
        return -ENOMEM;
    ret = walk_mapping(ld, map, path, "a port", port_pair, &pw);
    if (ret)
        return ret;

    if (!pw.name)
        return fail(ld, map, path, "missing key 'name'; each port needs a name and a type");
    snprintf(key, sizeof(key), "%s.name", path);
    if (pw.name->type != YAML_SCALAR_NODE || is_null(pw.name))
        return fail(ld, pw.name, key, "expected a port name of 1..%d characters of "
                    "A-Z a-z 0-9 _ . -, not %s", VS_PORT_NAME_MAX - 1,
                    is_null(pw.name) ? "an empty value" : kind(pw.name));
    if (pw.name->data.scalar.length < VS_PORT_NAME_MAX) {
        memcpy(port->name, pw.name->data.scalar.value, pw.name->data.scalar.length);
        port->name[pw.name->data.scalar.length] = '\0';
    }
    if (pw.name->data.scalar.length >= VS_PORT_NAME_MAX ||
        strlen(port->name) != pw.name->data.scalar.length || !vs_port_name_valid(port->name))
        return fail(ld, pw.name, key,
                    "%s is not a valid port name; use 1..%d characters of A-Z a-z 0-9 _ . -",
                    show(pw.name, b, sizeof(b)), VS_PORT_NAME_MAX - 1);
    for (unsigned i = 0; i < idx; i++)
        if (!strcmp(ld->cfg->ports[i].name, port->name))
            return fail(ld, pw.name, key, "duplicate port name '%s' (first at line %u); "
                        "give each port its own name", port->name, ld->cfg->ports[i].line);

    snprintf(key, sizeof(key), "%s.type", path);
    if (!pw.type)
        return fail(ld, map, path, "missing key 'type'; use one of %s", vs_port_type_list());
    if (pw.type->type != YAML_SCALAR_NODE || is_null(pw.type))
        return fail(ld, pw.type, key, "expected a port type; use one of %s",
                    vs_port_type_list());
    ops = NULL;
    if (pw.type->data.scalar.length < sizeof(port->type) &&
        !memchr(pw.type->data.scalar.value, '\0', pw.type->data.scalar.length)) {
        memcpy(port->type, pw.type->data.scalar.value, pw.type->data.scalar.length);
        port->type[pw.type->data.scalar.length] = '\0';
        ops = vs_port_type_find(port->type);
    }
    if (!ops)
        return fail(ld, pw.type, key, "unknown port type %s; use one of %s",
                    show(pw.type, b, sizeof(b)), vs_port_type_list());

    /* Lists and mappings only where the type reads them as such. */
    for (unsigned i = 0; i < port->n_args; i++) {
        bool ok = false;

        for (const char *const *k = ops->list_keys; pw.listed[i] && k && *k && !ok; k++)
            ok = !strcmp(*k, port->args[i].key);
        if (pw.listed[i] && !ok) {
            snprintf(key, sizeof(key), "%s.%.63s", path, port->args[i].key);
            return fail(ld, pw.vals[i], key,
                        "expected a scalar value, not %s; port options are key: value",
                        kind(pw.vals[i]));
        }
    }
    args.n = port->n_args;
    args.v = port->args;
    memset(&perr, 0, sizeof(perr));
    perr.arg = -1;
    /* The switch's keys first, then the type's own options without them. */
    struct vs_port_conf conf;
    struct vs_port_arg targ[port->n_args ? port->n_args : 1];
    int targ_map[port->n_args ? port->n_args : 1];
    struct vs_port_args targs = {vs_port_conf_split(&args, targ, targ_map), targ};
    ret = vs_port_conf_parse(&args, &conf, &perr);
    if (!ret && ops->validate) {
        ret = ops->validate(&targs, &perr);
        if (ret && perr.arg >= 0 && (unsigned)perr.arg < targs.n)
            perr.arg = targ_map[perr.arg];
    }
    if (ret) {
        if (!perr.msg[0])
            snprintf(perr.msg, sizeof(perr.msg), "options refused: %s", strerror(-ret));
        for (char *c = perr.msg; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        if (perr.arg >= 0 && (unsigned)perr.arg < port->n_args) {
            const char *k = port->args[perr.arg].key, *msg = perr.msg;
            size_t kl = strlen(k);
            /* Port types may start their message with the key; the line names it already. */
            if (!strncmp(msg, k, kl) && msg[kl] == ':' && msg[kl + 1] == ' ')
                msg += kl + 2;
            snprintf(key, sizeof(key), "%s.%.63s", path, k);
            return fail(ld, pw.vals[perr.arg], key, "%s", msg);
        }
        return fail(ld, map, path, "%s", perr.msg);
    }
    return 0;
}

static int load_ports(struct loader *ld, const yaml_node_t *seq)
{
    struct vs_config *cfg = ld->cfg;
    const yaml_node_item_t *items;
    size_t n;

    if (is_null(seq))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(ld, seq, "ports", "expected a list of ports (- name: ..., type: ...), not %s",
                    kind(seq));
    items = seq->data.sequence.items.start;
    n = (size_t)(seq->data.sequence.items.top - items);
    if (n == 0)
        return 0;
    if (n > VS_MAX_PORTS)
        return fail(ld, seq, "ports", "%zu ports listed; at most %d are supported", n,
                    VS_MAX_PORTS);
    cfg->ports = calloc(n, sizeof(*cfg->ports));
    if (!cfg->ports)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = yaml_document_get_node(ld->doc, items[i]);
        int ret;

        cfg->n_ports = (unsigned)i + 1; /* so that vs_config_free sees its args */
        ret = load_port(ld, (unsigned)i, it);
        if (ret)
            return ret;
    }
    return 0;
}

/* ---- top level ---------------------------------------------------------- */

static int top_pair(struct loader *ld, const char *path, const yaml_node_t *k, const yaml_node_t *v,
                    void *arg)
{
    static const struct {
        const char *name, *expect;
        pair_cb cb;
    } sections[] = {
        {"pollers", "a mapping with cpus and mode", pollers_pair},
        {"memory", "a mapping with hugepage_size, buffers and large_buffers", memory_pair},
        {"control", "a mapping with socket, mode and group", control_pair},
        {"fdb", "a mapping with size, aging and static", fdb_pair},
        {"log", "a mapping with level", log_pair},
    };
    char key[192];

    join(key, sizeof(key), "", k);
    for (size_t i = 0; i < VS_ARRAY_SIZE(sections); i++)
        if (scalar_is(k, sections[i].name)) {
            if (!is_null(v) && v->type != YAML_MAPPING_NODE)
                return fail(ld, v, key, "expected %s, not %s", sections[i].expect, kind(v));
            return walk_mapping(ld, v, key, sections[i].expect, sections[i].cb, NULL);
        }
    if (scalar_is(k, "ports"))
        return load_ports(ld, v);
    if (scalar_is(k, "mirrors"))
        return load_mirrors(ld, v);
    return fail(ld, k, key,
                "unknown section; use pollers, memory, control, fdb, log, ports or mirrors");
}

static void set_defaults(struct vs_config *cfg)
{
    cfg->n_cpus = 1;
    cfg->cpus[0] = 1;
    /* A machine where CPU 1 is not ours still gets one poller: the first CPU we have. */
    if (vs_cpu_allowed(1) <= 0)
        for (int c = 0; c < CPU_LIMIT; c++)
            if (vs_cpu_allowed(c) > 0) {
                cfg->cpus[0] = c;
                break;
            }
    cfg->poll_mode = VS_POLL_ADAPTIVE;
    cfg->max_nap_us = VS_POLL_MAX_NAP_US;
    cfg->hugepage_size = VS_PAGES_2M;
    cfg->buffers = 16384;
    cfg->large_buffers = 512;
    snprintf(cfg->socket, sizeof(cfg->socket), "/run/vswitch/vswitchd.sock");
    cfg->socket_mode = 0660;
    cfg->socket_group[0] = '\0';
    cfg->idle_timeout = VS_CTL_IDLE_TIMEOUT_S;
    cfg->metrics[0] = '\0';
    cfg->fdb_size = 65536;
    cfg->fdb_aging = 300;
    cfg->log_level = VS_LOG_INFO;
    cfg->n_ports = 0;
    cfg->ports = NULL;
}

/* 1-based line/column of a byte offset, for reader errors that carry only an offset. */
static void offset_to_mark(const char *text, size_t len, size_t off, unsigned *line, unsigned *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            (*col)++;
        }
    }
}

static int syntax_error(struct loader *ld, yaml_parser_t *p, const char *text, size_t len)
{
    unsigned line, col;

    if (p->error == YAML_MEMORY_ERROR) {
        if (ld->errlen)
            snprintf(ld->err, ld->errlen, "%s: out of memory", ld->name);
        return -ENOMEM;
    }
    if (p->error == YAML_READER_ERROR) {
        offset_to_mark(text, len, p->problem_offset, &line, &col);
        return fail_at(ld, line, col, "syntax", "%s; the file must be UTF-8 text",
                       p->problem ? p->problem : "unreadable input");
    }
    line = (unsigned)p->problem_mark.line + 1;
    col = (unsigned)p->problem_mark.column + 1;
    if (p->context)
        return fail_at(ld, line, col, "syntax", "%s %s (started at line %u)",
                       p->problem ? p->problem : "error", p->context,
                       (unsigned)p->context_mark.line + 1);
    return fail_at(ld, line, col, "syntax", "%s", p->problem ? p->problem : "error");
}

int vs_config_load_string(const char *text, size_t len, const char *name, struct vs_config *out,
                          char *err, size_t errlen)
{
    struct loader ld = {.name = name ? name : "<string>", .cfg = out, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_document_t doc, extra;
    const yaml_node_t *root, *root2;
    int ret;

    memset(out, 0, sizeof(*out));
    if (errlen)
        err[0] = '\0';
    set_defaults(out);
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        ret = syntax_error(&ld, &parser, text, len);
        yaml_parser_delete(&parser);
        return ret;
    }
    ld.doc = &doc;
    root = yaml_document_get_root_node(&doc);
    ret = 0;
    if (root) {
        /* A second document would be silently ignored; refuse it instead. */
        if (!yaml_parser_load(&parser, &extra)) {
            ret = syntax_error(&ld, &parser, text, len);
        } else {
            root2 = yaml_document_get_root_node(&extra);
            if (root2)
                ret = fail(&ld, root2, "top level",
                           "a second YAML document; put everything in one document");
            yaml_document_delete(&extra);
        }
        if (!ret)
            ret = walk_mapping(&ld, root, "",
                               "a mapping of sections (pollers, memory, control, fdb, log, ports, mirrors)",
                               top_pair, NULL);
        if (!ret)
            ret = check_fdb_static(&ld);
        if (!ret)
            ret = check_mirrors(&ld);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (!ret) {
        out->file = strdup(ld.name);
        if (!out->file)
            ret = -ENOMEM;
    }
    if (ret) {
        if (ret == -ENOMEM && errlen && !err[0])
            snprintf(err, errlen, "%s: out of memory", ld.name);
        vs_config_free(out);
    }
    return ret;
}

int vs_config_load_file(const char *path, struct vs_config *out, char *err, size_t errlen)
{
    FILE *f;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ret;

    memset(out, 0, sizeof(*out));
    f = fopen(path, "re");
    if (!f) {
        ret = -errno;
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
        return ret;
    }
    for (;;) {
        size_t n;
        if (len == cap) {
            char *nb;
            if (cap >= MAX_FILE_SIZE) {
                fclose(f);
                free(buf);
                snprintf(err, errlen, "%s: cannot read: larger than %u MiB; is this a config file?",
                         path, MAX_FILE_SIZE >> 20);
                return -EFBIG;
            }
            cap = cap ? cap * 2 : 8192;
            nb = realloc(buf, cap);
            if (!nb) {
                fclose(f);
                free(buf);
                snprintf(err, errlen, "%s: cannot read: out of memory", path);
                return -ENOMEM;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                ret = errno ? -errno : -EIO;
                fclose(f);
                free(buf);
                snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-ret));
                return ret;
            }
            break;
        }
    }
    fclose(f);
    ret = vs_config_load_string(buf ? buf : "", len, path, out, err, errlen);
    free(buf);
    return ret;
}

int vs_config_load_default(struct vs_config *out, char *err, size_t errlen)
{
    return vs_config_load_string(vs_config_default_yaml, vs_config_default_yaml_len,
                                 VS_CONFIG_DEFAULT_NAME, out, err, errlen);
}

void vs_config_free(struct vs_config *cfg)
{
    if (!cfg)
        return;
    for (unsigned i = 0; i < cfg->n_ports; i++) {
        struct vs_config_port *p = &cfg->ports[i];
        for (unsigned j = 0; j < p->n_args; j++) {
            free((char *)p->args[j].key);
            free((char *)p->args[j].value);
        }
        free(p->args);
    }
    free(cfg->ports);
    free(cfg->file);
    free(cfg->fdb_static);
    cfg->fdb_static = NULL;
    free(cfg->mirrors);
    cfg->mirrors = NULL;
    cfg->n_mirrors = 0;
    cfg->n_fdb_static = 0;
    cfg->ports = NULL;
    cfg->n_ports = 0;
    cfg->file = NULL;
}

void vs_config_port_error(const struct vs_config *cfg, unsigned i, const struct vs_port_err *perr,
                          int rc, char *buf, size_t size)
{
    const struct vs_config_port *cp = &cfg->ports[i];
    unsigned line = cp->line, col = cp->col;

    if (perr->arg >= 0 && (unsigned)perr->arg < cp->n_args) {
        line = cp->args[perr->arg].line;
        col = cp->args[perr->arg].col;
    }
    snprintf(buf, size, "%s:%u:%u: ports[%u]: port %s: %s", cfg->file, line, col, i, cp->name,
             perr->msg[0] ? perr->msg : strerror(-rc));
}
