/* The switch's port keys: one table of what they are, the parser, and the JSON
 * that show and list-ports report. */
#include "dataplane/port_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/compiler.h"

static const struct {
    const char *key;
    bool list; /* the YAML may give a list */
    bool vlan; /* reset by set-port when vlan_mode changes */
} keys[] = {
    {"vlan_mode", false, true},
    {"tag", false, true},
    {"trunks", true, true},
    {"native_vlan", false, true}, {"mac_limit", false, false}, {"allowed_macs", true, false},
    {"broadcast_limit_pps", false, false}, {"multicast_limit_pps", false, false},
    {"unknown_unicast_limit_pps", false, false}, {"ingress_rate", false, false},
    {"ingress_burst", false, false},
};

static int find_key(const char *key)
{
    for (unsigned i = 0; i < VS_ARRAY_SIZE(keys); i++)
        if (!strcmp(keys[i].key, key))
            return (int)i;
    return -1;
}

bool vs_port_conf_is_key(const char *key) { return find_key(key) >= 0; }

bool vs_port_conf_is_list_key(const char *key)
{
    int i = find_key(key);

    return i >= 0 && keys[i].list;
}

bool vs_port_conf_is_vlan_key(const char *key)
{
    int i = find_key(key);

    return i >= 0 && keys[i].vlan;
}

const char *vs_port_conf_key_list(void)
{
    static char list[512];

    if (!list[0])
        for (unsigned i = 0; i < VS_ARRAY_SIZE(keys); i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
                     keys[i].key);
    return list;
}

static int get_vid(const struct vs_port_args *args, const char *key, uint16_t *out,
                   struct vs_port_err *err)
{
    unsigned v;
    int rc = vs_port_args_uint(args, key, 1, VS_VLAN_MAX, 0, &v, err);

    *out = (uint16_t)v;
    return rc;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char tail;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) !=
            6 ||
        strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

static int parse_allowed(const char *text, int idx, struct vs_port_conf *c, struct vs_port_err *err)
{
    const char *p = text;

    while (*p) {
        char one[32];
        size_t n;
        uint8_t mac[6];

        p += strspn(p, ", ");
        n = strcspn(p, ", ");
        if (!n)
            break;
        snprintf(one, sizeof(one), "%.*s", (int)VS_MIN(n, sizeof(one) - 1), p);
        if (n >= sizeof(one) || parse_mac(one, mac) < 0) {
            vs_port_err_set(err, idx,
                            "allowed_macs: '%s' is not a MAC address; write "
                            "52:54:00:12:34:56",
                            one);
            return -EINVAL;
        }
        if (mac[0] & 1) {
            vs_port_err_set(err, idx,
                            "allowed_macs: %s is a group address; list the "
                            "stations' own (unicast) MACs",
                            one);
            return -EINVAL;
        }
        if (c->n_allowed == VS_PORT_MAX_ALLOWED_MACS) {
            vs_port_err_set(err, idx, "allowed_macs: more than %d addresses",
                            VS_PORT_MAX_ALLOWED_MACS);
            return -EINVAL;
        }
        c->allowed[c->n_allowed++] = vs_mac_word(mac);
        p += n;
    }
    return 0;
}

/* "10mbit", "1gbit", "500kbit", "64000bit" (decimal, bits per second) → bytes per
 * second. */
static int parse_rate(const struct vs_port_args *args, uint64_t *out, struct vs_port_err *err)
{
    int idx;
    const char *v = vs_port_args_get(args, "ingress_rate", &idx);
    char *end;
    unsigned long long n;
    uint64_t mult = 1;

    *out = 0;
    if (!v)
        return 0;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (end != v && (*end == 'k' || *end == 'K'))
        mult = 1000, end++;
    else if (end != v && (*end == 'm' || *end == 'M'))
        mult = 1000000, end++;
    else if (end != v && (*end == 'g' || *end == 'G'))
        mult = 1000000000, end++;
    if (end == v || v[0] == '-' || errno || strcmp(end, "bit") || n == 0 || n > 400000000000ull / mult) {
        vs_port_err_set(err, idx, "ingress_rate: '%s' is not a rate; write a number of bits per "
                        "second with kbit, mbit or gbit (10mbit), at most 400gbit", v);
        return -EINVAL;
    }
    *out = n * mult / 8;
    if (!*out) {
        vs_port_err_set(err, idx, "ingress_rate: '%s' is less than one byte per second", v);
        return -EINVAL;
    }
    return 0;
}

