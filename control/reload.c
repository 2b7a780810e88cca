/* Config reload: the diff of a running daemon against a new config, and applying
 * it through the switch's add/del-port. */
#include "control/reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/port_conf.h"
#include "vswitch/compiler.h"
#include "vswitch/log.h"

/* ---- settings ------------------------------------------------------------ */

struct apply_ctx {
    struct vs_ctl_server *server;
};

/* A setting outside `ports`: its dotted key, its value as text (two configs
 * differ in it when the texts differ), and, for one that can change while
 * running, how. A new config key gets a row here; without apply it is reported
 * as needing a restart. */
struct setting {
    const char *key;
    void (*format)(const struct vs_config *c, char *buf, size_t size);
    /* Makes the running daemon use next's value and records it in running.
     * 0 or -errno (the setting then keeps its old value). */
    int (*apply)(const struct apply_ctx *ctx, struct vs_config *running,
                 const struct vs_config *next);
};

static void fmt_cpus(const struct vs_config *c, char *buf, size_t size)
{
    size_t o = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < c->n_cpus && o < size; i++) {
        int n = snprintf(buf + o, size - o, "%s%d", i ? ", " : "", c->cpus[i]);
        o += n > 0 ? (size_t)n : 0;
    }
}

static void fmt_mode(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", vs_poll_mode_name(c->poll_mode));
}

static void fmt_max_nap(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%u", c->max_nap_us);
}

static void fmt_hugepage(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", vs_page_kind_name(c->hugepage_size));
}

static void fmt_buffers(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%u", c->buffers);
}

static void fmt_large(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%u", c->large_buffers);
}

static void fmt_socket(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", c->socket);
}

static void fmt_socket_mode(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%04o", c->socket_mode);
}

static void fmt_group(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", c->socket_group[0] ? c->socket_group : "(none)");
}

static void fmt_idle(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%u", c->idle_timeout);
}

static int apply_idle(const struct apply_ctx *ctx, struct vs_config *running,
                      const struct vs_config *next)
{
    int rc = ctx->server ? vs_ctl_server_set_idle_timeout(ctx->server, next->idle_timeout) : 0;

    if (rc == 0)
        running->idle_timeout = next->idle_timeout;
    return rc;
}

static void fmt_metrics(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%s", c->metrics[0] ? c->metrics : "(off)");
}

static void fmt_fdb_size(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%u", c->fdb_size);
}

static void fmt_fdb_aging(const struct vs_config *c, char *buf, size_t size)
{
    snprintf(buf, size, "%u", c->fdb_aging);
}

static void fmt_log_level(const struct vs_config *c, char *buf, size_t size)
{
    static const char *const names[] = {"err", "warn", "info", "debug"};

    snprintf(buf, size, "%s",
             (unsigned)c->log_level < VS_ARRAY_SIZE(names) ? names[c->log_level] : "?");
}

static int apply_log_level(const struct apply_ctx *ctx, struct vs_config *running,
                           const struct vs_config *next)
{
    vs_log_set_level(next->log_level);
    running->log_level = next->log_level;
    return 0;
}

static const struct setting settings[] = {
    {"pollers.cpus", fmt_cpus, NULL},
    {"pollers.mode", fmt_mode, NULL},
    {"pollers.max_nap_us", fmt_max_nap, NULL},
    {"memory.hugepage_size", fmt_hugepage, NULL},
    {"memory.buffers", fmt_buffers, NULL},
    {"memory.large_buffers", fmt_large, NULL},
    {"control.socket", fmt_socket, NULL},
    {"control.mode", fmt_socket_mode, NULL},
    {"control.group", fmt_group, NULL},
    {"control.idle_timeout", fmt_idle, apply_idle},
    {"control.metrics", fmt_metrics, NULL},
    {"fdb.size", fmt_fdb_size, NULL},
    {"fdb.aging", fmt_fdb_aging, NULL},
    {"log.level", fmt_log_level, apply_log_level},
};

/* ---- the diff ------------------------------------------------------------ */

const char *vs_reload_kind_name(enum vs_reload_kind kind)
{
    static const char *const names[] = {
        [VS_RELOAD_ADD] = "added",          [VS_RELOAD_REMOVE] = "removed",
        [VS_RELOAD_RECREATE] = "recreated",
        [VS_RELOAD_SET] = "changed", [VS_RELOAD_KEEP] = "kept",
        [VS_RELOAD_APPLY] = "applied",      [VS_RELOAD_RESTART] = "needs_restart",
    };

    return (unsigned)kind < VS_ARRAY_SIZE(names) ? names[kind] : "?";
}

