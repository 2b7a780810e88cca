/* Intel 82576 (igb) bring-up, link and counters, over VFIO. Section numbers
 * refer to the Intel 82576EB GbE Controller datasheet (rev 2.x). The descriptor
 * rings themselves are in igb_ring.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ports/vfio/igb_ring.h"
#include "ports/vfio/nic.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/mem.h"

/* Registers (§8). */
#define CTRL 0x0000
#define STATUS 0x0008
#define EEC 0x0010
#define CTRL_EXT 0x0018
#define MDIC 0x0020
#define ICR 0x00c0
#define IMC 0x00d8
#define RCTL 0x0100
#define RLPML 0x5004
#define TCTL 0x0400
#define RXCSUM 0x5000
#define MTA 0x5200
#define RAL0 0x5400
#define RAH0 0x5404
#define MRQC 0x5818
#define RETA 0x5c00
#define RSSRK 0x5c80
#define GPIE 0x1514
#define EIMS 0x1524
#define EIMC 0x1528
#define EIAC 0x152c
#define EIAM 0x1530
#define EICR 0x1580
#define EITR(v) (0x1680 + 4 * (v))
#define IVAR(n) (0x1700 + 4 * (n))
#define RDBAL(q) (0xc000 + 0x40 * (q))
#define RDBAH(q) (0xc004 + 0x40 * (q))
#define RDLEN(q) (0xc008 + 0x40 * (q))
#define SRRCTL(q) (0xc00c + 0x40 * (q))
#define RDH(q) (0xc010 + 0x40 * (q))
#define RDT(q) (0xc018 + 0x40 * (q))
#define RXDCTL(q) (0xc028 + 0x40 * (q))
#define TDBAL(q) (0xe000 + 0x40 * (q))
#define TDBAH(q) (0xe004 + 0x40 * (q))
#define TDLEN(q) (0xe008 + 0x40 * (q))
#define TDH(q) (0xe010 + 0x40 * (q))
#define TDT(q) (0xe018 + 0x40 * (q))
#define TXDCTL(q) (0xe028 + 0x40 * (q))

#define CTRL_SLU (1u << 6)
#define CTRL_RST (1u << 26)
#define STATUS_FD (1u << 0)
#define STATUS_LU (1u << 1)
#define EEC_AUTO_RD (1u << 9)
#define CTRL_EXT_DRV_LOAD (1u << 28)
#define RCTL_EN (1u << 1)
#define RCTL_UPE (1u << 3)
#define RCTL_MPE (1u << 4)
#define RCTL_LPE (1u << 5)
#define RCTL_BAM (1u << 15)
#define RCTL_SECRC (1u << 26)
#define TCTL_EN (1u << 1)
#define TCTL_PSP (1u << 3)
#define TCTL_CT (0xfu << 4)
#define TCTL_COLD (0x3fu << 12)
#define SRRCTL_BSIZEPKT_2K 2u
#define SRRCTL_DESCTYPE_ADV_1BUF (1u << 25)
#define SRRCTL_DROP_EN (1u << 31)
#define XDCTL_ENABLE (1u << 25)
#define RXCSUM_PCSD (1u << 13)
#define MRQC_RSS (2u)
#define MRQC_HASH_FIELDS (0x00010000u | 0x00020000u | 0x00100000u | 0x00200000u)
#define MDIC_OP_WRITE (1u << 26)
#define MDIC_OP_READ (2u << 26)
#define MDIC_READY (1u << 28)
#define MDIC_ERROR (1u << 30)
#define GPIE_MSIX_MODE (1u << 4)
#define GPIE_EIAME (1u << 30)
#define GPIE_PBA (1u << 31)
#define IVAR_VALID 0x80u
#define PHY_ADDR 1u
#define PHY_BMCR 0
#define BMCR_ANRESTART (1u << 9)
#define BMCR_ANENABLE (1u << 12)