int vs_port_conf_parse(const struct vs_port_args *args, struct vs_port_conf *c,
                       struct vs_port_err *err)
{
    int i_mode, i_tag, i_trunks, i_native, i_allowed;
    const char *mode = vs_port_args_get(args, "vlan_mode", &i_mode);
    const char *tag = vs_port_args_get(args, "tag", &i_tag);
    const char *trunks = vs_port_args_get(args, "trunks", &i_trunks);
    const char *native = vs_port_args_get(args, "native_vlan", &i_native);
    const char *allowed = vs_port_args_get(args, "allowed_macs", &i_allowed);
    char msg[200];

    memset(c, 0, sizeof(*c));
    if (!mode || !strcmp(mode, "transparent")) {
        c->vlan.mode = VS_VLAN_TRANSPARENT;
    } else if (!strcmp(mode, "access")) {
        c->vlan.mode = VS_VLAN_ACCESS;
    } else if (!strcmp(mode, "trunk")) {
        c->vlan.mode = VS_VLAN_TRUNK;
    } else {
        vs_port_err_set(err, i_mode,
                        "vlan_mode: '%s' is not a VLAN mode; use access, trunk or "
                        "transparent",
                        mode);
        return -EINVAL;
    }
    if (tag && c->vlan.mode != VS_VLAN_ACCESS) {
        vs_port_err_set(err, i_tag,
                        "tag: only an access port has one; add vlan_mode: access, "
                        "or use trunks for a trunk");
        return -EINVAL;
    }
    if (c->vlan.mode == VS_VLAN_ACCESS && !tag) {
        vs_port_err_set(err, i_mode, "vlan_mode: access needs tag: the port's VLAN (1..%d)",
                        VS_VLAN_MAX);
        return -EINVAL;
    }
    if ((trunks || native) && c->vlan.mode != VS_VLAN_TRUNK) {
        vs_port_err_set(err, trunks ? i_trunks : i_native,
                        "%s: only a trunk port takes it; add vlan_mode: trunk",
                        trunks ? "trunks" : "native_vlan");
        return -EINVAL;
    }
    switch (c->vlan.mode) {
    case VS_VLAN_TRANSPARENT: memset(&c->vlan.carry, 0xff, sizeof(c->vlan.carry)); break;
    case VS_VLAN_ACCESS:
        if (get_vid(args, "tag", &c->vlan.tag, err) < 0)
            return -EINVAL;
        vs_vlan_set_add(&c->vlan.carry, c->vlan.tag);
        break;
    case VS_VLAN_TRUNK:
        if (vs_vlan_set_parse(trunks ? trunks : "", &c->vlan.carry, msg, sizeof(msg)) < 0) {
            vs_port_err_set(err, i_trunks, "trunks: %s", msg);
            return -EINVAL;
        }
        /* None listed: every VLAN. */
        if (!memcmp(&c->vlan.carry, &(struct vs_vlan_set){0}, sizeof(c->vlan.carry)))
            vs_vlan_set_parse("1-4094", &c->vlan.carry, msg, sizeof(msg));
        if (native) {
            if (get_vid(args, "native_vlan", &c->vlan.native, err) < 0)
                return -EINVAL;
            vs_vlan_set_add(&c->vlan.carry, c->vlan.native);
        }
        break;
    }
    unsigned limit;
    if (vs_port_args_uint(args, "mac_limit", 0, 16u << 20, 0, &limit, err) < 0)
        return -EINVAL;
    c->mac_limit = limit;
    if (allowed && parse_allowed(allowed, i_allowed, c, err) < 0)
        return -EINVAL;
    unsigned pps;
    if (vs_port_args_uint(args, "broadcast_limit_pps", 0, 100000000, 0, &pps, err) < 0)
        return -EINVAL;
    c->bcast_pps = pps;
    if (vs_port_args_uint(args, "multicast_limit_pps", 0, 100000000, 0, &pps, err) < 0)
        return -EINVAL;
    c->mcast_pps = pps;
    if (vs_port_args_uint(args, "unknown_unicast_limit_pps", 0, 100000000, 0, &pps, err) < 0)
        return -EINVAL;
    c->unknown_pps = pps;
    if (parse_rate(args, &c->ingress_rate, err) < 0)
        return -EINVAL;
    int i_burst;
    if (vs_port_args_get(args, "ingress_burst", &i_burst) && !c->ingress_rate) {
        vs_port_err_set(err, i_burst, "ingress_burst: only with ingress_rate");
        return -EINVAL;
    }
    /* By default a tenth of a second's worth, and at least a few jumbo frames. */
    uint64_t def_burst = c->ingress_rate / 10 > 65536 ? c->ingress_rate / 10 : 65536;
    if (vs_port_args_size(args, "ingress_burst", 1518, 1ull << 32, def_burst, &c->ingress_burst,
                          err) < 0)
        return -EINVAL;
    c->limits = c->bcast_pps || c->mcast_pps || c->unknown_pps || c->ingress_rate;
    c->secure = c->mac_limit || c->n_allowed;
    return 0;
}