static json_t *opt_str(const char *s) { return s ? json_string(s) : json_null(); }

/* Appends {"key", "running", "file"} (NULL: absent, null in JSON). */
static int add_pair(json_t *changes, const char *key, const char *running, const char *file)
{
    json_t *o = json_object();

    if (!o || json_object_set_new(o, "key", json_string(key)) ||
        json_object_set_new(o, "running", opt_str(running)) ||
        json_object_set_new(o, "file", opt_str(file)) || json_array_append_new(changes, o)) {
        json_decref(o);
        return -ENOMEM;
    }
    return 0;
}

static struct vs_reload_change *new_change(struct vs_reload_plan *plan, unsigned cap,
                                           enum vs_reload_kind kind, const char *what,
                                           const char *type)
{
    struct vs_reload_change *c;

    if (plan->n >= cap)
        return NULL;
    c = &plan->v[plan->n++];
    memset(c, 0, sizeof(*c));
    c->kind = kind;
    snprintf(c->what, sizeof(c->what), "%s", what);
    snprintf(c->type, sizeof(c->type), "%s", type ? type : "");
    c->port = -1;
    c->setting = -1;
    return c;
}

/* The options (and type) of a running port that differ from the file's port,
 * appended to changes in the file's key order, then the running port's keys the
 * file dropped. Returns how many differ, or -ENOMEM. */
static int port_changes(const struct vs_reload_port *rp, const struct vs_config_port *cp,
                        json_t *changes)
{
    const char *key;
    json_t *v;
    int n = 0;

    if (strcmp(rp->type, cp->type)) {
        if (add_pair(changes, "type", rp->type, cp->type))
            return -ENOMEM;
        n++;
    }
    for (unsigned i = 0; i < cp->n_args; i++) {
        const json_t *rv = json_object_get(rp->options, cp->args[i].key);
        const char *rs = json_is_string(rv) ? json_string_value(rv) : NULL;

        if (rs && !strcmp(rs, cp->args[i].value))
            continue;
        if (add_pair(changes, cp->args[i].key, rs, cp->args[i].value))
            return -ENOMEM;
        n++;
    }
    json_object_foreach((json_t *)rp->options, key, v)
    {
        struct vs_port_args args = {cp->n_args, cp->args};

        if (vs_port_args_get(&args, key, NULL))
            continue;
        if (add_pair(changes, key, json_is_string(v) ? json_string_value(v) : "?", NULL))
            return -ENOMEM;
        n++;
    }
    return n;
}

/* Whether set-port can bring the running port to the file's options: only switch
 * keys differ (the type and its options are the same), and none is given empty
 * in the file (set-port takes an empty value as "back to the default" and would
 * leave the key out). */
static bool live_change(const struct vs_config_port *cp, const json_t *changes)
{
    size_t i;
    json_t *c;

    json_array_foreach(changes, i, c)
        if (!vs_port_conf_is_key(json_string_value(json_object_get(c, "key"))))
            return false;
    for (unsigned a = 0; a < cp->n_args; a++)
        if (vs_port_conf_is_key(cp->args[a].key) && !cp->args[a].value[0])
            return false;
    return true;
}

static bool named_in(const struct vs_config *cfg, const char *name)
{
    for (unsigned i = 0; i < cfg->n_ports; i++)
        if (!strcmp(cfg->ports[i].name, name))
            return true;
    return false;
}

