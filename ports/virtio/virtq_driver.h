/* The DRIVER side of a split virtqueue (virtio 1.x §2.7), for the VFIO
 * virtio-net-pci NIC: we own the rings, the device (QEMU, a DPU, a cloud NIC)
 * consumes the available ring and fills the used ring.
 *
 * Each ring slot is a fixed chain of 1 descriptor (RX and TX: one buffer, the
 * virtio-net header in its headroom right in front of the frame) or 2 (the
 * control queue: a fixed device-readable command, then the device-writable
 * ack), so only the last descriptor's address and length change per request.
 * Cookies (the vs_pkt) are kept per chain head.
 *
 * The device is not trusted: a used entry with an id that is not an outstanding
 * chain head, or a used index that moves by more than what is outstanding,
 * breaks the queue (counted, reported by the caller once); nothing is freed twice.
 *
 * Notifications: one avail->idx publish per burst; vs_virtq_drv_kick_needed()
 * says whether the device asked to be notified (VIRTQ_USED_F_NO_NOTIFY clear).
 * We never ask for interrupts (VIRTQ_AVAIL_F_NO_INTERRUPT): the poller polls.
 *
 * Threads: one caller per queue at a time. */
#ifndef VS_PORTS_VIRTIO_VIRTQ_DRIVER_H
#define VS_PORTS_VIRTIO_VIRTQ_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

struct vs_virtq_drv {
    uint16_t size, mask;
    uint16_t chain; /* descriptors per slot: 1 or 2 */
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint64_t desc_iova, avail_iova, used_iova;

    uint16_t avail_idx;  /* next avail ring entry we fill (shadow of avail->idx) */
    uint16_t last_used;  /* next used entry we read */
    uint16_t kicked_idx; /* avail_idx at the last publish */
    uint16_t n_free;     /* free chain heads */
    uint16_t *free;      /* stack of free chain heads */
    void **cookie;       /* per descriptor index (chain heads only) */
    bool broken;
    uint64_t bad_used; /* used entries that named no outstanding chain */
};

/* Bytes of ring memory for size entries (desc table, avail, used, each aligned as
 * virtio 1.x §2.7 requires; used at a 4-byte boundary, we page-align it). */
size_t vs_virtq_drv_mem_size(uint16_t size);

/* Lays the rings out in mem (zeroed; iova is mem's bus address). chain 2 makes
 * every slot a pair whose first descriptor points at hdr_iova, hdr_len bytes,
 * device-readable (the control queue's command). 0 or -errno. */
int vs_virtq_drv_init(struct vs_virtq_drv *vq, void *mem, uint64_t iova, uint16_t size,
                      uint16_t chain, uint64_t hdr_iova, uint32_t hdr_len);
void vs_virtq_drv_fini(struct vs_virtq_drv *vq);

static inline uint16_t vs_virtq_drv_free_slots(const struct vs_virtq_drv *vq) { return vq->n_free; }

/* Queues one buffer (device-writable for RX; with chain 2, the part after the
 * fixed one). Not visible to the device until vs_virtq_drv_publish(). -ENOSPC
 * when full. */
int vs_virtq_drv_add(struct vs_virtq_drv *vq, uint64_t addr, uint32_t len, bool device_writes,
                     void *cookie);
/* Makes everything added since the last publish visible (one avail->idx store).
 * Returns true when the device wants a notification now. */
bool vs_virtq_drv_publish(struct vs_virtq_drv *vq);
/* Asks the device for an interrupt when it uses buffers (on), or not (off:
 * polling). Ordered before any later read of the used ring. */
void vs_virtq_drv_set_interrupt(struct vs_virtq_drv *vq, bool on);
/* Takes up to n completed buffers: cookies[i], lens[i] (bytes the device wrote;
 * may be NULL). Returns the count; 0 and vq->broken set on a bad used entry. */
uint16_t vs_virtq_drv_get_used(struct vs_virtq_drv *vq, void **cookies, uint32_t *lens, uint16_t n);
/* Takes every outstanding cookie back (queue reset or teardown). */
uint16_t vs_virtq_drv_drain(struct vs_virtq_drv *vq, void **cookies, uint16_t n);

#endif
