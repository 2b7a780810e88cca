/* Driver side of split virtqueues against an in-memory device model: the model
 * consumes the available ring and fills the used ring as a virtio-net device
 * would (RX: header + frame into device-writable buffers; 2-descriptor slots: a
 * fixed read-only descriptor chained to the buffer, the layout the control queue
 * uses). */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ports/virtio/virtq_driver.h"
#include "vswitch/pkt.h"

#define HDR 12

static struct vs_pool *pool;
static uint8_t zero_hdr[64];

struct dev_model {
    struct vs_virtq_drv *vq;
    uint16_t last_avail; /* next avail entry the device reads */
    uint16_t used_idx;   /* device's used index */
};

static void *ring_alloc(uint16_t size)
{
    void *p = aligned_alloc(4096, vs_virtq_drv_mem_size(size));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

static void push_used(struct dev_model *d, uint32_t id, uint32_t len)
{
    struct vring_used *u = d->vq->used;

    u->ring[d->used_idx & d->vq->mask].id = id;
    u->ring[d->used_idx & d->vq->mask].len = len;
    d->used_idx++;
    __atomic_store_n(&u->idx, d->used_idx, __ATOMIC_RELEASE);
}

/* RX: the device takes the next available buffer and writes header + frame. */
static int dev_rx(struct dev_model *d, uint32_t seq, uint32_t frame_len)
{
    struct vs_virtq_drv *vq = d->vq;
    uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
    uint16_t head;
    struct vring_desc *desc;
    uint8_t *buf;

    if (avail_idx == d->last_avail)
        return -1; /* no buffers posted */
    head = vq->avail->ring[d->last_avail & vq->mask];
    d->last_avail++;
    CU_ASSERT_FATAL(head < vq->size);
    desc = &vq->desc[head];
    CU_ASSERT(desc->flags & VRING_DESC_F_WRITE);
    CU_ASSERT_FATAL(desc->len >= HDR + frame_len);
    buf = (uint8_t *)(uintptr_t)desc->addr;
    memset(buf, 0, HDR);
    memcpy(buf + HDR, &seq, 4);
    push_used(d, head, HDR + frame_len);
    return 0;
}

/* TX: the device reads (header, frame) chains; returns the seq of the last frame. */
static int dev_tx(struct dev_model *d, int max, uint32_t *last_seq)
{
    struct vs_virtq_drv *vq = d->vq;
    uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
    int n = 0;

    while (d->last_avail != avail_idx && n < max) {
        uint16_t head = vq->avail->ring[d->last_avail & vq->mask];
        struct vring_desc *h = &vq->desc[head], *f;

        d->last_avail++;
        CU_ASSERT_FATAL(head < vq->size);
        CU_ASSERT_EQUAL(h->len, HDR);
        CU_ASSERT_EQUAL(h->addr, (uint64_t)(uintptr_t)zero_hdr);
        CU_ASSERT_FATAL(h->flags & VRING_DESC_F_NEXT);
        CU_ASSERT_FATAL(h->next < vq->size);
        f = &vq->desc[h->next];
        CU_ASSERT_FALSE(f->flags & (VRING_DESC_F_WRITE | VRING_DESC_F_NEXT));
        memcpy(last_seq, (void *)(uintptr_t)f->addr, 4);
        push_used(d, head, 0);
        n++;
    }
    return n;
}

static uint32_t seq_of(struct vs_pkt *p)
{
    uint32_t s;
    memcpy(&s, vs_pkt_data(p), 4);
    return s;
}

/* Posts fresh RX buffers in every free slot, as the virtio-net driver does. */
static unsigned rx_refill(struct vs_virtq_drv *vq)
{
    unsigned n = 0;

    while (vs_virtq_drv_free_slots(vq)) {
        struct vs_pkt *p = vs_pkt_alloc(pool);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL(vs_virtq_drv_add(vq, vs_pkt_data_iova(p) - HDR, HDR + 2048, true, p), 0);
        n++;
    }
    return n;
}

static void test_rx_wraparound_and_16bit_index(void)
{
    struct vs_virtq_drv vq;
    struct dev_model d = {.vq = &vq};
    void *mem = ring_alloc(8);
    void *cookies[VS_BURST];
    uint32_t lens[VS_BURST];
    uint32_t seq = 0, expect = 0;
    unsigned free0 = vs_pool_free_count(pool);

    CU_ASSERT_EQUAL_FATAL(vs_virtq_drv_init(&vq, mem, (uintptr_t)mem, 8, 1, 0, 0), 0);
    CU_ASSERT(vq.avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
    /* Start both sides just below the 16-bit index wrap. */
    vq.avail_idx = vq.kicked_idx = vq.last_used = 65530;
    vq.avail->idx = vq.used->idx = 65530;
    d.last_avail = d.used_idx = 65530;

    CU_ASSERT_EQUAL(rx_refill(&vq), 8);
    CU_ASSERT_TRUE(vs_virtq_drv_publish(&vq));  /* device wants a notification */
    CU_ASSERT_FALSE(vs_virtq_drv_publish(&vq)); /* nothing new: no second doorbell */
    for (int round = 0; round < 12; round++) {
        int k = 0;
        while (k < 5 && dev_rx(&d, seq, 60) == 0) {
            seq++;
            k++;
        }
        CU_ASSERT_EQUAL(k, 5);
        uint16_t n = vs_virtq_drv_get_used(&vq, cookies, lens, VS_BURST);
        CU_ASSERT_EQUAL(n, 5);
        for (uint16_t i = 0; i < n; i++) {
            struct vs_pkt *p = cookies[i];
            CU_ASSERT_EQUAL(lens[i], HDR + 60);
            CU_ASSERT_EQUAL(seq_of(p), expect);
            expect++;
            vs_pkt_free(p);
        }
        CU_ASSERT_EQUAL(rx_refill(&vq), 5);
        vs_virtq_drv_publish(&vq);
    }
    CU_ASSERT_EQUAL(expect, 60);
    CU_ASSERT((uint16_t)(vq.avail_idx - 65530) == (uint16_t)(8 + 60)); /* wrapped past 65535 */
    CU_ASSERT_FALSE(vq.broken);
    /* Empty used ring: nothing to take. */
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies, lens, VS_BURST), 0);
    uint16_t n = vs_virtq_drv_drain(&vq, cookies, VS_BURST);
    CU_ASSERT_EQUAL(n, 8);
    vs_pkt_free_bulk((struct vs_pkt **)cookies, n);
    vs_virtq_drv_fini(&vq);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    free(mem);
}

