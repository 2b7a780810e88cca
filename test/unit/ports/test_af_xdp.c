/* The af_xdp port without a kernel: its options, and one queue's rings and
 * buffers (ports/af_xdp/xq.c) on rings in memory, with this test playing the
 * kernel's side: consuming the fill and TX rings, producing RX descriptors and
 * completions, and asking for wake-ups. Checks the addresses the port hands the
 * kernel and takes back (the UMEM is the pool's region in unaligned-chunk mode),
 * the batching per burst, copies of frames outside the UMEM, wake-ups only when
 * asked, and that every buffer returns to the pool. */
#include <CUnit/Basic.h>
#include <stdlib.h>
#include <string.h>

#include "ports/af_xdp/args.h"
#include "ports/af_xdp/xq.h"
#include "vswitch/pkt.h"
#include "vswitch/port.h"

#define NBUF 512
#define FILL_SIZE 128
#define RING 64

static struct vs_pool *pool, *other;

/* --- options ------------------------------------------------------------------ */

static int parse(struct vs_xdp_args *a, struct vs_port_err *err, unsigned n, ...)
{
    struct vs_port_arg v[8];
    struct vs_port_args args = {n, v};
    va_list ap;

    va_start(ap, n);
    for (unsigned i = 0; i < n; i++) {
        v[i].key = va_arg(ap, const char *);
        v[i].value = va_arg(ap, const char *);
        v[i].line = v[i].col = 0;
    }
    va_end(ap);
    memset(err, 0, sizeof(*err));
    return vs_xdp_args_parse(&args, a, err);
}

static void test_options(void)
{
    struct vs_xdp_args a;
    struct vs_port_err err;

    CU_ASSERT_EQUAL(parse(&a, &err, 1, "ifname", "eth1"), 0);
    CU_ASSERT_STRING_EQUAL(a.ifname, "eth1");
    CU_ASSERT_EQUAL(a.queues, 1);
    CU_ASSERT_EQUAL(a.mode, VS_XDP_MODE_AUTO);
    CU_ASSERT_EQUAL(a.zerocopy, VS_XDP_ZC_AUTO);
    CU_ASSERT_EQUAL(a.mtu, 0); /* the interface's own */

    CU_ASSERT_EQUAL(parse(&a, &err, 5, "ifname", "eth1", "queues", "4", "mode", "generic",
                          "zerocopy", "off", "mtu", "1500"),
                    0);
    CU_ASSERT_EQUAL(a.queues, 4);
    CU_ASSERT_EQUAL(a.mode, VS_XDP_MODE_GENERIC);
    CU_ASSERT_EQUAL(a.zerocopy, VS_XDP_ZC_OFF);
    CU_ASSERT_EQUAL(a.mtu, 1500);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "mode", "native"), 0);
    CU_ASSERT_EQUAL(a.mode, VS_XDP_MODE_NATIVE);

    CU_ASSERT_EQUAL(parse(&a, &err, 1, "queues", "2"), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "ifname"));
    CU_ASSERT_EQUAL(parse(&a, &err, 1, "ifname", "a-name-far-too-long"), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 0);
    CU_ASSERT_EQUAL(parse(&a, &err, 1, "ifname", "eth/1"), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "mode", "fast"), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "auto, native, generic"));
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "zerocopy", "maybe"), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "auto, on, off"));
    CU_ASSERT_EQUAL(parse(&a, &err, 3, "ifname", "eth1", "mode", "generic", "zerocopy", "on"),
                    -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 2);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "queues", "0"), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "queues", "17"), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "ring", "64"), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "zerocopy"));

    /* The largest MTU is what a frame at data_off 256 of a 2176-byte chunk holds,
     * and the refusal says so. */
    CU_ASSERT_EQUAL(VS_XDP_MTU_MAX, 2176 - 256 - 18);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "mtu", "1902"), 0);
    CU_ASSERT_EQUAL(a.mtu, 1902);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "mtu", "1903"), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "mtu=1902"));
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "mtu", "9000"), -EINVAL);
    CU_ASSERT_EQUAL(parse(&a, &err, 2, "ifname", "eth1", "mtu", "67"), -EINVAL);
}

/* --- rings in memory ------------------------------------------------------------ */

struct fake_ring {
    uint32_t producer, consumer, flags;
    uint64_t slots[FILL_SIZE * 2]; /* u64 addresses or struct xdp_desc (16 bytes) */
};

