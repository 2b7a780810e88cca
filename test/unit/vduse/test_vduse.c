/* VDUSE device: control requests, IOTLB map/invalidate and feature negotiation
 * against a fake device fd. The fake stands in for the kernel's ioctls only (the
 * seam of struct vs_vduse_sys); IOTLB entries are real memfds that the device
 * maps, and the rings in them are driven like a driver would. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/virtio/net_hdr.h"

#include "ports/vduse/args.h"
#include "ports/vduse/control.h"
#include "ports/vduse/dev.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/pkt.h"

#define BIT(b) (1ull << (b))
#define REGION 0x10000ull /* ring region: IOVA 0x10000, 64 KiB */
#define REGION_LEN 0x10000ull
#define EXTRA 0x100000ull /* a buffer region the driver maps later */
#define QSIZE VS_VDUSE_VQ_SIZE
#define FAKE_FD 1000

/* ---- the fake kernel -------------------------------------------------------------- */

struct fake_entry {
    bool present;
    struct vduse_iotlb_entry e;
    int memfd;
    uint8_t *view; /* the test's own mapping of the entry, as the driver's side */
    uint8_t *map;  /* what to munmap: the file from 0 */
};

static struct fake {
    uint64_t features;
    struct vduse_vq_info info[VS_VDUSE_N_VQ];
    struct fake_entry tlb[4];
    int kickfd[VS_VDUSE_N_VQ];
    unsigned irqs[VS_VDUSE_N_VQ];
    unsigned get_fd_calls;
    unsigned long fail_req; /* an ioctl request that fails with EIO, 0: none */
} fk;

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
    CU_ASSERT_EQUAL(fd, FAKE_FD);
    if (fk.fail_req && req == fk.fail_req) {
        errno = EIO;
        return -1;
    }
    switch (req) {
    case VDUSE_DEV_GET_FEATURES: memcpy(arg, &fk.features, sizeof(fk.features)); return 0;
    case VDUSE_VQ_GET_INFO: {
        struct vduse_vq_info *vi = arg;
        if (vi->index >= VS_VDUSE_N_VQ) {
            errno = EINVAL;
            return -1;
        }
        *vi = fk.info[vi->index];
        return 0;
    }
    case VDUSE_VQ_SETUP_KICKFD: {
        const struct vduse_vq_eventfd *k = arg;
        fk.kickfd[k->index] = k->fd;
        return 0;
    }
    case VDUSE_VQ_INJECT_IRQ: fk.irqs[*(uint32_t *)arg]++; return 0;
    case VDUSE_IOTLB_GET_FD: {
        struct vduse_iotlb_entry *q = arg;
        const struct fake_entry *best = NULL;
        fk.get_fd_calls++;
        /* The first entry overlapping [start, last], as the kernel answers. */
        for (unsigned i = 0; i < VS_ARRAY_SIZE(fk.tlb); i++) {
            const struct fake_entry *t = &fk.tlb[i];
            if (t->present && t->e.start <= q->last && q->start <= t->e.last &&
                (!best || t->e.start < best->e.start))
                best = t;
        }
        if (!best) {
            errno = EINVAL;
            return -1;
        }
        *q = best->e;
        return dup(best->memfd);
    }
    }
    errno = ENOTTY;
    return -1;
}

static const struct vs_vduse_sys fake_sys = {.ioctl = fake_ioctl};

