/* The vDPA bus over generic netlink (family "vdpa"): what `vdpa dev add/del` does,
 * without iproute2 at run time. Every call opens its own socket, so that a worker
 * thread can make one while the main thread serves the device. */
#ifndef VS_PORTS_VDUSE_VDPA_NL_H
#define VS_PORTS_VDUSE_VDPA_NL_H

#include <stddef.h>

/* Is management device mgmtdev ("vduse") on the bus? 0, or -errno with why (the
 * vdpa family or the management device missing, with the modprobe that fixes it). */
int vs_vdpa_mgmtdev_check(const char *mgmtdev, char *why, size_t why_len);
/* VDPA_CMD_DEV_NEW: adds device name of mgmtdev to the bus. The kernel probes the
 * bus driver inside this call, and the probe waits for the device's replies: call
 * it from a thread other than the one that serves the device. 0 or -errno. */
int vs_vdpa_dev_new(const char *mgmtdev, const char *name, char *why, size_t why_len);
/* VDPA_CMD_DEV_DEL: same threading rule (the driver resets the device). 0 or -errno
 * (-ENODEV: no such device). */
int vs_vdpa_dev_del(const char *name, char *why, size_t why_len);

#endif