/* Descriptors per queue. A burst that lands while the poller is busy (or waits
 * for a slower egress queue) must fit: QEMU's igb, for one, drops a frame for a
 * full queue rather than holding it back while another queue has room. */
#define RING_SIZE 1024
#define MAX_QUEUES 4

/* Statistics registers (§8.19): clear on read, accumulated here. */
static const struct {
    const char *name;
    uint32_t reg;
    bool hi;
} hw_counters[] = {
    {"rx_good_packets", 0x4074, false},  /* GPRC */
    {"tx_good_packets", 0x4080, false},  /* GPTC */
    {"rx_good_octets", 0x4088, true},    /* GORCL/H */
    {"tx_good_octets", 0x4090, true},    /* GOTCL/H */
    {"rx_broadcast", 0x4078, false},     /* BPRC */
    {"rx_multicast", 0x407c, false},     /* MPRC */
    {"rx_missed", 0x4010, false},        /* MPC */
    {"rx_no_buffers", 0x40a0, false},    /* RNBC */
    {"rx_crc_errors", 0x4000, false},    /* CRCERRS */
    {"rx_length_errors", 0x4040, false}, /* RLEC */
};
#define N_HW_COUNTERS (sizeof(hw_counters) / sizeof(hw_counters[0]))

struct igb {
    volatile uint8_t *bar;
    struct vs_mem_region rings;
    struct vs_igb_rxq rxq[MAX_QUEUES];
    struct vs_igb_txq txq[MAX_QUEUES];
    uint64_t hw[N_HW_COUNTERS];
    uint32_t status; /* last STATUS read */
    bool irqs;       /* MSI-X vector q signals irq_fd[q] for RX queue q */
    int irq_fd[MAX_QUEUES];
    uint64_t interrupts[MAX_QUEUES];
};

static inline uint32_t rd(struct igb *g, uint32_t off) { return vs_reg_read32(g->bar, off); }
static inline void wr(struct igb *g, uint32_t off, uint32_t v) { vs_reg_write32(g->bar, off, v); }

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits up to ms for (reg & mask) == want. */
static bool wait_reg(struct igb *g, uint32_t reg, uint32_t mask, uint32_t want, unsigned ms)
{
    for (unsigned i = 0; i <= ms; i++) {
        uint32_t v = rd(g, reg);

        if (v == 0xffffffffu)
            return false;
        if ((v & mask) == want)
            return true;
        sleep_ms(1);
    }
    return false;
}

/* PHY access through MDIC (§8.2.4): one transaction at a time, poll Ready. */
static int phy_rw(struct igb *g, uint32_t op, uint32_t reg, uint16_t *val)
{
    wr(g, MDIC, op | (PHY_ADDR << 21) | (reg << 16) | (op == MDIC_OP_WRITE ? *val : 0));
    for (int i = 0; i < 100; i++) {
        uint32_t v = rd(g, MDIC);

        if (v & MDIC_READY) {
            if (v & MDIC_ERROR)
                return -EIO;
            *val = (uint16_t)v;
            return 0;
        }
        sleep_ms(1);
    }
    return -ETIMEDOUT;
}

static void setup_rss(struct igb *g, unsigned nq)
{
    /* §7.1.2.8: RSS over the redirection table; key fixed but arbitrary. */
    for (unsigned i = 0; i < 10; i++)
        wr(g, RSSRK + 4 * i, 0x6d5a6d5au ^ (i * 0x01010101u));
    for (unsigned i = 0; i < 32; i++) {
        uint32_t v = 0;
        for (unsigned b = 0; b < 4; b++)
            v |= ((i * 4 + b) % nq) << (8 * b);
        wr(g, RETA + 4 * i, v);
    }
    wr(g, RXCSUM, rd(g, RXCSUM) | RXCSUM_PCSD); /* RSS hash replaces the checksum field */
    wr(g, MRQC, MRQC_RSS | MRQC_HASH_FIELDS);
}

