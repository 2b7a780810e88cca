/* libFuzzer: the config loader on arbitrary bytes. It must return 0 or a negative
 * errno with a one-line error, never crash or leak, and a config it accepts must
 * hold only values in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vs_config cfg;
    char err[512];
    int ret;

    /* Real configs are a few KiB; libyaml's own cost on huge inputs is not ours to fuzz. */
    if (size > 64 * 1024)
        return 0;
    ret = vs_config_load_string((const char *)data, size, "fuzz.yaml", &cfg, err, sizeof(err));
    if (ret) {
        if (ret >= 0 || strchr(err, '\n') || strncmp(err, "fuzz.yaml", 9))
            abort();
        return 0;
    }
    if (cfg.n_cpus < 1 || cfg.n_cpus > VS_CONFIG_MAX_CPUS || cfg.buffers < 1024 ||
        cfg.buffers > 4194304 || cfg.fdb_size < 1024 || cfg.fdb_size > 16777216 ||
        cfg.fdb_aging > 86400 || cfg.socket_mode > 0777 || cfg.socket[0] != '/' ||
        cfg.n_ports > VS_MAX_PORTS || (cfg.n_ports && !cfg.ports))
        abort();
    for (unsigned i = 0; i < cfg.n_ports; i++) {
        const struct vs_config_port *p = &cfg.ports[i];
        if (!p->name[0] || !vs_port_type_find(p->type))
            abort();
        for (unsigned j = 0; j < p->n_args; j++)
            if (!p->args[j].key || !p->args[j].value)
                abort();
    }
    vs_config_free(&cfg);
    return 0;
}
