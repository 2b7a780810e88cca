#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "vswitch/cpu.h"

int vs_cpu_count(void) { return (int)sysconf(_SC_NPROCESSORS_ONLN); }

int vs_cpu_allowed(int cpu)
{
    cpu_set_t set;

    if (cpu < 0 || cpu >= CPU_SETSIZE)
        return 0;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return 0;
    return CPU_ISSET(cpu, &set);
}

int vs_cpu_pin_self(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

uint64_t vs_tsc_hz(void)
{
    static uint64_t hz;
    struct timespec t0, t1, pause = {0, 20 * 1000 * 1000};
    uint64_t c0, c1, ns;

    if (hz)
        return hz;
    clock_gettime(CLOCK_MONOTONIC_RAW, &t0);
    c0 = vs_rdtsc();
    nanosleep(&pause, NULL);
    clock_gettime(CLOCK_MONOTONIC_RAW, &t1);
    c1 = vs_rdtsc();
    ns = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
    hz = ns ? (c1 - c0) * 1000000000ull / ns : 1000000000ull;
    return hz;
}
