/* Dirty-page logging for live migration: while the front-end migrates a guest, every
 * byte the device writes into guest memory must be reported so that the page is sent
 * again. The bitmap is shared with the front-end (vhost-user SET_LOG_BASE): one bit
 * per 4 KiB page of guest-physical address space, bit (page % 8) of byte (page / 8).
 * Bits are set with atomic OR because the front-end clears them concurrently.
 * Writes beyond the bitmap are ignored (the front-end sized it for its memory). */
#ifndef VS_PORTS_VIRTIO_DIRTY_LOG_H
#define VS_PORTS_VIRTIO_DIRTY_LOG_H

#include <stdint.h>

#define VS_DIRTY_LOG_PAGE_SHIFT 12

struct vs_dirty_log {
    uint8_t *bitmap;
    uint64_t size_bytes;
};

/* Marks the pages of [gpa, gpa + len) dirty. len 0 marks nothing; a range running
 * past 2^64 is clamped. */
void vs_dirty_log_mark(struct vs_dirty_log *log, uint64_t gpa, uint64_t len);

#endif
