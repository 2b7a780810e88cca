/* vswitchd: loads the config, creates the packet pool, the switch and its ports,
 * serves the control socket, and runs the main loop until SIGTERM or SIGINT;
 * SIGHUP reloads the config file. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "control/capture_stream.h"
#include "control/commands.h"
#include "control/config.h"
#include "control/metrics.h"
#include "control/reload.h"
#include "control/server.h"
#include "src/vswitchd_doc.h"
#include "dataplane/switch.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/notify.h"
#include "vswitch/peer_mem.h"
#include "vswitch/pkt.h"

static void on_signal(int fd, uint32_t events, void *arg)
{
    struct signalfd_siginfo si;

    if (read(fd, &si, sizeof(si)) != sizeof(si))
        return;
    if (si.ssi_signo == SIGHUP) {
        json_t *result = NULL;
        char err[512];

        /* The outcome goes to the log only: vs_reload_run logs every step. */
        vs_info("signal %u (%s): reloading the config", si.ssi_signo, strsignal(SIGHUP));
        if (vs_reload_run(&result, err, sizeof(err)) == 0)
            json_decref(result);
        return;
    }
    vs_info("signal %u (%s): shutting down", si.ssi_signo, strsignal((int)si.ssi_signo));
    vs_loop_stop();
}

static int setup_signals(int *sfd)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Pollers inherit the mask, so only the main loop ever sees these. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -errno;
    signal(SIGPIPE, SIG_IGN);
    *sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (*sfd < 0)
        return -errno;
    return vs_loop_add_fd(*sfd, EPOLLIN, on_signal, NULL);
}

/* Config errors keep their FILE:LINE:COL form; in the journal they are errors. */
static const char *err_prefix(void)
{
    return vs_log_to_journal() ? "<3>" : "";
}

static void flush_log(void *arg) { vs_log_flush(); }