static struct fake_ring fill_r, comp_r, rx_r, tx_r;
static struct vs_xq_area area;
static struct vs_xq q;

/* As libxdp sets up a ring it mmaps. */
static void ring_prod(struct xsk_ring_prod *r, struct fake_ring *f, uint32_t size)
{
    memset(f, 0, sizeof(*f));
    r->producer = &f->producer;
    r->consumer = &f->consumer;
    r->flags = &f->flags;
    r->ring = f->slots;
    r->size = size;
    r->mask = size - 1;
    r->cached_prod = 0;
    r->cached_cons = size;
}

static void ring_cons(struct xsk_ring_cons *r, struct fake_ring *f, uint32_t size)
{
    memset(f, 0, sizeof(*f));
    r->producer = &f->producer;
    r->consumer = &f->consumer;
    r->flags = &f->flags;
    r->ring = f->slots;
    r->size = size;
    r->mask = size - 1;
    r->cached_prod = 0;
    r->cached_cons = 0;
}

static void queue_setup_zc(bool zc)
{
    const struct vs_mem_region *r = vs_pool_region(pool);

    area = (struct vs_xq_area){pool, r->va, r->len, vs_pool_size(pool), r->page_size};
    memset(&q, 0, sizeof(q));
    ring_prod(&q.fill, &fill_r, FILL_SIZE);
    ring_cons(&q.comp, &comp_r, FILL_SIZE);
    ring_cons(&q.rx, &rx_r, RING);
    ring_prod(&q.tx, &tx_r, RING);
    CU_ASSERT_EQUAL_FATAL(vs_xq_init(&q, &area, -1, zc), 0);
}

static void queue_setup(void) { queue_setup_zc(false); }

static uint64_t buf_addr(const struct vs_pkt *p) { return (uint64_t)(p->buf - area.base); }

/* The kernel takes one fill entry and hands it back as a received frame of len
 * bytes at XDP_PACKET_HEADROOM, filled with byte b. */
static uint64_t kernel_rx(uint32_t len, uint8_t b)
{
    uint64_t addr = fill_r.slots[fill_r.consumer++ % FILL_SIZE];
    struct xdp_desc *d = (struct xdp_desc *)rx_r.slots + rx_r.producer++ % RING;

    memset(area.base + addr + VS_XDP_RX_HEADROOM, b, len);
    d->addr = addr | (uint64_t)VS_XDP_RX_HEADROOM << XSK_UNALIGNED_BUF_OFFSET_SHIFT;
    d->len = len;
    d->options = 0;
    return addr;
}

/* The kernel sends everything on the TX ring and completes it. */
static unsigned kernel_tx_all(void)
{
    unsigned n = 0;

    while (tx_r.consumer != tx_r.producer) {
        struct xdp_desc *d = (struct xdp_desc *)tx_r.slots + tx_r.consumer++ % RING;

        comp_r.slots[comp_r.producer++ % FILL_SIZE] = d->addr;
        n++;
    }
    return n;
}

