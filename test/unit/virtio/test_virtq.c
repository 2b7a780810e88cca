/* Virtqueue device side against the test driver: round trips with exact bytes and
 * counts, split and packed rings, indirect and merged buffers, index and wrap
 * counter wrap-around, interrupts and kick suppression, dirty logging. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "ports/virtio/dirty_log.h"
#include "test_virtq_env.h"

static const unsigned modes[] = { 0, VS_VDRV_PACKED };
#define FOR_MODES(m) for (unsigned mi_ = 0, m; mi_ < 2 && ((m = modes[mi_]), 1); mi_++)

/* Guest TX: single piece, several pieces, indirect; the device returns each buffer
 * used with length 0 and hands the exact frame to the switch. */
static void test_tx_round_trip(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 64, mode | VS_VDRV_INDIRECT);
        uint8_t f[VS_PKT_DATA_ROOM];
        static const uint32_t lens[] = { 14, 60, 64, 1514, 2048 };
        unsigned posted = 0;
        for (unsigned i = 0; i < VS_ARRAY_SIZE(lens); i++) {
            for (unsigned shape = 0; shape < 3; shape++) {
                make_frame(f, lens[i], i * 3 + shape);
                unsigned nseg = shape == 0 ? 1 : 5;
                CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, lens[i], nseg, shape == 2) >= 0);
                posted++;
            }
        }
        CU_ASSERT(vs_virtq_has_work(&e.vq));
        struct vs_pkt *pkts[VS_BURST];
        uint16_t n = vs_virtq_dequeue(&e.vq, test_pool, pkts, VS_BURST);
        CU_ASSERT_EQUAL(n, posted);
        for (unsigned k = 0; k < n; k++) {
            uint32_t len = lens[k / 3];
            make_frame(f, len, k);
            CU_ASSERT_EQUAL(pkts[k]->len, len);
            CU_ASSERT(memcmp(vs_pkt_data(pkts[k]), f, len) == 0);
        }
        vs_pkt_free_bulk(pkts, n);
        CU_ASSERT(!vs_virtq_has_work(&e.vq));
        uint16_t id;
        uint32_t ulen;
        unsigned used = 0;
        while (vs_vdrv_get_used(&e.drv, &id, &ulen) == 1) {
            CU_ASSERT_EQUAL(ulen, 0);
            used++;
        }
        CU_ASSERT_EQUAL(used, posted);
        CU_ASSERT_EQUAL(vs_vdrv_free_count(&e.drv), 64);
        CU_ASSERT_EQUAL(e.vq.stats.packets, posted);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        CU_ASSERT(!e.vq.broken);
        env_teardown(&e);
    }
}

/* Dequeue takes at most n frames and leaves the rest for the next call. */
static void test_tx_partial_burst(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 16, mode);
        uint8_t f[100];
        for (unsigned i = 0; i < 10; i++) {
            make_frame(f, 100, i);
            CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 100, 1, false) >= 0);
        }
        struct vs_pkt *pkts[VS_BURST];
        CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, pkts, 4), 4);
        vs_pkt_free_bulk(pkts, 4);
        CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 4);
        for (unsigned i = 4; i < 10; i++)
            CU_ASSERT(dequeue_expect(&e, 100, i));
        CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, pkts, VS_BURST), 0);
        CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 6);
        env_teardown(&e);
    }
}

/* Guest RX without merged buffers: one chain (possibly in pieces or indirect) per
 * frame, header zero with num_buffers 1, used length = header + frame. */
static void test_rx_round_trip(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 32, mode | VS_VDRV_INDIRECT);
        for (unsigned i = 0; i < 12; i++)
            CU_ASSERT(vs_vdrv_post_rx(&e.drv, 12 + 2048, i % 3 == 0 ? 1 : 4, i % 3 == 2) >= 0);
        static const uint32_t lens[] = { 14, 60, 1514, 2048 };
        struct vs_pkt *pkts[12];
        for (unsigned i = 0; i < 12; i++)
            CU_ASSERT_FATAL((pkts[i] = make_pkt(lens[i % 4], 100 + i)) != NULL);
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, pkts, 12), 12);
        vs_pkt_free_bulk(pkts, 12);
        for (unsigned i = 0; i < 12; i++) {
            uint16_t nb = 0;
            CU_ASSERT(recv_expect(&e, lens[i % 4], 100 + i, &nb));
            CU_ASSERT_EQUAL(nb, 1);
        }
        uint8_t junk[64];
        CU_ASSERT_EQUAL(vs_vdrv_recv(&e.drv, junk, sizeof(junk), NULL), 0);
        CU_ASSERT_EQUAL(e.vq.stats.packets, 12);
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 0);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* The header is stored only where the buffer does not already hold it: each part
 * (bytes 0..7, csum_offset, num_buffers) stale on its own is still rewritten, and a
 * header that already matches is left as it is and read back right. */
