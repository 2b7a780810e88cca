/* libFuzzer target: a stream of vhost-user messages, with file descriptors, into the
 * vhost-user message handler (no socket), and the data path run between messages.
 *
 * Input: records of
 *   u8  control   bits 0-1: memfd fds to attach (0-3); bit 2: attach an eventfd
 *                 instead; bit 3: run the rings after the message; bit 4: the record
 *                 is a memory write, not a message (header.request = offset in the
 *                 guest memfd, header.size = bytes that follow)
 *   hdr (12 bytes: request, flags, size) and size payload bytes.
 * A record whose payload runs past the end of the input is dropped. A message the
 * handler answers with "close the connection" resets the device, as the port does.
 * The memfd (1 MiB) is the only guest memory file: regions that claim more are
 * refused by the handler before mmap. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ports/vhost_user/dev.h"
#include "vswitch/log.h"
#include "vswitch/pkt.h"

#define MEM_SIZE (1u << 20)

static struct vs_pool *pool;
static int memfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    vs_log_set_level(VS_LOG_ERR);
    if (vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0)
        abort();
    memfd = memfd_create("fuzz-guest", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, MEM_SIZE) < 0)
        abort();
    return 0;
}

/* What a poller would do: drain guest TX, fill guest RX, interrupt. */
static void run_rings(struct vs_vhu_dev *dev)
{
    struct vs_pkt *pkts[VS_BURST];

    for (unsigned q = 0; q < dev->net.n_qp; q++) {
        struct vs_vnet_queue *tx = &dev->net.q[2 * q + 1], *rx = &dev->net.q[2 * q];

        if (vs_vnet_gate_get(tx) != VS_VNET_GATE_STOPPED) {
            uint16_t n = vs_virtq_dequeue(&tx->vq, pool, pkts, VS_BURST);

            if (n && vs_vnet_gate_get(rx) == VS_VNET_GATE_OPEN) {
                vs_virtq_enqueue(&rx->vq, pkts, n);
                vs_virtq_notify(&rx->vq);
            }
            vs_pkt_free_bulk(pkts, n);
            vs_virtq_set_kick_suppression(&tx->vq, n & 1);
            (void)vs_virtq_has_work(&tx->vq);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vs_vhu_dev dev;
    static struct vs_vhu_msg reply;
    size_t off = 0;

    int probe0 = dup(0);

    close(probe0);
    vs_vhu_dev_init(&dev, "fuzz", 2);
    /* Fresh guest memory contents for every input. */
    if (ftruncate(memfd, 0) < 0 || ftruncate(memfd, MEM_SIZE) < 0)
        abort();

    while (off + 1 + sizeof(struct vs_vhu_hdr) <= size) {
        uint8_t ctl = data[off];
        struct vs_vhu_hdr hdr;
        const uint8_t *payload;
        int fds[VS_VHU_MAX_FDS];
        unsigned nfds = 0;

        memcpy(&hdr, data + off + 1, sizeof(hdr));
        off += 1 + sizeof(hdr);
        payload = data + off;

        if (ctl & 0x10) {
            /* Memory write: lets the fuzzer build rings and descriptors. */
            uint32_t len = hdr.size;
            if (len > size - off)
                len = (uint32_t)(size - off);
            if (hdr.request < MEM_SIZE && len <= MEM_SIZE - hdr.request &&
                pwrite(memfd, payload, len, hdr.request) < 0)
                abort();
            off += len;
            continue;
        }
        if (hdr.size <= VS_VHU_MAX_PAYLOAD) {
            if (hdr.size > size - off)
                break;
            off += hdr.size;
        } else {
            payload = NULL; /* refused on the header: the payload is never read */
        }
        if (ctl & 0x4) {
            fds[nfds++] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        } else {
            for (unsigned i = 0; i < (ctl & 3u); i++)
                fds[nfds++] = dup(memfd);
        }
        int rc = vs_vhost_user_handle_msg(&dev, &hdr, payload, fds, nfds, &reply);
        if (rc > 0 && (reply.hdr.size > VS_VHU_MAX_PAYLOAD ||
                       !(reply.hdr.flags & VS_VHU_FLAG_REPLY)))
            abort(); /* a reply we could not send as is */
        if (rc < 0)
            vs_vhu_dev_reset(&dev);
        else if (ctl & 0x8)
            run_rings(&dev);
    }
    vs_vhu_dev_reset(&dev);
    /* Every fd handed to the handler was kept and then closed by the reset, or
     * closed at once: the lowest free descriptor is where it was. */
    int probe1 = dup(0);
    close(probe1);
    if (probe1 != probe0)
        abort();
    return 0;
}
