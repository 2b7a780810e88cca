/* One vhost-user-net device as the back-end sees it: negotiated features, the
 * guest's memory table, the dirty log and up to VS_VHU_MAX_QUEUE_PAIRS queue
 * pairs. The message handler works without a socket (unit tests and the fuzzer
 * call it directly); port.c adds the socket, the event loop and the port ops.
 *
 * Threads: everything here runs on the main thread except what rx_burst/tx_burst
 * read. A poller reads a vring only after seeing its gate open (acquire load);
 * a message that changes a started ring closes the gate, waits for an RCU grace
 * period so that no poller can still be inside that ring, changes it, and opens
 * the gate again once the ring is complete.
 *
 * Hostile front-ends: every message is size-, index- and fd-checked; every fd
 * received is either kept (and closed on reset) or closed before the handler
 * returns; an error never stops the process. Kick, call and err fds must be
 * eventfds, and are only ever read and signalled in ways that cannot wait,
 * whatever the front-end does with its own copy (vswitch/eventfd.h). */
#ifndef VS_PORTS_VHOST_USER_DEV_H
#define VS_PORTS_VHOST_USER_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/vhost_user/proto.h"
#include "ports/virtio/dirty_log.h"
#include "ports/virtio/guest_mem.h"
#include "ports/virtio/virtq.h"
#include "vswitch/peer_mem.h"

#define VS_VHU_MAX_QUEUE_PAIRS 8
#define VS_VHU_MAX_VRINGS (2 * VS_VHU_MAX_QUEUE_PAIRS)
#define VS_VHU_MAX_RING_SIZE 32768u
/* Largest log bitmap we map: 1 GiB covers 32 TiB of guest memory. */
#define VS_VHU_MAX_LOG_SIZE (1ull << 30)

/* What a poller may do with a vring (vs_vhu_vring.gate). */
enum vs_vhu_gate {
    VS_VHU_GATE_STOPPED = 0,  /* hands off */
    VS_VHU_GATE_DISABLED = 1, /* started but disabled: drain guest TX, deliver nothing */
    VS_VHU_GATE_OPEN = 2,     /* started and enabled */
};

/* Why a message was refused; indices into vs_vhu_dev.msg_err[]. */
enum vs_vhu_msg_error {
    VS_VHU_ERR_HEADER,     /* bad version/flags or size above the maximum */
    VS_VHU_ERR_SIZE,       /* payload size wrong for the request */
    VS_VHU_ERR_FDS,        /* wrong number of fds */
    VS_VHU_ERR_FD_TYPE,    /* a notification fd that is not an eventfd */
    VS_VHU_ERR_UNKNOWN,    /* request we do not implement */
    VS_VHU_ERR_INDEX,      /* vring index out of range */
    VS_VHU_ERR_VALUE,      /* a field out of range (features, ring size, MTU, ...) */
    VS_VHU_ERR_MEMORY,     /* bad memory table or region, mmap failure */
    VS_VHU_ERR_RING,       /* ring address not in guest memory, or ring failed to start */
    VS_VHU_ERR__COUNT
};

struct vs_vhu_vring {
    struct vs_virtq vq;

    /* The front-end's configuration as received (main thread). */
    uint32_t num;          /* 0 until SET_VRING_NUM */
    bool addr_set;
    struct vhost_vring_addr addr;
    uint32_t base;         /* SET_VRING_BASE (packed: wrap counter in bit 15) */
    bool kicked;           /* SET_VRING_KICK seen since the last stop: may start */
    bool enabled;          /* SET_VRING_ENABLE (or implied without protocol features) */
    int kickfd, errfd;     /* eventfds (checked on arrival), -1 when none */
    struct vs_eventfd_signal call; /* the guest's interrupt eventfd (call.fd -1: none) */

    /* Pollers. */
    int gate;              /* enum vs_vhu_gate, atomic */
    int tx_lock;           /* guest RX rings: serialises tx_burst callers sharing the ring */

    uint64_t starts, start_failures;
    char name[64];
};

struct vs_vhu_mem_file {
    uint64_t dev, ino, offset;
};

struct vs_vhu_dev {
    const char *name;      /* port name for log lines */
    unsigned n_qp;         /* queue pairs offered */
    uint64_t offered;      /* features offered: vs_vhu_features_offered() unless a port
                              option took some away (in_order=false) */

    uint64_t features;     /* SET_FEATURES */
    bool features_set;
    uint64_t protocol_features;
    bool owner;
    uint8_t status;        /* SET_STATUS */
    uint16_t mtu;          /* NET_SET_MTU, 0 when never set */

    struct vs_guest_mem mem;
    /* Which file and offset backs each region of the last SET_MEM_TABLE, so that the
     * same table sent again (QEMU sends it once per queue pair) changes nothing. */
    struct vs_vhu_mem_file mem_file[VS_GUEST_MEM_MAX_REGIONS];
    bool mem_file_valid;

    /* Address space the front-end may have us map: memory table and log together. */
    uint64_t max_map;
    /* Called on the main thread when a mapping of the front-end's files faults. */
    vs_peer_mem_fault_cb on_fault;
    void *fault_arg;

    struct vs_dirty_log log;
    void *log_map;         /* what to munmap */
    int log_peer_id;
    uint64_t log_map_size;

    struct vs_vhu_vring vr[VS_VHU_MAX_VRINGS];

    /* SEND_RARP: MAC in the low 48 bits, bit 63 set while a frame is pending. */
    uint64_t rarp;
    uint64_t rarps_sent;

    /* Written when a ring starts, so that a poller sleeping on a stopped ring's
     * behalf (rx_wait_fd) wakes up and finds it. -1 when nobody sleeps. */
    int wake_fd;