static int add_config_ports(struct vs_switch *sw, const struct vs_config *cfg)
{
    for (unsigned i = 0; i < cfg->n_ports; i++) {
        const struct vs_config_port *cp = &cfg->ports[i];
        struct vs_port_args args = {cp->n_args, cp->args};
        struct vs_port_err err;
        int rc = vs_switch_add_port(sw, cp->name, cp->type, &args, &err);

        if (rc < 0) {
            char line[512];

            vs_config_port_error(cfg, i, &err, rc, line, sizeof(line));
            fprintf(stderr, "%s%s\n", err_prefix(), line);
            return rc;
        }
    }
    for (unsigned i = 0; i < cfg->n_fdb_static; i++) {
        const struct vs_config_fdb_static *e = &cfg->fdb_static[i];
        int rc = vs_switch_fdb_add(sw, e->vlan, e->mac, e->port);

        if (rc < 0) {
            fprintf(stderr, "%s:%u:%u: fdb.static[%u]: %s\n", cfg->file, e->line, e->col, i,
                    rc == -ENOSPC ? "no room in the forwarding table for more static entries "
                                    "here; make fdb.size larger"
                                  : strerror(-rc));
            return rc;
        }
    }
    for (unsigned i = 0; i < cfg->n_mirrors; i++) {
        const struct vs_config_mirror *m = &cfg->mirrors[i];
        char err[256];
        int rc;

        if ((rc = vs_reload_mirror_add(sw, m, err, sizeof(err))) < 0) {
            fprintf(stderr, "%s:%u:%u: mirrors[%u]: %s\n", cfg->file, m->line, m->col, i, err);
            return rc;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct option longopts[VS_DOPT_N + 1];
    char shortopts[3 * VS_DOPT_N + 2];
    const char *file = NULL;
    bool check_only = false;
    struct vs_config cfg;
    struct vs_switch_params params = {0};
    struct vs_switch *sw = NULL;
    struct vs_ctl_server *server = NULL;
    struct vs_metrics *metrics = NULL;
    struct vs_pool *pool = NULL;
    char err[512];
    int c, rc, sfd = -1, status = 1;

    vs_cli_getopt(vs_daemon_options, VS_DOPT_N, longopts, shortopts);
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        int opt = c >= 256 ? c - 256 : c == 'c' ? VS_DOPT_CONFIG : c == 'h' ? VS_DOPT_HELP : -1;

        switch (opt) {
        case VS_DOPT_CONFIG: file = optarg; break;
        case VS_DOPT_CHECK: check_only = true; break;
        case VS_DOPT_PRINT_DEFAULT:
            fwrite(vs_config_default_yaml, 1, vs_config_default_yaml_len, stdout);
            return 0;
        case VS_DOPT_GENERATE: return vs_daemon_generate(optarg);
        case VS_DOPT_VERSION: printf("vswitchd %s\n", VS_VERSION); return 0;
        case VS_DOPT_HELP: vs_daemon_usage(stdout); return 0;
        default:
            if (c == ':')
                fprintf(stderr, "vswitchd: option '%s' needs an argument\n", argv[optind - 1]);
            else
                fprintf(stderr, "vswitchd: unknown option '%s'\n", argv[optind - 1]);
            vs_daemon_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vswitchd: unexpected argument '%s'\n", argv[optind]);
        vs_daemon_usage(stderr);
        return 2;
    }

    rc = file ? vs_config_load_file(file, &cfg, err, sizeof(err))
              : vs_config_load_default(&cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s%s\n", err_prefix(), err);
        return 2;
    }
    if (check_only) {
        printf("%s: ok (%u ports, %u pollers)\n", cfg.file, cfg.n_ports, cfg.n_cpus);
        vs_config_free(&cfg);
        return 0;
    }
    vs_log_set_level(cfg.log_level);

    if ((rc = vs_loop_init()) < 0 || (rc = setup_signals(&sfd)) < 0 ||
        (rc = vs_peer_mem_init()) < 0) {
        vs_err("cannot set up the event loop: %s", strerror(-rc));
        goto out;
    }
    if ((rc = vs_pool_create(cfg.buffers, cfg.hugepage_size, &pool)) < 0) {
        vs_err("cannot allocate %u packet buffers: %s", cfg.buffers, strerror(-rc));
        goto out;
    }
    if (cfg.large_buffers &&
        (rc = vs_pool_add_large(pool, cfg.large_buffers, cfg.hugepage_size)) < 0) {
        vs_err("cannot allocate %u large packet buffers (64 KiB each): %s; lower "
               "memory.large_buffers, or set it to 0 to carry no frame over 2 KiB",
               cfg.large_buffers, strerror(-rc));
        goto out;
    }

    params.n_pollers = cfg.n_cpus;
    memcpy(params.cpus, cfg.cpus, sizeof(int) * cfg.n_cpus);
    params.mode = cfg.poll_mode;
    params.max_nap_us = cfg.max_nap_us;
    params.fdb_size = cfg.fdb_size;
    params.fdb_aging = cfg.fdb_aging;
    params.pool = pool;
    if ((rc = vs_switch_create(&params, &sw)) < 0) {
        vs_err("cannot create the switch: %s", strerror(-rc));
        goto out;
    }
    if ((rc = vs_switch_start(sw)) < 0)
        goto out;
    if ((rc = add_config_ports(sw, &cfg)) < 0)
        goto out;
    if ((rc = vs_ctl_server_start(cfg.socket, cfg.socket_mode, cfg.socket_group, vs_ctl_commands,
                                  sw, &server)) < 0)
        goto out; /* the server logged why */
    if ((rc = vs_ctl_server_set_idle_timeout(server, cfg.idle_timeout)) < 0) {
        vs_err("control socket %s: cannot start the idle timer: %s", cfg.socket, strerror(-rc));
        goto out;
    }
    if (cfg.metrics[0] && (rc = vs_metrics_start(cfg.metrics, sw, pool, &metrics)) < 0)
        goto out; /* it logged why */
    vs_reload_setup(&(struct vs_reloader){.file = file ? cfg.file : NULL, .running = &cfg,
                                          .sw = sw, .server = server});

    vs_info("vswitchd %s: config %s, %u pollers (%s), %u ports, %u buffers (%s pages), "
            "control socket %s",
            VS_VERSION, cfg.file, cfg.n_cpus,
            vs_poll_mode_name(params.mode), vs_switch_port_count(sw),
            cfg.buffers,
            vs_pool_region(pool)->huge ? vs_page_kind_name(cfg.hugepage_size) : "normal",
            cfg.socket);
    /* Repeated log lines are counted; their counts are told once a window is over. */
    if ((rc = vs_loop_add_timer(VS_LOG_REPEAT_WINDOW_S * 1000, VS_LOG_REPEAT_WINDOW_S * 1000,
                                flush_log, NULL)) < 0) {
        vs_err("cannot start the log timer: %s", strerror(-rc));
        goto out;
    }
    snprintf(err, sizeof(err), "%u ports, %u pollers, control socket %s",
             vs_switch_port_count(sw), cfg.n_cpus, cfg.socket);
    vs_notify_ready(err);
    rc = vs_loop_run();
    vs_notify_stopping();
    status = rc < 0 ? 1 : 0;
out:
    vs_reload_setup(NULL);
    vs_ctl_server_stop(server);
    vs_metrics_stop(metrics);
    vs_capture_streams_close();
    vs_switch_destroy(sw);
    vs_pool_destroy(pool);
    if (sfd >= 0) {
        vs_loop_del_fd(sfd);
        close(sfd);
    }
    vs_peer_mem_fini();
    vs_loop_fini();
    vs_config_free(&cfg);
    vs_log_flush_all();
    return status;
}
