/* What the VFIO port expects from a NIC driver (igb, virtio-net-pci).
 *
 * The port owns the VFIO device and picks the driver by vendor/device ID; the
 * driver initialises the NIC, owns its rings and buffers, and does the bursts.
 * init/fini/poll/show run on the main thread; rx_burst/tx_burst/rx_notify on
 * pollers. After the device went away the port no longer calls the bursts and
 * closes the VFIO device (its BARs are unmapped, dev->fd is -1): fini then only
 * frees memory and must check before touching registers. */
#ifndef VS_PORTS_VFIO_NIC_H
#define VS_PORTS_VFIO_NIC_H

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include <jansson.h>

#include "ports/vfio/vfio_pci.h"
#include "vswitch/pkt.h"
#include "vswitch/port.h"

struct vs_nic;

struct vs_nic_ops {
    const char *name; /* "igb", "virtio-net" */
    /* Resets and brings the NIC up with n_rxq/n_txq queues (the driver may lower
     * them to what the device offers). 0 or -errno with err filled. */
    int (*init)(struct vs_nic *nic, struct vs_port_err *err);
    /* Stops the NIC (when still present) and frees rings and buffers. */
    void (*fini)(struct vs_nic *nic);
    uint16_t (*rx_burst)(struct vs_nic *nic, uint16_t q, struct vs_pkt **pkts, uint16_t n);
    uint16_t (*tx_burst)(struct vs_nic *nic, uint16_t q, struct vs_pkt **pkts, uint16_t n);
    /* Periodic (main thread): returns 1 link up, 0 down, -ENODEV when the device
     * reads as all-ones (removed); accumulates hardware counters. */
    int (*poll)(struct vs_nic *nic);
    void (*show)(struct vs_nic *nic, json_t *out);
    /* Adaptive pollers (optional): an eventfd signalled by RX queue q's MSI-X
     * vector, or -1; rx_notify arms (clearing what the eventfd holds) or disarms
     * that interrupt. Called by the queue's poller, or by the main thread while no
     * poller owns the queue. */
    int (*rx_wait_fd)(struct vs_nic *nic, uint16_t q);
    void (*rx_notify)(struct vs_nic *nic, uint16_t q, bool enable);
};

struct vs_nic {
    const struct vs_nic_ops *ops;
    struct vs_vfio_dev *dev; /* NULL in unit tests (IOVA == VA) */
    struct vs_pool *pool;
    const char *name;      /* port name, for log lines */
    uint16_t n_rxq, n_txq; /* asked by the port, set to what the driver provides */
    /* Largest L3 packet (the port's mtu): frames up to mtu + VS_ETH_OVERHEAD must be
     * received whole. A driver may lower it to what the device allows when the user
     * did not ask for it (mtu_set false); when the user did, it refuses instead. */
    uint16_t mtu;
    bool mtu_set;
    uint8_t tx_offloads; /* set by init: VS_OL_* requests tx_burst takes as they are */
    uint8_t mac[6];
    void *priv;
};

extern const struct vs_nic_ops vs_nic_igb_ops;
extern const struct vs_nic_ops vs_nic_virtio_ops;

/* Reads a 32-bit little-endian register that the device may change at any time. */
static inline uint32_t vs_reg_read32(const volatile void *base, uint32_t off)
{
    return *(const volatile uint32_t *)((const volatile char *)base + off);
}
static inline void vs_reg_write32(volatile void *base, uint32_t off, uint32_t v)
{
    *(volatile uint32_t *)((volatile char *)base + off) = v;
}

#endif
