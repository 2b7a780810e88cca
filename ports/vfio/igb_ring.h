/* 82576 advanced descriptor rings: the part of the igb driver that runs on
 * pollers. Kept apart from the register bring-up so that unit tests can run it
 * against descriptor rings in memory and a fake tail register.
 *
 * RX (82576 datasheet §7.1.5, advanced receive descriptors, one buffer per
 * descriptor): each descriptor holds one 2 KiB pool buffer. The write-back is read
 * as one 64-bit load (status, errors, length, VLAN) and only after DD is seen set,
 * so nothing the NIC may still be writing is read twice. Consumed descriptors are
 * refilled at once and handed back with one RDT write per burst; RDT trails the
 * next descriptor to check by one, so RDH == RDT always means "no buffers". A long
 * frame (jumbo, RCTL.LPE) spans several descriptors, EOP on its last: its pieces
 * are gathered into one buffer of the pool's large companion (a copy, for long
 * frames only: the ring keeps small buffers, so the large pool is not tied up in
 * every ring).
 *
 * TX (§7.2.2.3, advanced transmit data descriptors): zero-copy (the NIC reads the
 * pool buffer), one descriptor per 4 KiB page a frame touches, RS on each frame's
 * last, one TDT write per burst. A checksum request (VS_OL_CSUM) that the NIC can
 * do (TCP or UDP right behind an IPv4 header or a plain IPv6 header) goes out with
 * an advanced context descriptor (§7.2.2.2: MACLEN, IPLEN, L4 type) before the
 * frame and POPTS.TXSM, the context written only when it changes; any other is
 * completed here in software. Completions are reclaimed in batches (DD read on
 * each frame's last descriptor) and their buffers freed with vs_pkt_free_bulk
 * (shared buffers only drop a reference). */
#ifndef VS_PORTS_VFIO_IGB_RING_H
#define VS_PORTS_VFIO_IGB_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/vfio/vfio_pci.h"
#include "vswitch/pkt.h"

union vs_igb_rx_desc {
    struct {
        uint64_t pkt_addr;
        uint64_t hdr_addr;
    } read;
    struct {
        uint32_t info; /* packet type, header length */
        uint32_t rss;
        uint64_t upper; /* status/error (31:0), length (47:32), VLAN (63:48) */
    } wb;
};

union vs_igb_tx_desc {
    struct {
        uint64_t buffer_addr;
        uint32_t cmd_type_len;
        uint32_t olinfo_status;
    } read;
    struct {
        uint64_t rsvd;
        uint32_t nxtseq_seed;
        uint32_t status; /* DD in bit 0 */
    } wb;
    struct {                      /* advanced context descriptor (§7.2.2.2) */
        uint32_t vlan_macip_lens; /* IPLEN 8:0, MACLEN 15:9, VLAN 31:16 */
        uint32_t seqnum_seed;
        uint32_t type_tucmd_mlhl; /* TUCMD 19:9, DTYP 23:20, DEXT 29 */
        uint32_t mss_l4len_idx;   /* IDX 6:4, L4LEN 15:8, MSS 31:16 */
    } ctx;
};

_Static_assert(sizeof(union vs_igb_rx_desc) == 16, "82576 descriptors are 16 bytes");
_Static_assert(sizeof(union vs_igb_tx_desc) == 16, "82576 descriptors are 16 bytes");

/* RX write-back status/error bits (§7.1.5.2). */
#define VS_IGB_RXD_STAT_DD (1u << 0)
#define VS_IGB_RXD_STAT_EOP (1u << 1)
/* RXE (CRC, symbol, sequence errors): the frame itself is broken. IPE/L4E
 * (checksum errors) are not: a switch forwards such frames as they came. */
#define VS_IGB_RXD_ERR_MASK (1u << 29)
/* TX data descriptor command/type (§7.2.2.3.2). */
#define VS_IGB_TXD_DTYP_DATA (3u << 20)
#define VS_IGB_TXD_CMD_EOP (1u << 24)
#define VS_IGB_TXD_CMD_IFCS (1u << 25)
#define VS_IGB_TXD_CMD_RS (1u << 27)
#define VS_IGB_TXD_CMD_DEXT (1u << 29)
#define VS_IGB_TXD_PAYLEN_SHIFT 14
#define VS_IGB_TXD_POPTS_TXSM (1u << 9) /* insert the L4 checksum (context's L4 type) */
#define VS_IGB_TXD_STAT_DD (1u << 0)
/* TX context descriptor (§7.2.2.2). */
#define VS_IGB_TXD_DTYP_CTXT (2u << 20)
#define VS_IGB_CTX_MACLEN_SHIFT 9
#define VS_IGB_CTX_TUCMD_IPV4 (1u << 10)
#define VS_IGB_CTX_TUCMD_L4T_TCP (1u << 11) /* 0: UDP */