static void test_rx_header_stale_parts(void)
{
    static const struct { unsigned off, len; uint8_t v; } stale[] = {
        { 0, 0, 0 },  /* nothing stale: the buffer already holds the header */
        { 0, 12, 0xee }, { 1, 1, 0x04 }, { 7, 1, 0x80 }, { 8, 2, 0x11 }, { 10, 1, 0x03 },
        { 11, 1, 0x01 },
    };
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 16, mode | VS_VDRV_MRG_RXBUF);
        for (unsigned i = 0; i < VS_ARRAY_SIZE(stale); i++) {
            int id = vs_vdrv_post_rx(&e.drv, 12 + 1514, 1, false);
            CU_ASSERT_FATAL(id >= 0);
            uint8_t *h = vs_vdrv_mem_hva(e.drv.mem, e.drv.bufs[id].area_gpa);
            static const uint8_t good[12] = { [10] = 1 };
            memcpy(h, good, sizeof(good));
            memset(h + stale[i].off, stale[i].v, stale[i].len);
            struct vs_pkt *p = make_pkt(60, 40 + i);
            CU_ASSERT_FATAL(p != NULL);
            CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 1);
            vs_pkt_free(p);
            uint16_t nb = 0;
            CU_ASSERT(recv_expect(&e, 60, 40 + i, &nb)); /* bytes 0..9 checked zero */
            CU_ASSERT_EQUAL(nb, 1);
        }
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* RX buffers in pieces smaller than the header: header and frame both span
 * descriptors (direct and indirect). */
static void test_rx_tiny_pieces(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 64, mode | VS_VDRV_INDIRECT);
        CU_ASSERT(vs_vdrv_post_rx(&e.drv, 12 + 60, 16, false) >= 0);
        CU_ASSERT(vs_vdrv_post_rx(&e.drv, 12 + 60, 16, true) >= 0);
        struct vs_pkt *p[2] = { make_pkt(60, 1), make_pkt(50, 2) };
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, p, 2), 2);
        vs_pkt_free_bulk(p, 2);
        CU_ASSERT(recv_expect(&e, 60, 1, NULL));
        CU_ASSERT(recv_expect(&e, 50, 2, NULL));
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* Merged RX buffers: small buffers force a frame across many chains; num_buffers
 * counts them; a frame that cannot be completed consumes nothing. */
static void test_rx_mergeable(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 64, mode | VS_VDRV_MRG_RXBUF);
        for (unsigned i = 0; i < 40; i++)
            CU_ASSERT(vs_vdrv_post_rx(&e.drv, 128, i % 2 ? 2 : 1, false) >= 0);
        struct vs_pkt *p1 = make_pkt(1500, 7), *p2 = make_pkt(100, 8), *p3 = make_pkt(1500, 9);
        struct vs_pkt *burst[3] = { p1, p2, p3 };
        /* 1512 bytes = 12 buffers, 112 = 1, then 12 more: 25 of 40. */
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, burst, 3), 3);
        uint16_t nb = 0;
        CU_ASSERT(recv_expect(&e, 1500, 7, &nb));
        CU_ASSERT_EQUAL(nb, 12);
        CU_ASSERT(recv_expect(&e, 100, 8, &nb));
        CU_ASSERT_EQUAL(nb, 1);
        CU_ASSERT(recv_expect(&e, 1500, 9, &nb));
        CU_ASSERT_EQUAL(nb, 12);
        /* 15 buffers left: one more 1500-byte frame fits, the next does not. */
        struct vs_pkt *two_big[2] = { p1, p3 };
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, two_big, 2), 1);
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 1);
        CU_ASSERT(recv_expect(&e, 1500, 7, &nb));
        uint16_t avail_before = e.vq.last_avail_idx;
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, burst, 1), 0);
        CU_ASSERT_EQUAL(e.vq.last_avail_idx, avail_before); /* nothing consumed */
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 2);
        /* Small frames still fit in the 3 remaining buffers. */
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p2, 1), 1);
        CU_ASSERT(recv_expect(&e, 100, 8, &nb));
        vs_pkt_free(p1);
        vs_pkt_free(p2);
        vs_pkt_free(p3);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* Without merged buffers a chain too small for the frame stops the burst there
 * (counted as no_buffers: walking the same chain for each later frame is what a
 * hostile guest would want) and stays available for a smaller frame. */