/* Adds an IOTLB entry backed by a fresh memfd of len bytes. */
static struct fake_entry *tlb_add(unsigned slot, uint64_t iova, uint64_t len, uint8_t perm,
                                  uint64_t offset)
{
    struct fake_entry *t = &fk.tlb[slot];

    t->memfd = memfd_create("fake-iotlb", MFD_CLOEXEC);
    CU_ASSERT_FATAL(t->memfd >= 0);
    CU_ASSERT_FATAL(ftruncate(t->memfd, (off_t)(offset + len)) == 0);
    t->map = mmap(NULL, offset + len, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
    CU_ASSERT_FATAL(t->map != MAP_FAILED);
    t->view = t->map + offset;
    t->e = (struct vduse_iotlb_entry){
        .offset = offset, .start = iova, .last = iova + len - 1, .perm = perm};
    t->present = true;
    return t;
}

static void tlb_drop(unsigned slot)
{
    struct fake_entry *t = &fk.tlb[slot];

    if (!t->present)
        return;
    munmap(t->map, t->e.offset + (t->e.last - t->e.start + 1));
    close(t->memfd);
    t->present = false;
}

static void fake_reset(void)
{
    for (unsigned i = 0; i < VS_ARRAY_SIZE(fk.tlb); i++)
        tlb_drop(i);
    memset(&fk, 0, sizeof(fk));
}

/* Split rings of vq i in the ring region: desc at +0x8000*i, avail +0x1000,
 * used +0x2000 (from the region start). */
static uint64_t ring_iova(unsigned i, unsigned area)
{
    return REGION + 0x8000ull * i + 0x1000ull * area;
}

static void *ring_view(unsigned i, unsigned area)
{
    return fk.tlb[0].view + (ring_iova(i, area) - REGION);
}

/* The driver's side: the ring region mapped, both queues ready. */
static void fake_driver(uint64_t features)
{
    tlb_add(0, REGION, REGION_LEN, VDUSE_ACCESS_RW, 0);
    fk.features = features;
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++)
        fk.info[i] = (struct vduse_vq_info){.index = i,
                                            .num = QSIZE,
                                            .desc_addr = ring_iova(i, 0),
                                            .driver_addr = ring_iova(i, 1),
                                            .device_addr = ring_iova(i, 2),
                                            .ready = 1};
}

/* ---- requests ---------------------------------------------------------------------- */

static struct vs_vduse_dev dev;
static uint32_t next_id = 100;

static void dev_setup(void)
{
    fake_reset();
    CU_ASSERT_FATAL(vs_vduse_dev_init(&dev, "t1", &fake_sys) == 0);
    dev.fd = FAKE_FD;
}

static void dev_teardown(void)
{
    vs_vduse_dev_fini(&dev);
    fake_reset();
}

/* Sends one request; returns the result (OK/FAILED), or -1 when there was no reply. */
static int request(struct vduse_dev_request *req)
{
    struct vduse_dev_response resp;

    req->request_id = next_id++;
    if (!vs_vduse_handle_request(&dev, req, sizeof(*req), &resp))
        return -1;
    CU_ASSERT_EQUAL(resp.request_id, req->request_id);
    return (int)resp.result;
}

static int set_status(uint8_t s)
{
    struct vduse_dev_request req = {.type = VDUSE_SET_STATUS, .s.status = s};
    return request(&req);
}

#define S_UP (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK)
#define F_BASE (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_ACCESS_PLATFORM))

static void bring_up(uint64_t features)
{
    fake_driver(features);
    CU_ASSERT_EQUAL_FATAL(set_status(VIRTIO_CONFIG_S_ACKNOWLEDGE), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL_FATAL(set_status(S_UP), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL_FATAL(set_status(S_UP | VIRTIO_CONFIG_S_DRIVER_OK), VDUSE_REQ_RESULT_OK);
}

static void test_offered_features(void)
{
    uint64_t f = vs_vduse_features_offered();

    /* VDUSE requires both; it refuses CTRL_VQ, and MQ without it fails virtio_net. */
    CU_ASSERT((f & BIT(VIRTIO_F_VERSION_1)) != 0);
    CU_ASSERT((f & BIT(VIRTIO_F_ACCESS_PLATFORM)) != 0);
    CU_ASSERT((f & BIT(VIRTIO_NET_F_MAC)) != 0);
    CU_ASSERT_FALSE(f & BIT(VIRTIO_NET_F_CTRL_VQ));
    CU_ASSERT_FALSE(f & BIT(VIRTIO_NET_F_MQ));
    /* The offloads (the kernel has no allow list for them), never UFO. */
    CU_ASSERT_EQUAL(f & VS_VNET_OFFLOAD_FEATURES, VS_VNET_OFFLOAD_FEATURES);
    CU_ASSERT_FALSE(f & (BIT(VIRTIO_NET_F_GUEST_UFO) | BIT(VIRTIO_NET_F_HOST_UFO)));
}

static void test_bad_requests(void)
{
    struct vduse_dev_request req = {.type = 7, .request_id = 5};
    struct vduse_dev_response resp;

    dev_setup();
    /* Too short to carry an id: nothing to answer. */
    CU_ASSERT_EQUAL(vs_vduse_handle_request(&dev, &req, 4, &resp), 0);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_SIZE], 1);
    /* An id but a wrong size: refused, answered. */
    CU_ASSERT_EQUAL(vs_vduse_handle_request(&dev, &req, sizeof(req) - 1, &resp), 1);
    CU_ASSERT_EQUAL(resp.request_id, 5);
    CU_ASSERT_EQUAL(resp.result, VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_SIZE], 2);
    /* Unknown type. */
    CU_ASSERT_EQUAL(request(&req), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_TYPE], 1);
    /* Virtqueue index out of range. */
    req = (struct vduse_dev_request){.type = VDUSE_GET_VQ_STATE, .vq_state.index = 2};
    CU_ASSERT_EQUAL(request(&req), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_INDEX], 1);
    /* A backwards IOTLB range. */
    req = (struct vduse_dev_request){.type = VDUSE_UPDATE_IOTLB, .iova = {.start = 9, .last = 8}};
    CU_ASSERT_EQUAL(request(&req), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_RANGE], 1);
    dev_teardown();
}

