/* Remote VTEPs of one VXLAN port: their addresses and counters, and the flood list
 * of each VNI (head-end replication).
 *
 * A VTEP gets a slot the first time it is named (config, EVPN, or a datagram from
 * it when the port learns) and keeps it for the port's life, so a station entry
 * or a flood list refers to it by a 16-bit index and its counters survive a
 * withdrawal. Slots are found by address without a lock (an insert-only index
 * published with release stores); inserts take the table's lock. Datagrams from
 * unknown addresses may take at most VS_VX_LEARNED_VTEPS_MAX slots, so made-up
 * outer sources cannot keep configured or EVPN remotes out.
 *
 * Flood lists are one immutable object per change (vs_vx_flood), published by the
 * port with RCU: pollers read the one they see, the main thread builds the next. */
#ifndef VS_PORTS_VXLAN_VTEP_H
#define VS_PORTS_VXLAN_VTEP_H

#include <stdbool.h>
#include <stdint.h>

#include "vswitch/compiler.h"

#define VS_VX_MAX_VTEPS 1024
#define VS_VX_LEARNED_VTEPS_MAX 768

struct vs_vx_vtep {
    uint32_t ip;     /* IPv4, network order; set once, before the slot is published */
    uint8_t learned; /* the slot came from a datagram, not from config or EVPN */
    /* Written by the rx poller. */
    uint64_t rx_packets, rx_bytes;
    /* Written by the tx side (one caller at a time: the dataplane locks a shared queue). */
    uint64_t tx_packets vs_cache_aligned, tx_bytes;
} vs_cache_aligned;

struct vs_vx_vteps {
    int lock;
    unsigned n; /* slots in use (read without the lock: relaxed) */
    unsigned n_learned;
    uint16_t index[2 * VS_VX_MAX_VTEPS]; /* slot + 1 by address hash, 0 = empty */
    struct vs_vx_vtep v[VS_VX_MAX_VTEPS];
};

struct vs_vx_vteps *vs_vx_vteps_create(void);
void vs_vx_vteps_destroy(struct vs_vx_vteps *t);
/* The slot of ip, or -1. Lock-free, any thread. */
int vs_vx_vtep_find(const struct vs_vx_vteps *t, uint32_t ip);
/* The slot of ip, added when new (learned: from a datagram, within the learned
 * quota). The slot, or -ENOSPC. Any thread. */
int vs_vx_vtep_get(struct vs_vx_vteps *t, uint32_t ip, bool learned);
static inline unsigned vs_vx_vtep_count(const struct vs_vx_vteps *t)
{
    return __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);
}

/* The flood lists of every VNI (by the port's VNI index): VTEP slots vtep[start[i]]
 * to vtep[start[i + 1]). Immutable once published. */
struct vs_vx_flood {
    unsigned n_vni;
    uint32_t *start; /* n_vni + 1 entries */
    uint16_t *vtep;
};

/* What the main thread keeps to build flood lists from: one bit per (VNI, VTEP)
 * and origin (configured, EVPN). */
#define VS_VX_FLOOD_WORDS (VS_VX_MAX_VTEPS / 64)
struct vs_vx_flood_bits {
    uint64_t w[VS_VX_FLOOD_WORDS];
};

/* One list per VNI: the union of the sets given (any may be NULL), each VTEP once.
 * NULL when out of memory. */
struct vs_vx_flood *vs_vx_flood_build(unsigned n_vni, const struct vs_vx_flood_bits *a,
                                      const struct vs_vx_flood_bits *b);
void vs_vx_flood_free(struct vs_vx_flood *f);

static inline void vs_vx_flood_bit_set(struct vs_vx_flood_bits *s, unsigned vtep, bool on)
{
    if (on)
        s->w[vtep / 64] |= 1ull << (vtep % 64);
    else
        s->w[vtep / 64] &= ~(1ull << (vtep % 64));
}
static inline bool vs_vx_flood_bit(const struct vs_vx_flood_bits *s, unsigned vtep)
{
    return s->w[vtep / 64] >> (vtep % 64) & 1;
}

#endif
