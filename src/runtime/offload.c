/* Offloads in software: the gate for a frame's offload requests, checksum
 * completion and segmentation (TCP over IPv4/IPv6, UDP), see vswitch/offload.h.
 *
 * Every header access is bounded by p->len: vs_offload_check() parses the
 * headers once with explicit bounds, and the other functions rely only on what it
 * accepted (offsets and lengths it proved inside the frame). */
#include "vswitch/offload.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define ETH_HLEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100
#define ETHERTYPE_QINQ 0x88a8
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPV4_MF_OFFSET 0x3fff /* more-fragments flag and fragment offset */
#define IPV6_HLEN 40
#define UDP_HLEN 8
#define TCP_CSUM_OFF 16
#define UDP_CSUM_OFF 6
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80

/* What vs_offload_check() found in a frame's headers; offsets from the frame
 * start, all proved within the frame. */
struct hdrs {
    uint16_t l3;      /* IP header */
    uint16_t l4;      /* TCP/UDP header */
    uint16_t hdr_len; /* l4 + the L4 header's length: where the payload starts */
    uint8_t ipv;      /* 4 or 6 */
    uint8_t proto;    /* IPPROTO_TCP or IPPROTO_UDP */
};

static inline uint16_t rd16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t rd32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}
static inline void wr16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* ---- checksums ----
 *
 * The sums are kept in memory order: 16-bit words are loaded as the CPU loads them
 * (little-endian), so each word is the byte swap of its network-order value. The
 * ones' complement sum commutes with that swap (swapping is a rotation by 8 bits,
 * which end-around-carry addition preserves), so the folded result, stored as a
 * native uint16_t, puts the right bytes on the wire, and no word needs a swap on
 * the way. Values added from outside the frame (pseudo-header length and protocol)
 * go in as they would be in memory: htons()/htonl(). The same argument makes
 * 64-bit words fine: 2^16, 2^32 and 2^48 are all 1 modulo 0xffff. */

static inline uint32_t fold64(uint64_t s)
{
    s = (s & 0xffffffffu) + (s >> 32); /* at most 33 bits */
    s = (s & 0xffffffffu) + (s >> 32); /* at most 32 bits */
    return (uint32_t)s;
}

uint32_t vs_csum_add(uint32_t sum, const void *data, uint32_t len)
{
    const uint8_t *b = data;
    uint64_t a0 = sum, a1 = 0, a2 = 0, a3 = 0;
    uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, w;

    /* Four independent add-with-carry chains over 8-byte words; the carries are
     * counted apart and added back (each is worth 2^64, i.e. 1). */
    for (; len >= 32; len -= 32, b += 32) {
        uint64_t w0, w1, w2, w3;

        memcpy(&w0, b, 8);
        memcpy(&w1, b + 8, 8);
        memcpy(&w2, b + 16, 8);
        memcpy(&w3, b + 24, 8);
        c0 += __builtin_add_overflow(a0, w0, &a0);
        c1 += __builtin_add_overflow(a1, w1, &a1);
        c2 += __builtin_add_overflow(a2, w2, &a2);
        c3 += __builtin_add_overflow(a3, w3, &a3);
    }
    for (; len >= 8; len -= 8, b += 8) {
        memcpy(&w, b, 8);
        c0 += __builtin_add_overflow(a0, w, &a0);
    }
    /* The last 0..7 bytes: a zero-padded word. An odd last byte is the high-order
     * byte of its network-order word, i.e. the low byte of the little-endian one. */
    if (len) {
        w = 0;
        memcpy(&w, b, len);
        c0 += __builtin_add_overflow(a0, w, &a0);
    }
    c0 += __builtin_add_overflow(a0, a1, &a0);
    c0 += __builtin_add_overflow(a0, a2, &a0);
    c0 += __builtin_add_overflow(a0, a3, &a0);
    /* The carries (fewer than 2^32 for any frame): adding them can carry once
     * more, and that carry into a wrapped-around a0 cannot carry again. */
    if (__builtin_add_overflow(a0, c0 + c1 + c2 + c3, &a0))
        a0++;
    return fold64(a0);
}

