/* Names of features, errors and status bits for show() and log lines. */
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/vduse/dev.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/compiler.h"

static const char *const feature_names[64] = {
    [VIRTIO_NET_F_CSUM] = "CSUM",
    [VIRTIO_NET_F_GUEST_CSUM] = "GUEST_CSUM",
    [VIRTIO_NET_F_GUEST_TSO4] = "GUEST_TSO4",
    [VIRTIO_NET_F_GUEST_TSO6] = "GUEST_TSO6",
    [VIRTIO_NET_F_GUEST_ECN] = "GUEST_ECN",
    [VIRTIO_NET_F_HOST_TSO4] = "HOST_TSO4",
    [VIRTIO_NET_F_HOST_TSO6] = "HOST_TSO6",
    [VIRTIO_NET_F_HOST_ECN] = "HOST_ECN",
    [VS_VIRTIO_NET_F_GUEST_USO4] = "GUEST_USO4",
    [VS_VIRTIO_NET_F_GUEST_USO6] = "GUEST_USO6",
    [VS_VIRTIO_NET_F_HOST_USO] = "HOST_USO",
    [VIRTIO_NET_F_MTU] = "MTU",
    [VIRTIO_NET_F_MAC] = "MAC",
    [VIRTIO_NET_F_MRG_RXBUF] = "MRG_RXBUF",
    [VIRTIO_NET_F_STATUS] = "STATUS",
    [VIRTIO_NET_F_CTRL_VQ] = "CTRL_VQ",
    [VIRTIO_NET_F_MQ] = "MQ",
    [VIRTIO_RING_F_INDIRECT_DESC] = "RING_INDIRECT_DESC",
    [VIRTIO_RING_F_EVENT_IDX] = "RING_EVENT_IDX",
    [VIRTIO_F_VERSION_1] = "VERSION_1",
    [VIRTIO_F_ACCESS_PLATFORM] = "ACCESS_PLATFORM",
    [VIRTIO_F_RING_PACKED] = "RING_PACKED",
    [VIRTIO_F_IN_ORDER] = "IN_ORDER",
};

const char *vs_vduse_feature_name(unsigned bit) { return bit < 64 ? feature_names[bit] : NULL; }

static const char *const error_names[VS_VDUSE_ERR__COUNT] = {
    [VS_VDUSE_ERR_SIZE] = "size",   [VS_VDUSE_ERR_TYPE] = "type",
    [VS_VDUSE_ERR_INDEX] = "index", [VS_VDUSE_ERR_FEATURES] = "features",
    [VS_VDUSE_ERR_RANGE] = "range", [VS_VDUSE_ERR_IOTLB] = "iotlb",
    [VS_VDUSE_ERR_RING] = "ring",   [VS_VDUSE_ERR_KERNEL] = "kernel",
};

const char *vs_vduse_error_name(enum vs_vduse_error e)
{
    return (unsigned)e < VS_VDUSE_ERR__COUNT ? error_names[e] : "unknown";
}

const char *vs_vduse_status_str(uint8_t status, char *buf, size_t len)
{
    static const struct {
        uint8_t bit;
        const char *name;
    } bits[] = {
        {VIRTIO_CONFIG_S_ACKNOWLEDGE, "ACKNOWLEDGE"}, {VIRTIO_CONFIG_S_DRIVER, "DRIVER"},
        {VIRTIO_CONFIG_S_FEATURES_OK, "FEATURES_OK"}, {VIRTIO_CONFIG_S_DRIVER_OK, "DRIVER_OK"},
        {VIRTIO_CONFIG_S_NEEDS_RESET, "NEEDS_RESET"}, {VIRTIO_CONFIG_S_FAILED, "FAILED"},
    };
    size_t used = 0;

    buf[0] = '\0';
    if (!status)
        snprintf(buf, len, "reset");
    for (size_t i = 0; i < VS_ARRAY_SIZE(bits); i++)
        if ((status & bits[i].bit) && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "|" : "", bits[i].name);
    return buf;
}
