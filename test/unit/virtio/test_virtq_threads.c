/* Driver and device on two threads sharing only "guest memory", as a guest and the
 * switch do: catches missing barriers (at least the compiler-level ones that x86
 * needs) and any ordering bug in index / wrap-counter handling. Exact frames, in
 * order, both directions, split and packed rings. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "test_virtq_env.h"

#define FRAMES 100000u
#define TIMEOUT_S 60

struct run {
    struct env e;
    unsigned bad;        /* frames with wrong content/length/order */
    unsigned done_drv;   /* frames the driver side finished */
    unsigned done_dev;
    bool timeout;
};

static uint32_t frame_len(uint32_t seq)
{
    return 14 + (seq * 37) % 1500;
}

static bool expired(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec - start->tv_sec > TIMEOUT_S;
}

/* Guest TX: the driver posts, the device dequeues and checks. */
static void *tx_driver(void *arg)
{
    struct run *r = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint8_t f[VS_PKT_DATA_ROOM];
    for (uint32_t seq = 0; seq < FRAMES;) {
        vs_vdrv_reap(&r->e.drv);
        uint32_t len = frame_len(seq);
        make_frame(f, len, seq);
        bool ind = (r->e.drv.flags & VS_VDRV_INDIRECT) && seq % 4 == 3;
        if (vs_vdrv_post_tx(&r->e.drv, f, len, seq % 3 + 1, ind) >= 0) {
            seq++;
            continue;
        }
        if (__atomic_load_n(&r->timeout, __ATOMIC_RELAXED) || expired(&start)) {
            __atomic_store_n(&r->timeout, true, __ATOMIC_RELAXED);
            break;
        }
        sched_yield();
    }
    r->done_drv = FRAMES;
    return NULL;
}

static void *tx_device(void *arg)
{
    struct run *r = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint8_t want[VS_PKT_DATA_ROOM];
    struct vs_pkt *pkts[VS_BURST];
    uint32_t seq = 0;
    while (seq < FRAMES) {
        uint16_t n = vs_virtq_dequeue(&r->e.vq, test_pool, pkts, VS_BURST);
        for (uint16_t i = 0; i < n; i++, seq++) {
            uint32_t len = frame_len(seq);
            make_frame(want, len, seq);
            if (pkts[i]->len != len || memcmp(vs_pkt_data(pkts[i]), want, len))
                r->bad++;
        }
        vs_pkt_free_bulk(pkts, n);
        if (n == 0) {
            if (__atomic_load_n(&r->timeout, __ATOMIC_RELAXED) || expired(&start)) {
                __atomic_store_n(&r->timeout, true, __ATOMIC_RELAXED);
                break;
            }
            sched_yield();
        }
    }
    r->done_dev = seq;
    vs_pool_thread_flush();
    return NULL;
}

/* Guest RX: the device enqueues (retrying what did not fit), the driver keeps
 * buffers posted and checks what it receives. */
static void *rx_driver(void *arg)
{
    struct run *r = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    bool mrg = r->e.drv.flags & VS_VDRV_MRG_RXBUF;
    static uint8_t buf[4 * VS_VDRV_AREA], want[VS_PKT_DATA_ROOM];
    uint32_t seq = 0;
    while (seq < FRAMES) {
        while (vs_vdrv_post_rx(&r->e.drv, mrg ? 512 : 12 + 1514, mrg ? 1 : 2, false) >= 0)
            ;
        int got = vs_vdrv_recv(&r->e.drv, buf, sizeof(buf), NULL);
        if (got != 0) {
            uint32_t len = frame_len(seq);
            make_frame(want, len, seq);
            if (got != (int)len || memcmp(buf, want, len))
                r->bad++;
            seq++;
            continue;
        }
        if (__atomic_load_n(&r->timeout, __ATOMIC_RELAXED) || expired(&start)) {
            __atomic_store_n(&r->timeout, true, __ATOMIC_RELAXED);
            break;
        }
        sched_yield();
    }
    r->done_drv = seq;
    return NULL;
}

static void *rx_device(void *arg)
{
    struct run *r = arg;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct vs_pkt *pkts[VS_BURST];
    uint32_t seq = 0, have = 0;
    while (seq < FRAMES) {
        while (have < VS_BURST && seq + have < FRAMES) {
            pkts[have] = make_pkt(frame_len(seq + have), seq + have);
            if (!pkts[have])
                break;
            have++;
        }
        uint16_t n = vs_virtq_enqueue(&r->e.vq, pkts, (uint16_t)have);
        vs_virtq_notify(&r->e.vq);
        vs_pkt_free_bulk(pkts, n);
        memmove(pkts, pkts + n, (have - n) * sizeof(pkts[0]));
        have -= n;
        seq += n;
        if (n == 0) {
            if (__atomic_load_n(&r->timeout, __ATOMIC_RELAXED) || expired(&start)) {
                __atomic_store_n(&r->timeout, true, __ATOMIC_RELAXED);
                break;
            }
            sched_yield();
        }
    }
    vs_pkt_free_bulk(pkts, have);
    r->done_dev = seq;
    vs_pool_thread_flush();
    return NULL;
}

static void run_pair(unsigned flags, void *(*drv)(void *), void *(*dev)(void *))
{
    static struct run r;
    memset(&r, 0, sizeof(r));
    env_setup(&r.e, (flags & VS_VDRV_PACKED) ? 100 : 128, flags);
    pthread_t a, b;
    CU_ASSERT_FATAL(pthread_create(&a, NULL, drv, &r) == 0);
    CU_ASSERT_FATAL(pthread_create(&b, NULL, dev, &r) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CU_ASSERT(!r.timeout);
    CU_ASSERT_EQUAL(r.bad, 0);
    CU_ASSERT_EQUAL(r.done_dev, FRAMES);
    CU_ASSERT_EQUAL(r.done_drv, FRAMES);
    CU_ASSERT_EQUAL(r.e.vq.stats.packets, FRAMES);
    CU_ASSERT_EQUAL(err_total(&r.e.vq), 0);
    CU_ASSERT(!r.e.vq.broken);
    env_teardown(&r.e);
}

static void test_split_tx(void) { run_pair(VS_VDRV_INDIRECT, tx_driver, tx_device); }
static void test_packed_tx(void) { run_pair(VS_VDRV_PACKED | VS_VDRV_INDIRECT, tx_driver, tx_device); }
static void test_split_rx(void) { run_pair(0, rx_driver, rx_device); }
static void test_split_rx_mrg(void) { run_pair(VS_VDRV_MRG_RXBUF | VS_VDRV_EVENT_IDX, rx_driver, rx_device); }
static void test_packed_rx(void) { run_pair(VS_VDRV_PACKED, rx_driver, rx_device); }
static void test_packed_rx_mrg(void) { run_pair(VS_VDRV_PACKED | VS_VDRV_MRG_RXBUF, rx_driver, rx_device); }

static void add_tests(CU_pSuite s)
{
    CU_add_test(s, "split tx", test_split_tx);
    CU_add_test(s, "packed tx", test_packed_tx);
    CU_add_test(s, "split rx", test_split_rx);
    CU_add_test(s, "split rx mergeable", test_split_rx_mrg);
    CU_add_test(s, "packed rx", test_packed_rx);
    CU_add_test(s, "packed rx mergeable", test_packed_rx_mrg);
}

int main(void)
{
    CU_initialize_registry();
    env_add_suites("virtq threads", add_tests);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