uint16_t vs_csum_fold(uint32_t sum)
{
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* The pseudo header's sum (not folded, memory order) for l4_len bytes of L4. */
static uint32_t pseudo_sum(const uint8_t *frame, const struct hdrs *h, uint32_t l4_len)
{
    uint64_t s;

    if (h->ipv == 4)
        s = (uint64_t)vs_csum_add(0, frame + h->l3 + 12, 8) + htons(h->proto) + htons(l4_len);
    else
        s = (uint64_t)vs_csum_add(0, frame + h->l3 + 8, 32) + htonl(l4_len) + htonl(h->proto);
    return fold64(s);
}

/* Stores a folded, inverted sum at b (memory order, see above). */
static inline void put_csum(uint8_t *b, uint16_t folded)
{
    uint16_t v = (uint16_t)~folded;

    memcpy(b, &v, 2);
}

/* ---- parsing ---- */

/* Parses Ethernet, up to two VLAN tags, IPv4 or IPv6 and TCP or UDP for a GSO
 * frame of len bytes, reading only the first have (<= len) of them: a lent frame's
 * head (the rest is in the peer's memory). Returns VS_OL_ERR_NONE or why the frame
 * cannot be segmented. */
static enum vs_offload_error parse(const uint8_t *f, uint32_t have, uint32_t len, struct hdrs *h)
{
    uint32_t off = ETH_HLEN, l4, l4_hlen;
    uint16_t type;

    if (have < ETH_HLEN)
        return VS_OL_ERR_HEADERS;
    type = rd16(f + 12);
    for (int tags = 0; tags < 2 && (type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ); tags++) {
        if (have < off + 4)
            return VS_OL_ERR_HEADERS;
        type = rd16(f + off + 2);
        off += 4;
    }
    h->l3 = (uint16_t)off;
    if (type == ETHERTYPE_IPV4) {
        uint32_t ihl, tot;

        if (have < off + 20)
            return VS_OL_ERR_HEADERS;
        ihl = (f[off] & 0x0fu) * 4;
        tot = rd16(f + off + 2);
        if (f[off] >> 4 != 4 || ihl < 20 || have < off + ihl)
            return VS_OL_ERR_HEADERS;
        /* A GSO frame is one IP packet up to its last byte: no padding (which
         * would end up in the last segment's payload), nothing cut off. */
        if (tot != len - off)
            return VS_OL_ERR_HEADERS;
        if (rd16(f + off + 6) & IPV4_MF_OFFSET)
            return VS_OL_ERR_GSO_TYPE; /* a fragment has no L4 header to repeat */
        h->ipv = 4;
        h->proto = f[off + 9];
        l4 = off + ihl;
    } else if (type == ETHERTYPE_IPV6) {
        if (have < off + IPV6_HLEN)
            return VS_OL_ERR_HEADERS;
        if (f[off] >> 4 != 6 || rd16(f + off + 4) != len - off - IPV6_HLEN)
            return VS_OL_ERR_HEADERS; /* payload length 0 (a jumbogram) included */
        h->ipv = 6;
        /* Extension headers would have to be walked and repeated per segment
         * (and a fragment header makes it a fragment): refused. */
        h->proto = f[off + 6];
        l4 = off + IPV6_HLEN;
    } else {
        return VS_OL_ERR_GSO_TYPE;
    }
    if (h->proto == IPPROTO_TCP_) {
        if (have < l4 + 20)
            return VS_OL_ERR_HEADERS;
        l4_hlen = (uint32_t)(f[l4 + 12] >> 4) * 4;
        if (l4_hlen < 20 || have < l4 + l4_hlen)
            return VS_OL_ERR_HEADERS;
    } else if (h->proto == IPPROTO_UDP_) {
        if (have < l4 + UDP_HLEN)
            return VS_OL_ERR_HEADERS;
        l4_hlen = UDP_HLEN;
    } else {
        return VS_OL_ERR_GSO_TYPE;
    }
    h->l4 = (uint16_t)l4;
    h->hdr_len = (uint16_t)(l4 + l4_hlen);
    return VS_OL_ERR_NONE;
}

static const char *const error_names[VS_OL_ERR__COUNT] = {
    [VS_OL_ERR_NONE] = "none",
    [VS_OL_ERR_CSUM_RANGE] = "checksum range",
    [VS_OL_ERR_HDR_LEN] = "header length",
    [VS_OL_ERR_GSO_SIZE] = "gso size",
    [VS_OL_ERR_GSO_TYPE] = "gso type",
    [VS_OL_ERR_SEGS] = "too many segments",
    [VS_OL_ERR_HEADERS] = "malformed headers",
};

const char *vs_offload_error_name(enum vs_offload_error e)
{
    if ((unsigned)e >= VS_OL_ERR__COUNT || !error_names[e])
        return "unknown";
    return error_names[e];
}

enum vs_offload_error vs_offload_check(struct vs_pkt *p)
{
    uint8_t req = p->ol_flags & VS_OL_REQUESTS, gso = req & VS_OL_GSO;
    const uint8_t *f = p->data;
    enum vs_offload_error err;
    struct hdrs h;
    uint32_t payload, nsegs, csum_off, seg_l3;

    if (!(req & (VS_OL_CSUM | VS_OL_GSO)))
        return VS_OL_ERR_NONE; /* nothing asked (VS_OL_ECN alone asks nothing) */
    /* The virtio spec lets a sender sum any range for plain VS_OL_CSUM (it is how
     * it checksums protocols we do not know), so only its bounds matter here. */
    if ((req & VS_OL_CSUM) && (uint32_t)p->csum_start + p->csum_offset + 2 > p->len)
        return VS_OL_ERR_CSUM_RANGE;
    if (!gso)
        return VS_OL_ERR_NONE;
    if (gso & (gso - 1))
        return VS_OL_ERR_GSO_TYPE; /* several GSO types at once */
    if (p->hdr_len > p->len)
        return VS_OL_ERR_HDR_LEN;
    if (p->gso_size == 0)
        return VS_OL_ERR_GSO_SIZE;
    /* A lent frame's headers must be in its private head: the rest is in the
     * peer's memory, which may change under us. */
    err = parse(f, vs_pkt_head_len(p), p->len, &h);
    if (err != VS_OL_ERR_NONE)
        return err;
    if ((gso == VS_OL_TSO4 && (h.ipv != 4 || h.proto != IPPROTO_TCP_)) ||
        (gso == VS_OL_TSO6 && (h.ipv != 6 || h.proto != IPPROTO_TCP_)) ||
        (gso == VS_OL_USO && h.proto != IPPROTO_UDP_))
        return VS_OL_ERR_GSO_TYPE;
    csum_off = h.proto == IPPROTO_TCP_ ? TCP_CSUM_OFF : UDP_CSUM_OFF;
    /* Every segment's L4 checksum is computed from scratch: the request must be
     * that checksum, not some other range. */
    if ((req & VS_OL_CSUM) && (p->csum_start != h.l4 || p->csum_offset != csum_off))
        return VS_OL_ERR_CSUM_RANGE;
    payload = p->len - h.hdr_len;
    if (payload == 0)
        return VS_OL_ERR_GSO_SIZE; /* nothing to cut */
    /* A full segment must fit in an IP packet (and then in a large buffer). */
    seg_l3 = h.hdr_len - h.l3 - (h.ipv == 6 ? IPV6_HLEN : 0);
    if (seg_l3 + p->gso_size > 0xffff)
        return VS_OL_ERR_GSO_SIZE;
    nsegs = (payload + p->gso_size - 1) / p->gso_size;
    if (nsegs > VS_OFFLOAD_MAX_SEGS)
        return VS_OL_ERR_SEGS;

    /* Guests pass a rough hdr_len (Linux's virtio-net driver gives the linear
     * part's length, which may include payload): the real one replaces it. */
    p->hdr_len = h.hdr_len;
    if (!(req & VS_OL_CSUM)) {
        /* Every segment needs its L4 checksum; the frame now asks for it as a
         * virtio sender would, with the pseudo header's sum (over the whole L4
         * length, as Linux leaves it) in the field, so a port that passes the
         * request on hands a peer a consistent frame. */
        p->csum_start = h.l4;
        p->csum_offset = (uint16_t)csum_off;
        put_csum(p->data + h.l4 + csum_off,
                 (uint16_t)~vs_csum_fold(pseudo_sum(f, &h, p->len - h.l4)));
        p->ol_flags |= VS_OL_CSUM;
    }
    return VS_OL_ERR_NONE;
}

void vs_offload_csum(struct vs_pkt *p)
{
    uint8_t *f = p->data;
    uint8_t *field = f + p->csum_start + p->csum_offset;
    uint16_t c = vs_csum_fold(vs_csum_add(0, f + p->csum_start, p->len - p->csum_start));

    /* A result of 0 goes out as 0xffff (the same value in ones' complement): for
     * UDP, 0 would mean "no checksum". Linux's skb_checksum_help does the same
     * whatever the protocol. */
    if (c == 0xffff)
        c = 0;
    put_csum(field, c);
    p->ol_flags &= (uint8_t)~VS_OL_CSUM;
}

/* ---- segmentation ---- */

int vs_offload_segment(const struct vs_pkt *p, struct vs_pool *pool, struct vs_pkt **segs,
                       unsigned max)
{
    const uint8_t *f = p->data;
    struct hdrs h;
    uint32_t hlen, payload, mss, nsegs, off, seq = 0;
    uint16_t ip_id = 0;
    uint8_t tcp_flags = 0;

    /* Checked frames parse; this only recovers the offsets. */
    if (p->flags & VS_PKT_F_EXTERNAL)
        return -EINVAL; /* cut from our own copy (vs_pkt_linear) */
    if (parse(f, p->len, p->len, &h) != VS_OL_ERR_NONE || !p->gso_size || p->hdr_len != h.hdr_len)
        return -EINVAL;
    hlen = h.hdr_len;
    payload = p->len - hlen;
    mss = p->gso_size;
    nsegs = (payload + mss - 1) / mss;
    if (nsegs > max)
        return -ENOBUFS;
    if (h.ipv == 4)
        ip_id = rd16(f + h.l3 + 4);
    if (h.proto == IPPROTO_TCP_) {
        seq = rd32(f + h.l4 + 4);
        tcp_flags = f[h.l4 + 13];
    }

    off = 0;
    for (uint32_t i = 0; i < nsegs; i++, off += mss) {
        uint32_t plen = VS_MIN(mss, payload - off), slen = hlen + plen;
        struct vs_pkt *s = vs_pkt_alloc_len(pool, slen);
        uint8_t *d, *l3, *l4;
        uint8_t *csum;
        uint16_t sum;

        if (!s) {
            vs_pkt_free_bulk(segs, i);
            return -ENOBUFS;
        }
        segs[i] = s;
        d = s->data;
        vs_copy(d, f, hlen);
        vs_copy(d + hlen, f + hlen + off, plen);
        s->len = slen;
        s->vlan = p->vlan;
        s->in_port = p->in_port;
        s->ol_flags = VS_OL_CSUM_VALID;

        l3 = d + h.l3;
        l4 = d + h.l4;
        if (h.ipv == 4) {
            wr16(l3 + 2, (uint16_t)(slen - h.l3));
            wr16(l3 + 4, (uint16_t)(ip_id + i));
            wr16(l3 + 10, 0);
            put_csum(l3 + 10, vs_csum_fold(vs_csum_add(0, l3, h.l4 - h.l3)));
        } else {
            wr16(l3 + 4, (uint16_t)(slen - h.l3 - IPV6_HLEN));
        }
        if (h.proto == IPPROTO_TCP_) {
            uint8_t fl = tcp_flags;

            wr32(l4 + 4, seq + off);
            if (i + 1 < nsegs)
                fl &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
            if (i > 0)
                fl &= (uint8_t)~TCP_FLAG_CWR;
            l4[13] = fl;
            csum = l4 + TCP_CSUM_OFF;
        } else {
            wr16(l4 + 4, (uint16_t)(slen - h.l4));
            csum = l4 + UDP_CSUM_OFF;
        }
        wr16(csum, 0);
        sum = vs_csum_fold(vs_csum_add(pseudo_sum(d, &h, slen - h.l4), l4, slen - h.l4));
        if (h.proto == IPPROTO_UDP_ && sum == 0xffff)
            sum = 0; /* stored as 0xffff: 0 means "no checksum" for UDP */
        put_csum(csum, sum);
    }
    return (int)nsegs;
}
