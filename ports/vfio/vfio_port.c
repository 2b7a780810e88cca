/* The "vfio" port: option parsing, driver choice, and the device's life
 * (open, periodic link/counter poll, surprise removal, close). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "ports/vfio/nic.h"
#include "ports/vfio/vfio_pci.h"
#include "ports/vfio/vfio_port.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/rcu.h"

#define POLL_MS 500
#define MAX_QUEUES 4

struct vfio_port {
    struct vs_port *port;
    struct vs_vfio_dev dev;
    struct vs_nic nic;
    int req_fd; /* kernel's "give the device back" eventfd, -1 if none */
    int timer;  /* link/counter poll timer id, <= 0 if none */
    bool sync_failed_logged;
};

static const char *const vfio_keys[] = {"pci", "queues", "mtu", NULL};
/* Jumbo frames: 9000 bytes of L3 packet on both drivers (igb: frames over a small
 * buffer span several receive descriptors and are gathered into a large buffer;
 * virtio-net: large receive buffers). Longer frames than a small buffer holds need
 * memory.large_buffers. */
#define VFIO_MTU_MAX 9000

static const struct {
    uint16_t vendor, device;
    const struct vs_nic_ops *ops;
    const char *what;
} drivers[] = {
    {0x8086, 0x10c9, &vs_nic_igb_ops, "Intel 82576 (igb)"},
    {0x1af4, 0x1041, &vs_nic_virtio_ops, "virtio-net, modern"},
};

static int vfio_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    char bdf[VS_VFIO_BDF_LEN];
    const char *pci;
    unsigned q;
    int rc, idx;

    if ((rc = vs_port_args_check_keys(args, vfio_keys, err)) < 0)
        return rc;
    pci = vs_port_args_get(args, "pci", &idx);
    if (!pci) {
        vs_port_err_set(err, -1,
                        "missing option 'pci' (the NIC's PCI address, e.g. pci=0000:00:04.0; "
                        "lspci -D lists them)");
        return -EINVAL;
    }
    if (vs_vfio_bdf_parse(pci, bdf) < 0) {
        vs_port_err_set(err, idx,
                        "pci: '%s' is not a PCI address (domain:bus:device.function, e.g. "
                        "0000:00:04.0)",
                        pci);
        return -EINVAL;
    }
    uint16_t mtu;
    if ((rc = vs_port_args_mtu(args, VFIO_MTU_MAX, &mtu, err)) < 0)
        return rc;
    return vs_port_args_uint(args, "queues", 1, MAX_QUEUES, 1, &q, err);
}

/* The port's one life-cycle state is port->failed: 0 while the device is ours, 1
 * from the moment it goes away. Only the main thread sets it (in release()),
 * once; pollers read it before each burst, and the switch removes failed ports
 * from its own timer (a port cannot call the switch). */
static bool device_gone(const struct vfio_port *vp) { return VS_READ_ONCE(vp->port->failed); }

/* Main thread: the device is gone or being taken away. Pollers stop at once; after
 * a grace period none is inside our bursts and the device can be released. */
static void release(struct vfio_port *vp, const char *why)
{
    if (device_gone(vp))
        return;
    VS_WRITE_ONCE(vp->port->failed, 1);
    VS_WRITE_ONCE(vp->port->link_up, 0);
    vs_err("port %s: PCI device %s %s: port stopped and removed, other ports keep "
           "forwarding; once the device is back on vfio-pci: vswitchctl add-port %s vfio pci=%s",
           vp->port->name, vp->dev.bdf, why, vp->port->name, vp->dev.bdf);
    vs_rcu_synchronize();
    if (vp->req_fd >= 0) {
        vs_loop_del_fd(vp->req_fd);
        close(vp->req_fd);
        vp->req_fd = -1;
    }
    vs_vfio_close(&vp->dev); /* unmaps the BARs, closes the device (and its group when last): the
                                unbind can finish */
}

static void on_request(int fd, uint32_t events, void *arg)
{
    uint64_t v;

    if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
        return;
    release(arg, "is being unbound from vfio-pci (the kernel asked for it back)");
}