int vs_reload_diff(const struct vs_config *running, const struct vs_reload_port *ports,
                   unsigned n_ports, const struct vs_config *next, struct vs_reload_plan *plan)
{
    unsigned cap = next->n_ports + n_ports + VS_ARRAY_SIZE(settings);
    struct vs_reload_change *c;

    memset(plan, 0, sizeof(*plan));
    plan->v = calloc(cap ? cap : 1, sizeof(*plan->v));
    if (!plan->v)
        return -ENOMEM;

    for (unsigned i = 0; i < next->n_ports; i++) {
        const struct vs_config_port *cp = &next->ports[i];
        const struct vs_reload_port *rp = NULL;
        json_t *changes;
        int n;

        for (unsigned j = 0; j < n_ports && !rp; j++)
            if (!strcmp(ports[j].name, cp->name))
                rp = &ports[j];
        if (!rp) {
            c = new_change(plan, cap, VS_RELOAD_ADD, cp->name, cp->type);
            c->port = (int)i;
            continue;
        }
        if (!(changes = json_array()))
            goto nomem;
        if ((n = port_changes(rp, cp, changes)) < 0) {
            json_decref(changes);
            goto nomem;
        }
        if (n == 0) {
            json_decref(changes);
            plan->unchanged++;
            continue;
        }
        c = new_change(plan, cap, live_change(cp, changes) ? VS_RELOAD_SET : VS_RELOAD_RECREATE,
                       cp->name, cp->type);
        c->port = (int)i;
        c->changes = changes;
    }
    for (unsigned j = 0; j < n_ports; j++) {
        if (named_in(next, ports[j].name))
            continue;
        /* A port is the file's when the config in force names it: the file that
         * added it, or one that adopted a port added by hand under its name. */
        new_change(plan, cap, ports[j].from_file ? VS_RELOAD_REMOVE : VS_RELOAD_KEEP, ports[j].name,
                   ports[j].type);
    }
    for (unsigned s = 0; s < VS_ARRAY_SIZE(settings); s++) {
        char a[512], b[512];

        settings[s].format(running, a, sizeof(a));
        settings[s].format(next, b, sizeof(b));
        if (!strcmp(a, b))
            continue;
        c = new_change(plan, cap, settings[s].apply ? VS_RELOAD_APPLY : VS_RELOAD_RESTART,
                       settings[s].key, NULL);
        c->setting = (int)s;
        if (!(c->changes = json_array()) || add_pair(c->changes, settings[s].key, a, b))
            goto nomem;
    }
    return 0;
nomem:
    vs_reload_plan_free(plan);
    return -ENOMEM;
}

void vs_reload_plan_free(struct vs_reload_plan *plan)
{
    for (unsigned i = 0; i < plan->n; i++)
        json_decref(plan->v[i].changes);
    free(plan->v);
    memset(plan, 0, sizeof(*plan));
}

/* ---- applying it ---------------------------------------------------------- */

static struct vs_reloader reloader;
static bool have_reloader;

void vs_reload_setup(const struct vs_reloader *r)
{
    have_reloader = r != NULL;
    if (r)
        reloader = *r;
    else
        memset(&reloader, 0, sizeof(reloader));
}

/* The running ports with their types and options, from the switch. *show holds
 * the replies the array points into. */
static int running_ports(const struct vs_config *cfg, struct vs_reload_port **out, unsigned *n,
                         json_t **show)
{
    json_t *list = vs_switch_list_ports(reloader.sw), *ports = json_object_get(list, "ports");
    struct vs_reload_port *v;
    size_t i;
    json_t *p;

    *out = NULL;
    *n = 0;
    *show = json_array();
    v = calloc(json_array_size(ports) + 1, sizeof(*v));
    if (!list || !*show || !v) {
        json_decref(list);
        free(v);
        return -ENOMEM;
    }
    json_array_foreach(ports, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        json_t *s = name ? vs_switch_port_show(reloader.sw, name) : NULL;

        if (!s || json_array_append_new(*show, s))
            continue;
        v[*n].name = json_string_value(json_object_get(s, "name"));
        v[*n].type = json_string_value(json_object_get(s, "type"));
        v[*n].options = json_object_get(s, "options");
        if (!v[*n].name || !v[*n].type || !json_is_object(v[*n].options))
            continue;
        v[*n].from_file = named_in(cfg, v[*n].name);
        (*n)++;
    }
    json_decref(list);
    *out = v;
    return 0;
}

static int add_config_port(const struct vs_config *cfg, unsigned i, char *err, size_t errlen)
{
    const struct vs_config_port *cp = &cfg->ports[i];
    struct vs_port_args args = {cp->n_args, cp->args};
    struct vs_port_err perr = {.arg = -1};
    int rc = vs_switch_add_port(reloader.sw, cp->name, cp->type, &args, &perr);

    if (rc < 0)
        vs_config_port_error(cfg, i, &perr, rc, err, errlen);
    return rc;
}

/* Opens a port again as it ran before (its recorded options), after its new
 * options failed. */
