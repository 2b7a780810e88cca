/* virtq_bench: one guest's TX ring to another guest's RX ring through the device
 * side of ports/virtio alone (lending dequeue, enqueue into merged receive buffers,
 * the lent buffers' return), on one thread, with test drivers in plain memory
 * standing in for the guests: no poller, no dataplane.
 *
 *   virtq_bench [--bursts N] [--size BYTES] [--segs K] [--tso] [--packed]
 *
 * Frames of --size bytes (default 64) in --segs descriptors each (default 1); with
 * --tso their headers ask for TCP segmentation and a checksum (the frames are lent
 * as chains). It prints ns per frame; under `valgrind --tool=callgrind
 * --toggle-collect=device_burst` the instruction counts of the device's side only
 * (the test drivers' work is outside device_burst). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_net.h>

#include "ports/virtio/virtq.h"
#include "test/common/virtio_driver.h"

#define RING 1024
#define RX_BUF 1536

/* What the measured code is: a poller's turn over the two queues. */
unsigned device_burst(struct vs_virtq *tx, struct vs_virtq *rx, struct vs_pool *pool);
__attribute__((noinline)) unsigned device_burst(struct vs_virtq *tx, struct vs_virtq *rx,
                                                struct vs_pool *pool)
{
    struct vs_pkt *pkts[VS_BURST];
    uint16_t n = vs_virtq_dequeue_lend(tx, pool, pkts, VS_BURST);
    uint16_t sent = vs_virtq_enqueue(rx, pkts, n);

    vs_virtq_notify(rx);
    vs_pkt_free_bulk(pkts, n);
    vs_virtq_dequeue_done(tx);
    vs_virtq_notify(tx);
    return sent;
}

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "virtq_bench: %s\n", what);
    exit(1);
}

int main(int argc, char **argv)
{
    unsigned bursts = 100000, size = 64, segs = 1, flags = 0;
    bool tso = false;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bursts") && i + 1 < argc)
            bursts = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--segs") && i + 1 < argc)
            segs = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--tso"))
            tso = true;
        else if (!strcmp(argv[i], "--packed"))
            flags |= VS_VDRV_PACKED;
        else {
            fprintf(stderr, "usage: virtq_bench [--bursts N] [--size BYTES] [--segs K] [--tso] "
                            "[--packed]\n");
            return 2;
        }
    }
    if (size < 60 || size + 12 > VS_VDRV_AREA || segs < 1 || segs > VS_VDRV_MAX_SEGS)
        die("--size must be 60..8180 and --segs 1..16");

    struct vs_vdrv_mem mem;
    struct vs_vdrv a, b;
    struct vs_virtq tx, rx;
    struct vs_pool *pool;
    if (vs_pool_create(4096, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 256, VS_PAGES_NONE) < 0 ||
        vs_vdrv_mem_init(&mem, 1, 64u << 20) < 0 ||
        vs_vdrv_init(&a, &mem, RING, flags | VS_VDRV_MRG_RXBUF) < 0 ||
        vs_vdrv_init(&b, &mem, RING, flags | VS_VDRV_MRG_RXBUF) < 0)
        die("setup failed");
    vs_vdrv_attach(&a, &tx);
    vs_vdrv_attach(&b, &rx);
    tx.tx_ol = VS_OL_REQUESTS;
    tx.max_frame = rx.max_frame = 9018;
    rx.guest_csum = true;
    uint16_t base = (flags & VS_VDRV_PACKED) ? 0x8000 : 0;
    if (vs_virtq_start(&tx, base) < 0 || vs_virtq_start(&rx, base) < 0)
        die("queue start failed");

    uint8_t frame[VS_VDRV_AREA], *out = malloc(65536);
    for (unsigned i = 0; i < size; i++)
        frame[i] = (uint8_t)(i * 7);
    memcpy(frame, (uint8_t[]){2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00}, 14);

    unsigned long long frames = 0, received = 0;
    double t = 0;
    for (unsigned it = 0; it < bursts + 100; it++) {
        if (it == 100) { /* warm-up done */
            t = 0;
            frames = received = 0;
        }
        for (unsigned k = 0; k < VS_BURST; k++) {
            int id = vs_vdrv_post_tx(&a, frame, size, segs, false);
            if (id < 0)
                die("TX ring full");
            if (tso) {
                uint8_t *h = vs_vdrv_mem_hva(&mem, a.bufs[id].area_gpa);
                h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
                h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
                h[4] = 0xa8, h[5] = 0x05; /* gso_size 1448 */
                h[6] = 34, h[8] = 16;
            }
        }
        while (vs_vdrv_free_count(&b) >= 64 && vs_vdrv_post_rx(&b, RX_BUF, 1, false) >= 0)
            ;
        double t0 = now_ns();
        unsigned sent = device_burst(&tx, &rx, pool);
        t += now_ns() - t0;
        frames += sent;
        vs_vdrv_reap(&a);
        uint8_t h[10];
        while (vs_vdrv_recv_hdr(&b, out, 65536, NULL, h) > 0)
            received++;
    }
    if (received != frames || frames != (unsigned long long)bursts * VS_BURST)
        die("frames lost");
    printf("{\"frames\": %llu, \"size\": %u, \"segs\": %u, \"tso\": %s, \"packed\": %s, "
           "\"ns_per_frame\": %.2f}\n",
           frames, size, segs, tso ? "true" : "false", (flags & VS_VDRV_PACKED) ? "true" : "false",
           t / (double)frames);
    free(out);
    vs_vdrv_fini(&a);
    vs_vdrv_fini(&b);
    vs_vdrv_mem_fini(&mem);
    vs_pool_destroy(pool);
    return 0;
}