static void on_timer(void *arg)
{
    struct vfio_port *vp = arg;
    struct vs_port_err err = {.arg = -1};
    int rc;

    if (device_gone(vp))
        return;
    if (vs_vfio_dma_sync(&vp->dev, &err) < 0 && !vp->sync_failed_logged) {
        /* Buffers from the new memory cannot be sent or received zero-copy. */
        vp->sync_failed_logged = true;
        vs_err("port %s: cannot DMA-map new packet memory: %s", vp->port->name, err.msg);
    }
    rc = vp->nic.ops->poll(&vp->nic);
    if (rc == -ENODEV) {
        release(vp, "reads as all-ones (removed or unreachable)");
        return;
    }
    if (rc >= 0 && rc != VS_READ_ONCE(vp->port->link_up)) {
        vs_info("port %s: link %s", vp->port->name, rc ? "up" : "down");
        VS_WRITE_ONCE(vp->port->link_up, rc);
    }
}

static void vfio_close(struct vs_port *port)
{
    struct vfio_port *vp = port->priv;

    if (!vp)
        return;
    if (vp->timer > 0)
        vs_loop_del_timer(vp->timer);
    if (vp->req_fd >= 0) {
        vs_loop_del_fd(vp->req_fd);
        close(vp->req_fd);
    }
    if (vp->nic.ops)
        vp->nic.ops->fini(&vp->nic); /* touches the device only while it is present */
    vs_vfio_close(&vp->dev);
    free(vp);
    port->priv = NULL;
}

static int vfio_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vfio_port *vp;
    unsigned queues;
    int rc;

    if ((rc = vfio_validate(args, err)) < 0)
        return rc;
    vs_port_args_uint(args, "queues", 1, MAX_QUEUES, 1, &queues, err);
    vs_port_args_mtu(args, VFIO_MTU_MAX, &port->mtu, err);
    if (!(vp = calloc(1, sizeof(*vp))))
        return -ENOMEM;
    vp->port = port;
    vp->req_fd = -1;
    port->priv = vp;
    if ((rc = vs_vfio_open(&vp->dev, vs_port_args_get(args, "pci", NULL), "", err)) < 0)
        goto fail;
    for (size_t i = 0; i < VS_ARRAY_SIZE(drivers); i++)
        if (drivers[i].vendor == vp->dev.vendor && drivers[i].device == vp->dev.device)
            vp->nic.ops = drivers[i].ops;
    if (!vp->nic.ops) {
        vs_port_err_set(err, -1,
                        "PCI device %s is %04x:%04x, which no vfio driver here supports "
                        "(supported: 8086:10c9 Intel 82576 igb, 1af4:1041 modern virtio-net)",
                        vp->dev.bdf, vp->dev.vendor, vp->dev.device);
        rc = -ENOTSUP;
        goto fail;
    }
    if ((rc = vs_vfio_reset(&vp->dev)) < 0)
        vs_warn("port %s: reset of %s failed: %s (continuing)", port->name, vp->dev.bdf,
                strerror(-rc));
    if ((rc = vs_vfio_dma_map_all(&vp->dev, err)) < 0)
        goto fail;
    vp->nic.dev = &vp->dev;
    vp->nic.pool = port->pool;
    vp->nic.name = port->name;
    vp->nic.n_rxq = vp->nic.n_txq = (uint16_t)queues;
    vp->nic.mtu = port->mtu;
    vp->nic.mtu_set = vs_port_args_get(args, "mtu", NULL) != NULL;
    if ((rc = vp->nic.ops->init(&vp->nic, err)) < 0)
        goto fail;
    port->n_rxq = vp->nic.n_rxq;
    port->n_txq = vp->nic.n_txq;
    port->mtu = vp->nic.mtu;
    VS_WRITE_ONCE(port->tx_offloads, vp->nic.tx_offloads);

    rc = vs_vfio_request_eventfd(&vp->dev);
    if (rc >= 0) {
        vp->req_fd = rc;
        if (vs_loop_add_fd(vp->req_fd, EPOLLIN, on_request, vp) < 0) {
            close(vp->req_fd);
            vp->req_fd = -1;
        }
    }
    if (vp->req_fd < 0)
        vs_warn("port %s: cannot watch for unbind requests on %s: unbinding it while vswitchd "
                "runs will block until the port is removed",
                port->name, vp->dev.bdf);
    vp->timer = vs_loop_add_timer(POLL_MS, POLL_MS, on_timer, vp);
    rc = vp->nic.ops->poll(&vp->nic);
    VS_WRITE_ONCE(port->link_up, rc > 0);
    vs_info("port %s: %s %s (%04x:%04x), %u queue%s, MAC %02x:%02x:%02x:%02x:%02x:%02x, mtu %u, "
            "offloads%s%s%s%s%s%s%s",
            port->name, vp->nic.ops->name, vp->dev.bdf, vp->dev.vendor, vp->dev.device, port->n_rxq,
            port->n_rxq > 1 ? "s" : "", vp->nic.mac[0], vp->nic.mac[1], vp->nic.mac[2],
            vp->nic.mac[3], vp->nic.mac[4], vp->nic.mac[5], port->mtu,
            port->tx_offloads ? "" : " none", (port->tx_offloads & VS_OL_CSUM) ? " csum" : "",
            (port->tx_offloads & VS_OL_TSO4) ? " tso4" : "",
            (port->tx_offloads & VS_OL_TSO6) ? " tso6" : "",
            (port->tx_offloads & VS_OL_USO) ? " uso" : "",
            (port->tx_offloads & VS_OL_ECN) ? " ecn" : "",
            vp->dev.noiommu ? ", no-IOMMU mode" : "");
    return 0;