static int restore_port(const struct vs_reload_port *rp)
{
    struct vs_port_arg args[VS_CONFIG_MAX_PORT_OPTIONS];
    struct vs_port_args pa = {0, args};
    struct vs_port_err perr;
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)rp->options, key, v)
    {
        if (pa.n == VS_ARRAY_SIZE(args) || !json_is_string(v))
            return -EINVAL;
        args[pa.n++] = (struct vs_port_arg){.key = key, .value = json_string_value(v)};
    }
    return vs_switch_add_port(reloader.sw, rp->name, rp->type, &pa, &perr);
}

/* Changes a port's switch settings to the file's with set-port: every switch key
 * the file gives (so that a new vlan_mode, which resets the VLAN keys, gets the
 * file's), and an empty value for those the file dropped. */
static int set_config_port(const struct vs_config *cfg, unsigned i,
                           const struct vs_reload_port *rp, char *err, size_t errlen)
{
    const struct vs_config_port *cp = &cfg->ports[i];
    struct vs_port_arg args[2 * VS_CONFIG_MAX_PORT_OPTIONS];
    int map[2 * VS_CONFIG_MAX_PORT_OPTIONS];
    struct vs_port_args pa = {0, args};
    struct vs_port_args file_args = {cp->n_args, cp->args};
    struct vs_port_err perr = {.arg = -1};
    const char *key;
    json_t *v;
    int rc;

    for (unsigned a = 0; a < cp->n_args; a++)
        if (vs_port_conf_is_key(cp->args[a].key)) {
            map[pa.n] = (int)a;
            args[pa.n++] = cp->args[a];
        }
    json_object_foreach((json_t *)rp->options, key, v) {
        if (!vs_port_conf_is_key(key) || vs_port_args_get(&file_args, key, NULL) ||
            pa.n == VS_ARRAY_SIZE(args))
            continue;
        map[pa.n] = -1;
        args[pa.n++] = (struct vs_port_arg){.key = key, .value = ""};
    }
    rc = vs_switch_set_port(reloader.sw, cp->name, &pa, &perr);
    if (rc < 0) {
        perr.arg = perr.arg >= 0 && (unsigned)perr.arg < pa.n ? map[perr.arg] : -1;
        vs_config_port_error(cfg, i, &perr, rc, err, errlen);
    }
    return rc;
}

static const struct vs_reload_port *find_running(const struct vs_reload_port *ports, unsigned n,
                                                 const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(ports[i].name, name))
            return &ports[i];
    return NULL;
}

static void fail_entry(json_t *failed, const struct vs_reload_change *c, const char *msg)
{
    json_array_append_new(
        failed, json_pack("{s:s, s:s, s:s}", "name", c->what, "type", c->type, "error", msg));
}

/* One "key: running -> file" list of a change, for log lines. */
static void changes_text(const json_t *changes, char *buf, size_t size)
{
    size_t o = 0, i;
    json_t *e;

    buf[0] = '\0';
    json_array_foreach(changes, i, e)
    {
        const json_t *r = json_object_get(e, "running"), *f = json_object_get(e, "file");
        int n = snprintf(buf + o, size - o, "%s%s: %s -> %s", i ? ", " : "",
                         json_string_value(json_object_get(e, "key")),
                         json_is_string(r) ? json_string_value(r) : "(unset)",
                         json_is_string(f) ? json_string_value(f) : "(unset)");
        if (n < 0 || (size_t)n >= size - o)
            break;
        o += (size_t)n;
    }
}

