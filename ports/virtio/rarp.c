/* The frame a migrated guest's new location announces itself with (vhost-user
 * SEND_RARP): a broadcast reverse-ARP request from the guest's MAC, as QEMU itself
 * sends for guests without GUEST_ANNOUNCE. Switches on the path learn the MAC's
 * new port. */
#include <string.h>

#include "ports/virtio/net_dev.h"

#define ETH_P_RARP_ 0x8035
#define ETH_ZLEN_ 60

/* Builds the frame announcing mac into buf (at least 60 bytes); returns its length. */
static unsigned rarp_build(uint8_t *buf, const uint8_t mac[6])
{
    uint8_t *p = buf;

    memset(buf, 0, ETH_ZLEN_);
    memset(p, 0xff, 6); /* broadcast */
    memcpy(p + 6, mac, 6);
    p[12] = ETH_P_RARP_ >> 8;
    p[13] = ETH_P_RARP_ & 0xff;
    p += 14;
    p[0] = 0x00; p[1] = 0x01; /* hardware type: Ethernet */
    p[2] = 0x08; p[3] = 0x00; /* protocol type: IPv4 */
    p[4] = 6;                 /* hardware address length */
    p[5] = 4;                 /* protocol address length */
    p[6] = 0x00; p[7] = 0x03; /* operation: reverse request */
    memcpy(p + 8, mac, 6);    /* sender hardware address; sender IP 0 */
    memcpy(p + 18, mac, 6);   /* target hardware address; target IP 0 */
    return ETH_ZLEN_;
}

void vs_vnet_rarp_request(struct vs_vnet_dev *dev, const uint8_t mac[6])
{
    uint64_t m = 0;

    memcpy(&m, mac, 6);
    __atomic_store_n(&dev->rarp, m | (1ull << 63), __ATOMIC_RELEASE);
}

uint16_t vs_vnet_rarp_take(struct vs_vnet_dev *dev, struct vs_pool *pool, struct vs_pkt **pkts)
{
    uint64_t r = __atomic_exchange_n(&dev->rarp, 0, __ATOMIC_ACQUIRE);
    struct vs_pkt *p;
    uint8_t mac[6];

    if (!(r & (1ull << 63)))
        return 0;
    p = vs_pkt_alloc(pool);
    if (!p) {
        /* Try again on the next burst. */
        __atomic_store_n(&dev->rarp, r, __ATOMIC_RELEASE);
        return 0;
    }
    memcpy(mac, &r, 6);
    p->len = (uint16_t)rarp_build(vs_pkt_data(p), mac);
    dev->rarps_sent++;
    pkts[0] = p;
    return 1;
}
