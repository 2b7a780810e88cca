/* Parsed options of a VDUSE port: name (the vDPA device; the port's name when
 * absent), mac, mtu, queues, driver, offloads. */
#ifndef VS_PORTS_VDUSE_ARGS_H
#define VS_PORTS_VDUSE_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/port.h"

/* The kernel's vDPA device names are bus device names; keep them short enough to
 * sit in sysfs paths and log lines, and to the characters a netlink name and a
 * /dev/vduse file name both accept. */
#define VS_VDUSE_NAME_MAX 64

enum vs_vduse_driver {
    VS_VDUSE_VIRTIO_VDPA, /* the host gets a netdev */
    VS_VDUSE_VHOST_VDPA,  /* a VM gets /dev/vhost-vdpa-N */
};

struct vs_vduse_args {
    char name[VS_VDUSE_NAME_MAX];
    uint8_t mac[6];
    bool mac_set; /* false: derived from name, so a restart keeps it */
    uint16_t mtu;   /* 68..VS_VNET_MTU_MAX, default 1500 */
    bool offloads;  /* offer the checksum and segmentation offloads (default) */
    unsigned queues;
    enum vs_vduse_driver driver;
};

extern const char *const vs_vduse_keys[];

/* Checks and parses the options without side effects. The device name defaults to
 * port_name (NULL: not known yet, as in validate). 0 or -errno with err. */
int vs_vduse_parse_args(const struct vs_port_args *args, const char *port_name,
                        struct vs_vduse_args *out, struct vs_port_err *err);

#endif
