#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <sys/ioctl.h>

#include "ports/tap/vnet_hdr.h"

/* Older uapi headers than the kernels that have them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

int vs_tap_vnet_hdr_to_pkt(const struct vs_tap_vnet_hdr *h, struct vs_pkt *p)
{
    uint8_t ol = 0;

    switch (h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN) {
    case VIRTIO_NET_HDR_GSO_NONE: break;
    case VIRTIO_NET_HDR_GSO_TCPV4: ol = VS_OL_TSO4; break;
    case VIRTIO_NET_HDR_GSO_TCPV6: ol = VS_OL_TSO6; break;
    case VIRTIO_NET_HDR_GSO_UDP_L4: ol = VS_OL_USO; break;
    default: /* UFO was never asked for; anything else is not a virtio GSO type */ return -EPROTO;
    }
    /* ECN means something only on a TCP segment to cut. */
    if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) && (ol & (VS_OL_TSO4 | VS_OL_TSO6)))
        ol |= VS_OL_ECN;
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
        ol |= VS_OL_CSUM;
    if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
        ol |= VS_OL_CSUM_VALID;
    p->ol_flags = ol;
    p->csum_start = le16toh(h->csum_start);
    p->csum_offset = le16toh(h->csum_offset);
    p->gso_size = le16toh(h->gso_size);
    p->hdr_len = le16toh(h->hdr_len);
    return 0;
}

void vs_tap_vnet_hdr_from_pkt(const struct vs_pkt *p, struct vs_tap_vnet_hdr *h)
{
    uint8_t ol = p->ol_flags;

    *h = (struct vs_tap_vnet_hdr){0};
    if (ol & VS_OL_CSUM) {
        h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h->csum_start = htole16(p->csum_start);
        h->csum_offset = htole16(p->csum_offset);
    } else if (ol & VS_OL_CSUM_VALID) {
        h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    if (!(ol & VS_OL_GSO))
        return;
    if (ol & VS_OL_TSO4)
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    else if (ol & VS_OL_TSO6)
        h->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    else
        h->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
    if ((ol & VS_OL_ECN) && !(ol & VS_OL_USO))
        h->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    h->gso_size = htole16(p->gso_size);
    h->hdr_len = htole16(p->hdr_len);
}

static unsigned tun_flags(uint8_t ol)
{
    unsigned f = 0;

    if (ol & VS_OL_CSUM)
        f |= TUN_F_CSUM;
    if (ol & VS_OL_TSO4)
        f |= TUN_F_TSO4;
    if (ol & VS_OL_TSO6)
        f |= TUN_F_TSO6;
    if (ol & VS_OL_ECN)
        f |= TUN_F_TSO_ECN;
    if (ol & VS_OL_USO)
        f |= TUN_F_USO4 | TUN_F_USO6;
    return f;
}

int vs_tap_set_offload(int fd, uint8_t want, uint8_t *got)
{
    want &= VS_OL_REQUESTS;
    /* The kernel ignores segmentation without checksums; ECN is a TSO modifier. */
    if (!(want & VS_OL_CSUM))
        want = 0;
    if (!(want & (VS_OL_TSO4 | VS_OL_TSO6)))
        want &= (uint8_t)~VS_OL_ECN;
    *got = 0;
    if (ioctl(fd, TUNSETOFFLOAD, tun_flags(want)) < 0) {
        /* A kernel before 6.2 refuses the USO bits it does not know (EINVAL). */
        if (errno != EINVAL || !(want & VS_OL_USO))
            return -errno;
        want &= (uint8_t)~VS_OL_USO;
        if (ioctl(fd, TUNSETOFFLOAD, tun_flags(want)) < 0)
            return -errno;
    }
    *got = want;
    return 0;
}
