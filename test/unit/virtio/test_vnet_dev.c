/* The virtio-net device over a fake transport: no vhost-user, no VDUSE, just the
 * ops table and the test driver's rings in guest memory whose guest-physical
 * addresses are the ring addresses (as VDUSE's IOVAs are). Gates, pause and resume
 * keep the ring index, enable/disable, link state, queues that cannot start, the
 * data path through the port ops, RARP, show. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "ports/virtio/net_dev.h"
#include "test/common/virtio_driver.h"
#include "vswitch/eventfd.h"

static struct vs_pool *pool;

static const struct vs_vnet_ops fake_ops = {
    .ring_map = vs_guest_mem_gpa_range,
};

/* The transport seam: interrupts counted per queue instead of given. */
static unsigned irqs[VS_VNET_MAX_QUEUES];
static int irq_rc;

static int count_irq(struct vs_virtq *vq)
{
    struct vs_vnet_queue *q = vs_vnet_queue_of(vq);

    CU_ASSERT_PTR_EQUAL(&q->dev->q[q->index], q);
    irqs[q->index]++;
    return irq_rc;
}

static const struct vs_vnet_ops counting_ops = {
    .ring_map = vs_guest_mem_gpa_range,
    .interrupt = count_irq,
};

/* One queue pair: driver rings for our rx queue 0 (its TX) and tx queue 0 (its RX). */
struct fixture {
    struct vs_vdrv_mem mem;
    struct vs_vdrv drv[2]; /* by queue index: [0] driver RX, [1] driver TX */
    struct vs_vnet_dev dev;
};

static void hand_over(struct fixture *f, unsigned i)
{
    struct vs_vnet_queue *q = &f->dev.q[i];

    q->num = f->drv[i].size;
    q->desc_addr = f->drv[i].desc_gpa;
    q->avail_addr = f->drv[i].avail_gpa;
    q->used_addr = f->drv[i].used_gpa;
    q->addr_set = true;
    q->base = (f->drv[i].flags & VS_VDRV_PACKED) ? 0x8000 : 0;
    q->ready = true;
    q->enabled = true;
}

