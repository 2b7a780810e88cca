/* The contract between the dataplane and every port type.
 *
 * Each type (tap, vhost-user, vfio, ...) provides one struct vs_port_ops. The
 * dataplane reaches ports only through ports/registry.c and this table, so it
 * never knows a port's type; a port never calls the dataplane or the control
 * plane: it takes buffers from the runtime pool and hands bursts back through
 * rx_burst/tx_burst.
 *
 * Threads: validate/open/close/show run on the main thread. rx_burst/tx_burst
 * run on pollers: rx queue q is polled by exactly one poller at a time; a tx
 * queue may be shared by pollers, in which case the dataplane serialises calls
 * with the queue's lock (one lock per burst). close() is called only after a
 * grace period in which no poller can still be inside rx_burst/tx_burst. */
#ifndef VSWITCH_PORT_H
#define VSWITCH_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "vswitch/fdb.h"
#include "vswitch/pkt.h"

#define VS_PORT_NAME_MAX 32 /* including the NUL */
#define VS_PORT_MAX_QUEUES 16
#define VS_MAX_PORTS 256
#define VS_PORT_MTU_DEFAULT 1500
#define VS_ETH_OVERHEAD 18 /* Ethernet header and one VLAN tag, no FCS */

/* One key=value option of a port, from the YAML file or from vswitchctl. line/col
 * are 1-based positions in the config file of the value, or 0 when not from a file. */
struct vs_port_arg {
    const char *key;
    const char *value;
    unsigned line, col;
};

struct vs_port_args {
    unsigned n;
    const struct vs_port_arg *v;
};

/* Where and why a port refused its options. */
struct vs_port_err {
    int arg;        /* index into args of the offending option, or -1 */
    char msg[256];  /* what is wrong and how to fix it, without the port name */
};

struct vs_port;

struct vs_port_ops {
    const char *type;      /* "tap", "vhost-user", ... */
    const char *const *keys; /* accepted option keys, NULL-terminated */
    /* Keys whose YAML value may be a list ("a,b") or a mapping ("k:v,k2:v2"), given
     * to the type as that one string; NULL-terminated, or NULL for none. */
    const char *const *list_keys;

    /* Checks options without side effects (used by --check-config). 0 or -errno. */
    int (*validate)(const struct vs_port_args *args, struct vs_port_err *err);
    /* Opens the port: sets n_rxq, n_txq and priv. 0 or -errno with err filled. */
    int (*open)(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err);
    /* Releases everything open() and the port's life took: fds, mappings, buffers. */
    void (*close)(struct vs_port *port);

    /* Receives up to n frames into pkts (buffers from port->pool). Returns the count. */
    uint16_t (*rx_burst)(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n);
    /* Sends pkts[0..n). Returns how many the port took; it now owns (and frees) those.
     * The caller frees pkts[ret..n) and counts them as drops. A frame marked
     * VS_PKT_F_EXTERNAL lives in another peer's memory until the end of the burst,
     * except its head, which the switch decided on: a port sends vs_pkt_head_len()
     * bytes from vs_pkt_data() and the rest from vs_pkt_tail() (vs_pkt_copy_out),
     * and one that keeps frames after returning (a NIC's zero-copy tx) copies them.
     * A lent chain (VS_PKT_F_CHAIN) reaches only a port with tx_chains. */
    uint16_t (*tx_burst)(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n);
    /* Optional: called after every frame of the last rx_burst on q went through
     * tx_burst (or was dropped), so that frames the port lent as VS_PKT_F_EXTERNAL
     * can go back to their peer. A port that lends frames must provide it. */
    void (*rx_done)(struct vs_port *port, uint16_t q);

    /* Adds type-specific state to a `show` reply (features, queues, NIC counters). */
    void (*show)(struct vs_port *port, json_t *out);

    /* Optional, for adaptive pollers: an fd that becomes readable when rx queue q has
     * work (or -1), and switching the peer's notifications for q on or off. rx_notify
     * runs on q's poller, or on the main thread while no poller owns q. */
    int (*rx_wait_fd)(struct vs_port *port, uint16_t q);
    void (*rx_notify)(struct vs_port *port, uint16_t q, bool enable);