static void test_rx_ring_empty(void)
{
    struct vs_virtq_drv vq;
    struct dev_model d = {.vq = &vq};
    void *mem = ring_alloc(8);
    void *cookies[VS_BURST];

    CU_ASSERT_EQUAL_FATAL(vs_virtq_drv_init(&vq, mem, (uintptr_t)mem, 8, 1, 0, 0), 0);
    /* Interrupts: off while polling, on only when a poller is about to sleep. */
    CU_ASSERT_EQUAL(vq.avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
    vs_virtq_drv_set_interrupt(&vq, true);
    CU_ASSERT_EQUAL(vq.avail->flags, 0);
    vs_virtq_drv_set_interrupt(&vq, false);
    CU_ASSERT_EQUAL(vq.avail->flags, VRING_AVAIL_F_NO_INTERRUPT);
    /* No buffers posted: the device has nowhere to put a frame. */
    CU_ASSERT_EQUAL(dev_rx(&d, 1, 60), -1);
    /* Posted but not published: still invisible to the device. */
    rx_refill(&vq);
    CU_ASSERT_EQUAL(dev_rx(&d, 1, 60), -1);
    vs_virtq_drv_publish(&vq);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(dev_rx(&d, (uint32_t)i, 60), 0);
    CU_ASSERT_EQUAL(dev_rx(&d, 9, 60), -1); /* all 8 used: ring empty for the device */
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies, NULL, 3), 3); /* partial take */
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies + 3, NULL, VS_BURST), 5);
    CU_ASSERT_EQUAL(seq_of(cookies[7]), 7);
    vs_pkt_free_bulk((struct vs_pkt **)cookies, 8);
    vs_virtq_drv_fini(&vq);
    free(mem);
}