unsigned vs_port_conf_split(const struct vs_port_args *args, struct vs_port_arg *out, int *map)
{
    unsigned n = 0;

    for (unsigned i = 0; i < args->n; i++) {
        if (vs_port_conf_is_key(args->v[i].key))
            continue;
        out[n] = args->v[i];
        map[n++] = (int)i;
    }
    return n;
}

static const char *mode_name(enum vs_vlan_mode m)
{
    return m == VS_VLAN_ACCESS ? "access" : m == VS_VLAN_TRUNK ? "trunk" : "transparent";
}

void vs_port_conf_vlan_text(const struct vs_port_conf *c, char *out, size_t size)
{
    char set[96];

    switch (c->vlan.mode) {
    case VS_VLAN_ACCESS: snprintf(out, size, "access %u", c->vlan.tag); break;
    case VS_VLAN_TRUNK:
        vs_vlan_set_format(&c->vlan.carry, set, sizeof(set));
        if (c->vlan.native)
            snprintf(out, size, "trunk %s native %u", set, c->vlan.native);
        else
            snprintf(out, size, "trunk %s", set);
        break;
    default: snprintf(out, size, "transparent");
    }
}

json_t *vs_port_conf_json(const struct vs_port_conf *c)
{
    json_t *o = json_pack("{s:s}", "vlan_mode", mode_name(c->vlan.mode));
    char set[1024];

    if (c->vlan.mode == VS_VLAN_ACCESS)
        json_object_set_new(o, "tag", json_integer(c->vlan.tag));
    if (c->vlan.mode == VS_VLAN_TRUNK) {
        vs_vlan_set_format(&c->vlan.carry, set, sizeof(set));
        json_object_set_new(o, "trunks", json_string(set));
        if (c->vlan.native)
            json_object_set_new(o, "native_vlan", json_integer(c->vlan.native));
    }
    if (c->mac_limit)
        json_object_set_new(o, "mac_limit", json_integer(c->mac_limit));
    if (c->bcast_pps)
        json_object_set_new(o, "broadcast_limit_pps", json_integer(c->bcast_pps));
    if (c->mcast_pps)
        json_object_set_new(o, "multicast_limit_pps", json_integer(c->mcast_pps));
    if (c->unknown_pps)
        json_object_set_new(o, "unknown_unicast_limit_pps", json_integer(c->unknown_pps));
    if (c->ingress_rate) {
        json_object_set_new(o, "ingress_rate_bps", json_integer((json_int_t)(c->ingress_rate * 8)));
        json_object_set_new(o, "ingress_burst", json_integer((json_int_t)c->ingress_burst));
    }
    if (c->n_allowed) {
        json_t *a = json_array();

        for (unsigned i = 0; i < c->n_allowed; i++) {
            uint64_t w = c->allowed[i];
            char mac[18];

            snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", (unsigned)(w & 0xff),
                     (unsigned)(w >> 8 & 0xff), (unsigned)(w >> 16 & 0xff),
                     (unsigned)(w >> 24 & 0xff), (unsigned)(w >> 32 & 0xff), (unsigned)(w >> 40 & 0xff));
            json_array_append_new(a, json_string(mac));
        }
        json_object_set_new(o, "allowed_macs", a);
    }
    return o;
}