static void test_feature_negotiation(void)
{
    dev_setup();
    fake_driver(F_BASE | BIT(VIRTIO_NET_F_CTRL_VQ)); /* never offered */
    CU_ASSERT_EQUAL(set_status(S_UP), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_FEATURES], 1);
    CU_ASSERT_EQUAL(dev.status, 0); /* the driver sees FEATURES_OK did not stick */

    fk.features = BIT(VIRTIO_F_VERSION_1); /* ACCESS_PLATFORM refused by the driver */
    CU_ASSERT_EQUAL(set_status(S_UP), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_FEATURES], 2);

    fk.features = F_BASE | BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_RING_F_EVENT_IDX);
    CU_ASSERT_EQUAL(set_status(S_UP), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(dev.features, fk.features);
    CU_ASSERT_EQUAL(dev.status, S_UP);

    /* The kernel failing GET_FEATURES is an error too, not a guess. */
    CU_ASSERT_EQUAL(set_status(0), VDUSE_REQ_RESULT_OK);
    fk.fail_req = VDUSE_DEV_GET_FEATURES;
    CU_ASSERT_EQUAL(set_status(S_UP), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_KERNEL], 1);
    dev_teardown();
}

static void test_driver_ok_starts_queues(void)
{
    dev_setup();
    bring_up(F_BASE | BIT(VIRTIO_RING_F_EVENT_IDX));
    CU_ASSERT_EQUAL(dev.net.mem.n, 1);
    CU_ASSERT_EQUAL(vs_vduse_iotlb_mapped(&dev), REGION_LEN);
    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++) {
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&dev.net.q[i]), VS_VNET_GATE_OPEN);
        CU_ASSERT_EQUAL(fk.kickfd[i], dev.q[i].kickfd); /* our eventfd went to the kernel */
        CU_ASSERT(dev.net.q[i].vq.event_idx);
        CU_ASSERT_EQUAL(dev.net.q[i].vq.hdr_len, 12);
    }
    CU_ASSERT(vs_vduse_link_up(&dev));

    /* GET_VQ_STATE reports where the queue is. */
    dev.net.q[1].vq.last_avail_idx = 77;
    struct vduse_dev_request req = {.type = VDUSE_GET_VQ_STATE, .vq_state.index = 1};
    struct vduse_dev_response resp;
    req.request_id = 9;
    CU_ASSERT_EQUAL(vs_vduse_handle_request(&dev, &req, sizeof(req), &resp), 1);
    CU_ASSERT_EQUAL(resp.result, VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(resp.vq_state.index, 1);
    CU_ASSERT_EQUAL(resp.vq_state.split.avail_index, 77);

    /* Reset stops everything and drops the mappings. */
    CU_ASSERT_EQUAL(set_status(0), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(dev.net.mem.n, 0);
    CU_ASSERT_FALSE(vs_vduse_link_up(&dev));
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&dev.net.q[0]), VS_VNET_GATE_STOPPED);
    dev_teardown();
}

static void test_driver_ok_ring_outside_iotlb(void)
{
    dev_setup();
    fake_driver(F_BASE);
    fk.info[1].device_addr = EXTRA; /* in no IOTLB entry */
    CU_ASSERT_EQUAL(set_status(S_UP), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(set_status(S_UP | VIRTIO_CONFIG_S_DRIVER_OK), VDUSE_REQ_RESULT_FAILED);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_RING], 1);
    /* All or nothing: the queue that could start was stopped again. */
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&dev.net.q[0]), VS_VNET_GATE_STOPPED);
    CU_ASSERT_FALSE(dev.status & VIRTIO_CONFIG_S_DRIVER_OK);
    dev_teardown();
}