    uint64_t msgs;
    uint64_t msg_err[VS_VHU_ERR__COUNT];
    bool msg_err_logged;   /* first refused message of a connection is logged loudly */
};

/* Offered feature sets (the features: all a device may offer; see vs_vhu_dev.offered). */
uint64_t vs_vhu_features_offered(void);
uint64_t vs_vhu_protocol_features_offered(void);

/* Prepares dev (all fds -1, nothing mapped, max_map the max_memory default). name
 * must outlive dev. n_qp 1..8. */
void vs_vhu_dev_init(struct vs_vhu_dev *dev, const char *name, unsigned n_qp);
/* Back to the state of a fresh connection: stops every ring (with a grace period
 * when any was open), unmaps memory and the log, closes every fd. */
void vs_vhu_dev_reset(struct vs_vhu_dev *dev);

/* Handles one message. fds[0..nfds) are the message's descriptors: the handler
 * keeps the ones it uses and closes the rest, on success and on error alike.
 * Fills *reply when the front-end expects one. Returns 1 when *reply must be sent,
 * 0 when nothing is to be sent, or a negative errno when the connection must be
 * closed (the failure is already logged and counted). */
int vs_vhost_user_handle_msg(struct vs_vhu_dev *dev, const struct vs_vhu_hdr *hdr,
                             const void *payload, int *fds, unsigned nfds,
                             struct vs_vhu_msg *reply);

/* Rings (vring.c). */
static inline int vs_vhu_gate_get(const struct vs_vhu_vring *vr)
{
    return __atomic_load_n(&vr->gate, __ATOMIC_ACQUIRE);
}

static inline void vs_vhu_gate_set(struct vs_vhu_vring *vr, int g)
{
    __atomic_store_n(&vr->gate, g, __ATOMIC_RELEASE);
}

static inline bool vs_vhu_has_feature(const struct vs_vhu_dev *dev, unsigned bit)
{
    return dev->features & (1ull << bit);
}

/* Every vring of the device's queue pairs. */
uint32_t vs_vhu_all_rings(const struct vs_vhu_dev *dev);
/* Closes the gates of the rings in mask and waits a grace period when any was open;
 * then stops each running one, saving its index in vr->base (vr->kicked stays set,
 * so resuming starts it again from there). Returns the rings that were running. */
uint32_t vs_vhu_rings_pause(struct vs_vhu_dev *dev, uint32_t mask);
/* Starts every kicked and complete ring in mask and opens its gate (enabled or
 * disabled). 0, or the first failure with the reason in why; that ring stays stopped. */
int vs_vhu_rings_resume(struct vs_vhu_dev *dev, uint32_t mask, char *why, unsigned why_len);
/* The same for all rings after a device-wide change, which itself succeeded: a ring
 * that cannot run now waits (stopped) for the next change. */
void vs_vhu_rings_resume_all(struct vs_vhu_dev *dev);
/* Translates the ring addresses in a for vr's size through the memory table. */
int vs_vhu_ring_translate(const struct vs_vhu_dev *dev, const struct vs_vhu_vring *vr,
                          const struct vhost_vring_addr *a, void **desc, void **avail,
                          void **used, char *why, unsigned why_len);
/* Is at least one queue pair open in both directions? (link state) */
bool vs_vhu_dev_link_up(const struct vs_vhu_dev *dev);

/* How the front-end's files are mapped: the address space the new mappings may
 * take in all, and whom the main loop tells when one faults (vswitch/peer_mem.h). */
struct vs_vhu_map_ctx {
    uint64_t room;
    vs_peer_mem_fault_cb on_fault;
    void *arg;
};

/* Memory table (mem_table.c). All return 0 or -errno with the reason in why; called
 * with every ring stopped. An fd that was used is closed and set to -1 (the mapping
 * keeps the memory); on error the caller still owns (and closes) the fds. */
#define VS_VHU_REGION_ALIGN 4096u
int vs_vhu_mem_set_table(struct vs_guest_mem *mem, const struct vs_vhu_mem_region *r, unsigned n,
                         int *fds, const struct vs_vhu_map_ctx *mc, char *why, unsigned why_len);
int vs_vhu_mem_add(struct vs_guest_mem *mem, const struct vs_vhu_mem_region *r, int *fd,
                   const struct vs_vhu_map_ctx *mc, char *why, unsigned why_len);
/* Address space the table's mappings take. */
uint64_t vs_vhu_mem_mapped(const struct vs_guest_mem *mem);
int vs_vhu_mem_remove(struct vs_guest_mem *mem, const struct vs_vhu_mem_region *r, char *why,
                      unsigned why_len);
void vs_vhu_mem_unmap_all(struct vs_guest_mem *mem);
/* Maps len bytes of fd from offset (read-write, shared, left out of core dumps,
 * registered with vs_peer_mem), rounding out to the fd's pages and checking that the
 * file is large enough and that the mapping takes at most mc->room bytes. Returns
 * the pointer to offset. vs_vhu_unmap undoes it. */
void *vs_vhu_map_fd(int fd, uint64_t offset, uint64_t len, const struct vs_vhu_map_ctx *mc,
                    void **map_addr, uint64_t *map_len, int *peer_id, char *why,
                    unsigned why_len);
void vs_vhu_unmap(void *addr, uint64_t len, int peer_id);

/* Names for show() and log lines; NULL for a bit without a name. */
const char *vs_vhu_feature_name(unsigned bit);
const char *vs_vhu_protocol_feature_name(unsigned bit);
const char *vs_vhu_msg_error_name(enum vs_vhu_msg_error e);

/* Builds a broadcast RARP frame announcing mac into buf (at least 60 bytes).
 * Returns the frame length. */
unsigned vs_vhu_rarp_build(uint8_t *buf, const uint8_t mac[6]);

#endif