static void test_rx_chain_too_small(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 8, mode);
        CU_ASSERT(vs_vdrv_post_rx(&e.drv, 200, 1, false) >= 0);
        struct vs_pkt *big = make_pkt(1000, 1), *small = make_pkt(150, 2);
        struct vs_pkt *burst[2] = { big, small };
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, burst, 2), 0);
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 2);
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &small, 1), 1);
        CU_ASSERT(recv_expect(&e, 150, 2, NULL));
        /* Empty ring: every frame counts. */
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, burst, 2), 0);
        CU_ASSERT_EQUAL(e.vq.stats.no_buffers, 4);
        vs_pkt_free(big);
        vs_pkt_free(small);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* More than 65536 frames each way through a small queue: 16-bit indices (split)
 * and wrap counters (packed, with a size that is not a power of two) wrap. */
static void test_wrap_around(void)
{
    FOR_MODES(mode) {
        struct env e;
        uint16_t size = mode ? 7 : 8;
        env_setup(&e, size, mode | VS_VDRV_MRG_RXBUF);
        uint8_t f[256];
        struct vs_pkt *pkts[VS_BURST];
        unsigned total = 0, bad = 0;
        uint32_t seed = 0;
        while (total < 70000) {
            unsigned k = 0;
            while (vs_vdrv_free_count(&e.drv) >= 2 && k < 5) {
                uint32_t len = 60 + (seed + k) % 190;
                make_frame(f, len, seed + k);
                if (vs_vdrv_post_tx(&e.drv, f, len, (k & 1) + 1, false) < 0)
                    bad++;
                k++;
            }
            uint16_t n = vs_virtq_dequeue(&e.vq, test_pool, pkts, VS_BURST);
            if (n != k)
                bad++;
            for (unsigned j = 0; j < n; j++) {
                uint32_t len = 60 + (seed + j) % 190;
                make_frame(f, len, seed + j);
                if (pkts[j]->len != len || memcmp(vs_pkt_data(pkts[j]), f, len))
                    bad++;
            }
            vs_pkt_free_bulk(pkts, n);
            if (vs_vdrv_reap(&e.drv) != k)
                bad++;
            seed += k;
            total += k;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(e.vq.stats.packets, total);
        /* RX the other way, merged buffers of 100 bytes, frames of up to 3 buffers. */
        unsigned rx = 0;
        while (rx < 70000) {
            while (vs_vdrv_free_count(&e.drv) > 0)
                if (vs_vdrv_post_rx(&e.drv, 100, 1, false) < 0)
                    bad++;
            uint32_t len = 20 + rx % 250;
            struct vs_pkt *p = make_pkt(len, rx);
            uint16_t got = vs_virtq_enqueue(&e.vq, &p, 1);
            vs_pkt_free(p);
            if (got != 1 || !recv_expect(&e, len, rx, NULL))
                bad++;
            rx++;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        CU_ASSERT(!e.vq.broken);
        env_teardown(&e);
    }
}

/* Stop returns the base (packed: wrap counter in bit 15); start resumes from it. */
static void test_stop_start_base(void)
{
    FOR_MODES(mode) {
        struct env e;
        uint16_t size = mode ? 5 : 4;
        env_setup(&e, size, mode);
        uint8_t f[64];
        for (unsigned i = 0; i < 7; i++) {
            make_frame(f, 64, i);
            CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 64, 1, false) >= 0);
            CU_ASSERT(dequeue_expect(&e, 64, i));
            CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 1);
        }
        uint16_t base = vs_virtq_stop(&e.vq);
        /* Packed: wrapped once, so the counter (bit 15) is now clear. */
        CU_ASSERT_EQUAL(base, mode ? 7 % 5 : 7);
        CU_ASSERT(!vs_virtq_has_work(&e.vq));
        make_frame(f, 64, 99);
        CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 64, 1, false) >= 0);
        struct vs_pkt *p;
        CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, &p, 1), 0); /* stopped */
        CU_ASSERT_EQUAL(vs_virtq_start(&e.vq, base), 0);
        CU_ASSERT(dequeue_expect(&e, 64, 99));
        CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 1);
        if (mode) {
            /* Still in the second lap: counter clear, slot 3. */
            CU_ASSERT_EQUAL(vs_virtq_stop(&e.vq), 3);
        }
        /* A disabled queue does nothing either. */
        e.vq.enabled = false;
        CU_ASSERT_EQUAL(vs_virtq_start(&e.vq, vs_virtq_stop(&e.vq)), 0);
        CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 64, 1, false) >= 0);
        CU_ASSERT_EQUAL(vs_virtq_dequeue(&e.vq, test_pool, &p, 1), 0);
        e.vq.enabled = true;
        CU_ASSERT(dequeue_expect(&e, 64, 99));
        env_teardown(&e);
    }
}