static int apply_plan(const struct vs_reload_plan *plan, const struct vs_config *next,
                      const struct vs_reload_port *ports, unsigned n_ports, json_t *res)
{
    struct apply_ctx ctx = {.server = reloader.server};
    json_t *failed = json_object_get(res, "failed");
    bool *removed = calloc(plan->n + 1, sizeof(bool));
    char msg[768];

    if (!removed)
        return -ENOMEM;
    /* Every removal first, re-created ports' old selves included: a port renamed
     * in the file, or two that swapped a device, need the old one gone first. */
    for (unsigned i = 0; i < plan->n; i++) {
        const struct vs_reload_change *c = &plan->v[i];
        int rc;

        if (c->kind != VS_RELOAD_REMOVE && c->kind != VS_RELOAD_RECREATE)
            continue;
        if ((rc = vs_switch_del_port(reloader.sw, c->what)) < 0) {
            snprintf(msg, sizeof(msg), "cannot remove port %s: %s; it keeps running as before",
                     c->what, strerror(-rc));
            vs_err("reload: %s", msg);
            fail_entry(failed, c, msg);
            continue;
        }
        removed[i] = true;
    }
    for (unsigned i = 0; i < plan->n; i++) {
        const struct vs_reload_change *c = &plan->v[i];
        const struct vs_reload_port *rp;

        if (c->kind == VS_RELOAD_RECREATE && !removed[i])
            continue; /* the old one still runs, and said so */
        if (c->kind != VS_RELOAD_ADD && c->kind != VS_RELOAD_RECREATE)
            continue;
        if (add_config_port(next, (unsigned)c->port, msg, sizeof(msg)) == 0) {
            if (c->kind == VS_RELOAD_RECREATE) {
                char what[512];
                changes_text(c->changes, what, sizeof(what));
                vs_info("reload: port %s: re-created (%s)", c->what, what);
            }
            continue;
        }
        vs_err("reload: %s", msg);
        rp = c->kind == VS_RELOAD_RECREATE ? find_running(ports, n_ports, c->what) : NULL;
        if (rp && restore_port(rp) == 0) {
            size_t l = strlen(msg);
            snprintf(msg + l, sizeof(msg) - l, "; it runs with its old options");
            vs_warn("reload: port %s: runs with its old options", c->what);
        }
        fail_entry(failed, c, msg);
    }
    for (unsigned i = 0; i < plan->n; i++) {
        const struct vs_reload_change *c = &plan->v[i];
        const struct vs_reload_port *rp = find_running(ports, n_ports, c->what);
        char what[512];

        if (c->kind != VS_RELOAD_SET || !rp)
            continue;
        changes_text(c->changes, what, sizeof(what));
        if (set_config_port(next, (unsigned)c->port, rp, msg, sizeof(msg)) == 0) {
            vs_info("reload: port %s: changed live (%s)", c->what, what);
            continue;
        }
        vs_err("reload: %s; it keeps its old settings", msg);
        fail_entry(failed, c, msg);
    }
    for (unsigned i = 0; i < plan->n; i++) {
        const struct vs_reload_change *c = &plan->v[i];
        const json_t *e = json_array_get(c->changes, 0);
        const char *from = json_string_value(json_object_get(e, "running"));
        const char *to = json_string_value(json_object_get(e, "file"));
        int rc;

        if (c->kind == VS_RELOAD_RESTART) {
            vs_warn("reload: %s: needs a restart (running: %s, file: %s); the rest is applied",
                    c->what, from, to);
        } else if (c->kind == VS_RELOAD_APPLY) {
            if ((rc = settings[c->setting].apply(&ctx, reloader.running, next)) < 0) {
                snprintf(msg, sizeof(msg), "%s: cannot change it to %s: %s", c->what, to,
                         strerror(-rc));
                vs_err("reload: %s", msg);
                json_array_append_new(failed,
                                      json_pack("{s:s, s:s}", "name", c->what, "error", msg));
            } else {
                vs_info("reload: %s: %s -> %s", c->what, from, to);
            }
        } else if (c->kind == VS_RELOAD_KEEP) {
            vs_info("reload: port %s: not in the file (added with add-port): kept", c->what);
        }
    }
    free(removed);
    return 0;
}

int vs_reload_mirror_add(struct vs_switch *sw, const struct vs_config_mirror *m, char *err,
                         size_t errlen)
{
    char list[VS_CONFIG_MIRROR_SRCS];
    const char *srcs[VS_MAX_PORTS];
    unsigned n = 0;

    snprintf(list, sizeof(list), "%s", m->src);
    for (char *save = NULL, *w = strtok_r(list, ",", &save); w && n < VS_MAX_PORTS;
         w = strtok_r(NULL, ",", &save))
        srcs[n++] = w;
    return vs_switch_mirror_add(sw, m->name, srcs, n, m->dir, m->dst, err, errlen);
}

static bool same_static(const struct vs_config_fdb_static *a, const struct vs_config_fdb_static *b)
{
    return a->vlan == b->vlan && !memcmp(a->mac, b->mac, 6) && !strcmp(a->port, b->port);
}

static bool same_mirror(const struct vs_config_mirror *a, const struct vs_config_mirror *b)
{
    return !strcmp(a->name, b->name) && !strcmp(a->src, b->src) && a->dir == b->dir &&
           !strcmp(a->dst, b->dst);
}

