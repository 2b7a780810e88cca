/* vs_hostile_check SOCK_A SOCK_B [FRAMES] [TIMEOUT_MS]: the benign front-end.
 * Connects to two vhost-user ports of a running vswitchd, negotiates both as QEMU
 * would, sends FRAMES frames (default 256) from A's guest and requires every one
 * of them, exactly once, at B's guest within TIMEOUT_MS (default 5000). Frames
 * carry our own source MAC and a sequence number; anything else B receives
 * (floods from other ports) is ignored. Exit 0 on success, 1 with the reason. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/hostile/hostile.h"

#define ETHERTYPE 0x88b5 /* IEEE local experimental */
#define FRAME_LEN 128
#define MAX_FRAMES 100000
/* Frames in flight: fewer than B's RX buffers, so the switch never finds B's ring
 * full (it would drop, rightly, and the count would not be exact). */
#define WINDOW 128

struct hdr {
    uint8_t dst[6], src[6];
    uint16_t type;
    uint32_t magic, seq;
} __attribute__((packed));

int main(int argc, char **argv)
{
    struct fe a, b;
    struct fe_opts o = hx_default_opts();
    unsigned frames = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 256;
    int timeout_ms = argc > 4 ? atoi(argv[4]) : 5000;
    uint32_t magic = (uint32_t)getpid() * 2654435761u;
    unsigned sent = 0, got = 0, foreign = 0, dup = 0;
    static uint8_t seen[MAX_FRAMES];
    uint8_t frame[FRAME_LEN], in[2048];
    uint64_t t0, deadline;
    int rc;

    hx_set_prog(argv[0]);
    if (argc < 3 || frames == 0 || frames > MAX_FRAMES)
        hx_die("usage: vs_hostile_check SOCK_A SOCK_B [FRAMES 1..%u] [TIMEOUT_MS]", MAX_FRAMES);
    t0 = hx_now_ms();
    if ((rc = hx_connect(&a, argv[1], 2000)) < 0)
        hx_die("cannot connect to %s: %s", argv[1], strerror(-rc));
    if ((rc = hx_connect(&b, argv[2], 2000)) < 0)
        hx_die("cannot connect to %s: %s", argv[2], strerror(-rc));
    if ((rc = fe_negotiate(&a, &o)) != 0)
        hx_die("negotiation with %s failed at step %d", argv[1], rc);
    if ((rc = fe_negotiate(&b, &o)) != 0)
        hx_die("negotiation with %s failed at step %d", argv[2], rc);
    hx_say("negotiated both ports in %llu ms", (unsigned long long)(hx_now_ms() - t0));
    hx_post_rx(&b);

    struct hdr *h = (struct hdr *)frame;
    memset(frame, 0x5a, sizeof(frame));
    memcpy(h->dst, (uint8_t[]){0x02, 0x00, 0x5e, 0xff, 0xff, 0xfe}, 6); /* nobody: flooded */
    memcpy(h->src, (uint8_t[]){0x02, 0x00, 0x5e, 0x00, 0x00, 0x00}, 6);
    memcpy(h->src + 3, &magic, 3);
    h->type = htons(ETHERTYPE);
    h->magic = magic;

    deadline = hx_now_ms() + (uint64_t)timeout_ms;
    while (got < frames && hx_now_ms() < deadline) {
        bool progress = false;

        vs_vdrv_reap(&a.ring[1]);
        while (sent < frames && sent - got < WINDOW && vs_vdrv_free_count(&a.ring[1]) > 0) {
            h->seq = sent;
            if (vs_vdrv_post_tx(&a.ring[1], frame, sizeof(frame), 1, false) < 0)
                break;
            sent++;
            progress = true;
        }
        hx_kick(&a, 1);
        for (;;) {
            int len = vs_vdrv_recv(&b.ring[0], in, sizeof(in), NULL);
            const struct hdr *r = (const struct hdr *)in;

            if (len < 0)
                hx_die("bad frame at B: %d", len);
            if (len == 0)
                break;
            progress = true;
            vs_vdrv_post_rx(&b.ring[0], 2048, 1, false);
            if (len != FRAME_LEN || r->type != htons(ETHERTYPE) || r->magic != magic ||
                r->seq >= frames) {
                foreign++;
                continue;
            }
            if (seen[r->seq]++)
                dup++;
            else
                got++;
        }
        hx_kick(&b, 0);
        if (!progress)
            usleep(200);
    }
    hx_say("sent %u, received %u of them (%u duplicates, %u other frames) in %llu ms", sent, got,
           dup, foreign, (unsigned long long)(hx_now_ms() - t0));
    fe_close(&a);
    fe_close(&b);
    if (sent != frames || got != frames || dup)
        hx_die("expected %u frames exactly once at B", frames);
    return 0;
}
