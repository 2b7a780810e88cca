/* Parsed options of a vhost-user port. */
#ifndef VS_PORTS_VHOST_USER_PORT_ARGS_H
#define VS_PORTS_VHOST_USER_PORT_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/port.h"

#define VS_VHU_MAX_QUEUE_PAIRS 8

/* Address space one front-end may have us map (guest memory and dirty log), the
 * max_memory option. The default, 1 TiB, is above any guest this switch serves,
 * while the 128 TiB of an x86-64 process hold 100 ports that each take all of it:
 * one front-end mapping sparse files can no longer starve the others' tables. */
#define VS_VHU_MAX_MEMORY_DEFAULT (1ull << 40)
#define VS_VHU_MAX_MEMORY_MIN (16ull << 20)
#define VS_VHU_MAX_MEMORY_MAX (64ull << 40)

struct vs_vhu_args {
    char path[108]; /* sizeof(sun_path) */
    bool server;
    unsigned queues;
    uint64_t max_memory; /* bytes */
    bool in_order;  /* offer VIRTIO_F_IN_ORDER (default) */
    bool offloads;  /* offer the checksum and segmentation offloads (default) */
    uint16_t mtu;   /* the port's MTU: 68..VS_VNET_MTU_MAX, default 1500 */
};

extern const char *const vs_vhu_keys[];

/* Checks and parses path, mode, queues, max_memory, in_order, offloads and mtu without
 * side effects.
 * 0 or -errno with err. */
int vs_vhu_parse_args(const struct vs_port_args *args, struct vs_vhu_args *out,
                      struct vs_port_err *err);

#endif
