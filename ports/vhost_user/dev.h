/* One vhost-user-net device as the back-end sees it: the virtio-net device
 * (ports/virtio/net_dev.h: queues, gates, guest memory, data path) plus what only
 * vhost-user has: the message handler, protocol features, the memory table's files,
 * the dirty log and each vring's call and err fds. The message handler works
 * without a socket (unit tests and the fuzzer call it directly); port.c adds the
 * socket, the event loop and the port ops.
 *
 * Threads: everything here runs on the main thread; the pollers only run the
 * net_dev data path, under the gate rules of net_dev.h (a message that changes a
 * started ring pauses it first, with a grace period, and resumes it afterwards).
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
#include "ports/virtio/net_dev.h"
#include "vswitch/log.h"
#include "vswitch/peer_mem.h"

#define VS_VHU_MAX_QUEUE_PAIRS 8 /* also in port_args.h */
_Static_assert(VS_VHU_MAX_QUEUE_PAIRS == VS_VNET_MAX_QUEUE_PAIRS, "queue pairs");
#define VS_VHU_MAX_VRINGS VS_VNET_MAX_QUEUES
#define VS_VHU_MAX_RING_SIZE VS_VNET_MAX_RING_SIZE
/* Largest log bitmap we map: 1 GiB covers 32 TiB of guest memory. */
#define VS_VHU_MAX_LOG_SIZE (1ull << 30)

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

/* What vhost-user keeps per vring beside the queue (vs_vhu_dev.net.q[i]). */
struct vs_vhu_vring {
    struct vs_eventfd_signal call; /* the guest's interrupt eventfd (call.fd -1: none) */
    int errfd;             /* eventfd (checked on arrival), -1 when none */
};

struct vs_vhu_mem_file {
    uint64_t dev, ino, offset;
};

struct vs_vhu_dev {
    /* Queues, negotiated features (SET_FEATURES), guest memory, wake fd. Each
     * queue's kick fd is ours: closed on reset. */
    struct vs_vnet_dev net;
    uint64_t offered;      /* features offered: vs_vhu_features_offered() unless a port
                              option took some away (in_order=false) */

    bool features_set;
    uint64_t protocol_features;
    bool owner;
    uint8_t status;        /* SET_STATUS */
    uint16_t mtu;          /* NET_SET_MTU, 0 when never set */

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

    uint64_t msgs;
    uint64_t msg_err[VS_VHU_ERR__COUNT];
    bool msg_err_logged;   /* first refused message of a connection is logged loudly */
    /* Lines logged once per connection: a front-end that reconnects in a loop must
     * not flood the log. conn_log: connected, disconnected; refuse_log: the first
     * refused message of a connection, and the one that ends a connection. */
    struct vs_log_limit conn_log, refuse_log;
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

/* The largest MTU the front-end may set (NET_SET_MTU): the port's mtu, or what one
 * small buffer carries when none was given (a device without a port). */
static inline unsigned vs_vhu_mtu_max(const struct vs_vhu_dev *dev)
{
    return dev->net.mtu ? dev->net.mtu : VS_PKT_MAX_FRAME - VS_ETH_OVERHEAD;
}

static inline bool vs_vhu_has_feature(const struct vs_vhu_dev *dev, unsigned bit)
{
    return vs_vnet_has_feature(&dev->net, bit);
}

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

#endif
