#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ports/af_xdp/args.h"

const char *const vs_xdp_keys[] = {"ifname", "queues", "mode", "zerocopy", "mtu", NULL};

static const char *const mode_names[] = {[VS_XDP_MODE_AUTO] = "auto",
                                         [VS_XDP_MODE_NATIVE] = "native",
                                         [VS_XDP_MODE_GENERIC] = "generic"};
static const char *const zc_names[] = {
    [VS_XDP_ZC_AUTO] = "auto", [VS_XDP_ZC_ON] = "on", [VS_XDP_ZC_OFF] = "off"};

const char *vs_xdp_mode_name(enum vs_xdp_mode m) { return mode_names[m]; }

/* One of names[0..n): its index, or -1 (err filled, listing the choices). */
static int pick(const struct vs_port_args *args, const char *key, const char *const *names, int n,
                int def, struct vs_port_err *err)
{
    int idx;
    const char *v = vs_port_args_get(args, key, &idx);

    if (!v)
        return def;
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i]))
            return i;
    vs_port_err_set(err, idx, "%s: '%s' is not one of %s, %s, %s", key, v, names[0], names[1],
                    names[2]);
    return -1;
}

int vs_xdp_args_parse(const struct vs_port_args *args, struct vs_xdp_args *out,
                      struct vs_port_err *err)
{
    const char *ifname;
    int idx, rc, m, z;

    memset(out, 0, sizeof(*out));
    if ((rc = vs_port_args_check_keys(args, vs_xdp_keys, err)) < 0)
        return rc;
    ifname = vs_port_args_get(args, "ifname", &idx);
    if (!ifname) {
        vs_port_err_set(err, -1,
                        "missing option 'ifname' (the interface to attach, e.g. "
                        "ifname=eth1)");
        return -EINVAL;
    }
    if (!ifname[0] || strlen(ifname) >= IF_NAMESIZE || strpbrk(ifname, "/ %:")) {
        vs_port_err_set(err, idx,
                        "ifname: '%s' is not a valid interface name (1 to %d characters, no "
                        "'/', ' ', '%%' or ':')",
                        ifname, IF_NAMESIZE - 1);
        return -EINVAL;
    }
    snprintf(out->ifname, sizeof(out->ifname), "%s", ifname);
    if ((rc = vs_port_args_uint(args, "queues", 1, VS_XDP_MAX_QUEUES, 1, &out->queues, err)) < 0)
        return rc;
    if ((m = pick(args, "mode", mode_names, 3, VS_XDP_MODE_AUTO, err)) < 0 ||
        (z = pick(args, "zerocopy", zc_names, 3, VS_XDP_ZC_AUTO, err)) < 0)
        return -EINVAL;
    out->mode = (enum vs_xdp_mode)m;
    out->zerocopy = (enum vs_xdp_zc)z;
    if (out->mode == VS_XDP_MODE_GENERIC && out->zerocopy == VS_XDP_ZC_ON) {
        vs_port_args_get(args, "zerocopy", &idx);
        vs_port_err_set(err, idx,
                        "zerocopy: 'on' needs the driver's native XDP; generic mode "
                        "always copies (mode=native or zerocopy=auto)");
        return -EINVAL;
    }
    if (vs_port_args_get(args, "mtu", &idx)) {
        unsigned mtu;

        if ((rc = vs_port_args_uint(args, "mtu", 68, 65535, 0, &mtu, err)) < 0)
            return rc;
        if (mtu > VS_XDP_MTU_MAX) {
            vs_port_err_set(err, idx,
                            "mtu: %u does not fit an AF_XDP frame (%u bytes in a %u-byte "
                            "chunk): the largest is mtu=%u",
                            mtu, VS_XDP_FRAME_MAX, VS_XDP_CHUNK, VS_XDP_MTU_MAX);
            return -EINVAL;
        }
        out->mtu = (uint16_t)mtu;
    }
    return 0;
}
