#include "ports/vxlan/args.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/vxlan/encap.h"

const char *const vs_vx_keys[] = {"local_ip", "vni_map",  "remotes", "dstport",     "mtu",
                                  "aging",    "learning", "control", "shadow_port", NULL};

/* A whole number within [min, max] from s up to one of the stop characters. */
static bool number(const char *s, size_t len, unsigned long min, unsigned long max,
                   unsigned long *out)
{
    unsigned long v = 0;

    if (len == 0 || len > 10)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool ipv4(const char *s, size_t len, uint32_t *out)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr a;

    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    if (inet_pton(AF_INET, buf, &a) != 1)
        return false;
    *out = a.s_addr;
    return true;
}

/* The next item of a comma-separated list, spaces around it skipped. */
static bool next_item(const char **p, const char **item, size_t *len)
{
    const char *s = *p, *e;

    while (*s == ' ')
        s++;
    if (!*s)
        return false;
    e = strchr(s, ',');
    if (!e)
        e = s + strlen(s);
    *item = s;
    *len = (size_t)(e - s);
    while (*len && s[*len - 1] == ' ')
        (*len)--;
    *p = *e ? e + 1 : e;
    return true;
}

static int cmp_vni(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return (*x > *y) - (*x < *y);
}

static int parse_map(const struct vs_port_args *args, struct vs_vx_args *a, struct vs_port_err *err)
{
    int idx;
    const char *v = vs_port_args_get(args, "vni_map", &idx), *item;
    static uint64_t pairs[VS_VX_MAX_VNIS]; /* main thread only */
    bool vlan_used[4096] = {false};
    size_t len;

    if (!v || !*v) {
        vs_port_err_set(err, idx,
                        "missing option 'vni_map' (VNI:VLAN pairs, e.g. vni_map=100:10,200:20, or "
                        "in YAML vni_map: {100: 10, 200: 20})");
        return -EINVAL;
    }
    a->n_vni = 0;
    while (next_item(&v, &item, &len)) {
        const char *colon = memchr(item, ':', len);
        unsigned long vni, vlan;

        if (!colon || !number(item, (size_t)(colon - item), 1, VS_VXLAN_VNI_MAX, &vni) ||
            !number(colon + 1, len - (size_t)(colon + 1 - item), 0, 4094, &vlan)) {
            vs_port_err_set(err, idx,
                            "vni_map: '%.*s' is not VNI:VLAN (VNI 1..16777215, VLAN 1..4094, "
                            "or 0 for untagged frames)",
                            (int)VS_MIN(len, 40), item);
            return -EINVAL;
        }
        if (a->n_vni == VS_VX_MAX_VNIS) {
            vs_port_err_set(err, idx, "vni_map: more than %d VNIs", VS_VX_MAX_VNIS);
            return -EINVAL;
        }
        if (vlan_used[vlan]) {
            vs_port_err_set(err, idx, "vni_map: VLAN %lu is mapped twice; a VLAN carries one VNI",
                            vlan);
            return -EINVAL;
        }
        vlan_used[vlan] = true;
        pairs[a->n_vni++] = (uint64_t)vni << 16 | vlan;
    }
    if (!a->n_vni) {
        vs_port_err_set(err, idx, "vni_map: no VNI:VLAN pair given");
        return -EINVAL;
    }
    qsort(pairs, a->n_vni, sizeof(pairs[0]), cmp_vni);
    for (unsigned i = 0; i < a->n_vni; i++) {
        a->vni[i] = (uint32_t)(pairs[i] >> 16);
        a->vlan[i] = (uint16_t)pairs[i];
        if (i && a->vni[i] == a->vni[i - 1]) {
            vs_port_err_set(err, idx, "vni_map: VNI %u is mapped twice; a VNI carries one VLAN",
                            a->vni[i]);
            return -EINVAL;
        }
    }
    return 0;
}

