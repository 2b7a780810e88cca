/* Offloads in software: checking the offload requests a frame arrived with, and
 * doing the work (checksums, segmentation) for an egress port that cannot.
 *
 * Requests come from untrusted peers (a guest's virtio-net header, a TAP's vnet
 * header): vs_offload_check() is the one gate every frame with ol_flags passes on
 * ingress, and what it accepts is what the other functions may assume. All of them
 * read and write only frames in our own buffers (a frame with requests is never
 * lent: ports copy it), within p->len. */
#ifndef VSWITCH_OFFLOAD_H
#define VSWITCH_OFFLOAD_H

#include <stdint.h>

#include "vswitch/pkt.h"

/* Why a frame's requests were refused (for counters and the one log line). */
enum vs_offload_error {
    VS_OL_ERR_NONE = 0,
    VS_OL_ERR_CSUM_RANGE,   /* csum_start + csum_offset + 2 beyond the frame */
    VS_OL_ERR_HDR_LEN,      /* hdr_len beyond the frame, or not the headers' real length */
    VS_OL_ERR_GSO_SIZE,     /* gso_size 0, or larger than the payload can hold */
    VS_OL_ERR_GSO_TYPE,     /* GSO type does not match the headers present (no IPv4/IPv6,
                               not TCP/UDP, IP options/extension headers we cannot
                               segment, several GSO types at once) */
    VS_OL_ERR_SEGS,         /* more than VS_OFFLOAD_MAX_SEGS segments */
    VS_OL_ERR__COUNT
};

#define VS_OFFLOAD_MAX_SEGS 64 /* a 64 KB frame cut at MSS 1024 or more */

/* Checks p's requests against its headers (Ethernet, up to two VLAN tags, IPv4 or
 * IPv6, TCP or UDP). On success it may normalise the metadata (hdr_len set to the
 * real header length for GSO; csum_start/offset filled for a GSO frame that had no
 * VS_OL_CSUM, since every segment needs its checksum) and returns VS_OL_ERR_NONE;
 * otherwise the frame must be dropped. A frame without requests is always fine. */
enum vs_offload_error vs_offload_check(struct vs_pkt *p);
const char *vs_offload_error_name(enum vs_offload_error e);

/* Completes the checksum VS_OL_CSUM asks for, in place, and clears VS_OL_CSUM.
 * p must be checked, not lent and not shared (refcnt 1). */
void vs_offload_csum(struct vs_pkt *p);

/* Cuts the checked GSO frame p into segments of at most gso_size payload bytes,
 * each a complete frame with its own IP total length / payload length, IPv4 ID
 * (incremented per segment) and header checksum, TCP sequence number, flags (FIN
 * and PSH only on the last segment, CWR only on the first) and L4 checksum; UDP
 * segments get their own length and checksum. Buffers come from pool (small or
 * large, by segment size: vs_pkt_alloc_len). Writes up to max segments to segs;
 * p itself is left as it was (the caller frees it). Returns the number of
 * segments, or -ENOBUFS when the pool ran dry or max is too small (nothing left
 * allocated). The segments carry no requests (ol_flags 0) but VS_OL_CSUM_VALID. */
int vs_offload_segment(const struct vs_pkt *p, struct vs_pool *pool, struct vs_pkt **segs,
                       unsigned max);

/* The 16-bit ones' complement sum of len bytes at data, added to sum (not folded,
 * not inverted): building block for the above and for tests. */
uint32_t vs_csum_add(uint32_t sum, const void *data, uint32_t len);
/* Folds a 32-bit sum into 16 bits (not inverted). */
uint16_t vs_csum_fold(uint32_t sum);

#endif
