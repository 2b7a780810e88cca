/* A fake vhost-user front-end for tests: speaks the protocol over a UNIX socket as
 * QEMU or DPDK virtio-user would, shares memfd guest memory, and drives the rings
 * with the test virtio driver (test/common/virtio_driver.h). It can also send
 * malformed messages. Blocking I/O with timeouts; single-threaded. */
#ifndef VS_TEST_COMMON_VHOST_FRONTEND_H
#define VS_TEST_COMMON_VHOST_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/vhost_user/proto.h"
#include "test/common/virtio_driver.h"

#define FE_MAX_QP 8
#define FE_MEM_SIZE (8u << 20)

struct fe_opts {
    unsigned nqp;         /* queue pairs to set up */
    uint16_t ring_size;
    bool packed;
    bool event_idx;
    bool add_mem_reg;     /* CONFIGURE_MEM_SLOTS + ADD_MEM_REG instead of SET_MEM_TABLE */
    bool no_protocol_features; /* legacy front-end: rings start enabled on kick */
    bool two_regions;     /* the memfd as two regions (second at mmap_offset FE_MEM_SIZE/2) */
    bool hugetlb;         /* memfd on 2 MiB hugepages (MFD_HUGETLB) */
    bool in_order;        /* VIRTIO_F_IN_ORDER, rings driven in order */
    uint64_t extra_features; /* also negotiated (offloads); must have been offered */
};

struct fe {
    int sock;
    int memfd;
    uint8_t *mem;
    uint64_t mem_size;
    struct vs_vdrv_mem vm;
    struct vs_vdrv ring[2 * FE_MAX_QP]; /* vring 2q: guest RX; 2q+1: guest TX */
    bool ring_init[2 * FE_MAX_QP];
    int kick[2 * FE_MAX_QP], call[2 * FE_MAX_QP];
    uint64_t features;
    struct fe_opts opts;
};

/* Connects to a back-end listening on path. 0 or -errno. */
int fe_connect(struct fe *fe, const char *path);
/* Takes an already connected socket. */
void fe_adopt(struct fe *fe, int sock);
/* Closes everything the front-end holds (socket, memory, eventfds, rings). */
void fe_close(struct fe *fe);

/* Raw send: header fields as given (flags usually VS_VHU_VERSION [| NEED_REPLY]). */
int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
            const int *fds, unsigned nfds);
/* Sends raw bytes (for truncated messages). */
int fe_send_bytes(struct fe *fe, const void *buf, size_t len, const int *fds, unsigned nfds);
/* Reads one reply within timeout_ms. 0, -ETIMEDOUT, or -EPIPE when the back-end closed. */
int fe_recv(struct fe *fe, struct vs_vhu_msg *msg, int timeout_ms);
/* Is the connection closed by the back-end (EOF within timeout_ms)? */
bool fe_closed_by_peer(struct fe *fe, int timeout_ms);

/* Sends with NEED_REPLY and returns the acknowledged u64 (0 = success), or -1 when no
 * valid reply came. */
int64_t fe_ack(struct fe *fe, uint32_t req, const void *payload, uint32_t size, const int *fds,
               unsigned nfds);
/* Sends a request with a u64 reply; returns 0 and *out, or -1. */
int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *out);
int64_t fe_ack_u64(struct fe *fe, uint32_t req, uint64_t v);
int64_t fe_ack_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num);

/* memfd guest memory of FE_MEM_SIZE bytes (hugepages with fe->opts.hugetlb). 0 or -errno. */
int fe_mem_init(struct fe *fe);
/* Front-end user address of a guest-physical address in the memory. */
uint64_t fe_uva(const struct fe *fe, uint64_t gpa);
/* The memory table message for our single region. */
int64_t fe_send_mem_table(struct fe *fe);
/* Sets up vring i: NUM, BASE, ADDR, KICK, CALL (and ENABLE with protocol features). */
int fe_setup_vring(struct fe *fe, unsigned i, uint32_t base);

/* The whole negotiation: features, protocol features, owner, memory, every vring of
 * opts->nqp queue pairs. Returns 0 or the step that failed (a positive number). */
int fe_negotiate(struct fe *fe, const struct fe_opts *opts);

/* Counts of open fds and of mapping lines in this process (for leak checks). */
int count_fds(void);
int count_maps(void);

#endif
