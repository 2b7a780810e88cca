/* vswitchd's --help, vswitchd(8), vswitchd.yaml(5) and the port types for
 * vswitchctl's completion: each written from the tables that also drive the
 * program (the options below, the default config's comments, the port registry). */
#include "src/vswitchd_doc.h"

#include <stdlib.h>
#include <string.h>

#include "control/config.h"
#include "control/config_doc.h"
#include "dataplane/port_conf.h"
#include "vswitch/log.h"
#include "vswitch/notify.h"
#include "vswitch/port.h"

#ifndef VS_CONFIG_FILE
#define VS_CONFIG_FILE "/etc/vswitch/vswitchd.yaml"
#endif
#define DEFAULT_CONFIG_PATH VS_CONFIG_FILE

const struct vs_cli_opt vs_daemon_options[VS_DOPT_N] = {
    [VS_DOPT_CONFIG] = {"config", 'c', "FILE",
                        "read the YAML config FILE (default: the embedded default, shown by "
                        "--print-default-config); vswitchd.yaml(5) describes it"},
    [VS_DOPT_CHECK] = {"check-config", 0, NULL,
                       "validate the config, port options included, and exit without starting "
                       "anything: 0 when valid, 2 with FILE:LINE:COL: KEY: problem when not"},
    [VS_DOPT_PRINT_DEFAULT] = {"print-default-config", 0, NULL,
                               "print the embedded default config and exit"},
    [VS_DOPT_GENERATE] = {"generate", 0, "man|config-man|bash",
                          "print this manual page or vswitchd.yaml(5) (roff), or the port types "
                          "and options for vswitchctl's bash completion, and exit"},
    [VS_DOPT_VERSION] = {"version", 0, NULL, "print the version and exit"},
    [VS_DOPT_HELP] = {"help", 'h', NULL, "print this help and exit"},
};

static const char synopsis[] = "[-c FILE] [--check-config] [--print-default-config] [--version] "
                               "[--help]";
static const char summary[] =
    "A polled-mode Ethernet switch for vhost-user guests, VDUSE devices, TAP devices and NICs.";
static const char exit_status[] =
    "0 clean shutdown (or a valid config with --check-config), 1 runtime failure, 2 bad config "
    "or usage.";

void vs_daemon_usage(FILE *f)
{
    fprintf(f, "Usage: vswitchd %s\n\n", synopsis);
    vs_help_text(f, 0, summary);
    fprintf(f, "\nOptions:\n");
    vs_help_opts(f, vs_daemon_options, VS_DOPT_N);
    fprintf(f, "\n");
    vs_help_text(f, 0, "Manage a running daemon with vswitchctl. SIGHUP (or vswitchctl reload) "
                       "re-reads the config file and applies what changed.");
    fprintf(f, "Port types: %s.\nExit status:\n", vs_port_type_list());
    vs_help_text(f, 2, exit_status);
    fprintf(f, "See vswitchd(8) and vswitchd.yaml(5) for more.\n");
}

/* Calls fn for each registered port type. */
static void each_type(void (*fn)(const struct vs_port_ops *ops, void *arg), void *arg)
{
    char list[256], *save = NULL;

    snprintf(list, sizeof(list), "%s", vs_port_type_list());
    for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        const struct vs_port_ops *ops = vs_port_type_find(t);
        if (ops)
            fn(ops, arg);
    }
}