static void fixture_setup_ops(struct fixture *f, unsigned flags, const struct vs_vnet_ops *ops)
{
    memset(f, 0, sizeof(*f));
    CU_ASSERT_FATAL(vs_vdrv_mem_init(&f->mem, 1, 4u << 20) == 0);
    for (unsigned i = 0; i < 2; i++)
        CU_ASSERT_FATAL(vs_vdrv_init(&f->drv[i], &f->mem, 64, flags) == 0);
    vs_vnet_dev_init(&f->dev, "fake", 1, ops);
    f->dev.features = (1ull << VIRTIO_F_VERSION_1) |
                      ((flags & VS_VDRV_PACKED) ? 1ull << VIRTIO_F_RING_PACKED : 0) |
                      ((flags & VS_VDRV_EVENT_IDX) ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
    f->dev.mem = f->mem.gm;
}

static void fixture_setup(struct fixture *f, unsigned flags)
{
    fixture_setup_ops(f, flags, &fake_ops);
}

static void fixture_teardown(struct fixture *f)
{
    vs_vnet_queues_pause(&f->dev, vs_vnet_all_queues(&f->dev));
    for (unsigned i = 0; i < 2; i++)
        vs_vdrv_fini(&f->drv[i]);
    vs_vdrv_mem_fini(&f->mem);
}

static bool send_one(struct fixture *f, uint8_t seed)
{
    uint8_t frame[60];
    struct vs_pkt *p = NULL;
    bool ok;

    memset(frame, seed, sizeof(frame));
    if (vs_vdrv_post_tx(&f->drv[1], frame, sizeof(frame), 1, false) < 0)
        return false;
    if (vs_virtq_dequeue(&f->dev.q[1].vq, pool, &p, 1) != 1)
        return false;
    ok = p->len == sizeof(frame) && !memcmp(vs_pkt_data(p), frame, sizeof(frame));
    vs_pkt_free_bulk(&p, 1);
    return ok;
}

/* Queues start once everything is there, their gates open, the link comes up, a
 * pause closes the gates and keeps the index, and a resume goes on from it. */
static void test_pause_resume(void)
{
    for (unsigned packed = 0; packed < 2; packed++) {
        struct fixture f;
        char why[200];
        int wake = eventfd(0, EFD_NONBLOCK);

        fixture_setup(&f, packed ? VS_VDRV_PACKED : 0);
        f.dev.wake_fd = wake;
        CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), 0);
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[0]), VS_VNET_GATE_STOPPED); /* not ready */
        CU_ASSERT_EQUAL(vs_eventfd_drain(wake), 0);
        hand_over(&f, 0);
        hand_over(&f, 1);
        f.dev.q[1].num = 0; /* not complete yet */
        CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), 0);
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[0]), VS_VNET_GATE_OPEN);
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_STOPPED);
        CU_ASSERT_FALSE(vs_vnet_link_up(&f.dev));
        CU_ASSERT_EQUAL(vs_eventfd_drain(wake), 1); /* a sleeping poller is woken */
        f.dev.q[1].num = 64;
        vs_vnet_queues_resume_all(&f.dev);
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_OPEN);
        CU_ASSERT_TRUE(vs_vnet_link_up(&f.dev));
        CU_ASSERT_EQUAL(f.dev.q[1].starts, 1);

        for (uint8_t s = 1; s <= 3; s++)
            CU_ASSERT_TRUE(send_one(&f, s));
        CU_ASSERT_EQUAL(vs_vnet_queues_pause(&f.dev, 2), 2u);
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_STOPPED);
        CU_ASSERT_FALSE(f.dev.q[1].vq.started);
        CU_ASSERT_FALSE(vs_vnet_link_up(&f.dev));
        CU_ASSERT_EQUAL(f.dev.q[1].base, packed ? 0x8003u : 3u);
        CU_ASSERT_TRUE(f.dev.q[1].ready); /* resuming starts it again */
        CU_ASSERT_EQUAL(vs_vnet_queues_pause(&f.dev, 2), 0u); /* already stopped */
        CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), 0);
        CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_OPEN);
        CU_ASSERT_EQUAL(f.dev.q[1].vq.last_avail_idx, 3);
        CU_ASSERT_TRUE(send_one(&f, 4)); /* the fourth frame, not the first again */
        CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.packets, 4);
        CU_ASSERT_EQUAL(f.dev.q[1].starts, 2);

        fixture_teardown(&f);
        close(wake);
    }
}

/* A disabled queue keeps running behind a DISABLED gate (drained, delivers
 * nothing) and takes the link down; enabling opens it again. */
static void test_enable(void)
{
    struct fixture f;
    char why[200];

    fixture_setup(&f, VS_VDRV_EVENT_IDX);
    hand_over(&f, 0);
    hand_over(&f, 1);
    f.dev.q[0].enabled = false;
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[0]), VS_VNET_GATE_DISABLED);
    CU_ASSERT_TRUE(f.dev.q[0].vq.started);
    CU_ASSERT_FALSE(vs_vnet_link_up(&f.dev));
    vs_vnet_queue_enable(&f.dev, 0, true);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[0]), VS_VNET_GATE_OPEN);
    CU_ASSERT_TRUE(vs_vnet_link_up(&f.dev));
    vs_vnet_queue_enable(&f.dev, 1, false);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_DISABLED);
    CU_ASSERT_FALSE(vs_vnet_link_up(&f.dev));
    /* Paused and resumed, it comes back disabled. */
    vs_vnet_queues_pause(&f.dev, 2);
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_DISABLED);
    /* A stopped queue remembers the setting for when it starts. */
    vs_vnet_queues_pause(&f.dev, 2);
    vs_vnet_queue_enable(&f.dev, 1, true);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_STOPPED);
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_OPEN);
    fixture_teardown(&f);
}

/* A queue whose rings are misaligned, outside guest memory or of a bad size stays
 * stopped with the reason; the other queue is not affected. */
