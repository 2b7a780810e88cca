/* CPU pinning and cycle counting for pollers. */
#ifndef VSWITCH_CPU_H
#define VSWITCH_CPU_H

#include <stdint.h>

int vs_cpu_count(void);
/* Is cpu usable by this process (online and in its affinity mask)? */
int vs_cpu_allowed(int cpu);
/* Pins the calling thread to cpu. Returns 0 or -errno. */
int vs_cpu_pin_self(int cpu);

static inline uint64_t vs_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
/* TSC ticks per second, measured once. */
uint64_t vs_tsc_hz(void);

#endif