static void test_fill_and_rx(void)
{
    unsigned free0 = vs_pool_free_count(pool);
    struct vs_pkt *pkts[VS_BURST];

    queue_setup();
    /* One call posts at most two bursts' worth; the ring takes FILL_SIZE. */
    CU_ASSERT_EQUAL(vs_xq_refill(&q, FILL_SIZE), 2 * VS_BURST);
    while (vs_xq_refill(&q, FILL_SIZE))
        ;
    CU_ASSERT_EQUAL(fill_r.producer, FILL_SIZE);
    CU_ASSERT_EQUAL(q.rx_held, FILL_SIZE);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0 - FILL_SIZE);
    /* Every fill address is a pool buffer's buf[0], with its whole chunk in the UMEM. */
    for (unsigned i = 0; i < FILL_SIZE; i++) {
        uint64_t a = fill_r.slots[i];
        CU_ASSERT_EQUAL((a - VS_CACHE_LINE) % VS_PKT_SIZE, 0);
        CU_ASSERT(a + VS_XDP_CHUNK <= area.len);
    }

    /* Nothing received: no frame, no new fill entry. */
    CU_ASSERT_EQUAL(vs_xq_rx(&q, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(fill_r.producer, FILL_SIZE);

    uint64_t a0 = kernel_rx(60, 0xa1), a1 = kernel_rx(1514, 0xb2),
             a2 = kernel_rx(VS_XDP_FRAME_MAX, 0xc3);
    CU_ASSERT_EQUAL_FATAL(vs_xq_rx(&q, pkts, VS_BURST), 3);
    CU_ASSERT_EQUAL(buf_addr(pkts[0]), a0);
    CU_ASSERT_EQUAL(buf_addr(pkts[1]), a1);
    CU_ASSERT_EQUAL(buf_addr(pkts[2]), a2);
    CU_ASSERT_EQUAL(pkts[0]->len, 60);
    CU_ASSERT_EQUAL(pkts[1]->len, 1514);
    CU_ASSERT_EQUAL(pkts[2]->len, VS_XDP_FRAME_MAX);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(pkts[i]->data_off, VS_XDP_RX_HEADROOM);
        CU_ASSERT_PTR_EQUAL(vs_pkt_data(pkts[i]), pkts[i]->buf + VS_XDP_RX_HEADROOM);
        CU_ASSERT_EQUAL(vs_pkt_tailroom(pkts[i]), VS_XDP_FRAME_MAX);
    }
    CU_ASSERT_EQUAL(vs_pkt_data(pkts[1])[1513], 0xb2);
    CU_ASSERT_EQUAL(rx_r.consumer, 3);
    /* The three taken were replaced in the same burst. */
    CU_ASSERT_EQUAL(fill_r.producer - fill_r.consumer, FILL_SIZE);
    CU_ASSERT_EQUAL(q.rx_held, FILL_SIZE);
    vs_pkt_free_bulk(pkts, 3);

    /* Forty waiting frames: a burst of 32, then 8. */
    for (int i = 0; i < 40; i++)
        kernel_rx(64, (uint8_t)i);
    CU_ASSERT_EQUAL(vs_xq_rx(&q, pkts, VS_BURST), VS_BURST);
    CU_ASSERT_EQUAL(vs_pkt_data(pkts[31])[0], 31);
    vs_pkt_free_bulk(pkts, VS_BURST);
    CU_ASSERT_EQUAL(vs_xq_rx(&q, pkts, VS_BURST), 8);
    CU_ASSERT_EQUAL(vs_pkt_data(pkts[7])[0], 39);
    vs_pkt_free_bulk(pkts, 8);
    CU_ASSERT_EQUAL(fill_r.producer - fill_r.consumer, FILL_SIZE);

    /* Descriptors that are not a buffer this queue posted are refused, never freed. */
    struct vs_pkt *foreign = vs_pkt_alloc(pool);
    struct xdp_desc *d = (struct xdp_desc *)rx_r.slots + rx_r.producer++ % RING;
    d->addr = buf_addr(foreign) | (uint64_t)VS_XDP_RX_HEADROOM << XSK_UNALIGNED_BUF_OFFSET_SHIFT;
    d->len = 64;
    d = (struct xdp_desc *)rx_r.slots + rx_r.producer++ % RING;
    d->addr = buf_addr(foreign) + 8; /* not a buffer's start */
    d->len = 64;
    uint64_t a3 = kernel_rx(64, 1);
    d = (struct xdp_desc *)rx_r.slots + (rx_r.producer - 1) % RING;
    d->len = VS_XDP_FRAME_MAX + 1; /* past the chunk's end */
    CU_ASSERT_EQUAL(vs_xq_rx(&q, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(q.rx_bad_desc, 3);
    CU_ASSERT_EQUAL(foreign->refcnt, 1);
    vs_pkt_free(foreign);
    (void)a3;

    /* No wake-up unless the fill ring asks; then one per burst. */
    CU_ASSERT_EQUAL(q.rx_wakeups, 0);
    fill_r.flags = XDP_RING_NEED_WAKEUP;
    vs_xq_rx(&q, pkts, VS_BURST);
    vs_xq_rx(&q, pkts, VS_BURST);
    CU_ASSERT_EQUAL(q.rx_wakeups, 2);

    /* On close every buffer the kernel held (fill ring, the refused descriptor's)
     * goes back to the pool. */
    vs_xq_release(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
}

static void test_tx(void)
{
    unsigned free0 = vs_pool_free_count(pool), other0 = vs_pool_free_count(other);
    struct vs_pkt *pkts[VS_BURST], *p;
    uint8_t lent[300];

    queue_setup();
    CU_ASSERT_EQUAL_FATAL(vs_pkt_alloc_bulk(pool, pkts, 4), 4);
    /* A frame at another offset (a VLAN tag pushed, say) goes out from where it lies. */
    pkts[3]->data_off -= 4;
    pkts[3]->data -= 4;
    for (int i = 0; i < 4; i++) {
        pkts[i]->len = 60 + i;
        memset(vs_pkt_data(pkts[i]), 0x10 + i, pkts[i]->len);
    }
    struct vs_pkt *orig[4];
    memcpy(orig, pkts, sizeof(orig));
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, 4), 4);
    CU_ASSERT_EQUAL(tx_r.producer, 4);
    for (int i = 0; i < 4; i++) {
        struct xdp_desc *d = (struct xdp_desc *)tx_r.slots + i;
        CU_ASSERT_EQUAL(xsk_umem__extract_addr(d->addr), buf_addr(orig[i]));
        CU_ASSERT_EQUAL(xsk_umem__extract_offset(d->addr), orig[i]->data_off);
        CU_ASSERT_EQUAL(d->len, 60 + i);
        CU_ASSERT_EQUAL(area.base[xsk_umem__add_offset_to_addr(d->addr)], 0x10 + i);
    }
    CU_ASSERT_EQUAL(q.tx_copied, 0);
    CU_ASSERT_EQUAL(q.tx_held, 4);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0 - 4);
    /* No kick unless the ring asks for one. */
    CU_ASSERT_EQUAL(q.tx_wakeups, 0);

    /* Completed: the buffers go back on the next burst. */
    CU_ASSERT_EQUAL(kernel_tx_all(), 4);
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, 0), 0);
    CU_ASSERT_EQUAL(q.tx_held, 0);
    CU_ASSERT_EQUAL(comp_r.consumer, 4);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);

    /* Copied once: a lent frame, one from a pool outside the UMEM, and a frame
     * already on this TX ring (a second reference to it). */
    memset(lent, 0x77, sizeof(lent));
    pkts[0] = vs_pkt_alloc(pool);
    vs_pkt_set_external(pkts[0], lent, sizeof(lent));
    pkts[1] = vs_pkt_alloc(other);
    pkts[1]->len = 100;
    memset(vs_pkt_data(pkts[1]), 0x55, 100);
    p = vs_pkt_alloc(pool);
    p->len = 70;
    memset(vs_pkt_data(p), 0x66, 70);
    vs_pkt_ref(p, 1);
    pkts[2] = p;
    pkts[3] = p;
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, 4), 4);
    CU_ASSERT_EQUAL(q.tx_copied, 3);
    CU_ASSERT_EQUAL(vs_pool_free_count(other), other0);
    for (int i = 0; i < 4; i++) {
        struct xdp_desc *d = (struct xdp_desc *)tx_r.slots + (4 + i) % RING;
        static const uint8_t want[] = {0x77, 0x55, 0x66, 0x66};
        static const uint32_t len[] = {300, 100, 70, 70};
        CU_ASSERT_EQUAL(d->len, len[i]);
        CU_ASSERT_EQUAL(area.base[xsk_umem__add_offset_to_addr(d->addr) + d->len - 1], want[i]);
    }
    CU_ASSERT_EQUAL(xsk_umem__extract_addr(((struct xdp_desc *)tx_r.slots)[6].addr), buf_addr(p));
    CU_ASSERT_NOT_EQUAL(xsk_umem__extract_addr(((struct xdp_desc *)tx_r.slots)[7].addr),
                        buf_addr(p));
    kernel_tx_all();
    vs_xq_complete(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);

    /* A full TX ring takes what fits; the caller drops the rest. The kernel is
     * kicked once per burst while the ring asks for it. */
    tx_r.flags = XDP_RING_NEED_WAKEUP;
    unsigned n = vs_pkt_alloc_bulk(pool, pkts, VS_BURST);
    CU_ASSERT_EQUAL_FATAL(n, VS_BURST);
    for (unsigned i = 0; i < n; i++)
        pkts[i]->len = 64;
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, VS_BURST), VS_BURST);
    CU_ASSERT_EQUAL(vs_pkt_alloc_bulk(pool, pkts, VS_BURST), VS_BURST);
    for (unsigned i = 0; i < n; i++)
        pkts[i]->len = 64;
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, VS_BURST), VS_BURST);
    CU_ASSERT_EQUAL(vs_pkt_alloc_bulk(pool, pkts, 8), 8);
    for (unsigned i = 0; i < 8; i++)
        pkts[i]->len = 64;
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, 8), 0); /* RING entries in flight */
    CU_ASSERT_EQUAL(q.tx_wakeups, 3);
    vs_pkt_free_bulk(pkts, 8);
    /* Frames a kick left on the ring get another kick from the RX side, and only
     * while some are left. */
    CU_ASSERT_EQUAL(vs_xq_rx(&q, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(q.tx_rekicks, 1);
    tx_r.consumer += RING / 2;
    vs_xq_rx(&q, pkts, VS_BURST);
    CU_ASSERT_EQUAL(q.tx_rekicks, 2);
    tx_r.consumer -= RING / 2;
    tx_r.flags = 0;
    vs_xq_rx(&q, pkts, VS_BURST);
    CU_ASSERT_EQUAL(q.tx_rekicks, 2);
    tx_r.flags = XDP_RING_NEED_WAKEUP;

    /* A frame longer than a chunk is dropped and counted, the rest goes. */
    kernel_tx_all();
    vs_xq_rx(&q, pkts, VS_BURST);
    CU_ASSERT_EQUAL(q.tx_rekicks, 2); /* nothing left on the ring */
    CU_ASSERT_EQUAL(vs_pkt_alloc_bulk(pool, pkts, 2), 2);
    pkts[0]->len = 64;
    struct vs_pkt *big = vs_pkt_alloc_len(pool, 5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    big->len = 5000;
    pkts[2] = pkts[1];
    pkts[1] = big;
    pkts[2]->len = 64;
    CU_ASSERT_EQUAL(vs_xq_tx(&q, pkts, 3), 3);
    CU_ASSERT_EQUAL(q.tx_oversize, 1);
    CU_ASSERT_EQUAL(q.tx_held, 2);

    /* Closed with frames still on the ring: they return to the pool too. */
    vs_xq_release(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
}

/* Zero-copy: no fill entry and no TX frame across a page boundary of the region
 * (normal 4 KiB pages here, where about half the chunks cross one). */
static void test_zero_copy(void)
{
    unsigned free0 = vs_pool_free_count(pool);
    struct vs_pkt *pkts[4], *p;

    queue_setup_zc(true);
    CU_ASSERT_EQUAL_FATAL(area.page_size, 4096);
    while (vs_xq_refill(&q, FILL_SIZE))
        ;
    CU_ASSERT(q.n_aside > 0);
    CU_ASSERT_EQUAL(fill_r.producer, FILL_SIZE); /* the ring is still filled */
    for (unsigned i = 0; i < FILL_SIZE; i++)
        CU_ASSERT((fill_r.slots[i] & 4095) + VS_XDP_CHUNK <= 4096);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0 - FILL_SIZE - q.n_aside);

    /* A pool frame across a boundary goes out as a copy that is not. */
    do {
        p = vs_pkt_alloc(pool);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        p->len = 1500;
        if (((uint64_t)(vs_pkt_data(p) - area.base) & 4095) + 1500 > 4096)
            break;
        vs_pkt_free(p);
    } while (1);
    memset(vs_pkt_data(p), 0x42, 1500);
    pkts[0] = p;
    unsigned n = vs_xq_tx(&q, pkts, 1);
    CU_ASSERT_EQUAL(n, 1);
    if (q.tx_held == 1) {
        struct xdp_desc *d = (struct xdp_desc *)tx_r.slots;
        uint64_t a = xsk_umem__add_offset_to_addr(d->addr);
        CU_ASSERT_NOT_EQUAL(xsk_umem__extract_addr(d->addr), buf_addr(p));
        CU_ASSERT((a & 4095) + d->len <= 4096);
        CU_ASSERT_EQUAL(area.base[a + 1499], 0x42);
        CU_ASSERT_EQUAL(q.tx_copied, 1);
    } else {
        CU_ASSERT_EQUAL(q.tx_straddle, 1); /* the copy crossed one too: dropped */
    }
    vs_xq_release(&q);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), free0);
}

static int suite_init(void)
{
    if (vs_pool_create(NBUF, VS_PAGES_NONE, &pool) || vs_pool_add_large(pool, 2, VS_PAGES_NONE) ||
        vs_pool_create(16, VS_PAGES_NONE, &other))
        return -1;
    return 0;
}

static int suite_clean(void)
{
    vs_pool_thread_flush();
    vs_pool_destroy(other);
    vs_pool_destroy(pool);
    return 0;
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("af_xdp", suite_init, suite_clean);
    CU_add_test(s, "options", test_options);
    CU_add_test(s, "fill and RX rings", test_fill_and_rx);
    CU_add_test(s, "TX and completion rings", test_tx);
    CU_add_test(s, "zero-copy: nothing across a page boundary", test_zero_copy);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