static void test_start_failures(void)
{
    struct fixture f;
    char why[200];

    fixture_setup(&f, 0);
    hand_over(&f, 0);
    hand_over(&f, 1);
    f.dev.q[1].desc_addr += 8;
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "vring 1: misaligned"));
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[0]), VS_VNET_GATE_OPEN);
    CU_ASSERT_EQUAL(vs_vnet_gate_get(&f.dev.q[1]), VS_VNET_GATE_STOPPED);
    f.dev.q[1].desc_addr = 0x10; /* below guest memory */
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), -EFAULT);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "desc 0x10 bad"));
    f.dev.q[1].desc_addr = f.drv[1].desc_gpa;
    f.dev.q[1].num = 48; /* split rings are powers of two */
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), -EINVAL);
    CU_ASSERT_EQUAL(f.dev.q[1].start_failures, 3);
    CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.err[VS_VQ_ERR_RING_ADDR], 2);
    f.dev.q[1].num = 64;
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), 0);
    CU_ASSERT_TRUE(vs_vnet_link_up(&f.dev));
    /* A reset queue keeps its counters and forgets the rest. */
    vs_vnet_queues_pause(&f.dev, 2);
    vs_vnet_queue_reset(&f.dev, 1);
    CU_ASSERT_EQUAL(f.dev.q[1].start_failures, 3);
    CU_ASSERT_EQUAL(f.dev.q[1].starts, 1);
    CU_ASSERT_FALSE(f.dev.q[1].ready);
    CU_ASSERT_EQUAL(f.dev.q[1].kickfd, -1);
    CU_ASSERT_STRING_EQUAL(f.dev.q[1].name, "fake rxq0");
    fixture_teardown(&f);
}

/* The data path through the port ops, as a transport's table uses them: port->priv
 * is the device. Frames both ways, a disabled queue drained, RARP first on rx queue
 * 0, where a poller sleeps, and the queues in show. */
static void test_data_path(void)
{
    for (unsigned packed = 0; packed < 2; packed++) {
        struct fixture f;
        struct vs_port port = {.pool = pool};
        struct vs_pkt *pkts[4];
        uint8_t frame[60], got[128];
        char why[200];
        int wake = eventfd(0, EFD_NONBLOCK), kick = eventfd(0, EFD_NONBLOCK);
        static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

        fixture_setup(&f, packed ? VS_VDRV_PACKED : 0);
        port.priv = &f.dev;
        f.dev.wake_fd = wake;
        CU_ASSERT_EQUAL(vs_vnet_rx_wait_fd(&port, 0), wake); /* stopped: our wake fd */
        CU_ASSERT_EQUAL(vs_vnet_rx_burst(&port, 0, pkts, 4), 0);
        hand_over(&f, 0);
        hand_over(&f, 1);
        f.dev.q[1].kickfd = kick;
        CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), 0);
        CU_ASSERT_EQUAL(vs_vnet_rx_wait_fd(&port, 0), kick);
        CU_ASSERT_EQUAL(vs_vnet_rx_wait_fd(&port, 1), -1); /* no such queue */

        /* Driver TX -> rx_burst (RARP first) -> tx_burst -> driver RX. */
        memset(frame, 0xab, sizeof(frame));
        CU_ASSERT(vs_vdrv_post_tx(&f.drv[1], frame, sizeof(frame), 1, false) >= 0);
        CU_ASSERT(vs_vdrv_post_rx(&f.drv[0], 2048, 1, false) >= 0);
        CU_ASSERT(vs_vdrv_post_rx(&f.drv[0], 2048, 1, false) >= 0);
        vs_vnet_rarp_request(&f.dev, mac);
        CU_ASSERT_EQUAL_FATAL(vs_vnet_rx_burst(&port, 0, pkts, 4), 2);
        CU_ASSERT_EQUAL(pkts[0]->len, 60);
        CU_ASSERT(!memcmp(vs_pkt_data(pkts[0]) + 6, mac, 6));
        CU_ASSERT_EQUAL(vs_pkt_data(pkts[0])[12], 0x80);
        CU_ASSERT_EQUAL(vs_pkt_data(pkts[0])[13], 0x35);
        CU_ASSERT_EQUAL(f.dev.rarps_sent, 1);
        CU_ASSERT_EQUAL(pkts[1]->len, sizeof(frame));
        CU_ASSERT_EQUAL(vs_vnet_tx_burst(&port, 0, pkts, 2), 2);
        vs_vnet_rx_done(&port, 0);
        CU_ASSERT_EQUAL(vs_vdrv_reap(&f.drv[1]), 1); /* the lent TX buffer came back */
        CU_ASSERT_EQUAL(vs_vdrv_recv(&f.drv[0], got, sizeof(got), NULL), 60);
        CU_ASSERT(!memcmp(got + 6, mac, 6));
        CU_ASSERT_EQUAL(vs_vdrv_recv(&f.drv[0], got, sizeof(got), NULL), (int)sizeof(frame));
        CU_ASSERT(!memcmp(got, frame, sizeof(frame)));
        CU_ASSERT_EQUAL(vs_vnet_rx_burst(&port, 0, pkts, 4), 0); /* RARP sent once */

        /* Kick suppression follows the poller's sleep; pending kicks are dropped. */
        vs_vnet_rx_notify(&port, 0, true);
        CU_ASSERT_FALSE(f.dev.q[1].vq.kick_suppressed);
        CU_ASSERT_EQUAL(write(kick, &(uint64_t){1}, 8), 8);
        vs_vnet_rx_notify(&port, 0, false);
        CU_ASSERT_TRUE(f.dev.q[1].vq.kick_suppressed);
        CU_ASSERT_EQUAL(vs_eventfd_drain(kick), 0);

        /* Disabled: the driver's TX is drained and dropped, its RX gets nothing. */
        vs_vnet_queue_enable(&f.dev, 1, false);
        vs_vnet_queue_enable(&f.dev, 0, false);
        CU_ASSERT(vs_vdrv_post_tx(&f.drv[1], frame, sizeof(frame), 1, false) >= 0);
        CU_ASSERT_EQUAL(vs_vnet_rx_burst(&port, 0, pkts, 4), 0);
        CU_ASSERT_EQUAL(vs_vdrv_reap(&f.drv[1]), 1);
        CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.packets, 2);
        pkts[0] = vs_pkt_alloc(pool);
        CU_ASSERT_FATAL(pkts[0] != NULL);
        pkts[0]->len = 60;
        CU_ASSERT_EQUAL(vs_vnet_tx_burst(&port, 0, pkts, 1), 0);
        vs_pkt_free_bulk(pkts, 1);

        json_t *qs = vs_vnet_queues_json(&f.dev);
        CU_ASSERT_EQUAL(json_array_size(qs), 2);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(qs, 1), "state")),
                               "disabled");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(qs, 1), "kick")),
                               "eventfd");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(qs, 0), "packets")), 2);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_array_get(qs, 0), "ring")),
                               packed ? "packed" : "split");
        json_decref(qs);

        fixture_teardown(&f);
        close(kick);
        close(wake);
    }
}