#define VS_IGB_RX_BUF 2048 /* SRRCTL.BSIZEPACKET = 2 KiB */
/* Longest frame either way: a jumbo frame in at most this many RX descriptors. */
#define VS_IGB_MAX_FRAGS 8
#define VS_IGB_MAX_FRAME (VS_IGB_MAX_FRAGS * VS_IGB_RX_BUF)
#define VS_IGB_TX_PAGE 4096u /* no TX descriptor's buffer crosses one (see vs_igb_tx_burst) */
#define VS_IGB_TX_RECLAIM 32 /* reclaim completions once this many are in flight */

struct vs_igb_ring_stats {
    uint64_t packets, bytes;
    uint64_t errors;   /* RX: frames with error bits, or malformed descriptor chains;
                          TX: frames that cannot be sent as they are (dropped) */
    uint64_t no_mbufs; /* RX: pool empty, descriptors left with the NIC */
    uint64_t no_large; /* RX: long frames dropped, no large buffer to gather them in */
    uint64_t full;     /* TX: ring full, frames refused */
    uint64_t csum_hw;  /* TX: checksums left to the NIC (context descriptor) */
    uint64_t csum_sw;  /* TX: checksums the NIC cannot do, completed here */
};

struct vs_igb_rxq {
    volatile union vs_igb_rx_desc *ring;
    struct vs_pkt **bufs;          /* buffer posted in each descriptor */
    volatile uint32_t *rdt;        /* tail register */
    const struct vs_vfio_dev *dev; /* DMA addresses (NULL: IOVA == VA) */
    struct vs_pool *pool;
    uint16_t size, mask;
    uint16_t next; /* next descriptor to check */
    bool discard;  /* dropping the rest of a multi-descriptor frame */
    /* A long frame's pieces so far (descriptors without EOP), across bursts. */
    uint8_t n_frags;
    uint32_t frags_len;
    struct vs_pkt *frags[VS_IGB_MAX_FRAGS];
    /* No-IOMMU mode only: buffers that cannot be DMA'ed in one piece (they straddle
     * two hugepages that are not physically adjacent). Kept out of the pool, which
     * would hand them straight back, and freed by fini. */
    uint16_t n_unusable;
    struct vs_pkt *unusable[16];
    struct vs_igb_ring_stats stats;
};

struct vs_igb_txq {
    volatile union vs_igb_tx_desc *ring;
    struct vs_pkt **bufs;
    volatile uint32_t *tdt;
    const struct vs_vfio_dev *dev;
    uint16_t size, mask;
    uint16_t *last; /* at a frame's first descriptor: the index of its last */
    uint16_t next;  /* next free descriptor (= TDT) */
    uint16_t clean; /* oldest descriptor in flight (a frame's first) */
    uint16_t in_flight;
    /* Context slot 0 as last written (the NIC keeps it until the queue resets). */
    bool ctx_valid;
    uint32_t ctx_lens, ctx_tucmd;
    struct vs_igb_ring_stats stats;
};

/* ring: size descriptors (power of two, >= 8) in DMA-mapped memory. Posts a buffer
 * in every descriptor and writes RDT. 0 or -errno (-ENOMEM: pool too small). */
int vs_igb_rxq_init(struct vs_igb_rxq *q, void *ring, uint16_t size, volatile uint32_t *rdt,
                    const struct vs_vfio_dev *dev, struct vs_pool *pool);
void vs_igb_rxq_fini(struct vs_igb_rxq *q);
int vs_igb_txq_init(struct vs_igb_txq *q, void *ring, uint16_t size, volatile uint32_t *tdt,
                    const struct vs_vfio_dev *dev);
void vs_igb_txq_fini(struct vs_igb_txq *q);

uint16_t vs_igb_rx_burst(struct vs_igb_rxq *q, struct vs_pkt **pkts, uint16_t n);
/* Takes frames with no offload request or VS_OL_CSUM (no GSO: the dataplane
 * segments for this NIC). */
uint16_t vs_igb_tx_burst(struct vs_igb_txq *q, struct vs_pkt **pkts, uint16_t n);
/* Frees the buffers of completed descriptors; returns how many. */
uint16_t vs_igb_tx_reclaim(struct vs_igb_txq *q);

#endif