/* §7.3: MSI-X, one vector per RX queue (IVAR), auto-clear and auto-mask so that a
 * vector fires once per arming; all masked until a poller arms one to sleep. */
static void setup_irqs(struct vs_nic *nic, struct igb *g, unsigned nrx)
{
    uint32_t mask = (1u << nrx) - 1;
    int rc = vs_vfio_msix_enable(nic->dev, nrx, g->irq_fd);

    if (rc < 0) {
        vs_warn("port %s: igb: no MSI-X interrupts (%s): adaptive pollers cannot sleep on it",
                nic->name, strerror(-rc));
        return;
    }
    wr(g, GPIE, GPIE_MSIX_MODE | GPIE_EIAME | GPIE_PBA);
    for (unsigned q = 0; q < nrx; q++) {
        uint32_t v = rd(g, IVAR(q)) & ~0xffu;
        wr(g, IVAR(q), v | IVAR_VALID | q);
        wr(g, EITR(q), 0);
    }
    wr(g, EIMC, ~0u);
    wr(g, EIAC, mask);
    wr(g, EIAM, mask);
    g->irqs = true;
}

static int igb_init(struct vs_nic *nic, struct vs_port_err *err)
{
    struct vs_vfio_dev *dev = nic->dev;
    struct igb *g;
    unsigned nrx = VS_MIN(nic->n_rxq, MAX_QUEUES), ntx = VS_MIN(nic->n_txq, MAX_QUEUES);
    size_t ring_bytes = (size_t)RING_SIZE * 16;
    uint32_t ral, rah;
    uint16_t bmcr;
    int rc;

    if (nic->n_rxq > MAX_QUEUES) {
        vs_port_err_set(err, -1, "igb: at most %d queues are supported", MAX_QUEUES);
        return -EINVAL;
    }
    /* Frames longer than one receive buffer are gathered into large ones. */
    if ((uint32_t)nic->mtu + VS_ETH_OVERHEAD > VS_IGB_RX_BUF && !vs_pool_large(nic->pool)) {
        vs_port_err_set(err, -1,
                        "igb: mtu %u needs large buffers for frames over %u bytes, and there are "
                        "none (memory.large_buffers is 0)",
                        nic->mtu, VS_IGB_RX_BUF);
        return -EINVAL;
    }
    if ((rc = vs_vfio_map_bar(dev, 0, err)) < 0)
        return rc;
    if (!(g = calloc(1, sizeof(*g))))
        return -ENOMEM;
    for (unsigned q = 0; q < MAX_QUEUES; q++)
        g->irq_fd[q] = -1;
    g->bar = dev->bar[0].va;
    nic->priv = g;

    /* §4.5.3/§4.5.5: mask interrupts, global reset, mask again, wait for the
     * EEPROM auto-read that reloads the MAC address. */
    wr(g, EIMC, ~0u);
    wr(g, IMC, ~0u);
    wr(g, CTRL, rd(g, CTRL) | CTRL_RST);
    sleep_ms(2);
    if (!wait_reg(g, CTRL, CTRL_RST, 0, 100)) {
        vs_port_err_set(err, -1, "igb %s: reset did not complete (device absent?)", dev->bdf);
        return -EIO;
    }
    wr(g, EIMC, ~0u);
    wr(g, IMC, ~0u);
    rd(g, ICR);
    if (!wait_reg(g, EEC, EEC_AUTO_RD, EEC_AUTO_RD, 100))
        vs_warn("port %s: igb: EEPROM auto-read not done after 100 ms", nic->name);
    if ((rc = vs_vfio_enable_bus_master(dev)) < 0) {
        vs_port_err_set(err, -1, "igb %s: cannot enable bus mastering: %s", dev->bdf,
                        strerror(-rc));
        return rc;
    }
    wr(g, CTRL_EXT, rd(g, CTRL_EXT) | CTRL_EXT_DRV_LOAD);

    /* MAC address from receive address 0, loaded from the EEPROM (§8.10.13). */
    ral = rd(g, RAL0);
    rah = rd(g, RAH0);
    for (int i = 0; i < 4; i++)
        nic->mac[i] = (uint8_t)(ral >> (8 * i));
    nic->mac[4] = (uint8_t)rah;
    nic->mac[5] = (uint8_t)(rah >> 8);

    /* §4.5.7.2: copper link through the internal PHY: set link up, restart
     * auto-negotiation; the link comes up asynchronously (poll() watches it). */
    wr(g, CTRL, rd(g, CTRL) | CTRL_SLU);
    if (phy_rw(g, MDIC_OP_READ, PHY_BMCR, &bmcr) == 0) {
        bmcr |= BMCR_ANENABLE | BMCR_ANRESTART;
        if (phy_rw(g, MDIC_OP_WRITE, PHY_BMCR, &bmcr) < 0)
            vs_warn("port %s: igb: PHY auto-negotiation restart failed", nic->name);
    } else {
        vs_warn("port %s: igb: cannot read the PHY control register", nic->name);
    }
    /* Statistics are clear-on-read: start from zero (§4.5.8). */
    for (size_t i = 0; i < N_HW_COUNTERS; i++) {
        rd(g, hw_counters[i].reg);
        if (hw_counters[i].hi)
            rd(g, hw_counters[i].reg + 4);
    }
    for (unsigned i = 0; i < 128; i++)
        wr(g, MTA + 4 * i, 0);

    /* Descriptor rings, DMA-mapped before the NIC learns their address. */
    if ((rc = vs_vfio_dma_alloc(dev, ring_bytes * (nrx + ntx), "igb descriptor rings", &g->rings,
                                err)) < 0)
        return rc;

    /* §4.5.9 receive initialisation, per queue. */
    for (unsigned q = 0; q < nrx; q++) {
        void *ring = (char *)g->rings.va + ring_bytes * q;
        uint64_t dma = vs_vfio_dma_addr(dev, ring, ring_bytes);

        wr(g, RXDCTL(q), 0);
        wr(g, RDBAL(q), (uint32_t)dma);
        wr(g, RDBAH(q), (uint32_t)(dma >> 32));
        wr(g, RDLEN(q), (uint32_t)ring_bytes);
        wr(g, SRRCTL(q), SRRCTL_BSIZEPKT_2K | SRRCTL_DESCTYPE_ADV_1BUF | SRRCTL_DROP_EN);
        wr(g, RDH(q), 0);
        wr(g, RDT(q), 0);
        if ((rc = vs_igb_rxq_init(&g->rxq[q], ring, RING_SIZE,
                                  (volatile uint32_t *)(g->bar + RDT(q)), dev, nic->pool)) < 0) {
            vs_port_err_set(err, -1,
                            "igb: cannot fill RX queue %u with %d buffers: the pool is too small "
                            "(raise memory.buffers)",
                            q, RING_SIZE);
            return rc;
        }
        wr(g, RXDCTL(q), XDCTL_ENABLE);
        if (!wait_reg(g, RXDCTL(q), XDCTL_ENABLE, XDCTL_ENABLE, 10))
            vs_warn("port %s: igb: RX queue %u enable not acknowledged", nic->name, q);
        wr(g, RDT(q), RING_SIZE - 1); /* again, now that the queue is enabled */
    }
    if (nrx > 1)
        setup_rss(g, nrx);
    setup_irqs(nic, g, nrx);
    /* §8.10.1, §8.10.5: frames longer than 1518 bytes (1522 tagged) only with LPE,
     * up to RLPML bytes with the CRC; they span several 2 KiB descriptors. */
    uint32_t rctl = RCTL_EN | RCTL_UPE | RCTL_MPE | RCTL_BAM | RCTL_SECRC;
    if (nic->mtu > VS_PORT_MTU_DEFAULT) {
        wr(g, RLPML, (uint32_t)nic->mtu + VS_ETH_OVERHEAD + 4);
        rctl |= RCTL_LPE;
    }
    wr(g, RCTL, rctl);

    /* §4.5.10 transmit initialisation. */
    for (unsigned q = 0; q < ntx; q++) {
        void *ring = (char *)g->rings.va + ring_bytes * (nrx + q);
        uint64_t dma = vs_vfio_dma_addr(dev, ring, ring_bytes);

        wr(g, TXDCTL(q), 0);
        wr(g, TDBAL(q), (uint32_t)dma);
        wr(g, TDBAH(q), (uint32_t)(dma >> 32));
        wr(g, TDLEN(q), (uint32_t)ring_bytes);
        wr(g, TDH(q), 0);
        if ((rc = vs_igb_txq_init(&g->txq[q], ring, RING_SIZE,
                                  (volatile uint32_t *)(g->bar + TDT(q)), dev)) < 0)
            return rc;
        wr(g, TXDCTL(q), XDCTL_ENABLE);
        if (!wait_reg(g, TXDCTL(q), XDCTL_ENABLE, XDCTL_ENABLE, 10))
            vs_warn("port %s: igb: TX queue %u enable not acknowledged", nic->name, q);
    }
    wr(g, TCTL, TCTL_EN | TCTL_PSP | TCTL_CT | TCTL_COLD);
    nic->n_rxq = (uint16_t)nrx;
    nic->n_txq = (uint16_t)ntx;
    /* Checksums through the context descriptor (or in software when the NIC cannot);
     * no TSO here: the dataplane segments for this NIC. */
    nic->tx_offloads = VS_OL_CSUM;
    g->status = rd(g, STATUS);
    return 0;
}

