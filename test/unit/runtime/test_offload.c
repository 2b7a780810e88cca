/* Software offloads: checksums against an independent RFC 1071 routine, the
 * offload gate on crafted and hostile frames, checksum completion, and
 * segmentation of TCP/IPv4, TCP/IPv6 and UDP frames (options, VLAN tags), every
 * segment's fields checked one by one. Frames under test live in heap blocks of
 * exactly their length, so the ASan build reports any read past p->len. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/offload.h"
#include "vswitch/pkt.h"

#include "offload_golden.h"

/* ---- the independent checksum: RFC 1071 as written, byte pairs in network
 * order into a 32-bit accumulator ---- */

static uint32_t ref_sum(uint32_t acc, const uint8_t *b, size_t len)
{
    while (len > 1) {
        acc += (uint32_t)b[0] << 8 | b[1];
        b += 2;
        len -= 2;
    }
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

/* vs_csum_add's sums are in memory order (see offload.h): back to network order. */
static uint16_t vs_fold_net(uint32_t s)
{
    uint16_t f = vs_csum_fold(s);

    return (uint16_t)(f >> 8 | f << 8);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static void fill_random(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)rnd();
}

static void test_csum_random(void)
{
    enum { MAX = 70000 };
    uint8_t *buf = malloc(MAX + 16);
    unsigned bad = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    fill_random(buf, MAX + 16);
    for (int i = 0; i < 4000; i++) {
        uint32_t off = rnd() % 16;
        uint32_t len = i < 3000 ? rnd() % 2048 : rnd() % MAX;
        /* A heap block of exactly len bytes: the word loads must stop at its end. */
        uint8_t *exact = malloc(len ? len : 1);

        memcpy(exact, buf + off, len);
        if (vs_fold_net(vs_csum_add(0, exact, len)) != ref_fold(ref_sum(0, buf + off, len)) ||
            vs_fold_net(vs_csum_add(0, buf + off, len)) != ref_fold(ref_sum(0, buf + off, len)))
            bad++;
        free(exact);
    }
    CU_ASSERT_EQUAL(bad, 0);
    free(buf);
}

static void test_csum_edges(void)
{
    static uint8_t b[65536 + 8];

    /* All ones: every 64-bit add carries. */
    memset(b, 0xff, sizeof(b));
    for (uint32_t len = 0; len < 80; len++)
        CU_ASSERT_EQUAL(vs_fold_net(vs_csum_add(0, b, len)), ref_fold(ref_sum(0, b, len)));
    CU_ASSERT_EQUAL(vs_fold_net(vs_csum_add(0, b, 65536)), ref_fold(ref_sum(0, b, 65536)));
    CU_ASSERT_EQUAL(vs_fold_net(vs_csum_add(0xffffffffu, b, 65535)),
                    ref_fold(ref_sum(0, b, 65535) + 0xffff + 0xffff));
    /* Zeroes, and a lone odd byte: the high-order byte of its word. */
    memset(b, 0, sizeof(b));
    CU_ASSERT_EQUAL(vs_csum_fold(vs_csum_add(0, b, 65536)), 0);
    b[0] = 0x12;
    CU_ASSERT_EQUAL(vs_fold_net(vs_csum_add(0, b, 1)), 0x1200);
    b[1] = 0x34;
    b[2] = 0x56;
    CU_ASSERT_EQUAL(vs_fold_net(vs_csum_add(0, b, 3)), 0x1234 + 0x5600);
    /* Chaining: an even split point continues the sum. */
    fill_random(b, 5000);
    for (int i = 0; i < 200; i++) {
        uint32_t len = rnd() % 5000, cut = (rnd() % (len + 1)) & ~1u;
        uint32_t s = vs_csum_add(vs_csum_add(0, b, cut), b + cut, len - cut);

        CU_ASSERT_EQUAL(vs_fold_net(s), ref_fold(ref_sum(0, b, len)));
    }
    /* An odd split: the second part's sum is byte-swapped before it is added. */
    for (int i = 0; i < 200; i++) {
        uint32_t len = 2 + rnd() % 4998, cut = (rnd() % (len - 1)) | 1u;
        uint16_t tail = vs_csum_fold(vs_csum_add(0, b + cut, len - cut));
        uint32_t s = vs_csum_add(0, b, cut) + (uint16_t)(tail >> 8 | tail << 8);

        CU_ASSERT_EQUAL(vs_fold_net(s), ref_fold(ref_sum(0, b, len)));
    }
    CU_ASSERT_EQUAL(vs_csum_fold(0xffffffffu), 0xffff);
    CU_ASSERT_EQUAL(vs_csum_fold(0x0001fffeu), 0xffff);
    CU_ASSERT_EQUAL(vs_csum_fold(0), 0);
}

/* ---- crafted frames ---- */

struct spec {
    int tags;          /* VLAN tags: 0, 1 (0x8100) or 2 (0x88a8 + 0x8100) */
    int ipv;           /* 4 or 6 */
    int udp;           /* UDP rather than TCP */
    int ip_opt;        /* IPv4 option bytes (multiple of 4) */
    int tcp_opt;       /* TCP option bytes (multiple of 4) */
    uint32_t payload;  /* bytes after the headers */
    uint8_t tcp_flags; /* TCP flags of the large frame */
};

struct frame {
    uint8_t *b; /* heap block of exactly len bytes */
    uint32_t len, l3, l4, hdr;
};

static void put16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static uint16_t get16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static uint32_t get32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The pseudo header's network-order sum for an L4 length. */
static uint32_t ref_pseudo(const uint8_t *f, uint32_t l3, int ipv, uint8_t proto, uint32_t l4len)
{
    if (ipv == 4)
        return ref_sum(0, f + l3 + 12, 8) + proto + l4len;
    return ref_sum(0, f + l3 + 8, 32) + (l4len >> 16) + (l4len & 0xffff) + proto;
}

/* A frame as a guest's stack hands it over for GSO: IP lengths of the whole
 * frame, the L4 checksum field holding the pseudo header's sum. */
static struct frame build(const struct spec *s)
{
    struct frame fr;
    uint32_t off = 12, l4hlen = s->udp ? 8 : 20 + (uint32_t)s->tcp_opt;
    uint8_t *b;

    fr.l3 = 14 + 4 * (uint32_t)s->tags;
    fr.l4 = fr.l3 + (s->ipv == 4 ? 20 + (uint32_t)s->ip_opt : 40);
    fr.hdr = fr.l4 + l4hlen;
    fr.len = fr.hdr + s->payload;
    b = fr.b = calloc(1, fr.len);
    memcpy(b, "\x52\x54\x00\x12\x34\x56\x52\x54\x00\xab\xcd\xef", 12);
    if (s->tags == 2) {
        put16(b + off, 0x88a8);
        put16(b + off + 2, 100);
        off += 4;
    }
    if (s->tags >= 1) {
        put16(b + off, 0x8100);
        put16(b + off + 2, 0x2000 | 42);
        off += 4;
    }
    put16(b + off, s->ipv == 4 ? 0x0800 : 0x86dd);
    uint8_t *ip = b + fr.l3, proto = s->udp ? 17 : 6;
    if (s->ipv == 4) {
        ip[0] = (uint8_t)(0x40 | (5 + s->ip_opt / 4));
        ip[1] = 0x02; /* ECT(0) */
        put16(ip + 2, (uint16_t)(fr.len - fr.l3));
        put16(ip + 4, 0xfffe); /* the ID wraps during segmentation */
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = proto;
        memcpy(ip + 12, "\x0a\x00\x00\x01\xc0\xa8\x07\x02", 8);
        for (int i = 0; i < s->ip_opt; i++)
            ip[20 + i] = 1; /* NOPs */
        uint16_t c = (uint16_t)~ref_fold(ref_sum(0, ip, fr.l4 - fr.l3));
        put16(ip + 10, c);
    } else {
        ip[0] = 0x60;
        ip[1] = 0x0a; /* traffic class, flow label */
        ip[3] = 0x5e;
        put16(ip + 4, (uint16_t)(fr.len - fr.l3 - 40));
        ip[6] = proto;
        ip[7] = 64;
        for (int i = 0; i < 32; i++)
            ip[8 + i] = (uint8_t)(0x20 + i);
    }
    uint8_t *l4 = b + fr.l4;
    put16(l4, 40000);
    put16(l4 + 2, 5201);
    if (s->udp) {
        put16(l4 + 4, (uint16_t)(fr.len - fr.l4));
    } else {
        memcpy(l4 + 4, "\xff\xff\xf0\x00", 4); /* the sequence number wraps */
        memcpy(l4 + 8, "\x01\x02\x03\x04", 4);
        l4[12] = (uint8_t)((5 + s->tcp_opt / 4) << 4);
        l4[13] = s->tcp_flags;
        put16(l4 + 14, 502);
        for (int i = 0; i + 12 <= s->tcp_opt; i += 12) /* NOP NOP timestamps */
            memcpy(l4 + 20 + i, "\x01\x01\x08\x0a\x00\x01\x02\x03\x04\x05\x06\x07", 12);
    }
    for (uint32_t i = 0; i < s->payload; i++)
        b[fr.hdr + i] = (uint8_t)(i * 7 + (i >> 8));
    put16(l4 + (s->udp ? 6 : 16), ref_fold(ref_pseudo(b, fr.l3, s->ipv, proto, fr.len - fr.l4)));
    return fr;
}

/* A packet descriptor for the frame (not from a pool: its data is the exact
 * block). */
static void as_pkt(struct vs_pkt *p, const struct frame *fr, uint8_t ol, uint16_t mss)
{
    memset(p, 0, sizeof(*p));
    p->data = fr->b;
    p->len = fr->len;
    p->refcnt = 1;
    p->ol_flags = ol;
    p->gso_size = mss;
    p->vlan = 42;
    p->in_port = 7;
    if (ol & VS_OL_CSUM) {
        p->csum_start = (uint16_t)fr->l4;
        p->csum_offset = (ol & VS_OL_USO) ? 6 : 16;
    }
    p->hdr_len = (uint16_t)fr->hdr;
}

static struct vs_pool *pool;

/* Checks every segment of fr cut at mss (see the file comment); returns the
 * number of problems found (each also a failed assertion). */
static unsigned verify(const struct spec *s, const struct frame *fr, struct vs_pkt **segs, int n,
                       uint32_t mss)
{
    unsigned bad0 = CU_get_number_of_failures();
    uint32_t nexp = (s->payload + mss - 1) / mss, got = 0;
    const uint8_t *o = fr->b;
    uint8_t proto = s->udp ? 17 : 6;

    CU_ASSERT_EQUAL(n, (int)nexp);
    for (int i = 0; i < n; i++) {
        const struct vs_pkt *g = segs[i];
        const uint8_t *d = g->data;
        uint32_t plen = i + 1 < n ? mss : s->payload - mss * (nexp - 1);

        CU_ASSERT_EQUAL(g->len, fr->hdr + plen);
        CU_ASSERT(g->len <= fr->hdr + mss);
        CU_ASSERT_EQUAL(g->ol_flags, VS_OL_CSUM_VALID);
        CU_ASSERT_EQUAL(g->vlan, 42);
        CU_ASSERT_EQUAL(g->in_port, 7);
        CU_ASSERT_EQUAL(memcmp(d, o, fr->l3), 0); /* Ethernet and tags */
        if (s->ipv == 4) {
            CU_ASSERT_EQUAL(get16(d + fr->l3 + 2), g->len - fr->l3);
            CU_ASSERT_EQUAL(get16(d + fr->l3 + 4), (uint16_t)(0xfffe + i));
            CU_ASSERT_EQUAL(memcmp(d + fr->l3 + 6, o + fr->l3 + 6, 4), 0); /* DF, TTL, proto */
            CU_ASSERT_EQUAL(memcmp(d + fr->l3 + 12, o + fr->l3 + 12, fr->l4 - fr->l3 - 12), 0);
            CU_ASSERT_EQUAL(d[fr->l3], o[fr->l3]);
            CU_ASSERT_EQUAL(ref_fold(ref_sum(0, d + fr->l3, fr->l4 - fr->l3)), 0xffff);
        } else {
            CU_ASSERT_EQUAL(memcmp(d + fr->l3, o + fr->l3, 4), 0);
            CU_ASSERT_EQUAL(get16(d + fr->l3 + 4), g->len - fr->l3 - 40);
            CU_ASSERT_EQUAL(memcmp(d + fr->l3 + 6, o + fr->l3 + 6, 34), 0);
        }
        const uint8_t *l4 = d + fr->l4, *ol4 = o + fr->l4;
        uint32_t l4len = g->len - fr->l4;
        CU_ASSERT_EQUAL(memcmp(l4, ol4, 4), 0); /* ports */
        if (s->udp) {
            CU_ASSERT_EQUAL(get16(l4 + 4), l4len);
            CU_ASSERT_NOT_EQUAL(get16(l4 + 6), 0);
        } else {
            uint8_t fl = s->tcp_flags;

            CU_ASSERT_EQUAL(get32(l4 + 4), get32(ol4 + 4) + (uint32_t)i * mss);
            CU_ASSERT_EQUAL(memcmp(l4 + 8, ol4 + 8, 5), 0); /* ack, data offset */
            if (i + 1 < n)
                fl &= (uint8_t)~0x09; /* FIN, PSH */
            if (i > 0)
                fl &= (uint8_t)~0x80; /* CWR */
            CU_ASSERT_EQUAL(l4[13], fl);
            CU_ASSERT_EQUAL(memcmp(l4 + 14, ol4 + 14, 2), 0);                     /* window */
            CU_ASSERT_EQUAL(memcmp(l4 + 18, ol4 + 18, fr->hdr - fr->l4 - 18), 0); /* options */
        }
        CU_ASSERT_EQUAL(
            ref_fold(ref_pseudo(d, fr->l3, s->ipv, proto, l4len) + ref_sum(0, l4, l4len)), 0xffff);
        CU_ASSERT_EQUAL(memcmp(d + fr->hdr, o + fr->hdr + got, plen), 0);
        got += plen;
    }
    CU_ASSERT_EQUAL(got, s->payload);
    return CU_get_number_of_failures() - bad0;
}

static uint8_t gso_flag(const struct spec *s)
{
    return s->udp ? VS_OL_USO : s->ipv == 4 ? VS_OL_TSO4 : VS_OL_TSO6;
}

/* Builds, checks and segments one frame, verifies the segments. */
static void run_segment(const struct spec *s, uint16_t mss)
{
    struct frame fr = build(s);
    struct vs_pkt p vs_cache_aligned;
    struct vs_pkt *segs[VS_OFFLOAD_MAX_SEGS];
    unsigned free0 = vs_pool_free_count(pool) + vs_pool_free_count(vs_pool_large(pool));
    int n;

    as_pkt(&p, &fr, VS_OL_CSUM | gso_flag(s) | (s->tcp_flags & 0x80 ? VS_OL_ECN : 0), mss);
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    n = vs_offload_segment(&p, pool, segs, VS_OFFLOAD_MAX_SEGS);
    CU_ASSERT_FATAL(n > 0);
    if (verify(s, &fr, segs, n, mss))
        fprintf(stderr, "segments of: tags %d ipv%d %s ip_opt %d tcp_opt %d payload %u mss %u\n",
                s->tags, s->ipv, s->udp ? "udp" : "tcp", s->ip_opt, s->tcp_opt, s->payload, mss);
    vs_pkt_free_bulk(segs, (unsigned)n);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool) + vs_pool_free_count(vs_pool_large(pool)), free0);
    free(fr.b);
}

