/* Small helpers shared by every layer: branch hints, cache lines, prefetch,
 * barriers.
 *
 * vswitch targets x86-64 only. The barriers below, the TSC cycle counter, the
 * pause hint and the VFIO drivers' MMIO accessors rely on its memory model
 * (TSO) and instructions; this is the one place that says so, and the build
 * stops here on any other architecture rather than run with guessed fences. */
#ifndef VSWITCH_COMPILER_H
#define VSWITCH_COMPILER_H

#include <stddef.h>

#if !defined(__x86_64__)
#error "vswitch targets x86-64 only (see include/vswitch/compiler.h)"
#endif

#define VS_CACHE_LINE 64
#define vs_likely(x) __builtin_expect(!!(x), 1)
#define vs_unlikely(x) __builtin_expect(!!(x), 0)
#define vs_cache_aligned __attribute__((aligned(VS_CACHE_LINE)))
#define vs_prefetch(p) __builtin_prefetch((p), 0, 3)
/* For a line about to be written: PREFETCHW takes it exclusive, so the store later
 * does not wait for a second request that takes it from the core that last read it
 * (a guest's RX buffer, a ring line the driver reads). x86-64-v2 has no PRFCHW, so
 * __builtin_prefetch(p, 1) would emit PREFETCHT0; the instruction is written out,
 * and CPUs without it execute the 0F 0D encoding as a no-op. */
#if defined(__x86_64__)
#define vs_prefetch_w(p) __asm__ __volatile__("prefetchw %0" ::"m"(*(const char *)(p)))
#else
#define vs_prefetch_w(p) __builtin_prefetch((p), 1, 3)
#endif
#define VS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define vs_container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Compiler-only barrier: keeps the compiler from reordering or caching across it. */
#define vs_barrier() __asm__ __volatile__("" ::: "memory")

/* CPU-to-CPU ordering (shared memory with another thread or a guest's vCPU).
 * x86-64 is TSO: loads are not reordered with loads, stores not with stores, so
 * read/write barriers are compiler barriers. A store followed by a load of
 * another location does need a full fence: a locked no-op on the stack orders
 * them like mfence does, at a fraction of its cost (mfence also orders
 * non-temporal and WC accesses, which we never use). */
#define vs_smp_rmb() vs_barrier()
#define vs_smp_wmb() vs_barrier()
#define vs_smp_mb() __asm__ __volatile__("lock addl $0,-4(%%rsp)" ::: "memory", "cc")

/* Spin-wait hint (PAUSE): lets the sibling hyperthread run, saves power. */
#define vs_cpu_relax() __builtin_ia32_pause()

/* Ordering with a device. Rings and buffers are write-back (WB) memory that the
 * device reads and writes by DMA, coherently with the CPU caches; its registers
 * are BARs that vfio-pci maps uncached (UC).
 * - vs_dma_rmb(): loads of what the device wrote (a done bit or used index)
 *   before loads of what that covers (the descriptor, the frame).
 * - vs_dma_wmb(): stores to DMA memory before a later store to DMA memory
 *   (descriptors before the index or flag that hands them to the device).
 * - vs_io_wmb(): stores to DMA memory before a later MMIO store (a doorbell or
 *   tail register, after which the device may fetch the descriptors at once).
 * On x86-64 each is a compiler barrier: loads are not reordered with loads, nor
 * stores with stores (non-temporal and string stores aside, which this code does
 * not use); a UC store is not performed before earlier stores are globally
 * visible, and DMA snoops the caches. A write-combining BAR would need sfence. */
#define vs_dma_rmb() vs_barrier()
#define vs_dma_wmb() vs_barrier()
#define vs_io_wmb() vs_barrier()

#define VS_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define VS_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* Copies n bytes between buffers that do not overlap, inline: frames are short
 * and a library call (with its size dispatch) costs as much as copying 64 bytes.
 * Sizes not a multiple of the block copy their last block overlapping the one
 * before, which writes those bytes twice with the same values. */
static inline void vs_copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;

    if (n >= 64) {
        for (; n > 64; n -= 64, d += 64, s += 64)
            __builtin_memcpy(d, s, 64);
        __builtin_memcpy(d + n - 64, s + n - 64, 64);
    } else if (n >= 32) {
        __builtin_memcpy(d, s, 32);
        __builtin_memcpy(d + n - 32, s + n - 32, 32);
    } else if (n >= 16) {
        __builtin_memcpy(d, s, 16);
        __builtin_memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        __builtin_memcpy(d, s, 8);
        __builtin_memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        __builtin_memcpy(d, s, 4);
        __builtin_memcpy(d + n - 4, s + n - 4, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    }
}

#endif
