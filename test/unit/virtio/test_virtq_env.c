#include "test_virtq_env.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

struct vs_pool *test_pool;
unsigned env_flags;

int env_suite_init(void)
{
    env_flags = 0;
    if (!test_pool && vs_pool_create(4096, VS_PAGES_NONE, &test_pool) != 0)
        return -1;
    return 0;
}

int env_suite_init_in_order(void)
{
    int rc = env_suite_init();
    env_flags = VS_VDRV_IN_ORDER;
    return rc;
}

void env_add_suites(const char *name, void (*add)(CU_pSuite s))
{
    char in_order[128];
    snprintf(in_order, sizeof(in_order), "%s, in order", name);
    add(CU_add_suite(name, env_suite_init, env_suite_clean));
    add(CU_add_suite(in_order, env_suite_init_in_order, env_suite_clean));
}

int env_suite_clean(void)
{
    return 0;
}

void env_setup(struct env *e, uint16_t size, unsigned flags)
{
    flags |= env_flags;
    unsigned nreg = (flags & VS_VDRV_SPREAD) ? 2 : 1;
    CU_ASSERT_FATAL(vs_vdrv_mem_init(&e->mem, nreg, ENV_REGION_SIZE) == 0);
    CU_ASSERT_FATAL(vs_vdrv_init(&e->drv, &e->mem, size, flags) == 0);
    vs_vdrv_attach(&e->drv, &e->vq);
    /* A fresh packed ring starts with the wrap counter set (bit 15 of the base). */
    CU_ASSERT_FATAL(vs_virtq_start(&e->vq, (flags & VS_VDRV_PACKED) ? 0x8000 : 0) == 0);
}

void env_teardown(struct env *e)
{
    vs_virtq_stop(&e->vq);
    vs_vdrv_fini(&e->drv);
    vs_vdrv_mem_fini(&e->mem);
}

void make_frame(uint8_t *buf, uint32_t len, uint32_t seed)
{
    static const uint8_t hdr[14] = { 0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0 };
    for (uint32_t i = 0; i < len; i++)
        buf[i] = i < 14 ? hdr[i] : (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

struct vs_pkt *make_pkt(uint32_t len, uint32_t seed)
{
    struct vs_pkt *p = vs_pkt_alloc(test_pool);
    if (!p)
        return NULL;
    make_frame(vs_pkt_data(p), len, seed);
    p->len = (uint16_t)len;
    return p;
}

bool dequeue_expect(struct env *e, uint32_t len, uint32_t seed)
{
    struct vs_pkt *p = NULL;
    if (vs_virtq_dequeue(&e->vq, test_pool, &p, 1) != 1)
        return false;
    uint8_t want[VS_PKT_DATA_ROOM];
    make_frame(want, len, seed);
    bool ok = p->len == len && memcmp(vs_pkt_data(p), want, len) == 0;
    vs_pkt_free(p);
    return ok;
}

bool recv_expect(struct env *e, uint32_t len, uint32_t seed, uint16_t *num_buffers)
{
    static uint8_t got[VS_VDRV_AREA * 4], want[VS_VDRV_AREA * 4];
    int n = vs_vdrv_recv(&e->drv, got, sizeof(got), num_buffers);
    if (n != (int)len)
        return false;
    make_frame(want, len, seed);
    return memcmp(got, want, len) == 0;
}

uint64_t err_total(const struct vs_virtq *vq)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < VS_VQ_ERR__COUNT; i++)
        t += vq->stats.err[i];
    return t;
}