/* Buffers in a second region, and a buffer crossing from region 0 into region 1
 * (adjacent in guest-physical space, not in ours). */
static void test_two_regions(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 16, mode | VS_VDRV_SPREAD);
        uint8_t f[1000];
        for (unsigned i = 0; i < 6; i++) {
            make_frame(f, 1000, i);
            CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 1000, 2, false) >= 0);
        }
        for (unsigned i = 0; i < 6; i++)
            CU_ASSERT(dequeue_expect(&e, 1000, i));
        CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 6);
        /* Straddling buffer: last 500 bytes of region 0, first 512 of region 1. */
        uint64_t gpa = VS_VDRV_GPA_BASE + ENV_REGION_SIZE - 500;
        uint8_t *lo = vs_vdrv_mem_hva(&e.mem, gpa);
        uint8_t *hi = vs_vdrv_mem_hva(&e.mem, VS_VDRV_GPA_BASE + ENV_REGION_SIZE);
        uint8_t buf[1012] = { 0 };
        make_frame(buf + 12, 1000, 42);
        memcpy(lo, buf, 500);
        memcpy(hi, buf + 500, 512);
        if (mode) {
            vs_vdrv_packed_set_desc(&e.drv, e.drv.next_pos, gpa, 1012, 0, 0, e.drv.avail_wrap);
        } else {
            vs_vdrv_split_set_desc(&e.drv, 0, gpa, 1012, 0, 0);
            vs_vdrv_split_publish(&e.drv, 0);
        }
        CU_ASSERT(dequeue_expect(&e, 1000, 42));
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

static uint64_t read_eventfd(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return 0;
    return v;
}

static void one_tx(struct env *e, uint32_t seed)
{
    uint8_t f[64];
    make_frame(f, 64, seed);
    CU_ASSERT(vs_vdrv_post_tx(&e->drv, f, 64, 1, false) >= 0);
    CU_ASSERT(dequeue_expect(e, 64, seed));
}

/* Interrupts: only when something was used since the last notify and the driver
 * asked (flags, or the event idx crossing rule). */
