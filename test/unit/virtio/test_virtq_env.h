/* Shared fixture of the virtqueue tests: guest memory, a test driver, the device
 * queue under test, and a packet pool. */
#ifndef VS_TEST_VIRTQ_ENV_H
#define VS_TEST_VIRTQ_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "ports/virtio/virtq.h"
#include "test/common/virtio_driver.h"
#include "vswitch/pkt.h"

#define ENV_REGION_SIZE (4u << 20)

struct env {
    struct vs_vdrv_mem mem;
    struct vs_vdrv drv;
    struct vs_virtq vq;
};

extern struct vs_pool *test_pool;

/* Every suite runs twice: as a driver without and with VIRTIO_F_IN_ORDER. env_flags
 * (0 or VS_VDRV_IN_ORDER) is added to every env_setup of the running suite. */
extern unsigned env_flags;
int env_suite_init(void);
int env_suite_init_in_order(void);
int env_suite_clean(void);
/* Adds the two suites "name" and "name, in order", each with the tests add() adds. */
void env_add_suites(const char *name, void (*add)(CU_pSuite s));
/* Two regions when flags has VS_VDRV_SPREAD. Starts the queue at base 0
 * (packed: 0x8000, the wrap counter set). */
void env_setup(struct env *e, uint16_t size, unsigned flags);
void env_teardown(struct env *e);

/* A frame of len bytes whose content depends on seed (an Ethernet header first). */
void make_frame(uint8_t *buf, uint32_t len, uint32_t seed);
struct vs_pkt *make_pkt(uint32_t len, uint32_t seed);
/* Dequeues one frame and checks it equals make_frame(len, seed). */
bool dequeue_expect(struct env *e, uint32_t len, uint32_t seed);
/* Receives one frame through the driver and checks it equals make_frame(len, seed). */
bool recv_expect(struct env *e, uint32_t len, uint32_t seed, uint16_t *num_buffers);
/* Sum of all error counters. */
uint64_t err_total(const struct vs_virtq *vq);

#endif
