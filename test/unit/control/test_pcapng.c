/* The pcapng block writers: exact bytes of each block kind, option padding,
 * both length fields, and blocks refused (nothing written) when room is short. */
#include <stdint.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "control/pcapng.h"

static uint32_t u32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static uint16_t u16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return v;
}

/* The first and last length fields agree with n, and n is a multiple of 4. */
static void check_frame(const uint8_t *b, size_t n, uint32_t type)
{
    CU_ASSERT_EQUAL(u32(b), type);
    CU_ASSERT_EQUAL(u32(b + 4), n);
    CU_ASSERT_EQUAL(u32(b + n - 4), n);
    CU_ASSERT_EQUAL(n % 4, 0);
}

/* Finds option code in the options at b[off..end); returns its value or NULL. */
static const uint8_t *opt(const uint8_t *b, size_t off, size_t end, uint16_t code, uint16_t *len)
{
    while (off + 4 <= end) {
        uint16_t c = u16(b + off), l = u16(b + off + 2);

        if (c == 0)
            return NULL;
        if (c == code) {
            *len = l;
            return b + off + 4;
        }
        off += 4 + ((l + 3u) & ~3u);
    }
    return NULL;
}

static void test_shb(void)
{
    uint8_t b[256];
    size_t n = vs_pcapng_shb(b, sizeof(b), "vswitchd 1.0");
    uint64_t section;
    uint16_t l;
    const uint8_t *v;

    /* 24 bytes of header, shb_userappl (4 + 12), end of options, trailing length. */
    CU_ASSERT_EQUAL_FATAL(n, 24 + 16 + 4 + 4);
    check_frame(b, n, VS_PCAPNG_SHB);
    CU_ASSERT_EQUAL(u32(b + 8), VS_PCAPNG_MAGIC);
    CU_ASSERT_EQUAL(u16(b + 12), 1);
    CU_ASSERT_EQUAL(u16(b + 14), 0);
    memcpy(&section, b + 16, 8);
    CU_ASSERT_EQUAL(section, UINT64_MAX);
    v = opt(b, 24, n - 4, 4, &l);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_EQUAL(l, 12);
    CU_ASSERT(!memcmp(v, "vswitchd 1.0", 12));
    CU_ASSERT_EQUAL(u32(b + n - 8), 0); /* opt_endofopt */
    CU_ASSERT_EQUAL(vs_pcapng_shb(b, n - 1, "vswitchd 1.0"), 0);
}

static void test_idb(void)
{
    uint8_t b[1024];
    size_t n = vs_pcapng_idb(b, sizeof(b), 1500, "vm1:rx", "frames received");
    uint16_t l;
    const uint8_t *v;
    char longname[400];

    CU_ASSERT_EQUAL_FATAL(n, 16 + (4 + 8) + (4 + 16) + (4 + 4) + 4 + 4);
    check_frame(b, n, VS_PCAPNG_IDB);
    CU_ASSERT_EQUAL(u16(b + 8), VS_PCAPNG_LINKTYPE_ETHERNET);
    CU_ASSERT_EQUAL(u32(b + 12), 1500);
    v = opt(b, 16, n - 4, 2, &l);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(l == 6 && !memcmp(v, "vm1:rx", 6));
    CU_ASSERT_EQUAL(v[6], 0); /* padding is zero */
    CU_ASSERT_EQUAL(v[7], 0);
    v = opt(b, 16, n - 4, 3, &l);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(l == 15 && !memcmp(v, "frames received", 15));
    v = opt(b, 16, n - 4, 9, &l);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(l == 1 && v[0] == 9); /* nanoseconds */
    /* A long name is cut, never overflows. */
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    n = vs_pcapng_idb(b, sizeof(b), 65535, longname, NULL);
    CU_ASSERT_FATAL(n > 0);
    check_frame(b, n, VS_PCAPNG_IDB);
    v = opt(b, 16, n - 4, 2, &l);
    CU_ASSERT(v && l == VS_PCAPNG_STR_MAX);
    CU_ASSERT(opt(b, 16, n - 4, 3, &l) == NULL);
}