static void test_notify(void)
{
    for (unsigned m = 0; m < 4; m++) {
        unsigned mode = ((m & 1) ? VS_VDRV_PACKED : 0) | ((m & 2) ? VS_VDRV_EVENT_IDX : 0);
        struct env e;
        env_setup(&e, 16, mode);
        int fd = eventfd(0, EFD_NONBLOCK);
        struct vs_eventfd_signal call;
        char why[100];
        CU_ASSERT_FATAL(fd >= 0);
        CU_ASSERT_EQUAL_FATAL(vs_eventfd_signal_open(&call, dup(fd), why, sizeof(why)), 0);
        e.vq.call = &call;
        e.vq.interrupt = vs_virtq_signal_call;
        vs_virtq_notify(&e.vq); /* nothing used */
        CU_ASSERT_EQUAL(read_eventfd(fd), 0);
        vs_vdrv_want_interrupts(&e.drv, true);
        one_tx(&e, 1);
        vs_virtq_notify(&e.vq);
        CU_ASSERT_EQUAL(read_eventfd(fd), 1);
        vs_virtq_notify(&e.vq); /* nothing new */
        CU_ASSERT_EQUAL(read_eventfd(fd), 0);
        vs_vdrv_reap(&e.drv);
        vs_vdrv_want_interrupts(&e.drv, false);
        one_tx(&e, 2);
        vs_virtq_notify(&e.vq);
        CU_ASSERT_EQUAL(read_eventfd(fd), 0);
        vs_vdrv_reap(&e.drv);
        if (mode & VS_VDRV_EVENT_IDX) {
            /* Ask for an interrupt once the used index passes 2 more entries. */
            uint16_t at = mode & VS_VDRV_PACKED ? (uint16_t)(e.drv.used_pos + 2)
                                                 : (uint16_t)(e.drv.used_idx + 2);
            vs_vdrv_set_used_event(&e.drv, (uint16_t)(at - 1));
            one_tx(&e, 3);
            vs_virtq_notify(&e.vq);
            CU_ASSERT_EQUAL(read_eventfd(fd), 0); /* event not crossed yet */
            one_tx(&e, 4);
            vs_virtq_notify(&e.vq);
            CU_ASSERT_EQUAL(read_eventfd(fd), 1);
            one_tx(&e, 5);
            vs_virtq_notify(&e.vq);
            CU_ASSERT_EQUAL(read_eventfd(fd), 0); /* already passed */
            vs_vdrv_reap(&e.drv);
        }
        uint64_t kicks = e.vq.stats.kicks_sent;
        CU_ASSERT_EQUAL(kicks, (mode & VS_VDRV_EVENT_IDX) ? 2 : 1);
        CU_ASSERT_EQUAL(e.vq.stats.kicks_failed, 0);
        vs_eventfd_signal_close(&call);
        close(fd);
        env_teardown(&e);
    }
}

/* Kick suppression: the driver sees NO_NOTIFY / a far avail_event / DISABLE while
 * we poll, and is asked to kick again once we stop polling. */
static void test_kick_suppression(void)
{
    for (unsigned m = 0; m < 4; m++) {
        unsigned mode = ((m & 1) ? VS_VDRV_PACKED : 0) | ((m & 2) ? VS_VDRV_EVENT_IDX : 0);
        struct env e;
        env_setup(&e, 16, mode);
        one_tx(&e, 0);
        vs_vdrv_reap(&e.drv);
        vs_vdrv_kick_needed(&e.drv);
        vs_virtq_set_kick_suppression(&e.vq, true);
        unsigned kicks = 0;
        for (unsigned i = 0; i < 70000 / 4; i++) {
            uint8_t f[64];
            make_frame(f, 64, i);
            for (unsigned k = 0; k < 4; k++)
                vs_vdrv_post_tx(&e.drv, f, 64, 1, false);
            if (vs_vdrv_kick_needed(&e.drv))
                kicks++;
            struct vs_pkt *pkts[4];
            uint16_t n = vs_virtq_dequeue(&e.vq, test_pool, pkts, 4);
            vs_pkt_free_bulk(pkts, n);
            vs_vdrv_reap(&e.drv);
        }
        CU_ASSERT_EQUAL(kicks, 0);
        vs_virtq_set_kick_suppression(&e.vq, false);
        uint8_t f[64];
        make_frame(f, 64, 1);
        vs_vdrv_post_tx(&e.drv, f, 64, 1, false);
        CU_ASSERT(vs_vdrv_kick_needed(&e.drv));
        CU_ASSERT(vs_virtq_has_work(&e.vq));
        CU_ASSERT(dequeue_expect(&e, 64, 1));
        /* Still enabled: the next buffer kicks again. */
        vs_vdrv_reap(&e.drv);
        vs_vdrv_post_tx(&e.drv, f, 64, 1, false);
        CU_ASSERT(vs_vdrv_kick_needed(&e.drv));
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        env_teardown(&e);
    }
}