static void keys_text(const struct vs_port_ops *ops, char *out, size_t size)
{
    out[0] = '\0';
    for (const char *const *k = ops->keys; k && *k; k++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", k == ops->keys ? "" : ", ", *k);
}

static void man_port_type(const struct vs_port_ops *ops, void *arg)
{
    char keys[512], text[640];

    keys_text(ops, keys, sizeof(keys));
    snprintf(text, sizeof(text), "Options: %s.", keys[0] ? keys : "none");
    vs_man_item(stdout, ops->type, NULL, text);
}

static void bash_port_type(const struct vs_port_ops *ops, void *arg)
{
    printf("_vswitchctl_port_keys[%s]='", ops->type);
    for (const char *const *k = ops->keys; k && *k; k++)
        printf("%s%s", k == ops->keys ? "" : " ", *k);
    printf("'\n");
}

static void man_daemon(void)
{
    char text[1024];

    vs_man_begin(stdout, "vswitchd", 8, "polled-mode virtual Ethernet switch");
    vs_man_synopsis(stdout, "vswitchd", synopsis);
    vs_man_section(stdout, "DESCRIPTION");
    vs_man_text(stdout,
                "vswitchd switches Ethernet frames between its ports in user space: QEMU guests "
                "(vhost-user), host or container interfaces it serves itself (VDUSE), kernel TAP "
                "devices and PCI NICs it drives through VFIO. Pinned poller threads busy-poll "
                "(or sleep when idle, in adaptive mode) the ports' receive queues, learn source "
                "addresses into a lock-free forwarding table and flood what they do not know.\n\n"
                "It reads its configuration from a YAML file (vswitchd.yaml(5)), or from an "
                "embedded default without -c. A file with a mistake is refused as a whole with "
                "one line naming the place (FILE:LINE:COL: KEY: what is wrong) and nothing is "
                "started. Once running, it is managed through its control socket with "
                "vswitchctl(8).");
    vs_man_section(stdout, "OPTIONS");
    vs_man_opts(stdout, vs_daemon_options, VS_DOPT_N);
    vs_man_section(stdout, "SIGNALS");
    vs_man_item(stdout, "SIGTERM, SIGINT", NULL,
                "Shut down: ports are closed, guests see their link go down.");
    vs_man_item(stdout, "SIGHUP", NULL,
                "Re-read the config file given with -c and apply what changed, as vswitchctl "
                "reload does (systemctl reload vswitchd sends it). A file with a mistake changes "
                "nothing (its FILE:LINE:COL line is logged). Otherwise ports the file names are "
                "added, changed live (only the keys set-port takes differ) or re-created (the "
                "type or its options differ); ports of the previous file that it no longer names "
                "are removed; ports added with add-port that no file named are kept; unchanged "
                "ports lose no frame; settings that cannot change while running (pollers, "
                "memory, control socket, fdb) are logged as needing a restart.");
    vs_man_section(stdout, "SERVICE AND LOGGING");
    vs_man_text(stdout,
                vs_notify_available()
                    ? "Under systemd (the vswitchd.service unit, Type=notify) vswitchd tells the "
                      "service manager it is ready (READY=1) once the configured ports are open "
                      "and the control socket listens, and STOPPING=1 when it shuts down; "
                      "systemctl status shows a one-line status. "
                    : "This build has no sd_notify (built without libsystemd): the unit is "
                      "Type=simple. ");
    vs_man_text(stdout,
                "The unit's RuntimeDirectory is /run/vswitch, where the control socket and the "
                "default vhost-user sockets live; it is kept across restarts. Members of the "
                "group named by control.group (with control.mode 0660) may use vswitchctl. The "
                "service restarts on failure, but not after refusing its config (exit status "
                "2): fix the file, check it with vswitchd --check-config -c FILE, then "
                "systemctl restart vswitchd.");
    snprintf(text, sizeof(text),
             "Log lines go to the journal with their priority (err, warning, info, debug) when "
             "stderr is connected to it (JOURNAL_STREAM), and to stderr as \"vswitchd: LEVEL: "
             "message\" otherwise. log.level sets the least important priority logged. When "
             "one place in the program logs the same message more than %d times in %d seconds, "
             "further repeats are counted instead, and one line says how many once the %d "
             "seconds are over (\"suppressed K messages like: ...\"). Read the log with "
             "journalctl -u vswitchd (journalctl -u vswitchd -p warning for the warnings and "
             "errors only).",
             VS_LOG_REPEAT_MAX, VS_LOG_REPEAT_WINDOW_S, VS_LOG_REPEAT_WINDOW_S);
    vs_man_text(stdout, text);
    vs_man_section(stdout, "EXIT STATUS");
    vs_man_text(stdout, exit_status);
    vs_man_section(stdout, "ENVIRONMENT");
    vs_man_item(stdout, "NOTIFY_SOCKET", NULL,
                "Set by systemd for Type=notify services: where readiness is reported.");
    vs_man_item(stdout, "JOURNAL_STREAM", NULL,
                "Set by systemd when stderr is the journal: log lines then carry priorities.");
    vs_man_section(stdout, "FILES");
    vs_man_item(stdout, DEFAULT_CONFIG_PATH, NULL,
                "The config the service starts with (a copy of the embedded default when "
                "installed; never overwritten by an upgrade).");
    vs_man_item(stdout, "/run/vswitch/vswitchd.sock", NULL, "The default control socket.");
    vs_man_section(stdout, "SEE ALSO");
    vs_man_text(stdout, "vswitchctl(8), vswitchd.yaml(5), systemctl(1), journalctl(1)");
}

static int man_config(void)
{
    struct vs_config_doc doc;
    char term[96], text[2048];
    int rc = vs_config_doc_parse(vs_config_default_yaml, vs_config_default_yaml_len, &doc);

    if (rc < 0) {
        fprintf(stderr, "vswitchd: cannot read the default config's comments: %s\n", strerror(-rc));
        return 1;
    }
    vs_man_begin(stdout, "vswitchd.yaml", 5, "vswitchd configuration file");
    vs_man_synopsis(stdout, DEFAULT_CONFIG_PATH, "");
    vs_man_section(stdout, "DESCRIPTION");
    vs_man_text(stdout, doc.intro);
    vs_man_text(stdout, "vswitchd -c FILE reads a config; vswitchd --check-config -c FILE only "
                        "checks it. Keys are grouped in sections; a key is written section.key "
                        "below and as key: value inside its section in the file.");
    for (unsigned i = 0; i < doc.n; i++) {
        const struct vs_config_doc_entry *e = &doc.e[i];

        if (!e->key[0]) {
            char upper[40];
            size_t j;
            for (j = 0; e->section[j] && j < sizeof(upper) - 1; j++)
                upper[j] = (char)(e->section[j] >= 'a' && e->section[j] <= 'z' ? e->section[j] - 32
                                                                               : e->section[j]);
            upper[j] = '\0';
            vs_man_section(stdout, upper);
            vs_man_text(stdout, e->text);
            continue;
        }
        snprintf(term, sizeof(term), "%s.%s", e->section, e->key);
        snprintf(text, sizeof(text), "%s%s%s%s", e->text, e->text[0] ? "\n" : "",
                 e->optional ? "Optional, no default" : "Default: ", e->optional ? "." : e->value);
        vs_man_item(stdout, term, NULL, text);
    }
    if (!vs_config_doc_find(&doc, "ports", ""))
        vs_man_section(stdout, "PORTS");
    vs_man_text(stdout, "Port types and the options each takes (the same words as in "
                        "vswitchctl add-port NAME TYPE KEY=VALUE...):");
    each_type(man_port_type, NULL);
    snprintf(text, sizeof(text),
             "Every port, whatever its type, also takes the switch's own keys: %s (VLANs; "
             "vswitchctl set-port changes them at run time).",
             vs_port_conf_key_list());
    vs_man_text(stdout, text);
    vs_man_section(stdout, "EXAMPLE");
    vs_man_text(stdout, "The embedded default (vswitchd --print-default-config):");
    vs_man_verbatim(stdout, vs_config_default_yaml);
    vs_man_section(stdout, "SEE ALSO");
    vs_man_text(stdout, "vswitchd(8), vswitchctl(8)");
    vs_config_doc_free(&doc);
    return 0;
}

int vs_daemon_generate(const char *what)
{
    if (!strcmp(what, "man")) {
        man_daemon();
    } else if (!strcmp(what, "config-man")) {
        if (man_config())
            return 1;
    } else if (!strcmp(what, "bash")) {
        char keys[160], *c;

        printf("# Port types and their options, from vswitchd's port registry, and the\n"
               "# switch's own port keys (every type; set-port).\n");
        each_type(bash_port_type, NULL);
        snprintf(keys, sizeof(keys), "%s", vs_port_conf_key_list());
        while ((c = strstr(keys, ", ")))
            memmove(c, c + 1, strlen(c));
        printf("_vswitchctl_switch_keys='%s'\n", keys);
    } else {
        fprintf(stderr, "vswitchd: --generate '%s': use man, config-man or bash\n", what);
        return 2;
    }
    return fflush(stdout) ? 1 : 0;
}