static void test_tx_full_notify_and_reclaim(void)
{
    struct vs_virtq_drv vq;
    struct dev_model d = {.vq = &vq};
    void *mem = ring_alloc(8);
    void *done[VS_BURST];
    uint32_t last = 0;
    unsigned free0 = vs_pool_free_count(pool);
    int added = 0;

    CU_ASSERT_EQUAL_FATAL(
        vs_virtq_drv_init(&vq, mem, (uintptr_t)mem, 8, 2, (uintptr_t)zero_hdr, HDR), 0);
    CU_ASSERT_EQUAL(vs_virtq_drv_free_slots(&vq), 4); /* 8 descriptors, pairs */
    for (uint32_t s = 0; s < 6; s++) {
        struct vs_pkt *p = vs_pkt_alloc(pool);
        memcpy(vs_pkt_data(p), &s, 4);
        p->len = 60;
        if (vs_virtq_drv_add(&vq, vs_pkt_data_iova(p), p->len, false, p) < 0) {
            vs_pkt_free(p); /* TX ring full */
            continue;
        }
        added++;
    }
    CU_ASSERT_EQUAL(added, 4);
    /* The device set NO_NOTIFY (it is already processing): no doorbell. */
    vq.used->flags = VRING_USED_F_NO_NOTIFY;
    CU_ASSERT_FALSE(vs_virtq_drv_publish(&vq));
    CU_ASSERT_EQUAL(vq.avail->idx, 4); /* but the frames are published */
    CU_ASSERT_EQUAL(dev_tx(&d, 3, &last), 3);
    CU_ASSERT_EQUAL(last, 2);
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, done, NULL, VS_BURST), 3);
    vs_pkt_free_bulk((struct vs_pkt **)done, 3);
    CU_ASSERT_EQUAL(vs_virtq_drv_free_slots(&vq), 3);
    vq.used->flags = 0;
    /* Reuse of freed pairs keeps the header descriptor intact. */
    for (uint32_t s = 10; s < 13; s++) {
        struct vs_pkt *p = vs_pkt_alloc(pool);
        memcpy(vs_pkt_data(p), &s, 4);
        p->len = 60;
        CU_ASSERT_EQUAL(vs_virtq_drv_add(&vq, vs_pkt_data_iova(p), p->len, false, p), 0);
    }
    CU_ASSERT_TRUE(vs_virtq_drv_publish(&vq));
    CU_ASSERT_EQUAL(dev_tx(&d, 10, &last), 4);
    CU_ASSERT_EQUAL(last, 12);
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, done, NULL, VS_BURST), 4);
    vs_pkt_free_bulk((struct vs_pkt **)done, 4);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    vs_virtq_drv_fini(&vq);
    free(mem);
}

