/* A virtio-net DRIVER for tests: split and packed rings in plain process memory
 * ("guest memory": one or two malloc'ed regions with a fake guest-physical base),
 * to drive the device side (ports/virtio, vhost-user) without a guest.
 *
 * It plays a well-behaved driver (post TX frames and RX buffers, read used entries,
 * honour event suppression) and gives raw access to rings for malformed-ring tests.
 * Single-threaded with the device under test; it still orders its stores as a real
 * driver would. Nothing here is fast or hostile-proof: it trusts the device. */
#ifndef VS_TEST_VIRTIO_DRIVER_H
#define VS_TEST_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

#include "ports/virtio/guest_mem.h"
#include "ports/virtio/virtq.h"

#define VS_VDRV_GPA_BASE 0x100000000ull /* region 0; region 1 follows it directly */
#define VS_VDRV_AREA 8192u              /* data bytes each buffer id owns */
#define VS_VDRV_MAX_SEGS 16u            /* pieces one buffer may have */

/* Guest memory: regions are adjacent in guest-physical space but separate
 * allocations here, so a buffer crossing the boundary exercises split translation. */
struct vs_vdrv_mem {
    struct vs_guest_mem gm;
    uint64_t brk[2]; /* bytes handed out per region */
};

int vs_vdrv_mem_init(struct vs_vdrv_mem *m, unsigned nregions, uint64_t size_each);
void vs_vdrv_mem_fini(struct vs_vdrv_mem *m);
/* Bump allocation in one region; returns the gpa or 0 when full. Memory is zeroed. */
uint64_t vs_vdrv_mem_alloc(struct vs_vdrv_mem *m, unsigned region, uint64_t len, uint64_t align);
/* Host pointer of a gpa (NULL outside guest memory). */
void *vs_vdrv_mem_hva(const struct vs_vdrv_mem *m, uint64_t gpa);

enum {
    VS_VDRV_PACKED = 1u << 0,
    VS_VDRV_EVENT_IDX = 1u << 1,
    VS_VDRV_INDIRECT = 1u << 2,
    VS_VDRV_MRG_RXBUF = 1u << 3,
    VS_VDRV_HDR10 = 1u << 4,   /* legacy 10-byte header (no MRG_RXBUF, no VERSION_1) */
    VS_VDRV_SPREAD = 1u << 5,  /* put buffers of odd ids in region 1 (needs 2 regions) */
    /* VIRTIO_F_IN_ORDER: descriptors taken in ring order (split: chains of consecutive
     * descriptors, the head index as id; packed: the head slot as id); a used entry
     * completes every buffer posted before its id too (a batch), and any entry whose
     * id is not in posting order is a device error (-EPROTO). */
    VS_VDRV_IN_ORDER = 1u << 6,
};

struct vs_vdrv_buf {
    bool inflight;
    bool indirect;
    bool write;                        /* an RX buffer */
    uint32_t total;                    /* bytes in all pieces */
    uint16_t ndesc;                    /* split: descriptors of the chain; packed: slots */
    uint16_t desc[VS_VDRV_MAX_SEGS];   /* split: their indices */
    uint16_t nseg;
    uint64_t seg_gpa[VS_VDRV_MAX_SEGS];
    uint32_t seg_len[VS_VDRV_MAX_SEGS];
    uint64_t area_gpa;                 /* VS_VDRV_AREA bytes of data */
    uint64_t table_gpa;                /* indirect table: VS_VDRV_MAX_SEGS entries */
};

struct vs_vdrv {
    struct vs_vdrv_mem *mem;
    uint16_t size;
    unsigned flags;
    uint16_t hdr_len;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    void *desc, *avail, *used; /* packed: descriptor ring, driver event, device event */

    /* split */
    uint16_t avail_idx;   /* next avail idx to publish */
    uint16_t used_idx;    /* next used idx to read */
    uint16_t *free_desc;
    uint16_t nfree_desc;
    /* packed */
    uint16_t next_pos;
    bool avail_wrap;
    uint16_t used_pos;
    bool used_wrap;
    uint16_t free_slots;
    uint16_t *free_id;
    uint16_t nfree_id;