static void igb_fini(struct vs_nic *nic)
{
    struct igb *g = nic->priv;
    bool present;

    if (!g)
        return;
    present = nic->dev && nic->dev->bar[0].va && g->bar;
    if (present && rd(g, STATUS) != 0xffffffffu) {
        /* Stop DMA before the buffers go back to the pool. */
        wr(g, RCTL, 0);
        wr(g, TCTL, 0);
        for (unsigned q = 0; q < MAX_QUEUES; q++) {
            wr(g, RXDCTL(q), 0);
            wr(g, TXDCTL(q), 0);
        }
        wr(g, CTRL_EXT, rd(g, CTRL_EXT) & ~CTRL_EXT_DRV_LOAD);
        wr(g, CTRL, rd(g, CTRL) | CTRL_RST);
        sleep_ms(2);
        if (g->irqs)
            vs_vfio_msix_disable(nic->dev);
    }
    for (unsigned q = 0; q < MAX_QUEUES; q++)
        if (g->irq_fd[q] >= 0)
            close(g->irq_fd[q]);
    for (unsigned q = 0; q < MAX_QUEUES; q++) {
        vs_igb_rxq_fini(&g->rxq[q]);
        vs_igb_txq_fini(&g->txq[q]);
    }
    vs_vfio_dma_free(nic->dev, &g->rings);
    free(g);
    nic->priv = NULL;
}