static void test_segment_tcp4(void)
{
    /* Last segment shorter, PSH|FIN only on the last, CWR only on the first. */
    struct spec s = {.ipv = 4, .payload = 10000, .tcp_flags = 0x80 | 0x10 | 0x08 | 0x01};

    run_segment(&s, 1448);
    s.tcp_opt = 12; /* timestamps */
    run_segment(&s, 1448);
    s.ip_opt = 8;
    s.payload = 1448 * 4; /* exact multiple */
    run_segment(&s, 1448);
    s.payload = 100; /* one segment */
    run_segment(&s, 1448);
    s.payload = 65535 - 20 - 8 - 32; /* the largest IPv4 packet, at MSS 536 */
    s.tcp_flags = 0x10;
    run_segment(&s, 536);
}

static void test_segment_tcp6(void)
{
    struct spec s = {.ipv = 6, .payload = 7001, .tcp_opt = 12, .tcp_flags = 0x18};

    run_segment(&s, 1428);
    s.tags = 1;
    run_segment(&s, 1000);
    s.tags = 2;
    s.payload = 65535 - 32;
    run_segment(&s, 8940); /* jumbo-sized segments: large buffers */
}

static void test_segment_udp(void)
{
    struct spec s = {.ipv = 4, .udp = 1, .payload = 5000};

    run_segment(&s, 1472);
    s.ipv = 6;
    s.tags = 2;
    run_segment(&s, 1232);
    s.payload = 1233;
    run_segment(&s, 1232); /* a one-byte last datagram */
}

