/* Config reload (SIGHUP, `vswitchctl reload`): what differs between the running
 * daemon and its config file, and applying only that.
 *
 * The file is read and validated whole first, exactly as at start-up: a file
 * with a mistake changes nothing and yields its one FILE:LINE:COL line.
 *
 * Ports. The file is the truth for the ports it names: afterwards each of them
 * runs with exactly the type and options the file gives. A named port that is
 * not running is added; one whose switch settings alone differ (VLAN, port
 * security: the keys set-port takes) gets them changed live; one whose type or
 * type options differ is re-created (closed, then opened with the file's
 * options); one that matches is not touched and loses no frame. A running port that the previous file named and the new one
 * does not is removed. A running port that no file named (added with add-port)
 * is kept as it is: such ports belong to whoever added them (an orchestrator
 * starting guests), and a reload made to change something else must not take
 * them away. Options are compared as sets of key/value strings whatever the keys
 * are: their order does not matter, and a key a port type learns later needs
 * nothing here.
 *
 * Settings outside `ports` are compared one by one (the table in reload.c): the
 * ones that can change while running are applied (log.level,
 * control.idle_timeout), the others keep their running value and are reported
 * as needing a restart (pollers, memory, the control socket, the FDB).
 *
 * fdb.static and mirrors follow the file: entries and mirrors it no longer has
 * are removed, new ones added, changed ones replaced. */
#ifndef VSWITCH_CONTROL_RELOAD_H
#define VSWITCH_CONTROL_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "control/config.h"
#include "control/server.h"
#include "dataplane/switch.h"

enum vs_reload_kind {
    VS_RELOAD_ADD,      /* a port the file names that is not running */
    VS_RELOAD_REMOVE,   /* a port of the previous file that the file no longer names */
    VS_RELOAD_RECREATE, /* a port whose type or type options differ from the file's */
    VS_RELOAD_SET,      /* a port whose switch settings alone differ: set live */
    VS_RELOAD_KEEP,     /* a port no file named (add-port): left alone */
    VS_RELOAD_APPLY,    /* a setting that changes while running */
    VS_RELOAD_RESTART,  /* a setting that keeps its running value until a restart */
};

/* The reply's name for a kind: "added", "removed", "recreated", "changed", "kept",
 * "applied", "needs_restart". */
const char *vs_reload_kind_name(enum vs_reload_kind kind);

/* One difference. */
struct vs_reload_change {
    enum vs_reload_kind kind;
    char what[64]; /* the port's name, or the setting's dotted key */
    char type[32]; /* ports: the file's type (running one for REMOVE, KEEP) */
    int port;      /* ADD, RECREATE, SET: index into the new config's ports; else -1 */
    int setting;   /* APPLY, RESTART: index into the settings table; else -1 */
    /* [{"key", "running", "file"}]: RECREATE, SET: each option (or "type") that differs,
     * null where one side lacks it; APPLY, RESTART: the setting's two values. */
    json_t *changes;
};

struct vs_reload_plan {
    unsigned n;
    struct vs_reload_change *v; /* ports in the file's order, then the others, then settings */
    unsigned unchanged;         /* ports the file names that run as it says */
};

/* A running port as the diff sees it. */
struct vs_reload_port {
    const char *name, *type;
    const json_t *options; /* object of strings: the options the port was created with */
    bool from_file;        /* named by the config in force */
};

/* The difference from the running state (the config in force for settings and
 * to tell which ports came from a file, ports[] for what actually runs) to next.
 * 0 or -ENOMEM; the plan is then empty. */
int vs_reload_diff(const struct vs_config *running, const struct vs_reload_port *ports,
                   unsigned n_ports, const struct vs_config *next, struct vs_reload_plan *plan);
void vs_reload_plan_free(struct vs_reload_plan *plan);

/* What the daemon reloads. One per process, like the main loop. */
struct vs_reloader {
    const char *file;          /* the -c file; NULL: the embedded default, nothing to reload */
    struct vs_config *running; /* the config in force: its ports and live settings follow
                                  each reload, the other settings stay as started */
    struct vs_switch *sw;
    struct vs_ctl_server *server; /* for control.idle_timeout; NULL: none */
};

/* Sets (copies) the process's reloader; NULL clears it. Main thread. */
void vs_reload_setup(const struct vs_reloader *r);

/* Re-reads the file, validates it whole, applies the difference and logs each
 * step. Returns 0 with *result: {"file", "added": [{"name","type"}],
 * "removed": [..], "recreated": [{"name","type","changes"}], "changed": [..] (set
 * live), "kept": [..],
 * "applied": [{"key","running","file"}], "needs_restart": [..], "failed":
 * [{"name","type","error"}], "unchanged": N} (failed: ports the switch could not
 * open or remove, each error a FILE:LINE:COL line; the rest was applied). Or a
 * negative errno with a one-line message in err and nothing changed: -EINVAL for
 * a refused file (its FILE:LINE:COL line), -ENOENT when there is no file. */
int vs_reload_run(json_t **result, char *err, size_t errlen);

/* Adds a mirror of the file (its comma-separated sources split) to sw: start-up
 * and reload. vs_switch_mirror_add's return and err. */
int vs_reload_mirror_add(struct vs_switch *sw, const struct vs_config_mirror *m, char *err,
                         size_t errlen);

#endif