    /* Optional: adds what the port knows of a station the switch's table maps to it
     * (a tunnel's remote endpoint) to e, that station's entry in `fdb show`. Main
     * thread. */
    void (*fdb_entry)(struct vs_port *port, uint16_t vlan, const uint8_t mac[6], json_t *e);
    /* Optional: the switch's whole forwarding table, every few seconds (main thread),
     * for a port that mirrors the stations behind the switch's other ports elsewhere
     * (a VXLAN port with EVPN writes them where FRR reads them). */
    void (*local_stations)(struct vs_port *port, const struct vs_fdb_entry *e, unsigned n);
};

struct vs_port {
    char name[VS_PORT_NAME_MAX];
    const struct vs_port_ops *ops;
    uint16_t id;          /* slot in the switch's port table, set before open() */
    uint16_t n_rxq;       /* set by open(), fixed for the port's life */
    uint16_t n_txq;       /* set by open(), fixed for the port's life */
    int link_up;          /* written by the port, read by anyone (VS_READ_ONCE) */
    int failed;           /* set (VS_WRITE_ONCE) by the port when it can never work again,
                             e.g. its device was unbound: the switch then removes it */
    uint8_t tx_offloads;  /* VS_OL_* requests tx_burst takes as they are (the peer
                             negotiated them); the dataplane completes the others in
                             software first. Written by the port (VS_WRITE_ONCE: a
                             guest renegotiates), read by pollers (VS_READ_ONCE) */
    bool tx_chains;       /* tx_burst takes lent chains (VS_PKT_F_CHAIN: it copies
                             them out piece by piece, vs_pkt_copy_out); the dataplane
                             copies them into its own buffers for other ports. Set
                             by open() */
    uint16_t mtu;         /* largest L3 packet the port carries, set by open(): frames
                             up to mtu + 18 (Ethernet and one VLAN tag) pass, longer
                             ones without a GSO request are dropped as oversize */
    struct vs_pool *pool; /* where rx_burst takes buffers, set before open() */
    void *priv;           /* the type's own state */
};

/* A port name is 1..VS_PORT_NAME_MAX-1 characters of A-Z a-z 0-9 _ . -: names
 * reach logs, JSON replies and file names, so the config file and the control
 * socket both check them with this one function. */
bool vs_port_name_valid(const char *name);

/* Option helpers for port types. */
const char *vs_port_args_get(const struct vs_port_args *args, const char *key, int *index);
/* Rejects any key not in keys[]; fills err with the accepted list. 0 or -EINVAL. */
int vs_port_args_check_keys(const struct vs_port_args *args, const char *const *keys,
                            struct vs_port_err *err);
/* Parses an unsigned option within [min, max]; absent → def. 0 or -EINVAL with err. */
int vs_port_args_uint(const struct vs_port_args *args, const char *key, unsigned min,
                      unsigned max, unsigned def, unsigned *out, struct vs_port_err *err);
/* Parses a byte count: digits with an optional binary suffix K, M, G or T (64G is
 * 64 GiB), within [min, max]; absent → def. 0 or -EINVAL with err. */
int vs_port_args_size(const struct vs_port_args *args, const char *key, uint64_t min,
                      uint64_t max, uint64_t def, uint64_t *out, struct vs_port_err *err);
/* The `mtu` option every type takes: 68..max, absent → 1500. 0 or -EINVAL with err. */
int vs_port_args_mtu(const struct vs_port_args *args, unsigned max, uint16_t *out,
                     struct vs_port_err *err);
/* Parses a yes/no option (true/false, yes/no, on/off, 1/0); absent → def. 0 or -EINVAL
 * with err. */
int vs_port_args_bool(const struct vs_port_args *args, const char *key, bool def, bool *out,
                      struct vs_port_err *err);
void vs_port_err_set(struct vs_port_err *err, int arg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The registry: type name → ops. */
const struct vs_port_ops *vs_port_type_find(const char *type);
/* Adds a type at run time (tests use it for in-memory ports). 0, -EEXIST or -ENOSPC.
 * Main thread, before the type is used. */
int vs_port_type_register(const struct vs_port_ops *ops);
/* Comma-separated list of known types, for error messages and --help. */
const char *vs_port_type_list(void);

#endif
