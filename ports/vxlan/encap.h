/* VXLAN (RFC 7348) encapsulation and decapsulation as pure functions over bytes.
 *
 * No sockets and no tables here: the underlay I/O (the kernel's UDP/IP stack today,
 * an AF_XDP or VFIO uplink later) hands datagram payloads in and takes headers out,
 * so it can change without touching what a VXLAN frame is.
 *
 * Inside the switch a frame of a VXLAN port carries an 802.1Q tag with the VLAN its
 * VNI maps to: decapsulation pushes it in place (the VXLAN header's room takes the
 * tag), encapsulation leaves it out (the datagram is gathered around it). */
#ifndef VS_PORTS_VXLAN_ENCAP_H
#define VS_PORTS_VXLAN_ENCAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vswitch/pkt.h"

#define VS_VXLAN_PORT 4789
#define VS_VXLAN_HLEN 8 /* flags, reserved, VNI, reserved */
#define VS_VXLAN_UDP_HLEN 8
#define VS_VXLAN_ENCAP_HLEN (VS_VXLAN_UDP_HLEN + VS_VXLAN_HLEN)
#define VS_VXLAN_IP4_HLEN 20
/* What an IPv4 underlay adds to an inner Ethernet frame: outer IP, UDP and VXLAN
 * headers (the outer Ethernet header is the underlay device's, outside its MTU). */
#define VS_VXLAN_OVERHEAD4 (VS_VXLAN_IP4_HLEN + VS_VXLAN_ENCAP_HLEN)
#define VS_VXLAN_FLAG_I 0x08 /* the VNI is valid; every other flag bit is reserved */
#define VS_VXLAN_VNI_MAX 0xffffffu
#define VS_VXLAN_ETH_HLEN 14
#define VS_VXLAN_TAG_LEN 4
/* Source ports: the dynamic range RFC 7348 suggests, so an underlay that hashes the
 * outer 5-tuple (ECMP, RSS) spreads the inner flows. */
#define VS_VXLAN_SPORT_MIN 49152
#define VS_VXLAN_SPORT_SPAN 16384

/* Why a datagram was refused (the port counts each, logs each once). */
enum vs_vxlan_verdict {
    VS_VXLAN_OK,
    VS_VXLAN_RUNT,         /* shorter than the VXLAN header and an Ethernet header */
    VS_VXLAN_BAD_FLAGS,    /* no I flag, or a reserved flag bit set */
    VS_VXLAN_INNER_TAGGED, /* the inner frame has a VLAN tag (RFC 7348 section 6.1) */
    VS_VXLAN_BAD_SRC,      /* inner source MAC multicast or all zero */
    VS_VXLAN_OVERSIZE,     /* inner frame longer than the port takes */
    VS_VXLAN_N_VERDICTS
};

extern const char *const vs_vxlan_verdict_name[VS_VXLAN_N_VERDICTS];

/* Checks one UDP payload (len bytes at b): the VXLAN header, then the inner frame
 * behind it, which may be at most max_inner bytes. Sets *vni on VS_VXLAN_OK. */
enum vs_vxlan_verdict vs_vxlan_decap_check(const uint8_t *b, size_t len, size_t max_inner,
                                           uint32_t *vni);

/* Turns a checked payload (len bytes at b) in place into the inner frame with an
 * 802.1Q tag of vlan: the frame starts at b + 4 and is len - 4 bytes long. (VLAN 0,
 * untagged frames, needs nothing: the frame is at b + 8.) */
static inline uint8_t *vs_vxlan_decap_tag(uint8_t *b, uint16_t vlan)
{
    uint8_t *f = b + VS_VXLAN_HLEN - VS_VXLAN_TAG_LEN;

    __builtin_memmove(f, b + VS_VXLAN_HLEN, 12);
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = (uint8_t)(vlan >> 8 & 0x0f);
    f[15] = (uint8_t)vlan;
    return f;
}

/* The VLAN of a frame (head: its first head_len bytes): its 802.1Q tag's, 0 when it
 * is untagged, -1 when it is too short to be an Ethernet frame (with its tag). */
int vs_vxlan_frame_vlan(const uint8_t *head, size_t head_len, bool *tagged);

/* The UDP source port for a frame (its first head_len bytes: Ethernet, the tag, IP
 * and L4 ports when present): a hash of its flow, so one flow always takes one
 * underlay path and different flows spread. */
uint16_t vs_vxlan_src_port(const uint8_t *head, size_t head_len);

/* Writes the UDP and VXLAN headers (VS_VXLAN_ENCAP_HLEN bytes) for an inner frame of
 * inner_len bytes. The UDP checksum is 0, as RFC 7348 asks for IPv4. */
void vs_vxlan_encap_hdr(uint8_t *hdr, uint16_t sport, uint16_t dport, uint32_t vni,
                        size_t inner_len);

/* The datagram for frame p as an iovec: hdr (VS_VXLAN_ENCAP_HLEN bytes), then the
 * frame without its tag when tagged (the MAC addresses, then everything after the
 * tag; a lent frame's tail from its peer). Reads p, never writes it (a flooded frame
 * is shared). Returns the iovec count (at most 4). */
unsigned vs_vxlan_encap_iov(const struct vs_pkt *p, bool tagged, uint8_t *hdr, struct iovec iov[4]);

#endif
