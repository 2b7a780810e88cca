/* The YAML configuration of vswitchd, loaded into a plain struct.
 *
 * The loader promises: a file it accepts has every value in range and every
 * port type known with options its type accepted (ops->validate()); anything not
 * given takes its default; an empty file or `{}` is valid (all defaults, no
 * ports). A file it refuses gets exactly one line in err:
 *
 *     FILE:LINE:COL: KEY: what is wrong; what is accepted
 *
 * with LINE:COL 1-based, pointing at the offending node, and KEY a dotted path
 * (`pollers.cpus[1]`, `ports[0].ifname`, `fdb.size`; `syntax` for YAML syntax
 * errors, `top level` for the document itself). Only when the file cannot be
 * read at all is there no position: `FILE: cannot read: <strerror>`.
 *
 * Sections (configs/default.yaml documents each key):
 *   pollers: cpus (list, 1..64 distinct CPUs this process may use; default [1], or the
 *            lowest CPU this process may use when 1 is not one), mode busy|adaptive
 *   memory:  hugepage_size 2M|1G|none, buffers 1024..4194304, large_buffers 0..65536
 *   control: socket (path), mode (octal permissions), group (optional),
 *            idle_timeout 0..86400 seconds (0 = never), metrics (ADDRESS:PORT, optional)
 *   fdb:     size 1024..16777216, aging 0..86400 seconds (0 = never),
 *            static (list of {vlan, mac, port}: port names one of the file's ports)
 *   log:     level err|warn|info|debug
 *   ports:   list of {name, type, <type option>: <scalar>...}
 *   mirrors: list of {name, src (port or list of ports), dir rx|tx|both, dst}
 */
#ifndef VSWITCH_CONTROL_CONFIG_H
#define VSWITCH_CONTROL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/switch.h"
#include "vswitch/log.h"
#include "vswitch/mem.h"
#include "vswitch/port.h"

#define VS_CONFIG_MAX_CPUS 64
#define VS_CONFIG_MAX_PORT_OPTIONS 64 /* options of one port besides name and type */
#define VS_CONFIG_DEFAULT_NAME "<embedded default>"

struct vs_config_port {
    char name[VS_PORT_NAME_MAX];
    char type[32];
    unsigned n_args;
    struct vs_port_arg *args; /* key/value strings owned by the config; line/col of each value */
    unsigned line, col;       /* where the port's entry starts in the file */
};

/* A new setting here also gets a row in the settings table of control/reload.c,
 * which says whether a reload can change it while running. */
/* A static forwarding entry (fdb.static); port names a port of the same file. */
struct vs_config_fdb_static {
    uint16_t vlan;
    uint8_t mac[6];
    char port[VS_PORT_NAME_MAX];
    unsigned line, col; /* the entry's position */
};

/* A mirror (mirrors:); its ports are ports of the same file. */
#define VS_CONFIG_MIRROR_SRCS 4096 /* bytes of its comma-separated source ports */
struct vs_config_mirror {
    char name[VS_PORT_NAME_MAX];
    char src[VS_CONFIG_MIRROR_SRCS]; /* port names joined with commas */
    unsigned dir;                    /* 1 rx, 2 tx, 3 both */
    char dst[VS_PORT_NAME_MAX];
    unsigned line, col;
};

struct vs_config {
    char *file; /* path, or VS_CONFIG_DEFAULT_NAME */

    unsigned n_cpus;
    int cpus[VS_CONFIG_MAX_CPUS];
    enum vs_poll_mode poll_mode;
    unsigned max_nap_us; /* adaptive: longest nap under light load (0: never nap) */

    enum vs_page_kind hugepage_size;
    unsigned buffers;
    unsigned large_buffers; /* 64 KiB buffers for jumbo frames and GSO segments */

    char socket[108];
    unsigned socket_mode;
    char socket_group[64]; /* "" when not given */
    unsigned idle_timeout; /* seconds before an idle client is closed, 0 = never */
    char metrics[64];      /* ADDRESS:PORT of the Prometheus endpoint, "" when off */

    uint32_t fdb_size;
    uint32_t fdb_aging; /* seconds, 0 = entries never age */
    unsigned n_fdb_static;
    struct vs_config_fdb_static *fdb_static;
    unsigned n_mirrors;
    struct vs_config_mirror *mirrors;

    enum vs_log_level log_level;

    unsigned n_ports;
    struct vs_config_port *ports;
};

/* All three return 0, or a negative errno with the one-line error in err
 * (-EINVAL for a refused config, -ENOMEM, or the read error of the file).
 * On failure *out is left empty (safe to vs_config_free, nothing to free). */
int vs_config_load_file(const char *path, struct vs_config *out, char *err, size_t errlen);
/* name is what error lines call the text (a path, or VS_CONFIG_DEFAULT_NAME). */
int vs_config_load_string(const char *text, size_t len, const char *name, struct vs_config *out,
                          char *err, size_t errlen);
/* The embedded copy of configs/default.yaml. */
int vs_config_load_default(struct vs_config *out, char *err, size_t errlen);
void vs_config_free(struct vs_config *cfg);

/* The line for cfg->ports[i] that the switch refused to open (rc, perr from
 * vs_switch_add_port): `FILE:LINE:COL: ports[I]: port NAME: why`, at the option
 * perr names or else at the port's entry. */
void vs_config_port_error(const struct vs_config *cfg, unsigned i, const struct vs_port_err *perr,
                          int rc, char *buf, size_t size);

/* The text of the embedded default (configs/default.yaml at build time). */
extern const char vs_config_default_yaml[];
extern const size_t vs_config_default_yaml_len;

#endif