static void test_hostile_used_ring(void)
{
    struct vs_virtq_drv vq;
    struct dev_model d = {.vq = &vq};
    void *mem = ring_alloc(8);
    void *cookies[VS_BURST];
    unsigned free0 = vs_pool_free_count(pool);

    /* A used id that was never made available breaks the queue, frees nothing. */
    CU_ASSERT_EQUAL_FATAL(vs_virtq_drv_init(&vq, mem, (uintptr_t)mem, 8, 1, 0, 0), 0);
    rx_refill(&vq);
    vs_virtq_drv_publish(&vq);
    CU_ASSERT_EQUAL(dev_rx(&d, 1, 60), 0);
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies, NULL, VS_BURST), 1);
    vs_pkt_free(cookies[0]);
    push_used(&d, 0, 70); /* id 0 again: already returned */
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies, NULL, VS_BURST), 0);
    CU_ASSERT_TRUE(vq.broken);
    CU_ASSERT_EQUAL(vq.bad_used, 1);
    CU_ASSERT_EQUAL(vs_virtq_drv_add(&vq, 0x1000, 10, true, cookies), -ENOSPC);
    uint16_t n = vs_virtq_drv_drain(&vq, cookies, VS_BURST);
    CU_ASSERT_EQUAL(n, 7);
    vs_pkt_free_bulk((struct vs_pkt **)cookies, n);
    vs_virtq_drv_fini(&vq);

    /* A used index that jumps beyond what is outstanding. */
    CU_ASSERT_EQUAL_FATAL(vs_virtq_drv_init(&vq, mem, (uintptr_t)mem, 8, 1, 0, 0), 0);
    d.last_avail = d.used_idx = 0;
    rx_refill(&vq);
    vs_virtq_drv_publish(&vq);
    vq.used->idx = 200;
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies, NULL, VS_BURST), 0);
    CU_ASSERT_TRUE(vq.broken);
    n = vs_virtq_drv_drain(&vq, cookies, VS_BURST);
    CU_ASSERT_EQUAL(n, 8);
    vs_pkt_free_bulk((struct vs_pkt **)cookies, n);
    vs_virtq_drv_fini(&vq);

    /* An odd id on a paired (TX) queue names the frame descriptor, not a head. */
    CU_ASSERT_EQUAL_FATAL(
        vs_virtq_drv_init(&vq, mem, (uintptr_t)mem, 8, 2, (uintptr_t)zero_hdr, HDR), 0);
    d.last_avail = d.used_idx = 0;
    struct vs_pkt *p = vs_pkt_alloc(pool);
    p->len = 60;
    CU_ASSERT_EQUAL(vs_virtq_drv_add(&vq, vs_pkt_data_iova(p), 60, false, p), 0);
    vs_virtq_drv_publish(&vq);
    push_used(&d, 1, 0);
    CU_ASSERT_EQUAL(vs_virtq_drv_get_used(&vq, cookies, NULL, VS_BURST), 0);
    CU_ASSERT_TRUE(vq.broken);
    CU_ASSERT_EQUAL(vs_virtq_drv_drain(&vq, cookies, VS_BURST), 1);
    vs_pkt_free(cookies[0]);
    vs_virtq_drv_fini(&vq);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
    free(mem);
}

static void test_bad_init(void)
{
    struct vs_virtq_drv vq;
    void *mem = ring_alloc(8);

    CU_ASSERT_EQUAL(vs_virtq_drv_init(&vq, mem, 0, 6, 1, 0, 0), -EINVAL);
    CU_ASSERT_EQUAL(vs_virtq_drv_init(&vq, mem, 0, 8, 3, 0, 0), -EINVAL);
    CU_ASSERT_EQUAL(vs_virtq_drv_init(&vq, mem, 0, 0, 1, 0, 0), -EINVAL);
    /* Used ring on its own page, after desc and avail. */
    CU_ASSERT_EQUAL(vs_virtq_drv_mem_size(256) % 4096, 0);
    CU_ASSERT(vs_virtq_drv_mem_size(256) >= 256 * 16 + 6 + 2 * 256 + 6 + 8 * 256);
    free(mem);
}

int main(void)
{
    CU_pSuite s;

    if (vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("virtq_driver", NULL, NULL);
    CU_add_test(s, "rx wrap-around and 16-bit index wrap", test_rx_wraparound_and_16bit_index);
    CU_add_test(s, "rx ring empty", test_rx_ring_empty);
    CU_add_test(s, "tx ring full, NO_NOTIFY, reclaim", test_tx_full_notify_and_reclaim);
    CU_add_test(s, "hostile used ring", test_hostile_used_ring);
    CU_add_test(s, "bad init", test_bad_init);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
