/* libFuzzer target: the VDUSE device's control requests, with the kernel's side of
 * the device fd (features, virtqueue info, IOTLB entries) also taken from the
 * input, and the rings run between records.
 *
 * Input: records of one op byte and its operands (little-endian):
 *   0 request:  u8 len, then len bytes read from the device fd (at most one request)
 *   1 features: u64 (what VDUSE_DEV_GET_FEATURES answers)
 *   2 vq info:  u8 index, u16 num, u32 desc, u32 driver, u32 device, u8 ready,
 *               u16 avail_index
 *   3 IOTLB:    u8 slot (bit 7: drop it), u32 start, u32 len, u32 offset, u8 perm
 *   4 memory:   u32 offset, u8 len, len bytes into the memfd behind every entry
 *   5 run the rings; 6 IOTLB miss recovery
 * A record cut short by the end of the input is dropped. Every IOTLB entry is a
 * window on one 1 MiB memfd, so the rings and buffers the input writes are what
 * the device maps. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ports/vduse/dev.h"
#include "vswitch/log.h"
#include "vswitch/pkt.h"

#define MEM_SIZE (1u << 20)
#define SLOTS 4
#define DEV_FD 1000

static struct vs_pool *pool;
static int memfd = -1;
static uint8_t *mem;

static struct {
    uint64_t features;
    struct vduse_vq_info info[VS_VDUSE_N_VQ];
    struct vduse_iotlb_entry tlb[SLOTS];
    bool present[SLOTS];
} k;

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
    (void)fd;
    switch (req) {
    case VDUSE_DEV_GET_FEATURES: memcpy(arg, &k.features, sizeof(k.features)); return 0;
    case VDUSE_VQ_GET_INFO: {
        struct vduse_vq_info *vi = arg;
        if (vi->index >= VS_VDUSE_N_VQ)
            break;
        *vi = k.info[vi->index];
        return 0;
    }
    case VDUSE_VQ_SETUP_KICKFD:
    case VDUSE_VQ_INJECT_IRQ: return 0;
    case VDUSE_IOTLB_GET_FD: {
        struct vduse_iotlb_entry *q = arg;
        int best = -1;
        for (int i = 0; i < SLOTS; i++)
            if (k.present[i] && k.tlb[i].start <= q->last && q->start <= k.tlb[i].last &&
                (best < 0 || k.tlb[i].start < k.tlb[best].start))
                best = i;
        if (best < 0)
            break;
        *q = k.tlb[best];
        return dup(memfd);
    }
    }
    errno = EINVAL;
    return -1;
}

static const struct vs_vduse_sys fake = {.ioctl = fake_ioctl};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    vs_log_set_level(VS_LOG_ERR);
    if (vs_pool_create(1024, VS_PAGES_NONE, &pool) < 0)
        abort();
    memfd = memfd_create("fuzz-iotlb", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, MEM_SIZE) < 0)
        abort();
    mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mem == MAP_FAILED)
        abort();
    return 0;
}

/* What the port's pollers do: the driver's transmit queue into its receive queue. */
static void run_rings(struct vs_vduse_dev *dev)
{
    struct vs_pkt *pkts[VS_BURST];
    struct vs_vnet_queue *tx = &dev->net.q[1], *rx = &dev->net.q[0];

    if (vs_vnet_gate_get(tx) != VS_VNET_GATE_OPEN)
        return;
    uint16_t n = vs_virtq_dequeue(&tx->vq, pool, pkts, VS_BURST);
    vs_virtq_notify(&tx->vq);
    if (n && vs_vnet_gate_get(rx) == VS_VNET_GATE_OPEN) {
        vs_virtq_enqueue(&rx->vq, pkts, n);
        vs_virtq_notify(&rx->vq);
    }
    vs_pkt_free_bulk(pkts, n);
}

static bool take(const uint8_t **p, const uint8_t *end, void *out, size_t n)
{
    if ((size_t)(end - *p) < n)
        return false;
    memcpy(out, *p, n);
    *p += n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    struct vs_vduse_dev dev;
    uint8_t op;

    memset(&k, 0, sizeof(k));
    if (vs_vduse_dev_init(&dev, "fuzz", &fake) < 0)
        abort();
    dev.fd = DEV_FD;
    while (take(&p, end, &op, 1)) {
        switch (op % 7) {
        case 0: {
            uint8_t len, buf[sizeof(struct vduse_dev_request)];
            struct vduse_dev_response resp;
            if (!take(&p, end, &len, 1) || len > sizeof(buf) || !take(&p, end, buf, len))
                goto out;
            vs_vduse_handle_request(&dev, buf, len, &resp);
            break;
        }
        case 1:
            if (!take(&p, end, &k.features, 8))
                goto out;
            break;
        case 2: {
            uint8_t idx, ready;
            uint16_t num, avail;
            uint32_t a[3];
            if (!take(&p, end, &idx, 1) || !take(&p, end, &num, 2) || !take(&p, end, a, 12) ||
                !take(&p, end, &ready, 1) || !take(&p, end, &avail, 2))
                goto out;
            struct vduse_vq_info *vi = &k.info[idx % VS_VDUSE_N_VQ];
            *vi = (struct vduse_vq_info){.index = idx % VS_VDUSE_N_VQ,
                                         .num = num,
                                         .desc_addr = a[0],
                                         .driver_addr = a[1],
                                         .device_addr = a[2],
                                         .ready = ready & 1};
            vi->split.avail_index = avail;
            break;
        }
        case 3: {
            uint8_t slot, perm;
            uint32_t v[3];
            if (!take(&p, end, &slot, 1) || !take(&p, end, v, 12) || !take(&p, end, &perm, 1))
                goto out;
            unsigned s = slot % SLOTS;
            /* Windows on the memfd, so that mmap works whatever the input says; the
             * device's own checks see the offsets and sizes as given. */
            uint64_t len = (v[1] % MEM_SIZE) + 1, off = (v[2] % MEM_SIZE) & ~0xfffull;
            if (off + len > MEM_SIZE)
                len = MEM_SIZE - off;
            k.present[s] = !(slot & 0x80);
            k.tlb[s] = (struct vduse_iotlb_entry){
                .start = v[0], .last = (uint64_t)v[0] + len - 1, .offset = off, .perm = perm};
            break;
        }
        case 4: {
            uint32_t off;
            uint8_t len;
            if (!take(&p, end, &off, 4) || !take(&p, end, &len, 1) || (size_t)(end - p) < len)
                goto out;
            off %= MEM_SIZE;
            memcpy(mem + off, p, VS_MIN((size_t)len, (size_t)(MEM_SIZE - off)));
            p += len;
            break;
        }
        case 5: run_rings(&dev); break;
        case 6:
            vs_vduse_recover(&dev);
            run_rings(&dev);
            break;
        }
    }
out:
    vs_vduse_dev_fini(&dev);
    return 0;
}
