/* /dev/vduse/control: creating and destroying VDUSE devices, and the checks that
 * turn a kernel's refusal into the fix a person needs. */
#ifndef VS_PORTS_VDUSE_CONTROL_H
#define VS_PORTS_VDUSE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "ports/vduse/args.h"

#define VS_VDUSE_CONTROL "/dev/vduse/control"
#define VS_VDUSE_DEV_DIR "/dev/vduse"
#define VS_VDPA_SYSFS "/sys/bus/vdpa"

/* Is this kernel new enough (virtio-net over VDUSE came with Linux 6.10)? release is
 * uname's, e.g. "6.12.9-amd64". 0 or -EOPNOTSUPP with why. */
int vs_vduse_check_kernel(const char *release, char *why, size_t why_len);

/* Creates the device (API version, VDUSE_CREATE_DEV with the virtio-net config
 * space) and opens /dev/vduse/NAME with every virtqueue set up. Returns the device
 * fd or -errno with why (-EEXIST: the name is taken). */
int vs_vduse_create(const struct vs_vduse_args *a, uint64_t features, char *why, size_t why_len);
/* VDUSE_DESTROY_DEV; the device fd must be closed already. 0 or -errno. */
int vs_vduse_destroy(const char *name);

#endif
