/* Shared by the fdb unit tests: key helpers and the suites each file registers. */
#ifndef TEST_FDB_H
#define TEST_FDB_H

#include <stdint.h>

/* A distinct locally administered unicast MAC for every id. */
static inline void test_mac(uint32_t id, uint8_t mac[6])
{
    mac[0] = 0x02;
    mac[1] = 0x5a;
    mac[2] = id >> 24;
    mac[3] = id >> 16;
    mac[4] = id >> 8;
    mac[5] = id;
}

int test_fdb_add_stress(void);

#endif
