/* One VDUSE virtio-net device as vswitchd serves it: the features it offered and
 * the driver accepted, the device status, the IOTLB (the driver's IO virtual
 * addresses mapped into this process) and the virtqueues. The request handler
 * works without the kernel: every call into the device fd goes through
 * struct vs_vduse_sys, which unit tests and the fuzzer replace; port.c adds the
 * event loop, the vDPA bus and the port ops.
 *
 * The queues, their gates and the pause → grace period → change → resume rule are
 * the shared virtio-net device's (ports/virtio/net_dev.h); this transport fills
 * them from VDUSE_VQ_GET_INFO and maps the IOTLB into its memory table (IOVAs as
 * the addresses). Main thread, except what the pollers read.
 *
 * The driver is another kernel, but the rules of a hostile vhost-user front-end
 * hold: requests are size-, type- and index-checked, IOTLB entries are bounded
 * (count, size, offset, permissions) and the rings are validated by the ring code
 * like any guest's. */
#ifndef VS_PORTS_VDUSE_DEV_H
#define VS_PORTS_VDUSE_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/ioctl.h>

#include <linux/vduse.h>

#include "ports/virtio/guest_mem.h"
#include "ports/virtio/net_dev.h"
#include "vswitch/eventfd.h"

/* One queue pair: vq 0 is the driver's receive queue (our transmit), vq 1 its
 * transmit queue (our receive). No control queue: the kernel refuses it. */
#define VS_VDUSE_N_VQ 2
#define VS_VDUSE_VQ_SIZE 256
/* Address space the IOTLB may take: the kernel's bounce buffer is at most 1 GiB,
 * plus the rings. */
#define VS_VDUSE_MAX_MAP (2ull << 30)

/* The device fd's ioctls; the default calls the kernel. Returns what ioctl(2)
 * returns (a new fd for VDUSE_IOTLB_GET_FD), or -1 with errno. */
struct vs_vduse_sys {
    int (*ioctl)(int fd, unsigned long req, void *arg);
};
extern const struct vs_vduse_sys vs_vduse_sys_kernel;

/* Why a request or an IOTLB entry was refused; indices into vs_vduse_dev.err[]. */
enum vs_vduse_error {
    VS_VDUSE_ERR_SIZE,     /* a read that is not one whole request */
    VS_VDUSE_ERR_TYPE,     /* request type we do not know */
    VS_VDUSE_ERR_INDEX,    /* virtqueue index out of range */
    VS_VDUSE_ERR_FEATURES, /* negotiated features outside what we offered */
    VS_VDUSE_ERR_RANGE,    /* IOVA range with start > last */
    VS_VDUSE_ERR_IOTLB,    /* IOTLB entry refused (size, offset, perm, room, mmap) */
    VS_VDUSE_ERR_RING,     /* ring not in the IOTLB or failed to start */
    VS_VDUSE_ERR_KERNEL,   /* an ioctl on the device failed */
    VS_VDUSE_ERR__COUNT
};

/* What VDUSE adds to each of the device's queues (net.q[i]). */
struct vs_vduse_queue {
    uint32_t index; /* in vs_vduse_dev.q[] and net.q[] */
    int kickfd;     /* our eventfd, handed to the kernel: the driver's kicks */
    struct vduse_vq_info info; /* VDUSE_VQ_GET_INFO at DRIVER_OK */
};

/* Where one IOTLB entry is mapped (the region itself is in vs_vduse_dev.mem). */
struct vs_vduse_map_info {
    uint64_t offset; /* in the kernel's file */
    uint8_t perm;
};

struct vs_vduse_dev {
    /* The queues, and in net.mem the IOTLB: IOVA → our mapping (gpa holds the IOVA).
     * First, so that a port whose priv starts with this struct takes the shared data
     * path (net_dev.h). */
    struct vs_vnet_dev net;
    const char *name; /* port name for log lines */
    int fd;           /* /dev/vduse/NAME, -1 when none */
    const struct vs_vduse_sys *sys;

    uint64_t offered;  /* VDUSE_CREATE_DEV features */
    uint64_t features; /* VDUSE_DEV_GET_FEATURES after FEATURES_OK */
    uint8_t status;    /* last SET_STATUS we accepted */

    struct vs_vduse_map_info map[VS_GUEST_MEM_MAX_REGIONS];
    uint64_t max_map;

    struct vs_vduse_queue q[VS_VDUSE_N_VQ];

    uint64_t requests[3]; /* by type: GET_VQ_STATE, SET_STATUS, UPDATE_IOTLB */
    uint64_t maps, unmaps, iotlb_misses;
    uint64_t err[VS_VDUSE_ERR__COUNT];
    bool err_logged; /* the first refusal is logged, the rest counted */
};

/* Features a VDUSE virtio-net device offers: what the ring code supports, with
 * ACCESS_PLATFORM (VDUSE requires it) and MAC, without what VDUSE forbids or we
 * cannot do without a control queue (CTRL_VQ, MQ). */
uint64_t vs_vduse_features_offered(void);

/* Prepares dev: no fd, nothing mapped, eventfds created. name must outlive dev.
 * 0 or -errno. */
int vs_vduse_dev_init(struct vs_vduse_dev *dev, const char *name, const struct vs_vduse_sys *sys);
/* Stops every queue, unmaps the IOTLB; keeps the fd and the eventfds. */
void vs_vduse_dev_reset(struct vs_vduse_dev *dev);
/* Also closes the eventfds (not dev->fd, which the owner closes). */
void vs_vduse_dev_fini(struct vs_vduse_dev *dev);

/* Handles one request read from the device fd (len bytes at buf) and fills *resp.
 * Returns 1 when *resp must be written back, 0 when the request cannot be answered
 * (too short to carry an id: counted and logged once). Never fails the process. */
int vs_vduse_handle_request(struct vs_vduse_dev *dev, const void *buf, size_t len,
                            struct vduse_dev_response *resp);

/* The driver used an IOVA we have not mapped (a queue broke on a buffer or ring
 * address): map what the IOTLB holds now and restart the broken queues. Returns how
 * many queues restarted. */
unsigned vs_vduse_recover(struct vs_vduse_dev *dev);
/* Is the queue pair up (both queues open)? */
bool vs_vduse_link_up(const struct vs_vduse_dev *dev);

/* IOTLB (iotlb.c), called with every queue stopped. Maps every entry the kernel
 * holds that is not mapped yet; returns how many were added, or -errno. */
int vs_vduse_iotlb_refresh(struct vs_vduse_dev *dev);
/* Unmaps every mapping that overlaps [start, last]. Returns how many. */
unsigned vs_vduse_iotlb_invalidate(struct vs_vduse_dev *dev, uint64_t start, uint64_t last);
void vs_vduse_iotlb_unmap_all(struct vs_vduse_dev *dev);
uint64_t vs_vduse_iotlb_mapped(const struct vs_vduse_dev *dev);

/* Counts e and logs the first refusal of the device (with the port name). */
void vs_vduse_refuse(struct vs_vduse_dev *dev, enum vs_vduse_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Names (names.c); NULL for a bit without a name. */
const char *vs_vduse_feature_name(unsigned bit);
const char *vs_vduse_error_name(enum vs_vduse_error e);
const char *vs_vduse_request_name(uint32_t type);
/* "ACKNOWLEDGE|DRIVER|..." for a status byte, into buf. */
const char *vs_vduse_status_str(uint8_t status, char *buf, size_t len);

#endif
