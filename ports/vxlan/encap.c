#include "ports/vxlan/encap.h"

#include <string.h>

const char *const vs_vxlan_verdict_name[VS_VXLAN_N_VERDICTS] = {
    [VS_VXLAN_OK] = "ok",
    [VS_VXLAN_RUNT] = "rx_runt",
    [VS_VXLAN_BAD_FLAGS] = "rx_bad_flags",
    [VS_VXLAN_INNER_TAGGED] = "rx_inner_tagged",
    [VS_VXLAN_BAD_SRC] = "rx_bad_source_mac",
    [VS_VXLAN_OVERSIZE] = "rx_oversize",
};

enum vs_vxlan_verdict vs_vxlan_decap_check(const uint8_t *b, size_t len, size_t max_inner,
                                           uint32_t *vni)
{
    static const uint8_t zero[6];
    const uint8_t *in = b + VS_VXLAN_HLEN;
    uint16_t type;

    if (len < VS_VXLAN_HLEN + VS_VXLAN_ETH_HLEN)
        return VS_VXLAN_RUNT;
    /* Reserved bits are "ignored on receipt" in RFC 7348, but a set one usually
     * means an extension (GBP, GPE) whose header we would misread: Linux drops
     * them too unless told about the extension. */
    if (b[0] != VS_VXLAN_FLAG_I || b[1] || b[2] || b[3] || b[7])
        return VS_VXLAN_BAD_FLAGS;
    if (len - VS_VXLAN_HLEN > max_inner)
        return VS_VXLAN_OVERSIZE;
    type = (uint16_t)(in[12] << 8 | in[13]);
    if (type == 0x8100 || type == 0x88a8)
        return VS_VXLAN_INNER_TAGGED;
    if ((in[6] & 1) || !memcmp(in + 6, zero, 6))
        return VS_VXLAN_BAD_SRC;
    *vni = (uint32_t)b[4] << 16 | (uint32_t)b[5] << 8 | b[6];
    return VS_VXLAN_OK;
}

int vs_vxlan_frame_vlan(const uint8_t *head, size_t head_len, bool *tagged)
{
    if (head_len < VS_VXLAN_ETH_HLEN)
        return -1;
    *tagged = head[12] == 0x81 && head[13] == 0x00;
    if (!*tagged)
        return 0;
    if (head_len < VS_VXLAN_ETH_HLEN + VS_VXLAN_TAG_LEN)
        return -1;
    return (head[14] & 0x0f) << 8 | head[15];
}

/* FNV-1a over the flow's bytes, then a finalizer so that the low bits, which pick
 * the port, depend on every input bit. */
static inline uint32_t mix(uint32_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

uint16_t vs_vxlan_src_port(const uint8_t *head, size_t head_len)
{
    size_t l3 = VS_VXLAN_ETH_HLEN;
    uint32_t h = 2166136261u;
    uint16_t type;

    if (head_len < VS_VXLAN_ETH_HLEN)
        return VS_VXLAN_SPORT_MIN;
    type = (uint16_t)(head[12] << 8 | head[13]);
    if (type == 0x8100 && head_len >= l3 + 4) {
        type = (uint16_t)(head[16] << 8 | head[17]);
        l3 += 4;
    }
    h = mix(h, head, 12);
    h = mix(h, (const uint8_t *)&type, 2);
    if (type == 0x0800 && head_len >= l3 + 20) {
        const uint8_t *ip = head + l3;
        size_t ihl = (size_t)(ip[0] & 0x0f) * 4;
        bool first_frag = !((ip[6] & 0x1f) | ip[7]);
        bool more_frags = ip[6] & 0x20;

        h = mix(h, ip + 9, 1);  /* protocol */
        h = mix(h, ip + 12, 8); /* addresses */
        /* Fragments of one datagram must take one path: ports only when unfragmented. */
        if (ihl >= 20 && first_frag && !more_frags && (ip[9] == 6 || ip[9] == 17) &&
            head_len >= l3 + ihl + 4)
            h = mix(h, ip + ihl, 4);
    } else if (type == 0x86dd && head_len >= l3 + 40) {
        const uint8_t *ip = head + l3;

        h = mix(h, ip + 6, 1);  /* next header */
        h = mix(h, ip + 8, 32); /* addresses */
        if ((ip[6] == 6 || ip[6] == 17) && head_len >= l3 + 44)
            h = mix(h, ip + 40, 4);
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return (uint16_t)(VS_VXLAN_SPORT_MIN + (h % VS_VXLAN_SPORT_SPAN));
}

void vs_vxlan_encap_hdr(uint8_t *hdr, uint16_t sport, uint16_t dport, uint32_t vni,
                        size_t inner_len)
{
    size_t ulen = VS_VXLAN_ENCAP_HLEN + inner_len;

    hdr[0] = (uint8_t)(sport >> 8);
    hdr[1] = (uint8_t)sport;
    hdr[2] = (uint8_t)(dport >> 8);
    hdr[3] = (uint8_t)dport;
    hdr[4] = (uint8_t)(ulen >> 8);
    hdr[5] = (uint8_t)ulen;
    hdr[6] = hdr[7] = 0;
    memset(hdr + 8, 0, VS_VXLAN_HLEN);
    hdr[8] = VS_VXLAN_FLAG_I;
    hdr[12] = (uint8_t)(vni >> 16);
    hdr[13] = (uint8_t)(vni >> 8);
    hdr[14] = (uint8_t)vni;
}

unsigned vs_vxlan_encap_iov(const struct vs_pkt *p, bool tagged, uint8_t *hdr, struct iovec iov[4])
{
    uint32_t head = vs_pkt_head_len(p);
    unsigned n = 0;

    iov[n++] = (struct iovec){hdr, VS_VXLAN_ENCAP_HLEN};
    if (tagged) {
        iov[n++] = (struct iovec){p->data, 12};
        if (head > 16)
            iov[n++] = (struct iovec){p->data + 16, head - 16};
    } else {
        iov[n++] = (struct iovec){p->data, head};
    }
    if (p->len > head)
        iov[n++] = (struct iovec){(void *)vs_pkt_tail(p), p->len - head};
    return n;
}