/* fdb.static and mirrors: what the running file has and next lacks goes, then
 * next's are added. Entries and mirrors that did not change are added again
 * too, as a port re-created above took its own with it: a static entry is
 * simply rewritten, a mirror that still runs answers -EEXIST. Failures go to
 * failed, the rest is applied. */
static void apply_fdb_mirrors(const struct vs_config *running, const struct vs_config *next,
                              json_t *failed)
{
    char msg[512];
    int rc;

    for (unsigned i = 0; i < running->n_fdb_static; i++) {
        const struct vs_config_fdb_static *e = &running->fdb_static[i];
        bool kept = false;

        for (unsigned j = 0; j < next->n_fdb_static && !kept; j++)
            kept = same_static(e, &next->fdb_static[j]);
        if (!kept && vs_switch_fdb_del(reloader.sw, e->vlan, e->mac) == 0)
            vs_info("reload: fdb.static: %u %02x:%02x:%02x:%02x:%02x:%02x -> %s removed", e->vlan,
                    e->mac[0], e->mac[1], e->mac[2], e->mac[3], e->mac[4], e->mac[5], e->port);
    }
    for (unsigned i = 0; i < running->n_mirrors; i++) {
        const struct vs_config_mirror *m = &running->mirrors[i];
        bool kept = false;

        for (unsigned j = 0; j < next->n_mirrors && !kept; j++)
            kept = same_mirror(m, &next->mirrors[j]);
        if (!kept && vs_switch_mirror_del(reloader.sw, m->name) == 0)
            vs_info("reload: mirror %s removed", m->name);
    }
    for (unsigned i = 0; i < next->n_fdb_static; i++) {
        const struct vs_config_fdb_static *e = &next->fdb_static[i];

        if ((rc = vs_switch_fdb_add(reloader.sw, e->vlan, e->mac, e->port)) < 0) {
            snprintf(msg, sizeof(msg), "%s:%u:%u: fdb.static[%u]: %s", next->file, e->line, e->col,
                     i, strerror(-rc));
            vs_err("reload: %s", msg);
            json_array_append_new(failed,
                                  json_pack("{s:s, s:s}", "name", "fdb.static", "error", msg));
        }
    }
    for (unsigned i = 0; i < next->n_mirrors; i++) {
        const struct vs_config_mirror *m = &next->mirrors[i];
        char err[256];

        rc = vs_reload_mirror_add(reloader.sw, m, err, sizeof(err));
        if (rc == 0) {
            vs_info("reload: mirror %s added", m->name);
        } else if (rc != -EEXIST) {
            snprintf(msg, sizeof(msg), "%s:%u:%u: mirrors[%u]: %s", next->file, m->line, m->col, i,
                     err);
            vs_err("reload: %s", msg);
            json_array_append_new(failed, json_pack("{s:s, s:s}", "name", m->name, "error", msg));
        }
    }
}

/* The reply: one list per kind. */
static json_t *plan_json(const struct vs_reload_plan *plan, const char *file)
{
    json_t *res = json_pack("{s:s, s:[], s:[], s:[], s:[], s:[], s:[], s:[], s:[], s:i}", "file",
                            file, "added", "removed", "recreated", "changed", "kept", "applied",
                            "needs_restart", "failed", "unchanged", (json_int_t)plan->unchanged);

    if (!res)
        return NULL;
    for (unsigned i = 0; i < plan->n; i++) {
        const struct vs_reload_change *c = &plan->v[i];
        json_t *list = json_object_get(res, vs_reload_kind_name(c->kind)), *o;

        if (c->kind == VS_RELOAD_APPLY || c->kind == VS_RELOAD_RESTART)
            o = json_deep_copy(json_array_get(c->changes, 0));
        else if (c->kind == VS_RELOAD_RECREATE || c->kind == VS_RELOAD_SET)
            o = json_pack("{s:s, s:s, s:O}", "name", c->what, "type", c->type, "changes",
                          c->changes);
        else
            o = json_pack("{s:s, s:s}", "name", c->what, "type", c->type);
        if (!o || json_array_append_new(list, o)) {
            json_decref(res);
            return NULL;
        }
    }
    return res;
}