static void test_segment_vlan_random(void)
{
    for (int i = 0; i < 300; i++) {
        struct spec s = {
            .tags = (int)(rnd() % 3),
            .ipv = rnd() % 2 ? 4 : 6,
            .udp = (int)(rnd() % 3 == 0),
            .payload = 1 + rnd() % 20000,
            .tcp_flags = (uint8_t)(rnd() & 0xff),
        };
        uint16_t mss = (uint16_t)(200 + rnd() % 3000);

        if (s.ipv == 4)
            s.ip_opt = (int)(rnd() % 11) * 4;
        if (!s.udp)
            s.tcp_opt = (int)(rnd() % 11) * 4;
        if ((s.payload + mss - 1) / mss > VS_OFFLOAD_MAX_SEGS)
            continue;
        run_segment(&s, mss);
    }
}

static void test_segment_nobufs(void)
{
    struct spec s = {.ipv = 4, .payload = 30000, .tcp_flags = 0x10};
    struct frame fr = build(&s);
    struct vs_pkt p vs_cache_aligned;
    struct vs_pkt *segs[VS_OFFLOAD_MAX_SEGS], *hold[64];
    struct vs_pool *small;
    unsigned held = 0, free0;

    as_pkt(&p, &fr, VS_OL_CSUM | VS_OL_TSO4, 1448);
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    /* max too small: nothing allocated. */
    free0 = vs_pool_free_count(pool);
    CU_ASSERT_EQUAL(vs_offload_segment(&p, pool, segs, 5), -ENOBUFS);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    /* A pool that runs dry half-way: what was allocated goes back. */
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(64, VS_PAGES_NONE, &small), 0);
    while (vs_pool_free_count(small) > 10)
        hold[held++] = vs_pkt_alloc(small);
    CU_ASSERT_EQUAL(vs_offload_segment(&p, small, segs, VS_OFFLOAD_MAX_SEGS), -ENOBUFS);
    CU_ASSERT_EQUAL(vs_pool_free_count(small), 10);
    vs_pkt_free_bulk(hold, held);
    /* Segments beyond a small buffer and no large companion. */
    as_pkt(&p, &fr, VS_OL_CSUM | VS_OL_TSO4, 4000);
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(vs_offload_segment(&p, small, segs, VS_OFFLOAD_MAX_SEGS), -ENOBUFS);
    CU_ASSERT_EQUAL(vs_pool_free_count(small), 64);
    vs_pool_destroy(small);
    /* An unchecked frame (hdr_len not normalised) is refused. */
    p.hdr_len = 0;
    CU_ASSERT_EQUAL(vs_offload_segment(&p, pool, segs, VS_OFFLOAD_MAX_SEGS), -EINVAL);
    free(fr.b);
}

