/* The forwarding table: (VLAN, MAC) → port, with aging.
 *
 * Lookups take no lock and write no shared memory. Learning is safe from any
 * number of pollers at once and writes only when something changed (new entry,
 * moved station, or a last-seen time more than a second old). Aging, flushes and
 * dumps run on the control thread. When the table is full, learning replaces the
 * stalest entry of the candidate buckets: the cost of a miss is a flood. */
#ifndef VSWITCH_FDB_H
#define VSWITCH_FDB_H

#include <stdbool.h>
#include <stdint.h>

struct vs_fdb;

struct vs_fdb_entry {
    uint16_t vlan;
    uint8_t mac[6];
    uint16_t port;
    uint32_t age_s; /* seconds since last seen */
};

/* size: entries wanted (rounded up); aging_s: seconds an idle entry lives (0: never). */
int vs_fdb_create(uint32_t size, uint32_t aging_s, struct vs_fdb **out);
void vs_fdb_destroy(struct vs_fdb *fdb);

/* The fdb's clock is coarse seconds supplied by the caller (pollers read it once per loop). */
uint32_t vs_fdb_now(void);

/* Returns true and sets *port when (vlan, mac) is known. Lock-free.
 * (A VLAN ID is 12 bits here and in vs_fdb_learn: higher bits are ignored.) */
bool vs_fdb_lookup(const struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6], uint16_t *port);
/* Pulls the buckets of (vlan, mac) into the cache: call it for a whole burst
 * before looking the burst up, so the memory accesses overlap. */
void vs_fdb_prefetch(const struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6]);
/* Looks up a burst of n destinations (at most VS_FDB_BURST_MAX; the rest are
 * ignored), hashing each once and overlapping their memory accesses. Bit i of
 * the result is set when (vlans[i], macs[i]) is known, and ports[i] is then its
 * port; ports[i] of a miss is left alone. Lock-free, like vs_fdb_lookup. */
#define VS_FDB_BURST_MAX 64
uint64_t vs_fdb_lookup_burst(const struct vs_fdb *fdb, unsigned n, const uint16_t vlans[],
                             const uint8_t *const macs[], uint16_t ports[]);
/* Records that (vlan, mac) was seen on port at time now. Safe from several threads. */
void vs_fdb_learn(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6], uint16_t port,
                  uint32_t now);

/* Removes entries idle longer than the aging time. Returns how many were removed. */
unsigned vs_fdb_age(struct vs_fdb *fdb, uint32_t now);
/* Removes every entry pointing at port. Returns how many. */
unsigned vs_fdb_flush_port(struct vs_fdb *fdb, uint16_t port);
unsigned vs_fdb_flush(struct vs_fdb *fdb);

uint32_t vs_fdb_count(const struct vs_fdb *fdb);
uint32_t vs_fdb_capacity(const struct vs_fdb *fdb);
uint32_t vs_fdb_aging(const struct vs_fdb *fdb);

/* Calls cb for each entry (a consistent view of each bucket). */
typedef void (*vs_fdb_entry_cb)(const struct vs_fdb_entry *e, void *arg);
void vs_fdb_foreach(const struct vs_fdb *fdb, uint32_t now, vs_fdb_entry_cb cb, void *arg);

/* Should a frame to this destination be flooded without lookup? (broadcast, multicast) */
static inline bool vs_mac_is_group(const uint8_t mac[6]) { return mac[0] & 1; }

#endif
