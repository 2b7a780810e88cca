/* The VDUSE device on the vDPA bus: attaching it (and binding the driver the user
 * chose), detaching it, and finding what the kernel made of it (the host netdev,
 * or the /dev/vhost-vdpa-N). */
#ifndef VS_PORTS_VDUSE_BUS_H
#define VS_PORTS_VDUSE_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "ports/vduse/args.h"

/* Checks, without side effects and without netlink (main thread), that the vDPA bus
 * and the chosen driver are there. 0 or -errno with the fix in why. */
int vs_vduse_bus_check(enum vs_vduse_driver driver, char *why, size_t why_len);
/* Is a device of this name on the vDPA bus? */
bool vs_vduse_bus_has(const char *name);
/* Worker-thread calls (vswitch/worker.h): arg is the struct vs_vduse_args. Attach
 * checks for the vduse management device, adds the device and, for vhost_vdpa,
 * rebinds it; detach removes it (0 when it was not on the bus). */
int vs_vduse_bus_attach(void *args, char *why, unsigned why_len);
int vs_vduse_bus_detach(void *args, char *why, unsigned why_len);
/* The host interface virtio_vdpa made (e.g. "eth1"), or the vhost-vdpa char device
 * ("vhost-vdpa-0"), into buf. 0 or -ENOENT. */
int vs_vduse_bus_ifname(const char *name, char *buf, size_t len);
int vs_vduse_bus_vhost_dev(const char *name, char *buf, size_t len);

#endif
