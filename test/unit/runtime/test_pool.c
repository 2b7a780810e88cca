/* The packet pool: layout, exhaustion, references, per-thread caches, threads. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <errno.h>
#include <string.h>

#include "vswitch/pkt.h"

static void test_layout_and_alloc(void)
{
    struct vs_pool *pool;
    struct vs_pkt *p;

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(1024, VS_PAGES_NONE, &pool), 0);
    CU_ASSERT_EQUAL(vs_pool_size(pool), 1024);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 1024);
    p = vs_pkt_alloc(pool);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % VS_CACHE_LINE, 0);
    CU_ASSERT_EQUAL(p->data_off, VS_PKT_HEADROOM);
    CU_ASSERT_EQUAL(p->len, 0);
    CU_ASSERT_EQUAL(p->refcnt, 1);
    CU_ASSERT_EQUAL(p->pool, pool);
    CU_ASSERT_EQUAL(p->iova, (uint64_t)(uintptr_t)p->buf);
    CU_ASSERT_EQUAL(vs_pkt_tailroom(p), VS_PKT_DATA_ROOM);
    /* The whole data room is writable. */
    memset(vs_pkt_data(p), 0xab, vs_pkt_tailroom(p));
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 1023);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 1024);
    vs_pool_destroy(pool);
}

static void test_exhaustion(void)
{
    struct vs_pool *pool;
    static struct vs_pkt *all[2100];
    unsigned got = 0, n;

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(2048, VS_PAGES_NONE, &pool), 0);
    while ((n = vs_pkt_alloc_bulk(pool, &all[got], 32)) > 0)
        got += n;
    CU_ASSERT_EQUAL(got, 2048);
    CU_ASSERT_PTR_NULL(vs_pkt_alloc(pool));
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 0);
    /* Every buffer is distinct. */
    for (unsigned i = 1; i < got; i++)
        CU_ASSERT_NOT_EQUAL(all[i - 1], all[i]);
    vs_pkt_free_bulk(all, got);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 2048);
    vs_pool_destroy(pool);
}

static void test_refcount(void)
{
    struct vs_pool *pool;
    struct vs_pkt *p;

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(1024, VS_PAGES_NONE, &pool), 0);
    p = vs_pkt_alloc(pool);
    vs_pkt_ref(p, 2); /* three owners, as a frame flooded to three ports */
    vs_pkt_free(p);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 1023);
    vs_pkt_free(p);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 1024);
    /* A recycled buffer starts with one reference again. */
    p = vs_pkt_alloc(pool);
    CU_ASSERT_EQUAL(p->refcnt, 1);
    vs_pkt_free(p);
    vs_pool_destroy(pool);
}

struct worker {
    struct vs_pool *pool;
    unsigned rounds;
    unsigned failures;
};

/* Allocates bursts, scribbles a signature, checks nobody else touched them, frees. */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct vs_pkt *pkts[VS_BURST];

    for (unsigned r = 0; r < w->rounds; r++) {
        unsigned n = vs_pkt_alloc_bulk(w->pool, pkts, VS_BURST);

        for (unsigned i = 0; i < n; i++)
            memset(vs_pkt_data(pkts[i]), (int)(uintptr_t)w & 0xff, 64);
        for (unsigned i = 0; i < n; i++)
            for (unsigned k = 0; k < 64; k++)
                if (vs_pkt_data(pkts[i])[k] != (uint8_t)((uintptr_t)w & 0xff))
                    w->failures++;
        vs_pkt_free_bulk(pkts, n);
    }
    vs_pool_thread_flush();
    return NULL;
}

static void test_threads(void)
{
    struct vs_pool *pool;
    struct worker w[4];
    pthread_t t[4];

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(4096, VS_PAGES_NONE, &pool), 0);
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){pool, 20000, 0};
        pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(w[i].failures, 0);
    }
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 4096);
    vs_pool_destroy(pool);
}

/* Shared (flooded) frames released from several threads at once. */
static void *release_main(void *arg)
{
    struct vs_pkt **pkts = arg;

    for (int i = 0; i < 512; i++)
        vs_pkt_free(pkts[i]);
    vs_pool_thread_flush();
    return NULL;
}

static void test_shared_release(void)
{
    struct vs_pool *pool;
    static struct vs_pkt *pkts[512];
    pthread_t t[3];

    CU_ASSERT_EQUAL_FATAL(vs_pool_create(1024, VS_PAGES_NONE, &pool), 0);
    for (int i = 0; i < 512; i++) {
        pkts[i] = vs_pkt_alloc(pool);
        vs_pkt_ref(pkts[i], 2);
    }
    vs_pool_thread_flush();
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, release_main, pkts);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), 1024);
    vs_pool_destroy(pool);
}

static void test_hugepage_request_falls_back(void)
{
    struct vs_pool *pool;

    /* Whether or not 2M pages are reserved here, creation succeeds. */
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(1024, VS_PAGES_2M, &pool), 0);
    const struct vs_mem_region *r = vs_pool_region(pool);
    CU_ASSERT(r->len >= 1024 * sizeof(struct vs_pkt));
    CU_ASSERT(r->huge ? r->page_size == (2u << 20) : r->page_size == 4096);
    vs_pool_destroy(pool);
    CU_ASSERT_EQUAL(vs_pool_create(0, VS_PAGES_NONE, &pool), -EINVAL);
}

static void test_page_kind_parse(void)
{
    enum vs_page_kind k;

    CU_ASSERT_EQUAL(vs_page_kind_parse("2M", &k), 0);
    CU_ASSERT_EQUAL(k, VS_PAGES_2M);
    CU_ASSERT_EQUAL(vs_page_kind_parse("1G", &k), 0);
    CU_ASSERT_EQUAL(k, VS_PAGES_1G);
    CU_ASSERT_EQUAL(vs_page_kind_parse("none", &k), 0);
    CU_ASSERT_EQUAL(vs_page_kind_parse("4M", &k), -EINVAL);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("pool", NULL, NULL);
    CU_add_test(s, "layout and alloc", test_layout_and_alloc);
    CU_add_test(s, "exhaustion", test_exhaustion);
    CU_add_test(s, "refcount", test_refcount);
    CU_add_test(s, "threads", test_threads);
    CU_add_test(s, "shared release from threads", test_shared_release);
    CU_add_test(s, "hugepage fallback", test_hugepage_request_falls_back);
    CU_add_test(s, "page kind parse", test_page_kind_parse);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
