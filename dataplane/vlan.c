/* VLAN sets and the tag push/pop on a frame's header. */
#include "dataplane/vlan.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ETH_ADDRS 12 /* destination and source MAC, which stay in front of a tag */
#define TAG_LEN 4

static int parse_vid(const char **s, unsigned *out, char *err, size_t errlen)
{
    unsigned v = 0;
    const char *p = *s;

    if (*p < '0' || *p > '9') {
        snprintf(err, errlen,
                 "'%.16s' is not a VLAN ID; use numbers 1..%d and ranges such as 100-199", p,
                 VS_VLAN_MAX);
        return -EINVAL;
    }
    while (*p >= '0' && *p <= '9') {
        if (v <= VS_VLAN_MAX)
            v = v * 10 + (unsigned)(*p - '0');
        p++;
    }
    if (v < 1 || v > VS_VLAN_MAX) {
        snprintf(err, errlen, "VLAN ID %.*s is out of range; use 1..%d", (int)VS_MIN(p - *s, 16),
                 *s, VS_VLAN_MAX);
        return -EINVAL;
    }
    *s = p;
    *out = v;
    return 0;
}

int vs_vlan_set_parse(const char *text, struct vs_vlan_set *s, char *err, size_t errlen)
{
    const char *p = text;

    for (;;) {
        unsigned lo, hi;

        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            return 0;
        if (parse_vid(&p, &lo, err, errlen) < 0)
            return -EINVAL;
        hi = lo;
        if (*p == '-') {
            p++;
            if (parse_vid(&p, &hi, err, errlen) < 0)
                return -EINVAL;
            if (hi < lo) {
                snprintf(err, errlen, "range %u-%u is backwards; write the lower ID first", lo, hi);
                return -EINVAL;
            }
        }
        if (*p && *p != ',' && *p != ' ') {
            snprintf(err, errlen, "unexpected '%c' after VLAN %u; separate IDs with commas", *p,
                     hi);
            return -EINVAL;
        }
        for (unsigned v = lo; v <= hi; v++)
            vs_vlan_set_add(s, (uint16_t)v);
    }
}

void vs_vlan_set_format(const struct vs_vlan_set *s, char *out, size_t size)
{
    size_t o = 0;

    if (size)
        out[0] = '\0';
    for (unsigned v = 0; v <= 4095 && o < size; v++) {
        unsigned end = v;

        if (!vs_vlan_set_has(s, (uint16_t)v))
            continue;
        while (end < 4095 && vs_vlan_set_has(s, (uint16_t)(end + 1)))
            end++;
        int n = end == v ? snprintf(out + o, size - o, "%s%u", o ? "," : "", v)
                         : snprintf(out + o, size - o, "%s%u-%u", o ? "," : "", v, end);
        o += n > 0 ? (size_t)n : 0;
        v = end;
    }
}

void vs_vlan_apply(struct vs_pkt *pkt, enum vs_vlan_action action, uint16_t vid)
{
    uint8_t *d = vs_pkt_data(pkt);
    int delta;

    if (action == VS_VLAN_PUSH) {
        uint8_t *n = d - TAG_LEN;

        memmove(n, d, ETH_ADDRS);
        n[12] = 0x81;
        n[13] = 0x00;
        n[14] = (uint8_t)(vid >> 8 & 0x0f);
        n[15] = (uint8_t)vid;
        delta = TAG_LEN;
    } else if (action == VS_VLAN_POP) {
        memmove(d + TAG_LEN, d, ETH_ADDRS);
        delta = -TAG_LEN;
    } else {
        return;
    }
    pkt->data -= delta;
    pkt->data_off = (uint16_t)(pkt->data_off - delta);
    pkt->len = (uint32_t)((int)pkt->len + delta);
    /* Offsets count from the frame start: the payload moved with the tag. */
    if (pkt->ol_flags & VS_OL_CSUM)
        pkt->csum_start = (uint16_t)(pkt->csum_start + delta);
    if (pkt->ol_flags & VS_OL_GSO)
        pkt->hdr_len = (uint16_t)(pkt->hdr_len + delta);
}

struct vs_pkt *vs_vlan_own(struct vs_pkt *pkt)
{
    struct vs_pkt *c;

    if (pkt->refcnt == 1 && !(pkt->flags & VS_PKT_F_EXTERNAL) && pkt->data_off >= TAG_LEN)
        return pkt;
    if (!(c = vs_pkt_copy(pkt)))
        return NULL;
    vs_pkt_free(pkt);
    return c;
}