int vs_vx_args_vni_index(const struct vs_vx_args *a, uint32_t vni)
{
    unsigned lo = 0, hi = a->n_vni;

    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;

        if (a->vni[mid] == vni)
            return (int)mid;
        if (a->vni[mid] < vni)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int parse_remotes(const struct vs_port_args *args, struct vs_vx_args *a,
                         struct vs_port_err *err)
{
    int idx;
    const char *v = vs_port_args_get(args, "remotes", &idx), *item;
    size_t len;

    a->n_remote = 0;
    while (v && next_item(&v, &item, &len)) {
        const char *at = memchr(item, '@', len);
        size_t iplen = at ? (size_t)(at - item) : len;
        unsigned long vni = VS_VX_ALL_VNIS;
        uint32_t ip;

        if (!ipv4(item, iplen, &ip) ||
            (at && !number(at + 1, len - iplen - 1, 1, VS_VXLAN_VNI_MAX, &vni))) {
            vs_port_err_set(err, idx,
                            "remotes: '%.*s' is not an IPv4 address, or ADDRESS@VNI for one VNI",
                            (int)VS_MIN(len, 40), item);
            return -EINVAL;
        }
        if (vni != VS_VX_ALL_VNIS && vs_vx_args_vni_index(a, (uint32_t)vni) < 0) {
            vs_port_err_set(err, idx, "remotes: VNI %lu is not in vni_map", vni);
            return -EINVAL;
        }
        if (ip == a->local_ip || ip == 0 || ip == 0xffffffffu || (ntohl(ip) >> 28) == 14) {
            vs_port_err_set(err, idx,
                            "remotes: '%.*s' cannot be a remote VTEP (local_ip, a broadcast or "
                            "multicast address)",
                            (int)VS_MIN(len, 40), item);
            return -EINVAL;
        }
        if (a->n_remote == VS_VX_MAX_STATIC) {
            vs_port_err_set(err, idx, "remotes: more than %d remotes", VS_VX_MAX_STATIC);
            return -EINVAL;
        }
        a->remote[a->n_remote].ip = ip;
        a->remote[a->n_remote].vni = (uint32_t)vni;
        a->n_remote++;
    }
    return 0;
}

int vs_vx_args_parse(const struct vs_port_args *args, struct vs_vx_args *a, struct vs_port_err *err)
{
    const char *v;
    unsigned u;
    int idx, rc;

    memset(a, 0, sizeof(*a));
    if ((rc = vs_port_args_check_keys(args, vs_vx_keys, err)) < 0)
        return rc;
    v = vs_port_args_get(args, "local_ip", &idx);
    if (!v) {
        vs_port_err_set(err, -1,
                        "missing option 'local_ip' (the underlay address of this VTEP, e.g. "
                        "local_ip=198.51.100.1)");
        return -EINVAL;
    }
    if (!ipv4(v, strlen(v), &a->local_ip) || a->local_ip == 0) {
        vs_port_err_set(err, idx, "local_ip: '%s' is not an IPv4 address", v);
        return -EINVAL;
    }
    if ((rc = parse_map(args, a, err)) < 0 || (rc = parse_remotes(args, a, err)) < 0)
        return rc;
    if ((rc = vs_port_args_uint(args, "dstport", 1, 65535, VS_VXLAN_PORT, &u, err)) < 0)
        return rc;
    a->dstport = (uint16_t)u;
    if ((rc = vs_port_args_uint(args, "mtu", 68, VS_VX_MTU_MAX, 0, &u, err)) < 0)
        return rc;
    a->mtu = (uint16_t)u;
    if ((rc = vs_port_args_uint(args, "aging", 0, 86400, 300, &a->aging, err)) < 0)
        return rc;
    v = vs_port_args_get(args, "control", &idx);
    if (v && strcmp(v, "static") && strcmp(v, "evpn")) {
        vs_port_err_set(err, idx,
                        "control: '%s' is neither 'static' (configured remotes, learning from "
                        "datagrams) nor 'evpn' (remotes from FRR's BGP EVPN)",
                        v);
        return -EINVAL;
    }
    a->evpn = v && !strcmp(v, "evpn");
    if ((rc = vs_port_args_bool(args, "learning", !a->evpn, &a->learning, err)) < 0)
        return rc;
    if ((rc = vs_port_args_uint(args, "shadow_port", 1, 65535, VS_VX_SHADOW_PORT, &u, err)) < 0)
        return rc;
    a->shadow_port = (uint16_t)u;
    if (a->evpn && a->shadow_port == a->dstport) {
        vs_port_args_get(args, "shadow_port", &idx);
        vs_port_err_set(err, idx,
                        "shadow_port: %u is dstport too; the kernel's shadow VXLAN devices need "
                        "a UDP port nothing sends to",
                        a->shadow_port);
        return -EINVAL;
    }
    if (a->evpn && a->n_vni > 1000) {
        vs_port_err_set(err, -1, "control: evpn takes at most 1000 VNIs (a kernel bridge each)");
        return -EINVAL;
    }
    return 0;
}