/* One frame from the driver through rx_burst and rx_done: one used entry. */
static void tx_frame(struct fixture *f, struct vs_port *port)
{
    uint8_t frame[60] = {0};
    struct vs_pkt *p[1];

    CU_ASSERT(vs_vdrv_post_tx(&f->drv[1], frame, sizeof(frame), 1, false) >= 0);
    CU_ASSERT_EQUAL_FATAL(vs_vnet_rx_burst(port, 0, p, 1), 1);
    vs_pkt_free_bulk(p, 1);
    vs_vnet_rx_done(port, 0);
}

/* Interrupts go through the transport's op exactly when the driver asked for one:
 * flags on/off without event idx, the used event crossed with it; never for nothing
 * new; a failed one is counted. */
static void test_interrupt_op(void)
{
    for (unsigned m = 0; m < 4; m++) {
        unsigned flags = ((m & 1) ? VS_VDRV_PACKED : 0) | ((m & 2) ? VS_VDRV_EVENT_IDX : 0);
        struct fixture f;
        struct vs_port port = {.pool = pool};
        char why[200];

        memset(irqs, 0, sizeof(irqs));
        irq_rc = 0;
        fixture_setup_ops(&f, flags, &counting_ops);
        port.priv = &f.dev;
        hand_over(&f, 0);
        hand_over(&f, 1);
        CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), 0);
        CU_ASSERT_PTR_EQUAL(f.dev.q[1].vq.interrupt, count_irq);

        vs_vnet_rx_done(&port, 0); /* nothing used */
        CU_ASSERT_EQUAL(irqs[1], 0);
        vs_vdrv_want_interrupts(&f.drv[1], true);
        tx_frame(&f, &port);
        CU_ASSERT_EQUAL(irqs[1], 1);
        vs_vnet_rx_done(&port, 0); /* nothing new */
        CU_ASSERT_EQUAL(irqs[1], 1);
        vs_vdrv_reap(&f.drv[1]);
        vs_vdrv_want_interrupts(&f.drv[1], false);
        tx_frame(&f, &port);
        CU_ASSERT_EQUAL(irqs[1], 1);
        vs_vdrv_reap(&f.drv[1]);
        if (flags & VS_VDRV_EVENT_IDX) {
            /* Interrupt once the used index passes two more entries. */
            uint16_t at = (flags & VS_VDRV_PACKED) ? (uint16_t)(f.drv[1].used_pos + 2)
                                                   : (uint16_t)(f.drv[1].used_idx + 2);
            vs_vdrv_set_used_event(&f.drv[1], (uint16_t)(at - 1));
            tx_frame(&f, &port);
            CU_ASSERT_EQUAL(irqs[1], 1); /* not crossed yet */
            tx_frame(&f, &port);
            CU_ASSERT_EQUAL(irqs[1], 2);
            tx_frame(&f, &port);
            CU_ASSERT_EQUAL(irqs[1], 2); /* already passed */
            vs_vdrv_reap(&f.drv[1]);
        }
        /* The other direction's queue has its own interrupts. */
        CU_ASSERT(vs_vdrv_post_rx(&f.drv[0], 2048, 1, false) >= 0);
        vs_vdrv_want_interrupts(&f.drv[0], true);
        struct vs_pkt *p = vs_pkt_alloc(pool);
        CU_ASSERT_FATAL(p != NULL);
        p->len = 60;
        memset(vs_pkt_data(p), 0, 60);
        irq_rc = -EAGAIN;
        CU_ASSERT_EQUAL(vs_vnet_tx_burst(&port, 0, &p, 1), 1);
        CU_ASSERT_EQUAL(irqs[0], 1);
        CU_ASSERT_EQUAL(f.dev.q[0].vq.stats.kicks_failed, 1);
        CU_ASSERT_EQUAL(f.dev.q[0].vq.stats.kicks_sent, 0);
        CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.kicks_sent, irqs[1]);
        CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.kicks_failed, 0);
        fixture_teardown(&f);
    }
}