/* ---- checksum completion ---- */

static void test_csum_complete(void)
{
    for (int i = 0; i < 400; i++) {
        struct spec s = {.tags = (int)(rnd() % 3),
                         .ipv = rnd() % 2 ? 4 : 6,
                         .udp = (int)(rnd() % 2),
                         .payload = rnd() % 3000,
                         .tcp_flags = 0x18};
        struct frame fr = build(&s);
        struct vs_pkt p vs_cache_aligned;
        uint32_t l4len = fr.len - fr.l4;

        as_pkt(&p, &fr, VS_OL_CSUM, 0);
        if (s.udp)
            p.csum_offset = 6;
        CU_ASSERT_EQUAL(vs_offload_check(&p), VS_OL_ERR_NONE);
        vs_offload_csum(&p);
        CU_ASSERT_EQUAL(p.ol_flags & VS_OL_CSUM, 0);
        CU_ASSERT_EQUAL(ref_fold(ref_pseudo(fr.b, fr.l3, s.ipv, s.udp ? 17 : 6, l4len) +
                                 ref_sum(0, fr.b + fr.l4, l4len)),
                        0xffff);
        free(fr.b);
    }
    /* Any range, odd start included: the summed range verifies afterwards. */
    for (int i = 0; i < 400; i++) {
        uint32_t len = 4 + rnd() % 3000, start = rnd() % (len - 1);
        uint8_t *b = malloc(len);
        struct vs_pkt p vs_cache_aligned;

        fill_random(b, len);
        memset(&p, 0, sizeof(p));
        p.data = b;
        p.len = len;
        p.ol_flags = VS_OL_CSUM;
        p.csum_start = (uint16_t)start;
        p.csum_offset = (uint16_t)((rnd() % ((len - start - 2) / 2 + 1)) * 2);
        /* The field's old value is the seed (a pseudo header's sum): with it
         * added, the range sums to 0xffff. */
        uint16_t seed = get16(b + start + p.csum_offset);
        CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
        vs_offload_csum(&p);
        CU_ASSERT_EQUAL(ref_fold(ref_sum(seed, b + start, len - start)), 0xffff);
        free(b);
    }
}

