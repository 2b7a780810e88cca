/* Command handlers: check a request's params, call the switch, shape the reply. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/capture_stream.h"
#include "control/commands.h"
#include "control/reload.h"
#include "dataplane/switch.h"
#include "vswitch/log.h"

/* Fetches a required string member of params. */
static const char *param_str(json_t *params, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(params, key);

    if (!v) {
        snprintf(err, errlen, "missing parameter '%s'", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(err, errlen, "parameter '%s' must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

/* The "options" object of params as port arguments: values are strings (numbers
 * and booleans are taken as their JSON text). Returns how many, or -errno with err
 * set; the caller frees values[0..n) either way (n is kept in *n). */
#define MAX_OPTIONS 64
static int options_to_args(json_t *params, struct vs_port_arg *args, char **values, unsigned *n,
                           char *err, size_t errlen)
{
    json_t *opts = json_object_get(params, "options"), *v;
    const char *key;

    *n = 0;
    if (opts && !json_is_object(opts)) {
        snprintf(err, errlen, "parameter 'options' must be an object of key: value strings");
        return -EINVAL;
    }
    if (opts && json_object_size(opts) > MAX_OPTIONS) {
        snprintf(err, errlen, "too many options (at most %d)", MAX_OPTIONS);
        return -EINVAL;
    }
    json_object_foreach(opts, key, v) {
        if (json_is_string(v))
            values[*n] = strdup(json_string_value(v));
        else if (json_is_integer(v) || json_is_boolean(v))
            values[*n] = json_dumps(v, JSON_ENCODE_ANY);
        else {
            snprintf(err, errlen, "option '%s' must be a string or a number", key);
            return -EINVAL;
        }
        if (!values[*n])
            return -ENOMEM;
        args[*n] = (struct vs_port_arg){.key = key, .value = values[*n]};
        (*n)++;
    }
    return 0;
}

/* A port name parameter, checked before anything logs it: a newline in it would
 * forge log lines. */
static const char *param_port_name_key(json_t *params, const char *key, char *err, size_t errlen)
{
    const char *name = param_str(params, key, err, errlen);

    if (name && !vs_port_name_valid(name)) {
        snprintf(err, errlen,
                 "parameter '%s' is not a valid port name; use 1..%d "
                 "characters of A-Z a-z 0-9 _ . -",
                 key, VS_PORT_NAME_MAX - 1);
        return NULL;
    }
    return name;
}

static const char *param_port_name(json_t *params, char *err, size_t errlen)
{
    return param_port_name_key(params, "name", err, errlen);
}

static int cmd_add_port(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    struct vs_switch *sw = ctx;
    const char *name, *type;
    struct vs_port_arg args[MAX_OPTIONS];
    char *values[MAX_OPTIONS];
    struct vs_port_err perr;
    unsigned n = 0;
    int rc;

    if (!(name = param_port_name(params, err, errlen)) ||
        !(type = param_str(params, "type", err, errlen)))
        return -EINVAL;
    rc = options_to_args(params, args, values, &n, err, errlen);
    if (rc == 0) {
        struct vs_port_args pa = {n, args};

        rc = vs_switch_add_port(sw, name, type, &pa, &perr);
        if (rc < 0) {
            if (perr.msg[0])
                snprintf(err, errlen, "port %s: %s", name, perr.msg);
            vs_warn("add-port %s: %s", name, perr.msg[0] ? perr.msg : strerror(-rc));
        } else {
            *result = json_pack("{s:s}", "name", name);
        }
    }
    for (unsigned i = 0; i < n; i++)
        free(values[i]);
    return rc;
}

static int cmd_set_port(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    struct vs_port_arg args[MAX_OPTIONS];
    char *values[MAX_OPTIONS];
    struct vs_port_err perr;
    const char *name;
    unsigned n = 0;
    int rc;

    if (!(name = param_port_name(params, err, errlen)))
        return -EINVAL;
    rc = options_to_args(params, args, values, &n, err, errlen);
    if (rc == 0 && n == 0) {
        snprintf(err, errlen, "nothing to set; give options such as vlan_mode=access tag=10");
        rc = -EINVAL;
    }
    if (rc == 0) {
        struct vs_port_args pa = {n, args};

        rc = vs_switch_set_port(ctx, name, &pa, &perr);
        if (rc == -ENOENT)
            snprintf(err, errlen, "%s", perr.msg);
        else if (rc < 0 && perr.msg[0])
            snprintf(err, errlen, "port %s: %s", name, perr.msg);
        if (rc == 0)
            *result = vs_switch_port_summary(ctx, name);
    }
    for (unsigned i = 0; i < n; i++)
        free(values[i]);
    return rc;
}

static int cmd_del_port(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    const char *name = param_str(params, "name", err, errlen);
    int rc;

    if (!name)
        return -EINVAL;
    if ((rc = vs_switch_del_port(ctx, name)) == -ENOENT)
        snprintf(err, errlen, "no port named '%s' (see list-ports)", name);
    else if (rc == 0)
        *result = json_pack("{s:s}", "name", name);
    return rc;
}

static int cmd_list_ports(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    *result = vs_switch_list_ports(ctx);
    return 0;
}

static int cmd_show(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    const char *name = param_str(params, "name", err, errlen);

    if (!name)
        return -EINVAL;
    if (!(*result = vs_switch_port_show(ctx, name))) {
        snprintf(err, errlen, "no port named '%s' (see list-ports)", name);
        return -ENOENT;
    }
    return 0;
}

static int cmd_fdb_show(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    *result = vs_switch_fdb_show(ctx);
    return 0;
}

static int cmd_fdb_flush(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    json_t *port = json_object_get(params, "port");
    const char *name = NULL;
    int n;

    if (port) {
        if (!(name = param_str(params, "port", err, errlen)))
            return -EINVAL;
    }
    if ((n = vs_switch_fdb_flush(ctx, name)) < 0) {
        snprintf(err, errlen, "no port named '%s' (see list-ports)", name);
        return n;
    }
    *result = json_pack("{s:i}", "removed", n);
    return 0;
}

/* The vlan and mac parameters of fdb-add and fdb-del. */
static int fdb_key_params(json_t *params, uint16_t *vlan, uint8_t mac[6], char *err, size_t errlen)
{
    json_t *v = json_object_get(params, "vlan");
    const char *m = param_str(params, "mac", err, errlen);
    unsigned b[6];
    char tail;

    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 4094) {
        snprintf(err, errlen, "parameter 'vlan' must be a VLAN ID from 0 to 4094 (0: untagged "
                              "frames of transparent ports)");
        return -EINVAL;
    }
    if (!m)
        return -EINVAL;
    if (strlen(m) != 17 || sscanf(m, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                                  &b[4], &b[5], &tail) != 6) {
        snprintf(err, errlen, "parameter 'mac' is not a MAC address; write 52:54:00:12:34:56");
        return -EINVAL;
    }
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    if (mac[0] & 1) {
        snprintf(err, errlen, "parameter 'mac' is a group address; static entries are for "
                              "stations (unicast MACs)");
        return -EINVAL;
    }
    *vlan = (uint16_t)json_integer_value(v);
    return 0;
}

static int cmd_fdb_add(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    const char *port = param_port_name_key(params, "port", err, errlen);
    uint8_t mac[6];
    uint16_t vlan;
    int rc;

    if (!port || fdb_key_params(params, &vlan, mac, err, errlen) < 0)
        return -EINVAL;
    rc = vs_switch_fdb_add(ctx, vlan, mac, port);
    if (rc == -ENOENT)
        snprintf(err, errlen, "no port named '%s' (see list-ports)", port);
    else if (rc == -ENOSPC)
        snprintf(err, errlen, "no room for this entry: its buckets of the forwarding table hold "
                              "only static entries; delete some or make fdb.size larger");
    return rc;
}

static int cmd_fdb_del(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    uint8_t mac[6];
    uint16_t vlan;
    int rc;

    if (fdb_key_params(params, &vlan, mac, err, errlen) < 0)
        return -EINVAL;
    if ((rc = vs_switch_fdb_del(ctx, vlan, mac)) == -ENOENT)
        snprintf(err, errlen, "no entry for that VLAN and MAC (see fdb show)");
    return rc;
}

/* mirror-add: name, src (array of port names, or one string of comma-separated
 * names), dir ("rx", "tx" or "both"; default both), dst. */
static int cmd_mirror_add(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    const char *name = param_port_name(params, err, errlen), *dst, *dir_s = "both";
    json_t *src = json_object_get(params, "src"), *dir = json_object_get(params, "dir"), *v;
    const char *srcs[VS_MAX_PORTS];
    char *list = NULL;
    unsigned n = 0, d;
    size_t i;
    int rc;

    if (!name || !(dst = param_port_name_key(params, "dst", err, errlen)))
        return -EINVAL;
    if (dir && !json_is_string(dir)) {
        snprintf(err, errlen, "parameter 'dir' must be rx, tx or both");
        return -EINVAL;
    }
    if (dir)
        dir_s = json_string_value(dir);
    if (!strcmp(dir_s, "rx"))
        d = 1;
    else if (!strcmp(dir_s, "tx"))
        d = 2;
    else if (!strcmp(dir_s, "both"))
        d = 3;
    else {
        snprintf(err, errlen, "parameter 'dir' must be rx, tx or both, not '%.32s'", dir_s);
        return -EINVAL;
    }
    if (json_is_string(src)) {
        if (!(list = strdup(json_string_value(src))))
            return -ENOMEM;
        for (char *save = NULL, *w = strtok_r(list, ",", &save); w && n < VS_MAX_PORTS;
             w = strtok_r(NULL, ",", &save))
            srcs[n++] = w;
    } else if (json_is_array(src) && json_array_size(src) <= VS_MAX_PORTS) {
        json_array_foreach(src, i, v) {
            if (!json_is_string(v))
                break;
            srcs[n++] = json_string_value(v);
        }
    }
    if (!n || (json_is_array(src) && n != json_array_size(src))) {
        snprintf(err, errlen, "parameter 'src' must name the mirrored ports (an array of names, or "
                              "names separated by commas)");
        free(list);
        return -EINVAL;
    }
    for (unsigned k = 0; k < n; k++)
        if (!vs_port_name_valid(srcs[k])) {
            snprintf(err, errlen, "parameter 'src' holds an invalid port name");
            free(list);
            return -EINVAL;
        }
    rc = vs_switch_mirror_add(ctx, name, srcs, n, d, dst, err, errlen);
    free(list);
    if (rc == 0)
        *result = json_pack("{s:s}", "name", name);
    return rc;
}

static int cmd_mirror_del(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    const char *name = param_port_name(params, err, errlen);
    int rc;

    if (!name)
        return -EINVAL;
    if ((rc = vs_switch_mirror_del(ctx, name)) == -ENOENT)
        snprintf(err, errlen, "no mirror named '%s' (see mirror list)", name);
    return rc;
}

static int cmd_mirror_list(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    *result = vs_switch_mirror_list(ctx);
    return 0;
}

static int cmd_pollers(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    *result = vs_switch_pollers(ctx);
    return 0;
}

static int cmd_reload(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    return vs_reload_run(result, err, errlen);
}

static int cmd_version(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    *result = json_pack("{s:s}", "version", VS_VERSION);
    return 0;
}

const struct vs_ctl_command vs_ctl_commands[] = {
    {"add-port", cmd_add_port},   {"set-port", cmd_set_port},   {"del-port", cmd_del_port},   {"list-ports", cmd_list_ports},
    {"show", cmd_show},           {"fdb-show", cmd_fdb_show},   {"fdb-flush", cmd_fdb_flush},
    {"fdb-add", cmd_fdb_add},     {"fdb-del", cmd_fdb_del},
    {"mirror-add", cmd_mirror_add}, {"mirror-del", cmd_mirror_del},
    {"mirror-list", cmd_mirror_list},
    {"pollers", cmd_pollers},     {"version", cmd_version},     {"reload", cmd_reload},
    {"capture", vs_capture_cmd},  {"captures", vs_capture_cmd_list}, {NULL, NULL},
};