/* Drops from res's lists what failed, so that each port appears once. */
static void drop_failed(json_t *res)
{
    static const char *const lists[] = {"added", "removed", "recreated", "changed", "applied"};
    json_t *failed = json_object_get(res, "failed"), *f;
    size_t i;

    json_array_foreach(failed, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));

        for (size_t l = 0; name && l < VS_ARRAY_SIZE(lists); l++) {
            json_t *list = json_object_get(res, lists[l]), *e;
            size_t j;

            json_array_foreach(list, j, e)
            {
                const char *n = json_string_value(json_object_get(e, "name"));
                if (!n)
                    n = json_string_value(json_object_get(e, "key"));
                if (n && !strcmp(n, name)) {
                    json_array_remove(list, j);
                    break;
                }
            }
        }
    }
}

/* fdb.static and mirrors of next become the running config's (next frees the old). */
static void swap_lists(struct vs_config *running, struct vs_config *next)
{
    struct vs_config_fdb_static *st = running->fdb_static;
    struct vs_config_mirror *mi = running->mirrors;
    unsigned n_st = running->n_fdb_static, n_mi = running->n_mirrors;

    running->fdb_static = next->fdb_static;
    running->n_fdb_static = next->n_fdb_static;
    running->mirrors = next->mirrors;
    running->n_mirrors = next->n_mirrors;
    next->fdb_static = st;
    next->n_fdb_static = n_st;
    next->mirrors = mi;
    next->n_mirrors = n_mi;
}

int vs_reload_run(json_t **result, char *err, size_t errlen)
{
    struct vs_config next, *running = reloader.running;
    struct vs_reload_port *ports = NULL;
    struct vs_reload_plan plan;
    struct vs_config_port *old_ports;
    unsigned n_ports = 0, old_n;
    json_t *show = NULL, *res;
    int rc;

    if (!have_reloader || !reloader.file) {
        snprintf(err, errlen,
                 "vswitchd was started without a config file (-c FILE) and runs "
                 "the embedded default: there is nothing to reload; restart it with -c FILE");
        vs_warn("reload: %s", err);
        return -ENOENT;
    }
    rc = vs_config_load_file(reloader.file, &next, err, errlen);
    if (rc < 0) {
        size_t l = strlen(err);
        snprintf(err + l, errlen - l, "; nothing changed");
        vs_err("reload: %s", err);
        return rc == -ENOMEM ? rc : -EINVAL;
    }
    if ((rc = running_ports(running, &ports, &n_ports, &show)) < 0 ||
        (rc = vs_reload_diff(running, ports, n_ports, &next, &plan)) < 0) {
        snprintf(err, errlen, "%s: out of memory; nothing changed", reloader.file);
        vs_err("reload: %s", err);
        goto out;
    }
    res = plan_json(&plan, reloader.file);
    if (!res || apply_plan(&plan, &next, ports, n_ports, res) < 0) {
        /* Only the reply could not be built before anything changed. */
        json_decref(res);
        vs_reload_plan_free(&plan);
        snprintf(err, errlen, "%s: out of memory; nothing changed", reloader.file);
        vs_err("reload: %s", err);
        rc = -ENOMEM;
        goto out;
    }
    apply_fdb_mirrors(running, &next, json_object_get(res, "failed"));
    drop_failed(res);
    vs_info("reload %s: %zu added, %zu removed, %zu re-created, %zu changed live, %u unchanged, "
            "%zu kept, %zu applied, %zu need a restart, %zu failed",
            reloader.file, json_array_size(json_object_get(res, "added")),
            json_array_size(json_object_get(res, "removed")),
            json_array_size(json_object_get(res, "recreated")),
            json_array_size(json_object_get(res, "changed")), plan.unchanged,
            json_array_size(json_object_get(res, "kept")),
            json_array_size(json_object_get(res, "applied")),
            json_array_size(json_object_get(res, "needs_restart")),
            json_array_size(json_object_get(res, "failed")));
    vs_reload_plan_free(&plan);

    /* The new file's ports are now the file's: swap them in, free the old ones. */
    old_ports = running->ports;
    old_n = running->n_ports;
    running->ports = next.ports;
    running->n_ports = next.n_ports;
    next.ports = old_ports;
    next.n_ports = old_n;
    swap_lists(running, &next);
    *result = res;
    rc = 0;
out:
    vs_config_free(&next);
    free(ports);
    json_decref(show);
    return rc;
}
