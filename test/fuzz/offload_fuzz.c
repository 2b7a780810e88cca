/* libFuzzer target: the software offloads (src/runtime/offload.c) on frames and
 * offload metadata taken from the input, as a hostile peer hands them over. The
 * frame is a heap block of exactly its length, so AddressSanitizer reports any
 * access beyond p->len.
 *
 * Input:
 *   u8  ol_flags
 *   u8  fix      bit 0: set the IPv4 total / IPv6 payload length to the frame's,
 *                bit 1: point csum_start/offset at the L4 checksum (TCP by the
 *                protocol byte, else UDP), so more inputs pass the gate
 *   u16 csum_start, csum_offset, gso_size, hdr_len (little-endian)
 *   u16 extra    bytes of pattern appended to the frame (large frames without
 *                large inputs)
 *   rest         the frame's first bytes
 * Checks: when vs_offload_check accepts the frame, vs_offload_csum on a copy
 * completes a checksum that verifies (with an even csum_offset) and clears the
 * request; for GSO, vs_offload_segment gives ceil(payload / gso_size) segments of
 * at most hdr_len + gso_size bytes each, whose payloads put together are the
 * original's, with IP lengths of their own and IPv4 header and L4 checksums that
 * verify (by a plain RFC 1071 sum); every buffer goes back to the pool. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/log.h"
#include "vswitch/offload.h"
#include "vswitch/pkt.h"

static struct vs_pool *pool;
static unsigned pool_free;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned free_count(void)
{
    return vs_pool_free_count(pool) + vs_pool_free_count(vs_pool_large(pool));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vs_log_set_level(VS_LOG_ERR);
    /* Enough for the most segments of the smallest size, and for the large ones
     * a 64 KB frame can be cut into (at least 2 KB each: at most 32). */
    if (vs_pool_create(2 * VS_OFFLOAD_MAX_SEGS, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 40, VS_PAGES_NONE) < 0)
        abort();
    pool_free = free_count();
    return 0;
}

static uint16_t rd16le(const uint8_t *b) { return (uint16_t)(b[0] | b[1] << 8); }
static uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static void wr16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

/* The fix-ups the fix byte asks for, as far as the frame's bytes allow. */
static void fix_up(uint8_t *f, uint32_t len, uint8_t fix, struct vs_pkt *p)
{
    uint32_t off = 14, l4 = 0;
    uint16_t type;
    uint8_t proto = 0;

    if (len < 14)
        return;
    type = rd16(f + 12);
    for (int i = 0; i < 2 && (type == 0x8100 || type == 0x88a8) && len >= off + 4; i++) {
        type = rd16(f + off + 2);
        off += 4;
    }
    if (type == 0x0800 && len >= off + 20) {
        if (fix & 1)
            wr16(f + off + 2, len - off);
        proto = f[off + 9];
        l4 = off + (f[off] & 0xfu) * 4;
    } else if (type == 0x86dd && len >= off + 40) {
        if (fix & 1)
            wr16(f + off + 4, len - off - 40);
        proto = f[off + 6];
        l4 = off + 40;
    }
    if ((fix & 2) && l4 && l4 <= 0xffff) {
        p->csum_start = (uint16_t)l4;
        p->csum_offset = proto == 6 ? 16 : 6;
    }
}

static uint32_t ip_len_field(const uint8_t *d, uint32_t *l3)
{
    uint32_t off = 14;
    uint16_t type = rd16(d + 12);

    for (int i = 0; i < 2 && (type == 0x8100 || type == 0x88a8); i++) {
        type = rd16(d + off + 2);
        off += 4;
    }
    *l3 = off;
    return type == 0x0800 ? rd16(d + off + 2) : (uint32_t)rd16(d + off + 4) + 40;
}

/* RFC 1071 as written (network-order byte pairs), apart from vs_csum_add. */
static uint32_t ref_sum(uint32_t acc, const uint8_t *b, uint32_t len)
{
    for (; len > 1; len -= 2, b += 2)
        acc += (uint32_t)(b[0] << 8 | b[1]);
    if (len)
        acc += (uint32_t)b[0] << 8;
    return acc;
}

static uint16_t ref_fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)acc;
}

/* A segment's IPv4 header checksum and L4 checksum (over its own pseudo header)
 * verify. */