static void test_iotlb_entries_refused(void)
{
    dev_setup();
    tlb_add(0, REGION, REGION_LEN, VDUSE_ACCESS_RO, 0);    /* read-only */
    tlb_add(1, EXTRA, 0x3000, VDUSE_ACCESS_RW, 0x800);     /* unaligned offset */
    tlb_add(2, 0x40000000ull, 0x1000, VDUSE_ACCESS_RW, 0); /* fine */
    tlb_add(3, 0x40003000ull, 4, VDUSE_ACCESS_RW, 0x3000); /* a packed ring's event area */
    CU_ASSERT_EQUAL(vs_vduse_iotlb_refresh(&dev), 2);
    CU_ASSERT_EQUAL(dev.net.mem.n, 2);
    CU_ASSERT_EQUAL(dev.net.mem.r[0].gpa, 0x40000000ull);
    /* The small one: its 4 bytes translate, the rest of its page does not. */
    CU_ASSERT_PTR_NOT_NULL(vs_guest_mem_gpa_range(&dev.net.mem, 0x40003000ull, 4));
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa_range(&dev.net.mem, 0x40003000ull, 5));
    tlb_drop(3);
    vs_vduse_iotlb_invalidate(&dev, 0x40003000ull, 0x40003000ull);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_IOTLB], 2);
    /* Mapped once: a second refresh adds nothing (and counts the refusals again). */
    CU_ASSERT_EQUAL(vs_vduse_iotlb_refresh(&dev), 0);
    CU_ASSERT_EQUAL(dev.net.mem.n, 1);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_IOTLB], 4);
    /* Over the address-space budget. */
    dev.max_map = 0x1000;
    tlb_drop(2);
    tlb_add(2, 0x50000000ull, 0x2000, VDUSE_ACCESS_RW, 0);
    CU_ASSERT_EQUAL(vs_vduse_iotlb_refresh(&dev), 0);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_IOTLB], 7); /* RO and offset again, and the room */
    CU_ASSERT_EQUAL(dev.net.mem.n, 1);
    dev_teardown();
}

static void test_update_iotlb(void)
{
    struct vduse_dev_request req = {.type = VDUSE_UPDATE_IOTLB};

    dev_setup();
    bring_up(F_BASE);
    tlb_add(1, EXTRA, 0x4000, VDUSE_ACCESS_RW, 0);
    CU_ASSERT_EQUAL(vs_vduse_iotlb_refresh(&dev), 1);
    CU_ASSERT_EQUAL(dev.net.mem.n, 2);

    /* The buffer region goes: unmapped, the queues (rings elsewhere) run on. */
    tlb_drop(1);
    req.iova.start = EXTRA + 0x1000; /* any overlap drops the whole mapping */
    req.iova.last = EXTRA + 0x1fff;
    CU_ASSERT_EQUAL(request(&req), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(dev.net.mem.n, 1);
    CU_ASSERT_EQUAL(dev.unmaps, 1);
    CU_ASSERT(vs_vduse_link_up(&dev));
    CU_ASSERT_EQUAL(dev.net.q[0].starts, 2); /* paused and resumed around the change */

    /* A range nothing overlaps changes nothing in the table. */
    req.iova.start = 0x7000000;
    req.iova.last = 0x7ffffff;
    CU_ASSERT_EQUAL(request(&req), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(dev.net.mem.n, 1);

    /* The ring region goes: the queues stop and stay stopped. */
    tlb_drop(0);
    req.iova.start = REGION;
    req.iova.last = REGION;
    CU_ASSERT_EQUAL(request(&req), VDUSE_REQ_RESULT_OK);
    CU_ASSERT_EQUAL(dev.net.mem.n, 0);
    CU_ASSERT_FALSE(vs_vduse_link_up(&dev));
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&dev.net.q[1]), VS_VNET_GATE_STOPPED);
    dev_teardown();
}

/* The driver posts a 60-byte frame on its transmit queue (vq 1) in a buffer at
 * iova; returns the frame's first byte. */