/* A datagram whose checksum comes out 0 goes out as 0xffff. */
static void test_csum_udp_zero(void)
{
    struct spec s = {.ipv = 4, .udp = 1, .payload = 64};
    struct frame fr = build(&s);
    struct vs_pkt p vs_cache_aligned;
    uint32_t l4len = fr.len - fr.l4;
    uint16_t sum;

    /* Make the whole L4 sum 0xffff: then ~sum is 0. The last two payload bytes
     * take what is missing. */
    put16(fr.b + fr.len - 2, 0);
    put16(fr.b + fr.l4 + 6, 0);
    sum = ref_fold(ref_pseudo(fr.b, fr.l3, 4, 17, l4len) + ref_sum(0, fr.b + fr.l4, l4len));
    put16(fr.b + fr.len - 2, (uint16_t)~sum);
    put16(fr.b + fr.l4 + 6, ref_fold(ref_pseudo(fr.b, fr.l3, 4, 17, l4len)));
    as_pkt(&p, &fr, VS_OL_CSUM, 0);
    p.csum_offset = 6;
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    vs_offload_csum(&p);
    CU_ASSERT_EQUAL(get16(fr.b + fr.l4 + 6), 0xffff);

    /* And in segmentation: one segment of that same datagram. */
    put16(fr.b + fr.l4 + 6, ref_fold(ref_pseudo(fr.b, fr.l3, 4, 17, l4len)));
    as_pkt(&p, &fr, VS_OL_CSUM | VS_OL_USO, 1000);
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    struct vs_pkt *seg;
    CU_ASSERT_EQUAL_FATAL(vs_offload_segment(&p, pool, &seg, 1), 1);
    CU_ASSERT_EQUAL(get16(seg->data + fr.l4 + 6), 0xffff);
    vs_pkt_free(seg);
    free(fr.b);
}

/* ---- the gate ---- */

/* Runs vs_offload_check on a copy of fr in a block of exactly len bytes (maybe
 * shorter than the frame: truncation), with the given metadata. */
static enum vs_offload_error check_meta(const struct frame *fr, uint32_t len, uint8_t ol,
                                        uint16_t start, uint16_t off, uint16_t mss,
                                        uint16_t hdr_len)
{
    struct vs_pkt p vs_cache_aligned;
    uint8_t *b = malloc(len ? len : 1);
    enum vs_offload_error e;

    memcpy(b, fr->b, len);
    memset(&p, 0, sizeof(p));
    p.data = b;
    p.len = len;
    p.ol_flags = ol;
    p.csum_start = start;
    p.csum_offset = off;
    p.gso_size = mss;
    p.hdr_len = hdr_len;
    e = vs_offload_check(&p);
    free(b);
    return e;
}

static enum vs_offload_error check_frame(const struct frame *fr, uint8_t ol, uint16_t mss)
{
    return check_meta(fr, fr->len, ol, (uint16_t)fr->l4, 16, mss, (uint16_t)fr->hdr);
}