static bool checksums_ok(const uint8_t *d, uint32_t len, uint32_t l3)
{
    uint32_t l4, l4len, pseudo;
    uint8_t proto;

    if ((d[l3] >> 4) == 4) {
        l4 = l3 + (d[l3] & 0xfu) * 4;
        proto = d[l3 + 9];
        if (ref_fold(ref_sum(0, d + l3, l4 - l3)) != 0xffff)
            return false;
        pseudo = ref_sum(0, d + l3 + 12, 8);
    } else {
        l4 = l3 + 40;
        proto = d[l3 + 6];
        pseudo = ref_sum(0, d + l3 + 8, 32);
    }
    l4len = len - l4;
    pseudo += proto + (l4len >> 16) + (l4len & 0xffff);
    if (proto == 17 && rd16(d + l4 + 6) == 0)
        return false; /* 0 is "no checksum": a computed 0 goes out as 0xffff */
    return ref_fold(ref_sum(pseudo, d + l4, l4len)) == 0xffff;
}

static void run_segment(const struct vs_pkt *p)
{
    struct vs_pkt *segs[VS_OFFLOAD_MAX_SEGS];
    uint32_t hdr = p->hdr_len, payload = p->len - hdr, got = 0;
    int n = vs_offload_segment(p, pool, segs, VS_OFFLOAD_MAX_SEGS);

    if (n < 0 || (uint32_t)n != (payload + p->gso_size - 1) / p->gso_size)
        abort();
    for (int i = 0; i < n; i++) {
        const struct vs_pkt *s = segs[i];
        uint32_t plen = s->len - hdr, l3;

        if (s->len <= hdr || s->len > hdr + p->gso_size || s->ol_flags != VS_OL_CSUM_VALID)
            abort();
        if ((i + 1 < n && plen != p->gso_size) ||
            memcmp(s->data + hdr, p->data + hdr + got, plen) != 0)
            abort();
        if (ip_len_field(s->data, &l3) != s->len - l3 || !checksums_ok(s->data, s->len, l3))
            abort();
        got += plen;
    }
    if (got != payload)
        abort();
    vs_pkt_free_bulk(segs, (unsigned)n);
}

static void run_csum(const struct vs_pkt *p)
{
    struct vs_pkt c = *p;
    uint8_t *copy = malloc(p->len);
    uint32_t start = p->csum_start;
    uint16_t seed;

    memcpy(copy, p->data, p->len);
    c.data = copy;
    memcpy(&seed, copy + start + p->csum_offset, 2);
    vs_offload_csum(&c);
    if (c.ol_flags & VS_OL_CSUM)
        abort();
    /* The completed range, with the old field value (the seed) added back,
     * sums to 0xffff. */
    if (!(p->csum_offset & 1) &&
        vs_csum_fold(vs_csum_add(seed, copy + start, p->len - start)) != 0xffff)
        abort();
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vs_pkt p __attribute__((aligned(64)));
    uint32_t len, extra;
    uint8_t *f;

    if (size < 12)
        return 0;
    memset(&p, 0, sizeof(p));
    p.refcnt = 1;
    p.ol_flags = data[0];
    p.csum_start = rd16le(data + 2);
    p.csum_offset = rd16le(data + 4);
    p.gso_size = rd16le(data + 6);
    p.hdr_len = rd16le(data + 8);
    extra = rd16le(data + 10);
    len = (uint32_t)(size - 12) + extra;
    if (len > VS_PKT_LARGE_DATA_ROOM)
        len = VS_PKT_LARGE_DATA_ROOM;
    f = malloc(len ? len : 1);
    memcpy(f, data + 12, VS_MIN(size - 12, len));
    for (uint32_t i = (uint32_t)(size - 12); i < len; i++)
        f[i] = (uint8_t)(i * 31 + (i >> 9));
    fix_up(f, len, data[1], &p);
    p.data = f;
    p.len = len;

    if (vs_offload_check(&p) == VS_OL_ERR_NONE) {
        if (p.ol_flags & VS_OL_GSO) {
            /* The gate's promises: a GSO frame is left asking for the L4
             * checksum, with real headers before its payload. */
            if (!(p.ol_flags & VS_OL_CSUM) || p.hdr_len >= p.len || !p.gso_size)
                abort();
            run_segment(&p);
        }
        if (p.ol_flags & VS_OL_CSUM)
            run_csum(&p);
    }
    if (free_count() != pool_free)
        abort();
    free(f);
    return 0;
}
