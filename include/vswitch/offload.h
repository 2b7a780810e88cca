/* Offloads in software: checking the offload requests a frame arrived with, and
 * doing the work (checksums, segmentation) for an egress port that cannot.
 *
 * Requests come from untrusted peers (a guest's virtio-net header, a TAP's vnet
 * header): vs_offload_check() is the one gate every frame with ol_flags passes on
 * ingress, and what it accepts is what the other functions may assume. All of them
 * read and write only bytes in our own buffers, within p->len: the gate reads a
 * lent frame's private head (vs_pkt_head_len), the others want the whole frame in
 * our buffer (vs_pkt_linear). */
#ifndef VSWITCH_OFFLOAD_H
#define VSWITCH_OFFLOAD_H

#include <stdint.h>

#include "vswitch/pkt.h"

/* Why a frame's requests were refused (for counters and the one log line). */
enum vs_offload_error {
    VS_OL_ERR_NONE = 0,
    /* csum_start + csum_offset + 2 beyond the frame, or (with GSO) not the L4 checksum */
    VS_OL_ERR_CSUM_RANGE,
    /* hdr_len beyond the frame */
    VS_OL_ERR_HDR_LEN,
    /* gso_size 0, a segment of gso_size not fitting in an IP packet, or no payload */
    VS_OL_ERR_GSO_SIZE,
    /* GSO type does not match the headers present (no IPv4/IPv6, not TCP/UDP, an IPv4
     * fragment, IPv6 extension headers we cannot segment, several GSO types at once) */
    VS_OL_ERR_GSO_TYPE,
    /* more than VS_OFFLOAD_MAX_SEGS segments */
    VS_OL_ERR_SEGS,
    /* GSO frame with headers cut off or inconsistent: IPv4 IHL below 5, IP total or
     * payload length not the frame's, TCP data offset below 5 or beyond the frame (or,
     * in a lent frame, beyond its private head) */
    VS_OL_ERR_HEADERS,
    VS_OL_ERR__COUNT
};

/* A 64 KB frame cut at MSS 536 (IPv4's minimum MTU of 576 less the headers) or more:
 * a guest whose TCP peer announced that MSS still sends 64 KB GSO frames. */
#define VS_OFFLOAD_MAX_SEGS 128

/* Checks p's requests against its headers (Ethernet, up to two VLAN tags, IPv4 with
 * or without options or IPv6 without extension headers, TCP with or without options
 * or UDP). Plain VS_OL_CSUM may sum any range inside the frame (the virtio spec
 * allows it); with GSO it must be the L4 checksum. On success it may normalise the
 * metadata (hdr_len set to the real header length for GSO; a GSO frame that had no
 * VS_OL_CSUM gets csum_start/offset filled, the pseudo header's sum written in its
 * checksum field and VS_OL_CSUM set, since every segment needs its checksum) and
 * returns VS_OL_ERR_NONE; otherwise the frame must be dropped. A frame without
 * requests is always fine. Reads nothing beyond p->len, and of a lent frame only
 * its private head, where its headers must be. */
enum vs_offload_error vs_offload_check(struct vs_pkt *p);
const char *vs_offload_error_name(enum vs_offload_error e);

/* Completes the checksum VS_OL_CSUM asks for, in place, and clears VS_OL_CSUM: the
 * field (holding the pseudo header's sum) becomes ~fold(sum from csum_start to the
 * end), 0 written as 0xffff (for UDP 0 means "no checksum"; for TCP both are the
 * same value). p must be checked, not lent and not shared (refcnt 1). */
void vs_offload_csum(struct vs_pkt *p);

/* Cuts the checked GSO frame p into segments of at most gso_size payload bytes,
 * each a complete frame with its own IP total length / payload length, IPv4 ID
 * (incremented per segment) and header checksum, TCP sequence number, flags (FIN
 * and PSH only on the last segment, CWR only on the first) and L4 checksum; UDP
 * segments get their own length and checksum. Buffers come from pool (small or
 * large, by segment size: vs_pkt_alloc_len). Writes up to max segments to segs;
 * p itself is left as it was (the caller frees it). Returns the number of
 * segments, or -ENOBUFS when the pool ran dry or max is too small (nothing left
 * allocated), or -EINVAL for a frame vs_offload_check() did not accept as GSO
 * or a lent one.
 * The segments carry no requests (ol_flags 0) but VS_OL_CSUM_VALID. */
int vs_offload_segment(const struct vs_pkt *p, struct vs_pool *pool, struct vs_pkt **segs,
                       unsigned max);

/* The 16-bit ones' complement sum of len bytes at data, added to sum (not folded,
 * not inverted): building block for the above and for tests.
 * Byte order: words are summed as the CPU loads them (little-endian), so the sum
 * is the byte swap of the RFC 1071 network-order sum, and the folded, inverted
 * result stored as a native uint16_t is the right checksum on the wire; values
 * from outside the frame (pseudo-header length, protocol) are added as htons()/
 * htonl() of them. data starts a 16-bit word (an odd len is padded with a zero
 * byte): to add bytes that start at an odd offset of the checksummed range, sum
 * them separately and swap the bytes of that sum's fold (or sum contiguous bytes
 * in one call). */
uint32_t vs_csum_add(uint32_t sum, const void *data, uint32_t len);
/* Folds a 32-bit sum into 16 bits (not inverted). */
uint16_t vs_csum_fold(uint32_t sum);

#endif