/* Without an interrupt op, a queue signals its call eventfd, and has no interrupts
 * while it has none. */
static void test_interrupt_default(void)
{
    struct fixture f;
    struct vs_port port = {.pool = pool};
    struct vs_eventfd_signal call;
    char why[200];
    int fd = eventfd(0, EFD_NONBLOCK);

    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL_FATAL(vs_eventfd_signal_open(&call, dup(fd), why, sizeof(why)), 0);
    fixture_setup(&f, 0);
    port.priv = &f.dev;
    hand_over(&f, 0);
    hand_over(&f, 1);
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 3, why, sizeof(why)), 0);
    CU_ASSERT_PTR_NULL(f.dev.q[1].vq.interrupt);
    vs_vdrv_want_interrupts(&f.drv[1], true);
    tx_frame(&f, &port);
    CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.kicks_sent, 0);
    vs_vnet_queues_pause(&f.dev, 2);
    f.dev.q[1].call = &call;
    CU_ASSERT_EQUAL(vs_vnet_queues_resume(&f.dev, 2, why, sizeof(why)), 0);
    tx_frame(&f, &port);
    CU_ASSERT_EQUAL(vs_eventfd_drain(fd), 1);
    CU_ASSERT_EQUAL(f.dev.q[1].vq.stats.kicks_sent, 1);
    fixture_teardown(&f);
    vs_eventfd_signal_close(&call);
    close(fd);
}

int main(void)
{
    if (vs_pool_create(1024, VS_PAGES_NONE, &pool) != 0)
        return 1;
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("vnet_dev", NULL, NULL);
    CU_add_test(s, "pause and resume", test_pause_resume);
    CU_add_test(s, "enable", test_enable);
    CU_add_test(s, "start failures", test_start_failures);
    CU_add_test(s, "data path", test_data_path);
    CU_add_test(s, "interrupt op", test_interrupt_op);
    CU_add_test(s, "interrupt default", test_interrupt_default);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