    /* in order: ids in posting order, and the used entry being consumed */
    uint16_t *fifo;
    uint16_t fifo_head, fifo_n; /* oldest entry, entries */
    int32_t batch_last;   /* id of the entry that ends the current batch, -1 for none */
    uint32_t batch_len;

    uint16_t kick_old;    /* avail position at the last kick decision */
    struct vs_vdrv_buf *bufs; /* by buffer id (split: head descriptor index) */
};

int vs_vdrv_init(struct vs_vdrv *d, struct vs_vdrv_mem *m, uint16_t size, unsigned flags);
void vs_vdrv_fini(struct vs_vdrv *d);
/* Sets up vq (zeroed first) for these rings: memory, features, enabled, no fds. */
void vs_vdrv_attach(const struct vs_vdrv *d, struct vs_virtq *vq);

/* Posts a TX frame (a zeroed virtio-net header in front) split into nseg pieces,
 * through an indirect table when asked. Returns the buffer id or -ENOSPC. */
int vs_vdrv_post_tx(struct vs_vdrv *d, const void *frame, uint32_t len, unsigned nseg,
                    bool indirect);
/* Posts an RX buffer of len bytes in nseg pieces (filled with 0xee). Id or -ENOSPC. */
int vs_vdrv_post_rx(struct vs_vdrv *d, uint32_t len, unsigned nseg, bool indirect);
/* Reads the next used buffer: 1 with id/len, 0 when none. Frees its descriptors.
 * In order, a buffer completed by a later buffer's entry gets len 0 (TX) or its
 * whole length (RX: what a driver has to assume, so a device must not batch RX). */
int vs_vdrv_get_used(struct vs_vdrv *d, uint16_t *id, uint32_t *len);
/* Copies up to len bytes of buffer id's data (in piece order) to out. Returns bytes. */
uint32_t vs_vdrv_read_buf(const struct vs_vdrv *d, uint16_t id, uint32_t len, uint8_t *out);
/* Receives one frame: header checked (zero but num_buffers), merged buffers gathered.
 * Returns the frame length, 0 when nothing was used, -EPROTO on a bad header or
 * missing merged buffers. *num_buffers (may be NULL) gets the header's count. */
int vs_vdrv_recv(struct vs_vdrv *d, uint8_t *frame, uint32_t cap, uint16_t *num_buffers);
/* The same, with the header's first 10 bytes (flags .. csum_offset) copied to hdr
 * instead of checked (hdr NULL: checked to be zero). */
int vs_vdrv_recv_hdr(struct vs_vdrv *d, uint8_t *frame, uint32_t cap, uint16_t *num_buffers,
                     uint8_t *hdr);
/* Reads every used entry (TX completions). Returns how many. */
unsigned vs_vdrv_reap(struct vs_vdrv *d);
/* Free descriptors (split) or slots (packed). */
unsigned vs_vdrv_free_count(const struct vs_vdrv *d);

/* Would a driver kick now (device's NO_NOTIFY / avail_event / event suppression)?
 * Remembers the position for the next decision, as a driver does. */
bool vs_vdrv_kick_needed(struct vs_vdrv *d);
/* Interrupt requests: off (NO_INTERRUPT / DISABLE) or on (flags, or event idx at the
 * next used entry). */
void vs_vdrv_want_interrupts(struct vs_vdrv *d, bool on);
/* Event idx: interrupt when the used index passes idx (split used_event; packed
 * DESC with our used wrap counter at slot idx). */
void vs_vdrv_set_used_event(struct vs_vdrv *d, uint16_t idx);

/* Raw access for malformed rings. Split: write descriptor i, publish a head. */
void vs_vdrv_split_set_desc(struct vs_vdrv *d, uint16_t i, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next);
void vs_vdrv_split_publish(struct vs_vdrv *d, uint16_t head);
/* Packed: write the descriptor at slot pos, marked available for wrap counter wrap
 * (flags carries NEXT/WRITE/INDIRECT). */
void vs_vdrv_packed_set_desc(struct vs_vdrv *d, uint16_t pos, uint64_t addr, uint32_t len,
                             uint16_t id, uint16_t flags, bool wrap);
/* The flags bits that make a packed descriptor available for wrap counter wrap. */
uint16_t vs_vdrv_packed_avail_bits(bool wrap);

#endif