static uint16_t igb_rx(struct vs_nic *nic, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct igb *g = nic->priv;

    return vs_igb_rx_burst(&g->rxq[q], pkts, n);
}

static uint16_t igb_tx(struct vs_nic *nic, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct igb *g = nic->priv;

    return vs_igb_tx_burst(&g->txq[q], pkts, n);
}

static int igb_rx_wait_fd(struct vs_nic *nic, uint16_t q)
{
    struct igb *g = nic->priv;

    return g->irqs ? g->irq_fd[q] : -1;
}

static void igb_rx_notify(struct vs_nic *nic, uint16_t q, bool enable)
{
    struct igb *g = nic->priv;

    if (!g->irqs)
        return;
    g->interrupts[q] += vs_eventfd_drain(g->irq_fd[q]);
    if (enable) {
        /* Forget causes from frames already polled, then unmask. The poller looks
         * at the ring once more after this, so nothing slips through. */
        wr(g, EICR, 1u << q);
        wr(g, EIMS, 1u << q);
    } else {
        wr(g, EIMC, 1u << q);
    }
}

static int igb_poll(struct vs_nic *nic)
{
    struct igb *g = nic->priv;
    uint32_t st = rd(g, STATUS);

    if (st == 0xffffffffu)
        return -ENODEV; /* master abort: the device is gone */
    g->status = st;
    for (size_t i = 0; i < N_HW_COUNTERS; i++) {
        uint64_t v = rd(g, hw_counters[i].reg);

        if (hw_counters[i].hi)
            v |= (uint64_t)rd(g, hw_counters[i].reg + 4) << 32;
        g->hw[i] += v;
    }
    return (st & STATUS_LU) ? 1 : 0;
}

