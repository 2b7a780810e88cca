/* Parsed options of a vhost-user port. */
#ifndef VS_PORTS_VHOST_USER_PORT_ARGS_H
#define VS_PORTS_VHOST_USER_PORT_ARGS_H

#include <stdbool.h>

#include "vswitch/port.h"

#define VS_VHU_MAX_QUEUE_PAIRS 8

struct vs_vhu_args {
    char path[108]; /* sizeof(sun_path) */
    bool server;
    unsigned queues;
};

extern const char *const vs_vhu_keys[];

/* Checks and parses path, mode and queues without side effects. 0 or -errno with err. */
int vs_vhu_parse_args(const struct vs_port_args *args, struct vs_vhu_args *out,
                      struct vs_port_err *err);

#endif
