/* The vhost-user wire format (QEMU docs/interop/vhost-user.rst): a 12-byte header
 * (request, flags, payload size) followed by the payload, file descriptors in
 * SCM_RIGHTS ancillary data. Native byte order, packed layout. Only what a
 * virtio-net back-end needs is named here. */
#ifndef VS_PORTS_VHOST_USER_PROTO_H
#define VS_PORTS_VHOST_USER_PROTO_H

#include <stdint.h>

#include <linux/vhost_types.h>

enum vs_vhu_request {
    VS_VHU_GET_FEATURES = 1,
    VS_VHU_SET_FEATURES = 2,
    VS_VHU_SET_OWNER = 3,
    VS_VHU_RESET_OWNER = 4,
    VS_VHU_SET_MEM_TABLE = 5,
    VS_VHU_SET_LOG_BASE = 6,
    VS_VHU_SET_LOG_FD = 7,
    VS_VHU_SET_VRING_NUM = 8,
    VS_VHU_SET_VRING_ADDR = 9,
    VS_VHU_SET_VRING_BASE = 10,
    VS_VHU_GET_VRING_BASE = 11,
    VS_VHU_SET_VRING_KICK = 12,
    VS_VHU_SET_VRING_CALL = 13,
    VS_VHU_SET_VRING_ERR = 14,
    VS_VHU_GET_PROTOCOL_FEATURES = 15,
    VS_VHU_SET_PROTOCOL_FEATURES = 16,
    VS_VHU_GET_QUEUE_NUM = 17,
    VS_VHU_SET_VRING_ENABLE = 18,
    VS_VHU_SEND_RARP = 19,
    VS_VHU_NET_SET_MTU = 20,
    VS_VHU_SET_BACKEND_REQ_FD = 21,
    VS_VHU_IOTLB_MSG = 22,
    VS_VHU_SET_VRING_ENDIAN = 23,
    VS_VHU_GET_CONFIG = 24,
    VS_VHU_SET_CONFIG = 25,
    VS_VHU_GET_INFLIGHT_FD = 31,
    VS_VHU_SET_INFLIGHT_FD = 32,
    VS_VHU_RESET_DEVICE = 34,
    VS_VHU_VRING_KICK = 35,
    VS_VHU_GET_MAX_MEM_SLOTS = 36,
    VS_VHU_ADD_MEM_REG = 37,
    VS_VHU_REM_MEM_REG = 38,
    VS_VHU_SET_STATUS = 39,
    VS_VHU_GET_STATUS = 40,
    VS_VHU_REQUEST_MAX
};

/* Protocol feature bits (GET/SET_PROTOCOL_FEATURES). */
enum vs_vhu_protocol_feature {
    VS_VHU_PF_MQ = 0,
    VS_VHU_PF_LOG_SHMFD = 1,
    VS_VHU_PF_RARP = 2,
    VS_VHU_PF_REPLY_ACK = 3,
    VS_VHU_PF_NET_MTU = 4,
    VS_VHU_PF_BACKEND_REQ = 5,
    VS_VHU_PF_CROSS_ENDIAN = 6,
    VS_VHU_PF_CONFIG = 9,
    VS_VHU_PF_INFLIGHT_SHMFD = 12,
    VS_VHU_PF_RESET_DEVICE = 13,
    VS_VHU_PF_INBAND_NOTIFICATIONS = 14,
    VS_VHU_PF_CONFIGURE_MEM_SLOTS = 15,
    VS_VHU_PF_STATUS = 16,
};

/* The virtio feature bit vhost-user borrows to say "protocol features exist". */
#define VS_VHU_F_PROTOCOL_FEATURES 30

#define VS_VHU_VERSION 0x1u
#define VS_VHU_VERSION_MASK 0x3u
#define VS_VHU_FLAG_REPLY (1u << 2)
#define VS_VHU_FLAG_NEED_REPLY (1u << 3)

#define VS_VHU_VRING_IDX_MASK 0xffu
#define VS_VHU_VRING_NOFD (1u << 8)

/* SET_MEM_TABLE carries at most this many regions (and fds) per message. */
#define VS_VHU_MEM_TABLE_MAX 8
/* No message this back-end understands is larger; a bigger size field means a
 * broken or hostile peer and the stream cannot be trusted any more. */
#define VS_VHU_MAX_PAYLOAD 4096
/* fds accepted with one message; more are closed and the message is refused. */
#define VS_VHU_MAX_FDS 8
#define VS_VHU_CONFIG_MAX 256

struct vs_vhu_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
} __attribute__((packed));

struct vs_vhu_mem_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uva;
    uint64_t mmap_offset;
} __attribute__((packed));

struct vs_vhu_mem_table {
    uint32_t nregions;
    uint32_t padding;
    struct vs_vhu_mem_region r[VS_VHU_MEM_TABLE_MAX];
} __attribute__((packed));

struct vs_vhu_mem_reg {
    uint64_t padding;
    struct vs_vhu_mem_region r;
} __attribute__((packed));

struct vs_vhu_log {
    uint64_t mmap_size;
    uint64_t mmap_offset;
} __attribute__((packed));

struct vs_vhu_config {
    uint32_t offset;
    uint32_t size;
    uint32_t flags;
    uint8_t region[VS_VHU_CONFIG_MAX];
} __attribute__((packed));

#define VS_VHU_CONFIG_HDR 12u

union vs_vhu_payload {
    uint64_t u64;
    struct vhost_vring_state state;
    struct vhost_vring_addr addr;
    struct vs_vhu_mem_table mem;
    struct vs_vhu_mem_reg memreg;
    struct vs_vhu_log log;
    struct vs_vhu_config config;
    uint8_t raw[VS_VHU_MAX_PAYLOAD];
};

struct vs_vhu_msg {
    struct vs_vhu_hdr hdr;
    union vs_vhu_payload p;
} __attribute__((packed));

_Static_assert(sizeof(struct vs_vhu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vhost_vring_state) == 8, "vring state is 8 bytes");
_Static_assert(sizeof(struct vhost_vring_addr) == 40, "vring addr is 40 bytes");
_Static_assert(sizeof(struct vs_vhu_mem_reg) == 40, "memory region message is 40 bytes");

/* Request name for log lines ("SET_MEM_TABLE"), "UNKNOWN" for anything else. */
const char *vs_vhu_request_name(uint32_t request);

#endif
