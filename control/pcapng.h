/* pcapng (draft-ietf-opsawg-pcapng) blocks for capture streams: a section
 * header, interface descriptions, enhanced packet blocks and interface
 * statistics, in this host's byte order (the section header's magic says which).
 * Each writer puts one whole block at dst and returns its length, or 0 when it
 * needs more than room bytes (nothing is written then). Strings are cut at
 * VS_PCAPNG_STR_MAX bytes. */
#ifndef VSWITCH_CONTROL_PCAPNG_H
#define VSWITCH_CONTROL_PCAPNG_H

#include <stddef.h>
#include <stdint.h>

#define VS_PCAPNG_SHB 0x0A0D0D0Au
#define VS_PCAPNG_IDB 0x00000001u
#define VS_PCAPNG_ISB 0x00000005u
#define VS_PCAPNG_EPB 0x00000006u
#define VS_PCAPNG_MAGIC 0x1A2B3C4Du

#define VS_PCAPNG_LINKTYPE_ETHERNET 1
#define VS_PCAPNG_STR_MAX 256

/* epb_flags: the direction bits. */
#define VS_PCAPNG_INBOUND 0x1u
#define VS_PCAPNG_OUTBOUND 0x2u

/* The most an EPB with caplen bytes and a comment takes. */
#define VS_PCAPNG_EPB_MAX(caplen)                                                                  \
    (32 + (((size_t)(caplen) + 3) & ~(size_t)3) + 12 + 4 + VS_PCAPNG_STR_MAX + 4 + 4)

/* Section header, shb_userappl = appl. */
size_t vs_pcapng_shb(uint8_t *dst, size_t room, const char *appl);
/* Ethernet interface with snaplen, if_name, if_description (NULL: none) and
 * nanosecond timestamps (if_tsresol 9). Interfaces are numbered from 0 in the
 * order of their blocks. */
size_t vs_pcapng_idb(uint8_t *dst, size_t room, uint32_t snaplen, const char *name,
                     const char *description);
/* A frame: caplen bytes of data (orig_len on the wire) at ts_ns (nanoseconds
 * since the epoch) on interface ifid, with epb_flags (0: none) and a comment
 * (NULL: none). */
size_t vs_pcapng_epb(uint8_t *dst, size_t room, uint32_t ifid, uint64_t ts_ns, const uint8_t *data,
                     uint32_t caplen, uint32_t orig_len, uint32_t flags, const char *comment);
/* Statistics of interface ifid at ts_ns: isb_endtime, isb_ifrecv (frames
 * delivered) and isb_ifdrop (frames lost by the capture). */
size_t vs_pcapng_isb(uint8_t *dst, size_t room, uint32_t ifid, uint64_t ts_ns, uint64_t recv,
                     uint64_t drop);

#endif