static void test_epb(void)
{
    uint8_t b[512], frame[61];
    uint64_t ts = 1764932400123456789ull;
    size_t n;
    uint16_t l;
    const uint8_t *v;

    for (unsigned i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(i * 7 + 1);
    /* Plain: no options at all. */
    n = vs_pcapng_epb(b, sizeof(b), 2, ts, frame, 61, 1514, 0, NULL);
    CU_ASSERT_EQUAL_FATAL(n, 28 + 64 + 4);
    check_frame(b, n, VS_PCAPNG_EPB);
    CU_ASSERT_EQUAL(u32(b + 8), 2);
    CU_ASSERT_EQUAL(((uint64_t)u32(b + 12) << 32 | u32(b + 16)), ts);
    CU_ASSERT_EQUAL(u32(b + 20), 61);
    CU_ASSERT_EQUAL(u32(b + 24), 1514);
    CU_ASSERT(!memcmp(b + 28, frame, 61));
    CU_ASSERT(b[28 + 61] == 0 && b[28 + 62] == 0 && b[28 + 63] == 0);
    /* Flags and a comment. */
    n = vs_pcapng_epb(b, sizeof(b), 0, ts, frame, 61, 61, VS_PCAPNG_INBOUND, "drop: runt");
    CU_ASSERT_EQUAL_FATAL(n, 28 + 64 + 8 + (4 + 12) + 4 + 4);
    check_frame(b, n, VS_PCAPNG_EPB);
    v = opt(b, 28 + 64, n - 4, 2, &l);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(l == 4 && u32(v) == VS_PCAPNG_INBOUND);
    v = opt(b, 28 + 64, n - 4, 1, &l);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(l == 10 && !memcmp(v, "drop: runt", 10));
    CU_ASSERT(n <= VS_PCAPNG_EPB_MAX(61));
    /* Short of room: nothing written. */
    memset(b, 0xee, sizeof(b));
    CU_ASSERT_EQUAL(vs_pcapng_epb(b, n - 1, 0, ts, frame, 61, 61, VS_PCAPNG_INBOUND, "drop: runt"),
                    0);
    CU_ASSERT_EQUAL(b[0], 0xee);
    /* An empty frame is a valid block. */
    n = vs_pcapng_epb(b, sizeof(b), 0, ts, frame, 0, 0, 0, NULL);
    CU_ASSERT_EQUAL(n, 32);
    check_frame(b, n, VS_PCAPNG_EPB);
}

static void test_isb(void)
{
    uint8_t b[128];
    uint64_t ts = 0x0123456789abcdefull, v64;
    size_t n = vs_pcapng_isb(b, sizeof(b), 1, ts, 1000, 7);
    uint16_t l;
    const uint8_t *v;

    CU_ASSERT_EQUAL_FATAL(n, 20 + 3 * 12 + 4 + 4);
    check_frame(b, n, VS_PCAPNG_ISB);
    CU_ASSERT_EQUAL(u32(b + 8), 1);
    CU_ASSERT_EQUAL(u32(b + 12), 0x01234567u);
    CU_ASSERT_EQUAL(u32(b + 16), 0x89abcdefu);
    v = opt(b, 20, n - 4, 3, &l); /* isb_endtime: high word first */
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT(l == 8 && u32(v) == 0x01234567u && u32(v + 4) == 0x89abcdefu);
    v = opt(b, 20, n - 4, 4, &l);
    CU_ASSERT_FATAL(v != NULL);
    memcpy(&v64, v, 8);
    CU_ASSERT(l == 8 && v64 == 1000);
    v = opt(b, 20, n - 4, 5, &l);
    CU_ASSERT_FATAL(v != NULL);
    memcpy(&v64, v, 8);
    CU_ASSERT(l == 8 && v64 == 7);
    CU_ASSERT_EQUAL(vs_pcapng_isb(b, n - 1, 1, ts, 1, 1), 0);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("pcapng", NULL, NULL);
    CU_add_test(s, "section header", test_shb);
    CU_add_test(s, "interface description", test_idb);
    CU_add_test(s, "enhanced packet", test_epb);
    CU_add_test(s, "interface statistics", test_isb);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
