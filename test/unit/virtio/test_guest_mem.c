/* Guest address translation: bounds at both ends of a region, clamping, several
 * regions, the hint fast path, and addresses or lengths near 2^64. */
#include <CUnit/Basic.h>
#include <string.h>

#include "ports/virtio/guest_mem.h"

static uint8_t r0[8192], r1[4096], rhigh[4096];

static void setup(struct vs_guest_mem *m)
{
    memset(m, 0, sizeof(*m));
    m->n = 3;
    m->r[0] = (struct vs_guest_mem_region){ .gpa = 0x10000, .size = sizeof(r0), .uva = 0x7000000,
                                            .hva = r0, .fd = -1 };
    m->r[1] = (struct vs_guest_mem_region){ .gpa = 0x12000, .size = sizeof(r1), .uva = 0x9000000,
                                            .hva = r1, .fd = -1 };
    /* The last page of the 64-bit space. */
    m->r[2] = (struct vs_guest_mem_region){ .gpa = UINT64_MAX - 4095, .size = sizeof(rhigh),
                                            .uva = 0x5000, .hva = rhigh, .fd = -1 };
}

static void test_gpa(void)
{
    struct vs_guest_mem m;
    setup(&m);
    uint64_t len = 100;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa(&m, 0x10000, &len), r0);
    CU_ASSERT_EQUAL(len, 100);
    len = 100;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa(&m, 0x11ff0, &len), r0 + 0x1ff0);
    CU_ASSERT_EQUAL(len, 16); /* clamped to the region; the rest is in r[1] */
    len = 100;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa(&m, 0x12000, &len), r1);
    len = 1;
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa(&m, 0xffff, &len));
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa(&m, 0x13000, &len));
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa(&m, 0, &len));
    len = UINT64_MAX;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa(&m, UINT64_MAX, &len), rhigh + 4095);
    CU_ASSERT_EQUAL(len, 1);
    /* Ranges must fit in one region, without wrapping. */
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa_range(&m, 0x10000, 8192), r0);
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa_range(&m, 0x10000, 8193));
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa_range(&m, 0x11fff, 2));
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa_range(&m, UINT64_MAX - 10, 20));
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa_range(&m, 0x10010, UINT64_MAX));
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa_range(&m, UINT64_MAX - 10, 11), rhigh + 4085);
    /* uva space. */
    len = 10;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_uva(&m, 0x9000010, &len), r1 + 16);
    CU_ASSERT_PTR_NULL(vs_guest_mem_uva(&m, 0x12000, &len));
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_uva_range(&m, 0x7000000, 8192), r0);
    CU_ASSERT_PTR_NULL(vs_guest_mem_uva_range(&m, 0x7000001, 8192));
    /* n beyond the table is not trusted. */
    m.n = 1000;
    len = 1;
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa(&m, 0x1, &len));
}

static void test_hint(void)
{
    struct vs_guest_mem m;
    setup(&m);
    unsigned hint = 77; /* anything */
    uint64_t len = 4;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa_hint(&m, 0x12004, &len, &hint), r1 + 4);
    CU_ASSERT_EQUAL(hint, 1);
    len = 10000;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa_hint(&m, 0x12000, &len, &hint), r1);
    CU_ASSERT_EQUAL(len, 4096);
    len = 4;
    CU_ASSERT_PTR_EQUAL(vs_guest_mem_gpa_hint(&m, 0x10000, &len, &hint), r0);
    CU_ASSERT_EQUAL(hint, 0);
    len = 4;
    CU_ASSERT_PTR_NULL(vs_guest_mem_gpa_hint(&m, 0x20000, &len, &hint));
    CU_ASSERT_EQUAL(hint, 0);
}

static void test_hva_range(void)
{
    struct vs_guest_mem m;
    setup(&m);
    uint64_t gpa = 0;
    CU_ASSERT(vs_guest_mem_hva_range(&m, r1 + 16, 100, &gpa));
    CU_ASSERT_EQUAL(gpa, 0x12010);
    CU_ASSERT(vs_guest_mem_hva_range(&m, r0, sizeof(r0), NULL));
    CU_ASSERT(!vs_guest_mem_hva_range(&m, r0 + 1, sizeof(r0), NULL));
    CU_ASSERT(!vs_guest_mem_hva_range(&m, r0, UINT64_MAX, NULL));
    static uint8_t elsewhere[16];
    CU_ASSERT(!vs_guest_mem_hva_range(&m, elsewhere, 1, NULL));
}

int main(void)
{
    CU_initialize_registry();
    CU_pSuite s = CU_add_suite("guest_mem", NULL, NULL);
    CU_add_test(s, "gpa and uva", test_gpa);
    CU_add_test(s, "hint", test_hint);
    CU_add_test(s, "hva range", test_hva_range);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