/* Legacy 10-byte header: no num_buffers field. */
static void test_hdr10(void)
{
    struct env e;
    env_setup(&e, 8, VS_VDRV_HDR10);
    CU_ASSERT_EQUAL(e.vq.hdr_len, 10);
    uint8_t f[300];
    make_frame(f, 300, 5);
    CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 300, 2, false) >= 0);
    CU_ASSERT(dequeue_expect(&e, 300, 5));
    CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 1); /* the TX completion */
    CU_ASSERT(vs_vdrv_post_rx(&e.drv, 2058, 1, false) >= 0);
    struct vs_pkt *p = make_pkt(300, 6);
    CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 1);
    vs_pkt_free(p);
    CU_ASSERT(recv_expect(&e, 300, 6, NULL));
    env_teardown(&e);
}

static bool page_dirty(const uint8_t *bm, uint64_t gpa)
{
    uint64_t page = gpa >> 12;
    return bm[page >> 3] & (1u << (page & 7));
}

/* Dirty logging: every guest write (RX data and header, used ring, packed used
 * descriptors) marks its page; TX buffers (only read) do not. */
static void test_dirty_log(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 16, mode | VS_VDRV_MRG_RXBUF);
        uint64_t pages = (VS_VDRV_GPA_BASE + ENV_REGION_SIZE) >> 12;
        struct vs_dirty_log log = { .size_bytes = (pages + 7) / 8 };
        log.bitmap = calloc(1, log.size_bytes);
        CU_ASSERT_FATAL(log.bitmap != NULL);
        e.vq.log = &log;
        int rx_id = vs_vdrv_post_rx(&e.drv, 2060, 1, false);
        CU_ASSERT_FATAL(rx_id >= 0);
        struct vs_pkt *p = make_pkt(1500, 1);
        CU_ASSERT_EQUAL(vs_virtq_enqueue(&e.vq, &p, 1), 1);
        vs_pkt_free(p);
        uint64_t area = e.drv.bufs[rx_id].area_gpa;
        CU_ASSERT(page_dirty(log.bitmap, area));
        CU_ASSERT(page_dirty(log.bitmap, area + 1511));
        CU_ASSERT(!page_dirty(log.bitmap, area + 4096 + 1512)); /* beyond what we wrote */
        uint64_t ring = mode ? e.drv.desc_gpa : e.drv.used_gpa;
        CU_ASSERT(page_dirty(log.bitmap, ring));
        CU_ASSERT(recv_expect(&e, 1500, 1, NULL));
        memset(log.bitmap, 0, log.size_bytes);
        /* A TX buffer far from the rings (so on a page of its own). */
        uint64_t tx = e.drv.bufs[10].area_gpa;
        uint8_t *txp = vs_vdrv_mem_hva(&e.mem, tx);
        memset(txp, 0, 12);
        make_frame(txp + 12, 200, 2);
        if (mode) {
            vs_vdrv_packed_set_desc(&e.drv, e.drv.next_pos, tx, 212, 10, 0, e.drv.avail_wrap);
        } else {
            vs_vdrv_split_set_desc(&e.drv, 10, tx, 212, 0, 0);
            vs_vdrv_split_publish(&e.drv, 10);
        }
        CU_ASSERT(dequeue_expect(&e, 200, 2));
        CU_ASSERT(!page_dirty(log.bitmap, tx));
        CU_ASSERT(page_dirty(log.bitmap, ring));
        unsigned set = 0;
        for (uint64_t i = 0; i < log.size_bytes; i++)
            set += __builtin_popcount(log.bitmap[i]);
        CU_ASSERT_EQUAL(set, 1); /* the ring page only */
        free(log.bitmap);
        env_teardown(&e);
    }
}

static void test_dirty_log_mark(void)
{
    uint8_t bm[4] = { 0 };
    struct vs_dirty_log log = { .bitmap = bm, .size_bytes = sizeof(bm) };
    vs_dirty_log_mark(&log, 0x1000, 0); /* nothing */
    CU_ASSERT_EQUAL(bm[0], 0);
    vs_dirty_log_mark(&log, 0x1fff, 2); /* pages 1 and 2 */
    CU_ASSERT_EQUAL(bm[0], 0x06);
    vs_dirty_log_mark(&log, 0x7000, 0x3000); /* pages 7..9 across a byte */
    CU_ASSERT_EQUAL(bm[0], 0x86);
    CU_ASSERT_EQUAL(bm[1], 0x03);
    vs_dirty_log_mark(&log, 0x1e000, 0x10000); /* pages 30..45: clamped at 31 */
    CU_ASSERT_EQUAL(bm[3], 0xc0);
    vs_dirty_log_mark(&log, 0x100000, 4096); /* beyond the bitmap: ignored */
    vs_dirty_log_mark(&log, UINT64_MAX - 10, 100); /* wraps: ignored, no crash */
    CU_ASSERT_EQUAL(bm[2], 0);
    vs_dirty_log_mark(NULL, 0, 10);
}