static uint8_t post_tx(uint64_t iova, uint8_t *buf, uint16_t idx)
{
    struct vring_desc *d = ring_view(1, 0);
    struct vring_avail *a = ring_view(1, 1);

    memset(buf, 0, 12);
    memset(buf + 12, 0xab, 60);
    d[idx] = (struct vring_desc){.addr = iova, .len = 72, .flags = 0};
    a->ring[idx] = idx;
    __atomic_store_n(&a->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
    return 0xab;
}

static void test_iotlb_miss_recovery(void)
{
    struct vs_pool *pool;
    struct vs_pkt *p[4];
    struct fake_entry *extra;

    CU_ASSERT_FATAL(vs_pool_create(256, VS_PAGES_NONE, &pool) == 0);
    dev_setup();
    bring_up(F_BASE);
    /* The driver maps a buffer region after DRIVER_OK (Linux's bounce buffer
     * appears with the first packet) and uses it at once. */
    extra = tlb_add(1, EXTRA, 0x4000, VDUSE_ACCESS_RW, 0);
    post_tx(EXTRA, extra->view, 0);
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&dev.net.q[1].vq, pool, p, 4), 0);
    CU_ASSERT(dev.net.q[1].vq.broken);

    CU_ASSERT_EQUAL(vs_vduse_recover(&dev), 1);
    CU_ASSERT_EQUAL(dev.iotlb_misses, 1);
    CU_ASSERT_FALSE(dev.net.q[1].vq.broken);
    CU_ASSERT_EQUAL(dev.net.mem.n, 2);
    /* The chain it broke on was not consumed: the frame comes through now. */
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue(&dev.net.q[1].vq, pool, p, 4), 1);
    CU_ASSERT_EQUAL(p[0]->len, 60);
    CU_ASSERT_EQUAL(vs_pkt_data(p[0])[0], 0xab);
    vs_pkt_free(p[0]);
    /* The buffer went back and the driver (flags 0: interrupts wanted) is interrupted
     * through VDUSE_VQ_INJECT_IRQ on that queue, from the caller's thread, once. */
    CU_ASSERT_EQUAL(fk.irqs[1], 0);
    vs_virtq_notify(&dev.net.q[1].vq);
    CU_ASSERT_EQUAL(fk.irqs[1], 1);
    CU_ASSERT_EQUAL(fk.irqs[0], 0);
    CU_ASSERT_EQUAL(dev.net.q[1].vq.stats.kicks_sent, 1);
    vs_virtq_notify(&dev.net.q[1].vq); /* nothing new used: no interrupt */
    CU_ASSERT_EQUAL(fk.irqs[1], 1);
    /* An ioctl the kernel refuses is counted, not retried. */
    post_tx(EXTRA, extra->view, 1);
    CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue(&dev.net.q[1].vq, pool, p, 4), 1);
    vs_pkt_free(p[0]);
    fk.fail_req = VDUSE_VQ_INJECT_IRQ;
    vs_virtq_notify(&dev.net.q[1].vq);
    fk.fail_req = 0;
    CU_ASSERT_EQUAL(dev.net.q[1].vq.stats.kicks_failed, 1);

    /* An address the driver never mapped: nothing new, the queue stays broken and
     * recovery does not spin on it. */
    post_tx(0x900000, extra->view, 2);
    CU_ASSERT_EQUAL(vs_virtq_dequeue(&dev.net.q[1].vq, pool, p, 4), 0);
    CU_ASSERT(dev.net.q[1].vq.broken);
    CU_ASSERT(dev.net.q[1].vq.late_mappings); /* the miss itself was logged as a pause */
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_RING], 0);
    CU_ASSERT_EQUAL(vs_vduse_recover(&dev), 0);
    CU_ASSERT_EQUAL(dev.iotlb_misses, 2);
    CU_ASSERT_EQUAL(dev.err[VS_VDUSE_ERR_RING], 1); /* ... and this one as a refusal */
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&dev.net.q[1]), VS_VNET_GATE_STOPPED);
    unsigned lookups = fk.get_fd_calls;
    CU_ASSERT_EQUAL(vs_vduse_recover(&dev), 0);
    CU_ASSERT_EQUAL(dev.iotlb_misses, 2);
    CU_ASSERT_EQUAL(fk.get_fd_calls, lookups);
    /* The other queue was paused around the refresh and runs again. */
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&dev.net.q[0]), VS_VNET_GATE_OPEN);
    dev_teardown();
    vs_pool_destroy(pool);
}

/* ---- options and kernel checks ----------------------------------------------------- */

static int parse(const char *const *kv, unsigned n, struct vs_vduse_args *a,
                 struct vs_port_err *err)
{
    struct vs_port_arg v[8];

    for (unsigned i = 0; i < n; i++)
        v[i] = (struct vs_port_arg){.key = kv[2 * i], .value = kv[2 * i + 1]};
    struct vs_port_args args = {.n = n, .v = v};
    memset(err, 0, sizeof(*err));
    return vs_vduse_parse_args(&args, "port1", a, err);
}