static void test_check_hostile(void)
{
    struct spec s4 = {.ipv = 4, .payload = 4000, .tcp_opt = 12, .tcp_flags = 0x10};
    struct spec s6 = {.ipv = 6, .payload = 4000, .tcp_flags = 0x10};
    struct spec u4 = {.ipv = 4, .udp = 1, .payload = 4000};
    struct frame f4 = build(&s4), f6 = build(&s6), fu = build(&u4), bad;
    const uint8_t C = VS_OL_CSUM, T4 = VS_OL_TSO4, T6 = VS_OL_TSO6, U = VS_OL_USO;
    uint16_t l4 = (uint16_t)f4.l4, h = (uint16_t)f4.hdr;

    /* Sane frames pass. */
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, 1448), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(check_frame(&f6, C | T6, 1448), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(check_meta(&fu, fu.len, C | U, (uint16_t)fu.l4, 6, 1400, 0), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4 | VS_OL_ECN, 1448), VS_OL_ERR_NONE);
    /* No requests (or ECN alone): whatever the metadata says. */
    CU_ASSERT_EQUAL(check_meta(&f4, 10, 0, 0xffff, 0xffff, 0, 0xffff), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(check_meta(&f4, 10, VS_OL_ECN | VS_OL_CSUM_VALID, 0xffff, 0xffff, 0, 0xffff),
                    VS_OL_ERR_NONE);

    /* csum_start + csum_offset + 2 beyond the frame (no 16-bit wrap either). */
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C, (uint16_t)(f4.len - 1), 0, 0, 0),
                    VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C, (uint16_t)(f4.len - 2), 0, 0, 0), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C, 0xffff, 0xffff, 0, 0), VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C, 2, 0xfffe, 0, 0), VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&f4, 1, C, 0, 0, 0, 0), VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&f4, 0, C, 0, 0, 0, 0), VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C | T4, l4, 16, 1448, 0xffff), VS_OL_ERR_HDR_LEN);
    /* Plain CSUM may sum any range (even on a frame that is not IP at all)... */
    CU_ASSERT_EQUAL(check_meta(&f4, 60, C, 1, 6, 0, 0), VS_OL_ERR_NONE);
    /* ...but with GSO it must be the L4 checksum. */
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C | T4, (uint16_t)(l4 - 2), 16, 1448, h),
                    VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C | T4, l4, 6, 1448, h), VS_OL_ERR_CSUM_RANGE);
    CU_ASSERT_EQUAL(check_meta(&fu, fu.len, C | U, (uint16_t)fu.l4, 16, 1400, 0),
                    VS_OL_ERR_CSUM_RANGE);

    /* hdr_len beyond the frame; a rough one within it is replaced. */
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C | T4, l4, 16, 1448, (uint16_t)(f4.len + 1)),
                    VS_OL_ERR_HDR_LEN);
    CU_ASSERT_EQUAL(check_meta(&f4, f4.len, C | T4, l4, 16, 1448, (uint16_t)f4.len),
                    VS_OL_ERR_NONE);

    /* gso_size 0, too large for an IP packet, nothing to cut. */
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, 0), VS_OL_ERR_GSO_SIZE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, 0xffff), VS_OL_ERR_GSO_SIZE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, (uint16_t)(65535 - (h - f4.l3))), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, (uint16_t)(65536 - (h - f4.l3))), VS_OL_ERR_GSO_SIZE);
    {
        struct spec e = s4;
        e.payload = 0;
        struct frame fe = build(&e);
        CU_ASSERT_EQUAL(check_frame(&fe, C | T4, 1448), VS_OL_ERR_GSO_SIZE);
        free(fe.b);
    }

    /* GSO type against the headers. */
    CU_ASSERT_EQUAL(check_frame(&f4, C | T6, 1448), VS_OL_ERR_GSO_TYPE);
    CU_ASSERT_EQUAL(check_meta(&f6, f6.len, C | T4, (uint16_t)f6.l4, 16, 1448, 0),
                    VS_OL_ERR_GSO_TYPE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | U, 1448), VS_OL_ERR_GSO_TYPE);
    CU_ASSERT_EQUAL(check_meta(&fu, fu.len, C | T4, (uint16_t)fu.l4, 6, 1400, 0),
                    VS_OL_ERR_GSO_TYPE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4 | T6, 1448), VS_OL_ERR_GSO_TYPE);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4 | U, 1448), VS_OL_ERR_GSO_TYPE);
    CU_ASSERT_EQUAL(check_frame(&f4, T4 | T6 | U, 1448), VS_OL_ERR_GSO_TYPE);
    bad = f4;
    bad.b = malloc(f4.len);
    memcpy(bad.b, f4.b, f4.len);
    put16(bad.b + 12, 0x0806); /* ARP: no IP */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_GSO_TYPE);
    memcpy(bad.b, f4.b, f4.len);
    put16(bad.b + bad.l3 + 6, 0x2000); /* more fragments */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_GSO_TYPE);
    put16(bad.b + bad.l3 + 6, 0x0010); /* a later fragment */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_GSO_TYPE);
    memcpy(bad.b, f4.b, f4.len);
    bad.b[bad.l3 + 9] = 1; /* ICMP */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_GSO_TYPE);

    /* Malformed headers. */
    memcpy(bad.b, f4.b, f4.len);
    bad.b[bad.l3] = 0x44; /* IHL 4 */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_HEADERS);
    bad.b[bad.l3] = 0x65; /* version 6 behind the IPv4 ethertype */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_HEADERS);
    memcpy(bad.b, f4.b, f4.len);
    put16(bad.b + bad.l3 + 2, (uint16_t)(f4.len - f4.l3 - 1)); /* total length short */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_HEADERS);
    put16(bad.b + bad.l3 + 2, (uint16_t)(f4.len - f4.l3 + 1)); /* and long */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_HEADERS);
    memcpy(bad.b, f4.b, f4.len);
    bad.b[bad.l4 + 12] = 0x40; /* data offset 4 */
    CU_ASSERT_EQUAL(check_frame(&bad, C | T4, 1448), VS_OL_ERR_HEADERS);
    free(bad.b);
    bad = f6;
    bad.b = malloc(f6.len);
    memcpy(bad.b, f6.b, f6.len);
    put16(bad.b + bad.l3 + 4, 0); /* jumbogram payload length */
    CU_ASSERT_EQUAL(check_meta(&bad, bad.len, C | T6, (uint16_t)bad.l4, 16, 1448, 0),
                    VS_OL_ERR_HEADERS);
    memcpy(bad.b, f6.b, f6.len);
    bad.b[bad.l3 + 6] = 0; /* hop-by-hop options: an extension header */
    CU_ASSERT_EQUAL(check_meta(&bad, bad.len, C | T6, (uint16_t)bad.l4, 16, 1448, 0),
                    VS_OL_ERR_GSO_TYPE);
    /* ...which plain CSUM does not mind. */
    CU_ASSERT_EQUAL(check_meta(&bad, bad.len, C, (uint16_t)bad.l4 + 8, 16, 0, 0), VS_OL_ERR_NONE);
    free(bad.b);
    {
        /* TCP data offset 15 on a frame that ends before 60 header bytes. */
        struct spec e = s4;
        e.payload = 20;
        e.tcp_opt = 0;
        struct frame fe = build(&e);
        fe.b[fe.l4 + 12] = 0xf0;
        CU_ASSERT_EQUAL(check_frame(&fe, C | T4, 10), VS_OL_ERR_HEADERS);
        free(fe.b);
    }

    /* Too many segments. */
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, 1), VS_OL_ERR_SEGS);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4, (uint16_t)(4000 / VS_OFFLOAD_MAX_SEGS)),
                    VS_OL_ERR_SEGS);
    CU_ASSERT_EQUAL(check_frame(&f4, C | T4,
                                (uint16_t)((4000 + VS_OFFLOAD_MAX_SEGS - 1) / VS_OFFLOAD_MAX_SEGS)),
                    VS_OL_ERR_NONE);

    /* Every truncation of GSO frames (VLAN-tagged too) is refused, and nothing
     * is read beyond the cut (the copy is exactly that long: ASan). */
    struct spec tv = {.tags = 2, .ipv = 6, .payload = 300, .tcp_opt = 40, .tcp_flags = 0x10};
    struct frame ft = build(&tv);
    const struct frame *all[] = {&f4, &f6, &fu, &ft};
    for (unsigned k = 0; k < VS_ARRAY_SIZE(all); k++) {
        const struct frame *fr = all[k];
        uint8_t ol = fr == &f4 ? T4 : fr == &fu ? U : T6;
        unsigned accepted = 0;

        for (uint32_t len = 0; len < fr->len; len++)
            accepted += check_meta(fr, len, ol, 0, 0, 100, 0) == VS_OL_ERR_NONE;
        CU_ASSERT_EQUAL(accepted, 0);
    }
    free(ft.b);

    /* A lent frame is checked on its private head alone: its headers all in the
     * head pass, one byte of them beyond it is refused (never read from the peer). */
    {
        struct vs_pkt p vs_cache_aligned;

        as_pkt(&p, &f4, C | T4, 1448);
        p.flags = VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN;
        p.ext_head = (uint8_t)f4.hdr;
        CU_ASSERT_EQUAL(vs_offload_check(&p), VS_OL_ERR_NONE);
        as_pkt(&p, &f4, C | T4, 1448);
        p.flags = VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN;
        p.ext_head = (uint8_t)(f4.hdr - 1);
        CU_ASSERT_EQUAL(vs_offload_check(&p), VS_OL_ERR_HEADERS);
        /* And segmentation wants the frame in our own buffer. */
        struct vs_pkt *segs[VS_OFFLOAD_MAX_SEGS];
        as_pkt(&p, &f4, C | T4, 1448);
        p.flags = VS_PKT_F_EXTERNAL | VS_PKT_F_CHAIN;
        p.ext_head = (uint8_t)f4.hdr;
        CU_ASSERT_EQUAL(vs_offload_segment(&p, pool, segs, VS_OFFLOAD_MAX_SEGS), -EINVAL);
    }

    for (int e = 0; e <= VS_OL_ERR__COUNT; e++)
        CU_ASSERT_PTR_NOT_NULL(vs_offload_error_name((enum vs_offload_error)e));
    CU_ASSERT_STRING_EQUAL(vs_offload_error_name(VS_OL_ERR__COUNT), "unknown");
    free(f4.b);
    free(f6.b);
    free(fu.b);
}