/* Lending dequeue: single-descriptor frames are lent (pointing into guest memory),
 * others copied; nothing goes back to the guest before done; indices wrap. */
static void test_lend(void)
{
    FOR_MODES(mode) {
        struct env e;
        uint16_t size = mode ? 7 : 8;
        env_setup(&e, size, mode | VS_VDRV_INDIRECT);
        uint8_t f[2048], in[VS_PKT_DATA_ROOM];
        struct vs_pkt *pkts[VS_BURST];
        unsigned bad = 0, lent = 0, copied = 0, total = 0;
        uint32_t seed = 0;
        while (total < 20000) {
            unsigned k = 0;
            while (vs_vdrv_free_count(&e.drv) >= 3 && k < 5) {
                uint32_t len = 60 + (seed + k) % 1400;
                make_frame(f, len, seed + k);
                /* Every third frame in 2 pieces or indirect: those must be copied. */
                unsigned shape = (seed + k) % 3;
                if (vs_vdrv_post_tx(&e.drv, f, len, shape == 1 ? 2 : 1, shape == 2) < 0)
                    bad++;
                k++;
            }
            uint16_t n = vs_virtq_dequeue_lend(&e.vq, test_pool, pkts, VS_BURST);
            if (n != k)
                bad++;
            /* Held back: the guest sees nothing used yet. */
            if (vs_vdrv_reap(&e.drv) != 0)
                bad++;
            for (unsigned j = 0; j < n; j++) {
                uint32_t len = 60 + (seed + j) % 1400;
                bool ext = pkts[j]->flags & VS_PKT_F_EXTERNAL;
                make_frame(f, len, seed + j);
                vs_pkt_copy_out(pkts[j], in);
                if (pkts[j]->len != len || memcmp(in, f, len))
                    bad++;
                if (ext != ((seed + j) % 3 == 0))
                    bad++;
                /* Lent: the head in our buffer, the rest still in the guest's. */
                if (ext && (!vs_guest_mem_hva_range(e.vq.mem, pkts[j]->ext, len, NULL) ||
                            memcmp(vs_pkt_data(pkts[j]), f, vs_pkt_head_len(pkts[j]))))
                    bad++;
                ext ? lent++ : copied++;
            }
            vs_pkt_free_bulk(pkts, n);
            vs_virtq_dequeue_done(&e.vq);
            vs_virtq_dequeue_done(&e.vq); /* a second call has nothing to do */
            if (vs_vdrv_reap(&e.drv) != k)
                bad++;
            seed += k;
            total += k;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT(lent > 6000 && copied > 12000);
        CU_ASSERT_EQUAL(e.vq.stats.packets, total);
        CU_ASSERT_EQUAL(err_total(&e.vq), 0);
        CU_ASSERT(!e.vq.broken);
        CU_ASSERT_EQUAL(vs_vdrv_free_count(&e.drv), size);
        env_teardown(&e);
    }
}

/* A lending dequeue that finds only copies or drops hands the buffers back at once. */
static void test_lend_nothing_lent(void)
{
    FOR_MODES(mode) {
        struct env e;
        env_setup(&e, 16, mode);
        uint8_t f[64];
        struct vs_pkt *pkts[VS_BURST];
        make_frame(f, 64, 1);
        CU_ASSERT(vs_vdrv_post_tx(&e.drv, f, 64, 2, false) >= 0);
        CU_ASSERT_EQUAL(vs_virtq_dequeue_lend(&e.vq, test_pool, pkts, VS_BURST), 1);
        CU_ASSERT_FALSE(pkts[0]->flags & VS_PKT_F_EXTERNAL);
        CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 1);
        vs_pkt_free(pkts[0]);
        vs_virtq_dequeue_done(&e.vq);
        CU_ASSERT_EQUAL(vs_vdrv_reap(&e.drv), 0);
        env_teardown(&e);
    }
}