static void test_args(void)
{
    struct vs_vduse_args a, b;
    struct vs_port_err err;

    const char *ok[] = {"name", "vs-c1", "mac",    "02:00:00:00:00:07",
                        "mtu",  "9000",  "driver", "vhost_vdpa"};
    CU_ASSERT_EQUAL(parse(ok, 4, &a, &err), 0);
    CU_ASSERT_STRING_EQUAL(a.name, "vs-c1");
    CU_ASSERT_EQUAL(a.mac[5], 7);
    CU_ASSERT_EQUAL(a.mtu, 9000);
    CU_ASSERT_EQUAL(a.driver, VS_VDUSE_VHOST_VDPA);

    /* Without mac: locally administered, unicast, the same for the same name. */
    CU_ASSERT_EQUAL(parse(ok, 1, &a, &err), 0);
    CU_ASSERT_EQUAL(parse(ok, 1, &b, &err), 0);
    CU_ASSERT_EQUAL(a.mac[0], 0x02);
    CU_ASSERT_EQUAL(memcmp(a.mac, b.mac, 6), 0);
    CU_ASSERT_EQUAL(a.driver, VS_VDUSE_VIRTIO_VDPA);
    CU_ASSERT_EQUAL(a.queues, 1);

    const char *mq[] = {"name", "x", "queues", "2"};
    CU_ASSERT_EQUAL(parse(mq, 2, &a, &err), -EOPNOTSUPP);
    CU_ASSERT_EQUAL(err.arg, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "control"));

    /* Without name the device takes the port's (a YAML port's name key). */
    const char *noname[] = {"mtu", "1500"};
    CU_ASSERT_EQUAL(parse(noname, 1, &a, &err), 0);
    CU_ASSERT_STRING_EQUAL(a.name, "port1");
    CU_ASSERT_TRUE(a.offloads);
    CU_ASSERT_EQUAL(a.mtu, 1500);
    const char *badname[] = {"name", "../x"};
    CU_ASSERT_EQUAL(parse(badname, 1, &a, &err), -EINVAL);
    /* Jumbo frames up to 9216 bytes: MTU 9198 at most; offloads on unless switched off. */
    const char *jumbo[] = {"name", "x", "mtu", "9198", "offloads", "off"};
    CU_ASSERT_EQUAL(parse(jumbo, 3, &a, &err), 0);
    CU_ASSERT_EQUAL(a.mtu, 9198);
    CU_ASSERT_FALSE(a.offloads);
    const char *toobig[] = {"name", "x", "mtu", "9199"};
    CU_ASSERT_EQUAL(parse(toobig, 2, &a, &err), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);
    const char *mcast[] = {"name", "x", "mac", "03:00:00:00:00:01"};
    CU_ASSERT_EQUAL(parse(mcast, 2, &a, &err), -EINVAL);
    const char *drv[] = {"name", "x", "driver", "vfio"};
    CU_ASSERT_EQUAL(parse(drv, 2, &a, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "virtio_vdpa"));
    const char *key[] = {"name", "x", "path", "/tmp/x"};
    CU_ASSERT_EQUAL(parse(key, 2, &a, &err), -EINVAL);
}

static void test_kernel_check(void)
{
    char why[256];

    CU_ASSERT_EQUAL(vs_vduse_check_kernel("6.12.9+bpo-amd64", why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_vduse_check_kernel("6.10.0", why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_vduse_check_kernel("7.0.1", why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_vduse_check_kernel("6.9.12", why, sizeof(why)), -EOPNOTSUPP);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "6.10"));
    CU_ASSERT_EQUAL(vs_vduse_check_kernel("5.15.0", why, sizeof(why)), -EOPNOTSUPP);
    CU_ASSERT_EQUAL(vs_vduse_check_kernel("weird", why, sizeof(why)), -EINVAL);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("vduse", NULL, NULL);
    CU_add_test(s, "offered features", test_offered_features);
    CU_add_test(s, "bad requests", test_bad_requests);
    CU_add_test(s, "feature negotiation", test_feature_negotiation);
    CU_add_test(s, "DRIVER_OK starts queues", test_driver_ok_starts_queues);
    CU_add_test(s, "DRIVER_OK with a ring outside the IOTLB", test_driver_ok_ring_outside_iotlb);
    CU_add_test(s, "IOTLB entries refused", test_iotlb_entries_refused);
    CU_add_test(s, "UPDATE_IOTLB", test_update_iotlb);
    CU_add_test(s, "IOTLB miss recovery", test_iotlb_miss_recovery);
    CU_add_test(s, "options", test_args);
    CU_add_test(s, "kernel check", test_kernel_check);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