/* GSO frames without VS_OL_CSUM, and with a rough hdr_len: normalised. */
static void test_check_normalises(void)
{
    struct spec s = {.tags = 1, .ipv = 4, .payload = 3000, .tcp_opt = 12, .tcp_flags = 0x18};
    struct spec u = {.ipv = 6, .udp = 1, .payload = 3000};
    struct frame f = build(&s), fu = build(&u);
    struct vs_pkt p vs_cache_aligned;
    struct vs_pkt *segs[8];
    uint16_t pseudo = get16(f.b + f.l4 + 16);
    int n;

    put16(f.b + f.l4 + 16, 0x1234); /* whatever the guest left there */
    as_pkt(&p, &f, VS_OL_TSO4, 1448);
    p.hdr_len = 128; /* Linux guests pass their linear part's length */
    p.csum_start = 3;
    p.csum_offset = 5;
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(p.hdr_len, f.hdr);
    CU_ASSERT_EQUAL(p.ol_flags, VS_OL_TSO4 | VS_OL_CSUM);
    CU_ASSERT_EQUAL(p.csum_start, f.l4);
    CU_ASSERT_EQUAL(p.csum_offset, 16);
    CU_ASSERT_EQUAL(get16(f.b + f.l4 + 16), pseudo); /* the pseudo header's sum, as Linux */
    n = vs_offload_segment(&p, pool, segs, 8);
    CU_ASSERT_EQUAL(verify(&s, &f, segs, n, 1448), 0);
    if (n > 0)
        vs_pkt_free_bulk(segs, (unsigned)n);
    /* The normalised request, completed as a plain checksum, verifies. */
    vs_offload_csum(&p);
    CU_ASSERT_EQUAL(
        ref_fold(ref_pseudo(f.b, f.l3, 4, 6, f.len - f.l4) + ref_sum(0, f.b + f.l4, f.len - f.l4)),
        0xffff);

    as_pkt(&p, &fu, VS_OL_USO, 1000);
    p.hdr_len = 0;
    CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
    CU_ASSERT_EQUAL(p.hdr_len, fu.hdr);
    CU_ASSERT_EQUAL(p.csum_offset, 6);
    n = vs_offload_segment(&p, pool, segs, 8);
    CU_ASSERT_EQUAL(verify(&u, &fu, segs, n, 1000), 0);
    if (n > 0)
        vs_pkt_free_bulk(segs, (unsigned)n);
    free(f.b);
    free(fu.b);
}

