/* A port's switch options: the keys every port takes whatever its type (VLAN mode,
 * port security), as opposed to the type's own options. Both come as key=value
 * pairs from the YAML ports section, add-port and set-port; the switch takes its
 * keys out before the type sees the rest.
 *
 * A parsed struct vs_port_conf is what pollers read (published with RCU on the
 * port, replaced whole by set-port, never edited). */
#ifndef VS_DATAPLANE_PORT_CONF_H
#define VS_DATAPLANE_PORT_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "vswitch/fdb.h"
#include "dataplane/vlan.h"
#include "vswitch/port.h"

#define VS_PORT_MAX_ALLOWED_MACS 64

struct vs_port_conf {
    struct vs_vlan_port vlan;
    uint32_t mac_limit; /* stations learned on the port at most; 0: no limit */
    bool secure;        /* port security (mac_limit or allowed_macs): stations
                           learned here are pinned to the port */
    /* Storm control and policing (0: none): token buckets per poller, refilled per
     * burst (storm.c). */
    uint32_t bcast_pps, mcast_pps, unknown_pps;
    uint64_t ingress_rate;  /* bytes per second */
    uint64_t ingress_burst; /* bytes the bucket holds */
    bool limits;            /* any of the five */
    uint16_t n_allowed; /* allowed_macs: source MACs accepted, 0: any */
    uint64_t allowed[VS_PORT_MAX_ALLOWED_MACS]; /* as vs_mac_word() */
};

/* Is key one of the switch's port keys (not the type's)? */
bool vs_port_conf_is_key(const char *key);
/* May the YAML give key's value as a list (joined with commas)? */
bool vs_port_conf_is_list_key(const char *key);
/* Does key belong to the VLAN settings (which set-port resets with vlan_mode)? */
bool vs_port_conf_is_vlan_key(const char *key);
/* The accepted switch keys, for messages: "vlan_mode, tag, ...". */
const char *vs_port_conf_key_list(void);

/* Parses the switch keys of args into out (defaults for the others; the type's
 * keys are skipped). 0, or -EINVAL with err naming the argument. */
int vs_port_conf_parse(const struct vs_port_args *args, struct vs_port_conf *out,
                       struct vs_port_err *err);
/* The type's options: args without the switch keys, into out (args->n entries of
 * room); map[i] is the index in args of out[i]. Returns how many. */
unsigned vs_port_conf_split(const struct vs_port_args *args, struct vs_port_arg *out, int *map);
/* The settings as show and list-ports report them. */
json_t *vs_port_conf_json(const struct vs_port_conf *c);
/* "access 10", "trunk 10,20 native 1", "transparent": one short cell for tables. */
void vs_port_conf_vlan_text(const struct vs_port_conf *c, char *out, size_t size);

#endif
