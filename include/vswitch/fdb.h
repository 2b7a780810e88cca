/* The forwarding table: (VLAN, MAC) → port, with aging.
 *
 * Lookups take no lock and write no shared memory. Learning is safe from any
 * number of pollers at once and writes only when something changed (new entry,
 * moved station, or a last-seen time more than a second old). Aging, flushes and
 * dumps run on the control thread. When the table is full, learning replaces the
 * stalest entry of the candidate buckets (never a static one, a pinned one only
 * when nothing else is there): the cost of a miss is a flood. */
#ifndef VSWITCH_FDB_H
#define VSWITCH_FDB_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct vs_fdb;

struct vs_fdb_entry {
    uint16_t vlan;
    uint8_t mac[6];
    uint16_t port;
    uint32_t age_s; /* seconds since last seen */
    uint8_t flags;  /* VS_FDB_F_* */
};

/* An entry's kind. A static entry (vs_fdb_add_static) never ages and is never moved
 * or evicted by learning; a pinned one was learned on a port with port security and
 * is not moved to another port by learning either (it ages as usual). */
#define VS_FDB_F_STATIC 0x01
#define VS_FDB_F_PINNED 0x02

/* Ports 0..VS_FDB_PORTS-1 have their learned stations counted (mac_limit). */
#define VS_FDB_PORTS 256

/* What learning did with a station. */
enum vs_fdb_learned {
    VS_FDB_OK,     /* known, refreshed, added or moved */
    VS_FDB_LIMIT,  /* new to the port, which has its limit of stations */
    VS_FDB_PINNED, /* static or pinned to another port: not moved */
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
/* Records that (vlan, mac) was seen on port at time now. Safe from several threads.
 * A station static or pinned to another port stays where it is (VS_FDB_PINNED). */
enum vs_fdb_learned vs_fdb_learn(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6],
                                 uint16_t port, uint32_t now);
/* The same for a port with port security: limit (0: none) caps the stations learned
 * on port (a new one beyond it is refused with VS_FDB_LIMIT; concurrent learners may
 * each add one more at the edge), and pin makes what it learns pinned. */
enum vs_fdb_learned vs_fdb_learn_secure(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6],
                                        uint16_t port, uint32_t now, uint32_t limit, bool pin);
/* Stations learned (not static) on port now. */
uint32_t vs_fdb_port_count(const struct vs_fdb *fdb, uint16_t port);

/* Control thread: (vlan, mac) → port as a static entry, replacing any entry of that
 * key. 0, or -ENOSPC when both candidate buckets hold only static entries. */
int vs_fdb_add_static(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6], uint16_t port,
                      uint32_t now);
/* Control thread: removes the entry of (vlan, mac), static or not. 0 or -ENOENT. */
int vs_fdb_del(struct vs_fdb *fdb, uint16_t vlan, const uint8_t mac[6]);

/* Removes entries idle longer than the aging time. Returns how many were removed. */
unsigned vs_fdb_age(struct vs_fdb *fdb, uint32_t now);
/* Removes every learned entry pointing at port (static ones stay). Returns how many. */
unsigned vs_fdb_flush_port(struct vs_fdb *fdb, uint16_t port);
/* Removes every entry pointing at port, static ones too (the port is gone). */
unsigned vs_fdb_forget_port(struct vs_fdb *fdb, uint16_t port);
/* Removes every learned entry. */
unsigned vs_fdb_flush(struct vs_fdb *fdb);

uint32_t vs_fdb_count(const struct vs_fdb *fdb);
uint32_t vs_fdb_capacity(const struct vs_fdb *fdb);
uint32_t vs_fdb_aging(const struct vs_fdb *fdb);

/* Calls cb for each entry (a consistent view of each bucket). */
typedef void (*vs_fdb_entry_cb)(const struct vs_fdb_entry *e, void *arg);
void vs_fdb_foreach(const struct vs_fdb *fdb, uint32_t now, vs_fdb_entry_cb cb, void *arg);

/* Should a frame to this destination be flooded without lookup? (broadcast, multicast) */
static inline bool vs_mac_is_group(const uint8_t mac[6]) { return mac[0] & 1; }

/* A MAC as the low 48 bits of a word, mac[0] lowest. On a little-endian CPU that is
 * a 4-byte and a 2-byte load; copying the 6 bytes into a zeroed word instead makes
 * the compiler store and reload it, and the reload waits for the two narrower stores
 * (a store-forwarding stall: a third of vs_forward_burst's samples at 64 B). */
static inline uint64_t vs_mac_word(const uint8_t mac[6])
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint32_t lo;
    uint16_t hi;
    memcpy(&lo, mac, sizeof(lo));
    memcpy(&hi, mac + 4, sizeof(hi));
    return (uint64_t)lo | (uint64_t)hi << 32;
#else
    return (uint64_t)mac[0] | (uint64_t)mac[1] << 8 | (uint64_t)mac[2] << 16 |
           (uint64_t)mac[3] << 24 | (uint64_t)mac[4] << 32 | (uint64_t)mac[5] << 40;
#endif
}

#endif