fail:
    vfio_close(port);
    return rc;
}

static uint16_t vfio_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct vfio_port *vp = port->priv;

    if (vs_unlikely(device_gone(vp)))
        return 0;
    return vp->nic.ops->rx_burst(&vp->nic, q, pkts, n);
}

/* The NIC keeps frames until it has sent them, and reads them by DMA. A frame lent
 * from a guest's memory (VS_PKT_F_EXTERNAL) is ours only until the end of the burst
 * and is not DMA-mapped: it goes out from a copy in a pool buffer (a large one when
 * it is longer than a small one holds), with its offload requests. Returns how many
 * of pkts can be sent (fewer when the pool runs dry; the caller drops the rest). */
static uint16_t own_frames(struct vs_port *port, struct vs_pkt **pkts, uint16_t n)
{
    for (uint16_t i = 0; i < n; i++) {
        struct vs_pkt *p = pkts[i], *c;

        if (vs_likely(!(p->flags & VS_PKT_F_EXTERNAL)))
            continue;
        if (!(c = vs_pkt_copy(p)))
            return i;
        vs_pkt_free(p);
        pkts[i] = c;
    }
    return n;
}

static uint16_t vfio_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct vfio_port *vp = port->priv;

    if (vs_unlikely(device_gone(vp)))
        return 0; /* the caller frees and counts them as drops */
    return vp->nic.ops->tx_burst(&vp->nic, q, pkts, own_frames(port, pkts, n));
}

static int vfio_rx_wait_fd(struct vs_port *port, uint16_t q)
{
    struct vfio_port *vp = port->priv;

    /* A gone device keeps its eventfds (closed by close()): they just never fire. */
    return vp->nic.ops->rx_wait_fd ? vp->nic.ops->rx_wait_fd(&vp->nic, q) : -1;
}

static void vfio_rx_notify(struct vs_port *port, uint16_t q, bool enable)
{
    struct vfio_port *vp = port->priv;

    if (vs_likely(!device_gone(vp)) && vp->nic.ops->rx_notify)
        vp->nic.ops->rx_notify(&vp->nic, q, enable);
}

static void vfio_show(struct vs_port *port, json_t *out)
{
    struct vfio_port *vp = port->priv;
    char mac[18], id[10];

    if (!vp)
        return;
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", vp->nic.mac[0], vp->nic.mac[1],
             vp->nic.mac[2], vp->nic.mac[3], vp->nic.mac[4], vp->nic.mac[5]);
    snprintf(id, sizeof(id), "%04x:%04x", vp->dev.vendor, vp->dev.device);
    json_object_set_new(out, "driver", json_string(vp->nic.ops->name));
    json_object_set_new(out, "pci", json_string(vp->dev.bdf));
    json_object_set_new(out, "pci_id", json_string(id));
    json_object_set_new(out, "iommu",
                        json_string(vp->dev.noiommu ? "none (no-IOMMU mode)" : "type1"));
    json_object_set_new(out, "link", json_string(VS_READ_ONCE(port->link_up) ? "up" : "down"));
    json_object_set_new(out, "mac", json_string(mac));
    json_object_set_new(out, "removed", json_boolean(device_gone(vp)));
    vp->nic.ops->show(&vp->nic, out);
}

const struct vs_port_ops vs_port_vfio_ops = {
    .type = "vfio",
    .keys = vfio_keys,
    .validate = vfio_validate,
    .open = vfio_open,
    .close = vfio_close,
    .rx_burst = vfio_rx_burst,
    .tx_burst = vfio_tx_burst,
    .show = vfio_show,
    .rx_wait_fd = vfio_rx_wait_fd,
    .rx_notify = vfio_rx_notify,
};