/* ---- golden data: Linux's own software segmentation ---- */

/* Frames from offload_golden.h (gen_offload_golden.py): GSO frames a TAP device
 * was given, and the segments Linux's software GSO put on the wire for them.
 * Ours must be the same bytes, all of them: Linux too increments the IPv4 ID per
 * segment for these (its fixed-ID mode is only for frames that ask for it, which
 * no virtio-net header can) and keeps CWR on the first segment only and PSH/FIN
 * on the last. */
static void test_golden(void)
{
    unsigned cases = 0;

    for (const struct golden_case *g = golden_cases; g->name; g++, cases++) {
        struct frame fr = {.len = g->in_len};
        struct vs_pkt p vs_cache_aligned;
        struct vs_pkt *segs[VS_OFFLOAD_MAX_SEGS];
        int n;

        fr.b = malloc(g->in_len);
        memcpy(fr.b, g->in, g->in_len);
        as_pkt(&p, &fr, g->ol_flags, g->gso_size);
        p.csum_start = g->csum_start;
        p.csum_offset = g->csum_offset;
        p.hdr_len = 0;
        CU_ASSERT_EQUAL_FATAL(vs_offload_check(&p), VS_OL_ERR_NONE);
        CU_ASSERT_EQUAL(p.hdr_len, g->hdr_len);
        n = vs_offload_segment(&p, pool, segs, VS_OFFLOAD_MAX_SEGS);
        CU_ASSERT_EQUAL(n, (int)g->n_out);
        for (int i = 0; i < n && i < (int)g->n_out; i++) {
            /* Linux's segment: its headers, then the input's next payload slice. */
            bool same =
                segs[i]->len == g->out_len[i] &&
                memcmp(segs[i]->data, g->out[i], g->hdr_len) == 0 &&
                memcmp(segs[i]->data + g->hdr_len, g->in + g->hdr_len + (uint32_t)i * g->gso_size,
                       g->out_len[i] - g->hdr_len) == 0;

            if (!same)
                fprintf(stderr, "golden %s: segment %d differs from Linux's\n", g->name, i);
            CU_ASSERT(same);
        }
        if (n > 0)
            vs_pkt_free_bulk(segs, (unsigned)n);
        free(fr.b);
    }
    CU_ASSERT(cases >= 1);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, VS_OFFLOAD_MAX_SEGS, VS_PAGES_NONE) < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("offload", NULL, NULL);
    CU_add_test(s, "csum random", test_csum_random);
    CU_add_test(s, "csum edges", test_csum_edges);
    CU_add_test(s, "segment tcp4", test_segment_tcp4);
    CU_add_test(s, "segment tcp6", test_segment_tcp6);
    CU_add_test(s, "segment udp", test_segment_udp);
    CU_add_test(s, "segment random", test_segment_vlan_random);
    CU_add_test(s, "segment nobufs", test_segment_nobufs);
    CU_add_test(s, "csum complete", test_csum_complete);
    CU_add_test(s, "csum udp zero", test_csum_udp_zero);
    CU_add_test(s, "check hostile", test_check_hostile);
    CU_add_test(s, "check normalises", test_check_normalises);
    CU_add_test(s, "golden", test_golden);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    vs_pool_destroy(pool);
    return failed ? 1 : 0;
}
