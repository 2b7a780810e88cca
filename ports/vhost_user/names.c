/* Names of requests, feature bits and error counters, for logs and show(). */
#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/vhost_user/dev.h"
#include "ports/virtio/net_hdr.h"

const char *vs_vhu_request_name(uint32_t request)
{
    static const char *const names[VS_VHU_REQUEST_MAX] = {
        [VS_VHU_GET_FEATURES] = "GET_FEATURES",
        [VS_VHU_SET_FEATURES] = "SET_FEATURES",
        [VS_VHU_SET_OWNER] = "SET_OWNER",
        [VS_VHU_RESET_OWNER] = "RESET_OWNER",
        [VS_VHU_SET_MEM_TABLE] = "SET_MEM_TABLE",
        [VS_VHU_SET_LOG_BASE] = "SET_LOG_BASE",
        [VS_VHU_SET_LOG_FD] = "SET_LOG_FD",
        [VS_VHU_SET_VRING_NUM] = "SET_VRING_NUM",
        [VS_VHU_SET_VRING_ADDR] = "SET_VRING_ADDR",
        [VS_VHU_SET_VRING_BASE] = "SET_VRING_BASE",
        [VS_VHU_GET_VRING_BASE] = "GET_VRING_BASE",
        [VS_VHU_SET_VRING_KICK] = "SET_VRING_KICK",
        [VS_VHU_SET_VRING_CALL] = "SET_VRING_CALL",
        [VS_VHU_SET_VRING_ERR] = "SET_VRING_ERR",
        [VS_VHU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
        [VS_VHU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
        [VS_VHU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
        [VS_VHU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
        [VS_VHU_SEND_RARP] = "SEND_RARP",
        [VS_VHU_NET_SET_MTU] = "NET_SET_MTU",
        [VS_VHU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
        [VS_VHU_IOTLB_MSG] = "IOTLB_MSG",
        [VS_VHU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN",
        [VS_VHU_GET_CONFIG] = "GET_CONFIG",
        [VS_VHU_SET_CONFIG] = "SET_CONFIG",
        [VS_VHU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
        [VS_VHU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
        [VS_VHU_RESET_DEVICE] = "RESET_DEVICE",
        [VS_VHU_VRING_KICK] = "VRING_KICK",
        [VS_VHU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
        [VS_VHU_ADD_MEM_REG] = "ADD_MEM_REG",
        [VS_VHU_REM_MEM_REG] = "REM_MEM_REG",
        [VS_VHU_SET_STATUS] = "SET_STATUS",
        [VS_VHU_GET_STATUS] = "GET_STATUS",
    };

    if (request < VS_VHU_REQUEST_MAX && names[request])
        return names[request];
    return "UNKNOWN";
}

const char *vs_vhu_feature_name(unsigned bit)
{
    switch (bit) {
    case VIRTIO_NET_F_CSUM: return "CSUM";
    case VIRTIO_NET_F_GUEST_CSUM: return "GUEST_CSUM";
    case VIRTIO_NET_F_MTU: return "MTU";
    case VIRTIO_NET_F_GUEST_TSO4: return "GUEST_TSO4";
    case VIRTIO_NET_F_GUEST_TSO6: return "GUEST_TSO6";
    case VIRTIO_NET_F_GUEST_ECN: return "GUEST_ECN";
    case VIRTIO_NET_F_HOST_TSO4: return "HOST_TSO4";
    case VIRTIO_NET_F_HOST_TSO6: return "HOST_TSO6";
    case VIRTIO_NET_F_HOST_ECN: return "HOST_ECN";
    case VS_VIRTIO_NET_F_GUEST_USO4: return "GUEST_USO4";
    case VS_VIRTIO_NET_F_GUEST_USO6: return "GUEST_USO6";
    case VS_VIRTIO_NET_F_HOST_USO: return "HOST_USO";
    case VIRTIO_NET_F_MAC: return "MAC";
    case VIRTIO_NET_F_MRG_RXBUF: return "MRG_RXBUF";
    case VIRTIO_NET_F_STATUS: return "STATUS";
    case VIRTIO_NET_F_CTRL_VQ: return "CTRL_VQ";
    case VIRTIO_NET_F_GUEST_ANNOUNCE: return "GUEST_ANNOUNCE";
    case VIRTIO_NET_F_MQ: return "MQ";
    case VHOST_F_LOG_ALL: return "LOG_ALL";
    case VIRTIO_F_ANY_LAYOUT: return "ANY_LAYOUT";
    case VIRTIO_RING_F_INDIRECT_DESC: return "INDIRECT_DESC";
    case VIRTIO_RING_F_EVENT_IDX: return "EVENT_IDX";
    case VS_VHU_F_PROTOCOL_FEATURES: return "PROTOCOL_FEATURES";
    case VIRTIO_F_VERSION_1: return "VERSION_1";
    case VIRTIO_F_ACCESS_PLATFORM: return "ACCESS_PLATFORM";
    case VIRTIO_F_RING_PACKED: return "RING_PACKED";
    case VIRTIO_F_IN_ORDER: return "IN_ORDER";
    default: return NULL;
    }
}

const char *vs_vhu_protocol_feature_name(unsigned bit)
{
    switch (bit) {
    case VS_VHU_PF_MQ: return "MQ";
    case VS_VHU_PF_LOG_SHMFD: return "LOG_SHMFD";
    case VS_VHU_PF_RARP: return "RARP";
    case VS_VHU_PF_REPLY_ACK: return "REPLY_ACK";
    case VS_VHU_PF_NET_MTU: return "NET_MTU";
    case VS_VHU_PF_BACKEND_REQ: return "BACKEND_REQ";
    case VS_VHU_PF_CROSS_ENDIAN: return "CROSS_ENDIAN";
    case VS_VHU_PF_CONFIG: return "CONFIG";
    case VS_VHU_PF_INFLIGHT_SHMFD: return "INFLIGHT_SHMFD";
    case VS_VHU_PF_RESET_DEVICE: return "RESET_DEVICE";
    case VS_VHU_PF_INBAND_NOTIFICATIONS: return "INBAND_NOTIFICATIONS";
    case VS_VHU_PF_CONFIGURE_MEM_SLOTS: return "CONFIGURE_MEM_SLOTS";
    case VS_VHU_PF_STATUS: return "STATUS";
    default: return NULL;
    }
}

const char *vs_vhu_msg_error_name(enum vs_vhu_msg_error e)
{
    switch (e) {
    case VS_VHU_ERR_HEADER: return "bad_header";
    case VS_VHU_ERR_SIZE: return "bad_size";
    case VS_VHU_ERR_FDS: return "bad_fd_count";
    case VS_VHU_ERR_FD_TYPE: return "bad_fd_type";
    case VS_VHU_ERR_UNKNOWN: return "unsupported_request";
    case VS_VHU_ERR_INDEX: return "bad_vring_index";
    case VS_VHU_ERR_VALUE: return "bad_value";
    case VS_VHU_ERR_MEMORY: return "bad_memory";
    case VS_VHU_ERR_RING: return "bad_ring";
    default: return "unknown";
    }
}