static void igb_show(struct vs_nic *nic, json_t *out)
{
    struct igb *g = nic->priv;
    json_t *hw = json_object(), *queues = json_array();
    static const int speeds[4] = {10, 100, 1000, 1000};

    if (!g)
        return;
    json_object_set_new(out, "speed_mbps", json_integer(speeds[(g->status >> 6) & 3]));
    json_object_set_new(out, "full_duplex", json_boolean(g->status & STATUS_FD));
    for (size_t i = 0; i < N_HW_COUNTERS; i++)
        json_object_set_new(hw, hw_counters[i].name, json_integer((json_int_t)g->hw[i]));
    json_object_set_new(out, "nic_counters", hw);
    for (unsigned q = 0; q < VS_MAX(nic->n_rxq, nic->n_txq); q++) {
        json_t *o = json_object();

        if (q < nic->n_rxq) {
            const struct vs_igb_ring_stats *s = &g->rxq[q].stats;
            json_object_set_new(o, "rx_packets", json_integer((json_int_t)s->packets));
            json_object_set_new(o, "rx_bytes", json_integer((json_int_t)s->bytes));
            json_object_set_new(o, "rx_errors", json_integer((json_int_t)s->errors));
            json_object_set_new(o, "rx_no_mbufs", json_integer((json_int_t)s->no_mbufs));
            json_object_set_new(o, "rx_no_large_buffers", json_integer((json_int_t)s->no_large));
            json_object_set_new(o, "interrupts", json_integer((json_int_t)g->interrupts[q]));
        }
        if (q < nic->n_txq) {
            const struct vs_igb_ring_stats *s = &g->txq[q].stats;
            json_object_set_new(o, "tx_packets", json_integer((json_int_t)s->packets));
            json_object_set_new(o, "tx_bytes", json_integer((json_int_t)s->bytes));
            json_object_set_new(o, "tx_ring_full", json_integer((json_int_t)s->full));
            json_object_set_new(o, "tx_errors", json_integer((json_int_t)s->errors));
            json_object_set_new(o, "tx_csum_hw", json_integer((json_int_t)s->csum_hw));
            json_object_set_new(o, "tx_csum_sw", json_integer((json_int_t)s->csum_sw));
            json_object_set_new(o, "tx_in_flight", json_integer(g->txq[q].in_flight));
        }
        json_array_append_new(queues, o);
    }
    json_object_set_new(out, "queues", queues);
}

const struct vs_nic_ops vs_nic_igb_ops = {
    .name = "igb",
    .init = igb_init,
    .fini = igb_fini,
    .rx_burst = igb_rx,
    .tx_burst = igb_tx,
    .poll = igb_poll,
    .show = igb_show,
    .rx_wait_fd = igb_rx_wait_fd,
    .rx_notify = igb_rx_notify,
};
