#include <errno.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include "ports/tap/tun_offload.h"

/* Older uapi headers than the kernels that have them. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

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
