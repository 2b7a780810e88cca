/* The stations behind a VXLAN port's remote VTEPs: (VNI, MAC) → VTEP slot.
 *
 * The switch's own table maps (VLAN, MAC) to the VXLAN port; this one says which
 * VTEP behind the port has the station, and is looked up for every frame the port
 * sends. Entries are learned from decapsulated frames (and aged), or set by the
 * main thread from the config or EVPN (never aged, never moved by a datagram).
 *
 * A bucketized hash: one bucket of VS_VX_WAYS entries per key, with a version
 * counter that readers use as a seqlock, so lookups take no lock and write
 * nothing. Writers (the rx poller learning, the main thread) take the table's
 * lock, and write only when something changes; refreshing a learned entry's
 * last-seen time is a relaxed store of its own. A full bucket loses its stalest
 * learned entry; one full of static entries refuses new ones. */
#ifndef VS_PORTS_VXLAN_STATION_H
#define VS_PORTS_VXLAN_STATION_H

#include <stdbool.h>
#include <stdint.h>

#define VS_VX_WAYS 7

enum vs_vx_origin {
    VS_VX_LEARNED = 1, /* from a decapsulated frame: aged */
    VS_VX_STATIC = 2,  /* configured: never aged */
    VS_VX_EVPN = 3,    /* from EVPN (a type-2 route): never aged */
};

struct vs_vx_station {
    uint16_t vni; /* the port's VNI index */
    uint8_t mac[6];
    uint16_t vtep;  /* slot in the port's VTEP table */
    uint8_t origin; /* enum vs_vx_origin */
    uint32_t age_s;
};

struct vs_vx_stations;

/* size: entries wanted (rounded up to whole buckets, a power of two of them). */
int vs_vx_stations_create(unsigned size, struct vs_vx_stations **out);
void vs_vx_stations_destroy(struct vs_vx_stations *t);
unsigned vs_vx_stations_capacity(const struct vs_vx_stations *t);
unsigned vs_vx_stations_count(const struct vs_vx_stations *t);

/* The VTEP of (vni, mac): true and *vtep, or false. Lock-free, any thread. */
bool vs_vx_station_lookup(const struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6],
                          uint16_t *vtep);
/* A frame from mac on vni came from vtep at time now (seconds): adds, moves or
 * refreshes a learned entry; a static or EVPN entry is left alone. */
void vs_vx_station_learn(struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6],
                         uint16_t vtep, uint32_t now);
/* Sets a static or EVPN entry, replacing whatever (vni, mac) had. 0 or -ENOSPC
 * (the bucket holds only static and EVPN entries). */
int vs_vx_station_set(struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6], uint16_t vtep,
                      enum vs_vx_origin origin, uint32_t now);
/* Removes (vni, mac) if its origin is origin. 0 or -ENOENT. */
int vs_vx_station_del(struct vs_vx_stations *t, uint16_t vni, const uint8_t mac[6],
                      enum vs_vx_origin origin);
/* Removes learned entries not seen for aging_s seconds (0: none). How many. */
unsigned vs_vx_stations_age(struct vs_vx_stations *t, uint32_t now, uint32_t aging_s);
/* Removes every entry of origin (0: learned ones too, all). How many. */
unsigned vs_vx_stations_flush(struct vs_vx_stations *t, enum vs_vx_origin origin);
/* Calls cb for every entry (main thread). */
typedef void (*vs_vx_station_cb)(const struct vs_vx_station *s, void *arg);
void vs_vx_stations_foreach(const struct vs_vx_stations *t, uint32_t now, vs_vx_station_cb cb,
                            void *arg);

#endif
