/* vs_copy: every length, every alignment, nothing written outside the target. */
#include <CUnit/Basic.h>
#include <string.h>

#include "vswitch/compiler.h"

static void test_all_lengths(void)
{
    static unsigned char src[3000], dst[3100];
    unsigned bad = 0;

    for (unsigned i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 131 + 7);
    for (unsigned len = 0; len <= 2100; len++) {
        for (unsigned off = 0; off < 8; off++) {
            memset(dst, 0xee, sizeof(dst));
            vs_copy(dst + 32 + off, src + (len + off) % 64, len);
            if (memcmp(dst + 32 + off, src + (len + off) % 64, len))
                bad++;
            for (unsigned k = 0; k < 32 + off; k++)
                bad += dst[k] != 0xee;
            for (unsigned k = 32 + off + len; k < sizeof(dst); k++)
                bad += dst[k] != 0xee;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("copy", NULL, NULL);
    CU_add_test(s, "all lengths and alignments", test_all_lengths);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
