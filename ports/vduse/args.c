/* Option checking for VDUSE ports. No side effects. */
#include "ports/vduse/args.h"
#include "ports/virtio/net_dev.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *const vs_vduse_keys[] = {"name", "mac", "mtu", "queues", "driver", "offloads", NULL};

static bool name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= VS_VDUSE_NAME_MAX || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char tail;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) !=
            6 ||
        strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

/* A locally administered unicast address that depends only on the device name, so
 * that a restarted switch gives the host the same MAC again (FNV-1a). */
static void mac_from_name(const char *name, uint8_t mac[6])
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
    mac[0] = 0x02;
    for (int i = 1; i < 6; i++)
        mac[i] = (uint8_t)(h >> (8 * i));
}

int vs_vduse_parse_args(const struct vs_port_args *args, const char *port_name,
                        struct vs_vduse_args *out, struct vs_port_err *err)
{
    const char *s;
    int rc, idx;

    memset(out, 0, sizeof(*out));
    if ((rc = vs_port_args_check_keys(args, vs_vduse_keys, err)) < 0)
        return rc;
    /* A YAML port's own 'name' key is the port's name: there the device takes it. */
    s = vs_port_args_get(args, "name", &idx);
    if (!s)
        s = port_name ? port_name : "vduse";
    if (!name_ok(s)) {
        vs_port_err_set(err, idx,
                        "name: '%s' is not a device name; use 1..%d characters of A-Z a-z "
                        "0-9 - _ . not starting with '.' or '-'",
                        s, VS_VDUSE_NAME_MAX - 1);
        return -EINVAL;
    }
    snprintf(out->name, sizeof(out->name), "%s", s);

    s = vs_port_args_get(args, "mac", &idx);
    if (s) {
        if (parse_mac(s, out->mac) < 0) {
            vs_port_err_set(err, idx, "mac: '%s' is not a MAC address (write 02:00:00:00:00:01)",
                            s);
            return -EINVAL;
        }
        if (out->mac[0] & 1) {
            vs_port_err_set(err, idx,
                            "mac: '%s' is a multicast address; a device needs a "
                            "unicast one (first byte even, e.g. 02:...)",
                            s);
            return -EINVAL;
        }
        out->mac_set = true;
    } else {
        mac_from_name(out->name, out->mac);
    }
    /* Jumbo frames travel in the pool's large buffers, and to the driver over
     * merged receive buffers. */
    if ((rc = vs_port_args_mtu(args, VS_VNET_MTU_MAX, &out->mtu, err)) < 0)
        return rc;
    if ((rc = vs_port_args_bool(args, "offloads", true, &out->offloads, err)) < 0)
        return rc;
    if ((rc = vs_port_args_uint(args, "queues", 1, VS_PORT_MAX_QUEUES, 1, &out->queues, err)) < 0)
        return rc;
    if (out->queues > 1) {
        vs_port_args_get(args, "queues", &idx);
        vs_port_err_set(err, idx,
                        "queues: %u queue pairs need the control virtqueue (VIRTIO_NET_F_MQ "
                        "goes with CTRL_VQ), and current kernels refuse a control queue on "
                        "VDUSE devices; use queues=1",
                        out->queues);
        return -EOPNOTSUPP;
    }
    s = vs_port_args_get(args, "driver", &idx);
    if (!s || !strcmp(s, "virtio_vdpa")) {
        out->driver = VS_VDUSE_VIRTIO_VDPA;
    } else if (!strcmp(s, "vhost_vdpa")) {
        out->driver = VS_VDUSE_VHOST_VDPA;
    } else {
        vs_port_err_set(err, idx,
                        "driver: '%s' is not a vDPA bus driver; use virtio_vdpa (a netdev on "
                        "this host) or vhost_vdpa (a /dev/vhost-vdpa-N for a VM)",
                        s);
        return -EINVAL;
    }
    return 0;
}