/* A guest rewrites a lent frame after the dequeue (it can, until the buffer is
 * used): the switch still sees, and the destination guest still receives, the
 * headers as they were dequeued. Only the bytes past them are read from the source
 * guest when the destination copies (the frame crosses in one copy), so they may
 * arrive rewritten: the guest spoils only its own payload. */
static void test_lend_rewritten(void)
{
    static const uint32_t lens[] = {18, 63, 64, 65, 1514};
    FOR_MODES(mode)
    {
        for (unsigned li = 0; li < VS_ARRAY_SIZE(lens); li++) {
            uint32_t len = lens[li], head = VS_MIN(len, VS_PKT_LEND_HEAD), bad = 0;
            struct env src, dst;
            uint8_t f[VS_PKT_DATA_ROOM], got[VS_VDRV_AREA];
            struct vs_pkt *p;
            env_setup(&src, 16, mode);
            env_setup(&dst, 16, mode);
            make_frame(f, len, li);
            f[12] = 0x81, f[13] = 0x00, f[14] = 0x00, f[15] = 42; /* VLAN 42 */
            int id = vs_vdrv_post_tx(&src.drv, f, len, 1, false);
            CU_ASSERT_FATAL(id >= 0);
            /* One RX buffer, or 16 pieces of 128 bytes (a long frame then spans several). */
            CU_ASSERT(vs_vdrv_post_rx(&dst.drv, 12 + 2048, li % 2 ? 1 : 16, false) >= 0);
            CU_ASSERT_EQUAL_FATAL(vs_virtq_dequeue_lend(&src.vq, test_pool, &p, 1), 1);
            CU_ASSERT(p->flags & VS_PKT_F_EXTERNAL);

            /* The guest rewrites its whole frame (header included). */
            uint8_t *g = vs_vdrv_mem_hva(&src.mem, src.drv.bufs[id].seg_gpa[0]);
            CU_ASSERT_FATAL(g != NULL);
            memset(g + src.drv.hdr_len, 0x5a, len);

            CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), f, head), 0); /* what the switch reads */
            CU_ASSERT_EQUAL(vs_virtq_enqueue(&dst.vq, &p, 1), 1);
            vs_pkt_free(p);
            vs_virtq_dequeue_done(&src.vq);
            CU_ASSERT_EQUAL(vs_vdrv_reap(&src.drv), 1);
            CU_ASSERT_EQUAL(vs_vdrv_recv(&dst.drv, got, sizeof(got), NULL), (int)len);
            CU_ASSERT_EQUAL(memcmp(got, f, head), 0);
            for (uint32_t b = head; b < len; b++)
                bad += got[b] != 0x5a;
            CU_ASSERT_EQUAL(bad, 0);
            env_teardown(&dst);
            env_teardown(&src);
        }
    }
}

static void add_tests(CU_pSuite s)
{
    CU_add_test(s, "tx round trip", test_tx_round_trip);
    CU_add_test(s, "tx partial burst", test_tx_partial_burst);
    CU_add_test(s, "rx round trip", test_rx_round_trip);
    CU_add_test(s, "rx header parts stale", test_rx_header_stale_parts);
    CU_add_test(s, "rx in tiny pieces", test_rx_tiny_pieces);
    CU_add_test(s, "rx mergeable", test_rx_mergeable);
    CU_add_test(s, "rx chain too small", test_rx_chain_too_small);
    CU_add_test(s, "wrap around", test_wrap_around);
    CU_add_test(s, "stop/start base", test_stop_start_base);
    CU_add_test(s, "two regions", test_two_regions);
    CU_add_test(s, "notify", test_notify);
    CU_add_test(s, "kick suppression", test_kick_suppression);
    CU_add_test(s, "10-byte header", test_hdr10);
    CU_add_test(s, "dirty log", test_dirty_log);
    CU_add_test(s, "dirty log mark", test_dirty_log_mark);
    CU_add_test(s, "lending dequeue", test_lend);
    CU_add_test(s, "lending dequeue with nothing to lend", test_lend_nothing_lent);
    CU_add_test(s, "lent frame rewritten after the dequeue", test_lend_rewritten);
}

int main(void)
{
    CU_initialize_registry();
    env_add_suites("virtq", add_tests);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
