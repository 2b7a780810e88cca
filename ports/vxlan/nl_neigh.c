#include "ports/vxlan/nl_neigh.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>

static bool parse_neigh(const uint8_t *m, size_t len, bool add, struct vs_vx_neigh *n)
{
    struct ndmsg nd;
    size_t off = NLMSG_ALIGN(sizeof(nd));

    if (len < sizeof(nd))
        return false;
    memcpy(&nd, m, sizeof(nd));
    memset(n, 0, sizeof(*n));
    n->add = add;
    n->ifindex = nd.ndm_ifindex;
    n->flags = nd.ndm_flags;
    n->state = nd.ndm_state;
    if (nd.ndm_family != AF_BRIDGE) {
        n->ifindex = 0; /* not ours, not bad: skipped */
        return true;
    }
    while (off + sizeof(struct rtattr) <= len) {
        struct rtattr a;
        size_t alen;

        memcpy(&a, m + off, sizeof(a));
        if (a.rta_len < sizeof(a) || a.rta_len > len - off)
            return false;
        alen = a.rta_len - sizeof(a);
        if (a.rta_type == NDA_LLADDR) {
            if (alen != 6)
                return false;
            memcpy(n->mac, m + off + sizeof(a), 6);
            n->has_mac = true;
        } else if (a.rta_type == NDA_DST) {
            if (alen == 4) {
                memcpy(&n->dst, m + off + sizeof(a), 4);
                n->has_dst = true;
            } else if (alen != 16) { /* IPv6 VTEPs: not carried (yet) */
                return false;
            }
        }
        off += RTA_ALIGN(a.rta_len);
    }
    return true;
}

void vs_vx_nl_parse(const uint8_t *buf, size_t len, vs_vx_neigh_cb cb, void *arg,
                    struct vs_vx_nl_stats *st)
{
    size_t off = 0;

    while (off + sizeof(struct nlmsghdr) <= len) {
        struct nlmsghdr h;
        const uint8_t *body;
        size_t blen;

        memcpy(&h, buf + off, sizeof(h));
        if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len - off) {
            st->bad++;
            return;
        }
        st->messages++;
        body = buf + off + NLMSG_HDRLEN;
        blen = h.nlmsg_len - NLMSG_HDRLEN;
        if (h.nlmsg_type == NLMSG_DONE) {
            st->done = true;
        } else if (h.nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr e;

            if (blen >= sizeof(e)) {
                memcpy(&e, body, sizeof(e));
                /* An errno is at most 4095; anything beyond (INT_MIN, whose
                 * negation overflows) is a malformed reply. */
                if (e.error < 0)
                    st->error = e.error >= -4095 ? -e.error : EPROTO;
            } else {
                st->bad++;
            }
        } else if (h.nlmsg_type == RTM_NEWNEIGH || h.nlmsg_type == RTM_DELNEIGH) {
            struct vs_vx_neigh n;

            if (!parse_neigh(body, blen, h.nlmsg_type == RTM_NEWNEIGH, &n)) {
                st->bad++;
            } else if (n.ifindex > 0) {
                st->neigh++;
                cb(&n, arg);
            }
        }
        off += NLMSG_ALIGN(h.nlmsg_len);
    }
}
