/* VLAN decisions and tag changes on their own: the VLAN set (the filter table
 * every port mode is built on), ingress and egress decisions for each mode, the
 * switch's port keys and their errors, and tag push/pop on frames of every size,
 * shared, in large buffers and lent from a peer that rewrites its buffer. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/port_conf.h"
#include "dataplane/vlan.h"
#include "vswitch/pkt.h"

static struct vs_pool *pool;

static void test_set_parse(void)
{
    struct vs_vlan_set s = {0};
    char err[200], text[256];

    CU_ASSERT_EQUAL(vs_vlan_set_parse("10,20, 100-199 4094", &s, err, sizeof(err)), 0);
    CU_ASSERT_TRUE(vs_vlan_set_has(&s, 10));
    CU_ASSERT_TRUE(vs_vlan_set_has(&s, 20));
    CU_ASSERT_TRUE(vs_vlan_set_has(&s, 100));
    CU_ASSERT_TRUE(vs_vlan_set_has(&s, 150));
    CU_ASSERT_TRUE(vs_vlan_set_has(&s, 199));
    CU_ASSERT_TRUE(vs_vlan_set_has(&s, 4094));
    CU_ASSERT_FALSE(vs_vlan_set_has(&s, 0));
    CU_ASSERT_FALSE(vs_vlan_set_has(&s, 11));
    CU_ASSERT_FALSE(vs_vlan_set_has(&s, 99));
    CU_ASSERT_FALSE(vs_vlan_set_has(&s, 200));
    CU_ASSERT_FALSE(vs_vlan_set_has(&s, 4095));
    vs_vlan_set_format(&s, text, sizeof(text));
    CU_ASSERT_STRING_EQUAL(text, "10,20,100-199,4094");
    /* Each bit is its own: 64 consecutive IDs across a word boundary. */
    struct vs_vlan_set w = {0};
    CU_ASSERT_EQUAL(vs_vlan_set_parse("60-130", &w, err, sizeof(err)), 0);
    for (unsigned v = 0; v < 4096; v++)
        CU_ASSERT_EQUAL(vs_vlan_set_has(&w, (uint16_t)v), v >= 60 && v <= 130);

    static const char *const bad[] = {"0", "4095", "20-10", "abc", "10;20", "10-", "-5", "99999"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vs_vlan_set b = {0};
        err[0] = 0;
        CU_ASSERT_EQUAL(vs_vlan_set_parse(bad[i], &b, err, sizeof(err)), -EINVAL);
        CU_ASSERT(err[0] != 0);
    }
    struct vs_vlan_set e = {0};
    CU_ASSERT_EQUAL(vs_vlan_set_parse("", &e, err, sizeof(err)), 0);
    vs_vlan_set_format(&e, text, sizeof(text));
    CU_ASSERT_STRING_EQUAL(text, "");
}

static int conf(struct vs_port_conf *c, const char *const *kv, struct vs_port_err *err)
{
    struct vs_port_arg a[8];
    unsigned n = 0;

    for (; kv[2 * n]; n++)
        a[n] = (struct vs_port_arg){.key = kv[2 * n], .value = kv[2 * n + 1]};
    struct vs_port_args args = {n, a};
    memset(err, 0, sizeof(*err));
    err->arg = -1;
    return vs_port_conf_parse(&args, c, err);
}

static void test_decisions(void)
{
    struct vs_port_conf t, acc, tr, trn;
    struct vs_port_err err;

    CU_ASSERT_EQUAL(conf(&t, (const char *const[]){NULL}, &err), 0);
    CU_ASSERT_EQUAL(
        conf(&acc, (const char *const[]){"vlan_mode", "access", "tag", "10", NULL}, &err), 0);
    CU_ASSERT_EQUAL(
        conf(&tr, (const char *const[]){"vlan_mode", "trunk", "trunks", "10,20", NULL}, &err), 0);
    CU_ASSERT_EQUAL(
        conf(&trn,
             (const char *const[]){"vlan_mode", "trunk", "trunks", "20", "native_vlan", "10", NULL},
             &err),
        0);

    /* Ingress. */
    CU_ASSERT_EQUAL(vs_vlan_ingress(&t.vlan, false, 0), 0);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&t.vlan, true, 33), 33);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&acc.vlan, false, 0), 10);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&acc.vlan, true, 10), -VS_DROP_VLAN_TAGGED);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&acc.vlan, true, 0), -VS_DROP_VLAN_TAGGED);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&tr.vlan, true, 20), 20);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&tr.vlan, true, 30), -VS_DROP_VLAN_NOT_ALLOWED);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&tr.vlan, true, 0), -VS_DROP_VLAN_NOT_ALLOWED);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&tr.vlan, false, 0), -VS_DROP_VLAN_NOT_ALLOWED);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&trn.vlan, false, 0), 10);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&trn.vlan, true, 10), 10);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&trn.vlan, true, 20), 20);
    CU_ASSERT_EQUAL(vs_vlan_ingress(&trn.vlan, true, 30), -VS_DROP_VLAN_NOT_ALLOWED);

    /* Egress. */
    CU_ASSERT_EQUAL(vs_vlan_egress(&t.vlan, 0, false), VS_VLAN_AS_IS);
    CU_ASSERT_EQUAL(vs_vlan_egress(&t.vlan, 0, true), VS_VLAN_AS_IS); /* priority tag */
    CU_ASSERT_EQUAL(vs_vlan_egress(&t.vlan, 10, true), VS_VLAN_AS_IS);
    CU_ASSERT_EQUAL(vs_vlan_egress(&t.vlan, 10, false), VS_VLAN_PUSH);
    CU_ASSERT_EQUAL(vs_vlan_egress(&acc.vlan, 10, false), VS_VLAN_AS_IS);
    CU_ASSERT_EQUAL(vs_vlan_egress(&acc.vlan, 10, true), VS_VLAN_POP);
    CU_ASSERT_EQUAL(vs_vlan_egress(&acc.vlan, 20, false), VS_VLAN_NOT_CARRIED);
    CU_ASSERT_EQUAL(vs_vlan_egress(&acc.vlan, 0, false), VS_VLAN_NOT_CARRIED);
    CU_ASSERT_EQUAL(vs_vlan_egress(&tr.vlan, 10, false), VS_VLAN_PUSH);
    CU_ASSERT_EQUAL(vs_vlan_egress(&tr.vlan, 20, true), VS_VLAN_AS_IS);
    CU_ASSERT_EQUAL(vs_vlan_egress(&tr.vlan, 30, true), VS_VLAN_NOT_CARRIED);
    CU_ASSERT_EQUAL(vs_vlan_egress(&tr.vlan, 0, false), VS_VLAN_NOT_CARRIED);
    CU_ASSERT_EQUAL(vs_vlan_egress(&trn.vlan, 10, false), VS_VLAN_AS_IS);
    CU_ASSERT_EQUAL(vs_vlan_egress(&trn.vlan, 10, true), VS_VLAN_POP);
    CU_ASSERT_EQUAL(vs_vlan_egress(&trn.vlan, 20, false), VS_VLAN_PUSH);

    /* A trunk without a list carries every VLAN but 0 and 4095. */
    struct vs_port_conf all;
    CU_ASSERT_EQUAL(conf(&all, (const char *const[]){"vlan_mode", "trunk", NULL}, &err), 0);
    CU_ASSERT_TRUE(vs_vlan_set_has(&all.vlan.carry, 1));
    CU_ASSERT_TRUE(vs_vlan_set_has(&all.vlan.carry, 4094));
    CU_ASSERT_FALSE(vs_vlan_set_has(&all.vlan.carry, 0));
    CU_ASSERT_FALSE(vs_vlan_set_has(&all.vlan.carry, 4095));
}

static void test_conf_errors(void)
{
    static const struct {
        const char *kv[7];
        int arg;
        const char *says;
    } bad[] = {
        {{"vlan_mode", "hybrid", NULL}, 0, "access, trunk or transparent"},
        {{"vlan_mode", "access", NULL}, 0, "needs tag"},
        {{"vlan_mode", "access", "tag", "0", NULL}, 1, "1 to 4094"},
        {{"vlan_mode", "access", "tag", "4095", NULL}, 1, "1 to 4094"},
        {{"tag", "10", NULL}, 0, "only an access port"},
        {{"trunks", "10", NULL}, 0, "only a trunk port"},
        {{"vlan_mode", "access", "tag", "10", "native_vlan", "5", NULL}, 2, "only a trunk"},
        {{"vlan_mode", "trunk", "trunks", "10-5", NULL}, 1, "backwards"},
        {{"vlan_mode", "trunk", "native_vlan", "x", NULL}, 1, "whole number"},
    };
    struct vs_port_conf c;
    struct vs_port_err err;

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(conf(&c, bad[i].kv, &err), -EINVAL);
        CU_ASSERT_EQUAL(err.arg, bad[i].arg);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, bad[i].says));
    }
    /* The type's keys are left to the type; the split keeps their indexes. */
    struct vs_port_arg a[] = {{.key = "ifname", .value = "x"},
                              {.key = "vlan_mode", .value = "access"},
                              {.key = "tag", .value = "7"},
                              {.key = "mtu", .value = "9000"}};
    struct vs_port_args args = {4, a};
    struct vs_port_arg out[4];
    int map[4];
    CU_ASSERT_EQUAL(vs_port_conf_parse(&args, &c, &err), 0);
    CU_ASSERT_EQUAL(c.vlan.tag, 7);
    CU_ASSERT_EQUAL(vs_port_conf_split(&args, out, map), 2);
    CU_ASSERT_STRING_EQUAL(out[0].key, "ifname");
    CU_ASSERT_STRING_EQUAL(out[1].key, "mtu");
    CU_ASSERT_EQUAL(map[1], 3);
    char text[64];
    vs_port_conf_vlan_text(&c, text, sizeof(text));
    CU_ASSERT_STRING_EQUAL(text, "access 7");
}

/* A frame of len bytes: MACs, an optional tag, then a counting pattern. */
static void fill(uint8_t *d, uint32_t len, int vid)
{
    for (uint32_t i = 0; i < len; i++)
        d[i] = (uint8_t)(i * 7 + 3);
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa};
    memcpy(d, macs, 12);
    if (vid >= 0) {
        d[12] = 0x81, d[13] = 0x00, d[14] = (uint8_t)(vid >> 8), d[15] = (uint8_t)vid;
        d[16] = 0x08, d[17] = 0x00;
    } else {
        d[12] = 0x08, d[13] = 0x00;
    }
}

/* out must be in with a tag of vid inserted after the MACs (push), or in without
 * its tag (pop). */
static bool pushed(const uint8_t *in, uint32_t in_len, const uint8_t *out, uint32_t out_len,
                   uint16_t vid)
{
    return out_len == in_len + 4 && !memcmp(out, in, 12) && out[12] == 0x81 && out[13] == 0 &&
           out[14] == (vid >> 8) && out[15] == (uint8_t)vid &&
           !memcmp(out + 16, in + 12, in_len - 12);
}

static void test_push_pop_sizes(void)
{
    static const uint32_t sizes[] = {14, 18, 60, 64, 65, 127, 128, 1514, 1518, 2000, 2044};
    static uint8_t ref[70000];

    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint32_t len = sizes[i];
        struct vs_pkt *p = vs_pkt_alloc(pool);

        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        fill(ref, len, -1);
        memcpy(vs_pkt_data(p), ref, len);
        p->len = len;
        p->ol_flags = VS_OL_CSUM;
        p->csum_start = 34;
        CU_ASSERT_PTR_EQUAL(vs_vlan_own(p), p); /* alone and in buf: changed in place */
        vs_vlan_apply(p, VS_VLAN_PUSH, 300);
        CU_ASSERT_TRUE(pushed(ref, len, vs_pkt_data(p), p->len, 300));
        CU_ASSERT_EQUAL(p->csum_start, 38);
        vs_vlan_apply(p, VS_VLAN_POP, 0);
        CU_ASSERT_EQUAL(p->len, len);
        CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), ref, len), 0);
        CU_ASSERT_EQUAL(p->csum_start, 34);
        vs_pkt_free(p);
    }
    /* Large buffers: a jumbo frame and a GSO frame's header length. */
    static const uint32_t large[] = {2100, 9018, 65000};
    for (unsigned i = 0; i < 3; i++) {
        uint32_t len = large[i];
        struct vs_pkt *p = vs_pkt_alloc_len(pool, len);

        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        fill(ref, len, 42);
        memcpy(vs_pkt_data(p), ref, len);
        p->len = len;
        p->ol_flags = VS_OL_TSO4 | VS_OL_CSUM;
        p->hdr_len = 58;
        p->csum_start = 38;
        vs_vlan_apply(vs_vlan_own(p), VS_VLAN_POP, 0);
        CU_ASSERT_EQUAL(p->len, len - 4);
        CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), ref, 12), 0);
        CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p) + 12, ref + 16, len - 16), 0);
        CU_ASSERT_EQUAL(p->hdr_len, 54);
        CU_ASSERT_EQUAL(p->csum_start, 34);
        vs_pkt_free(p);
    }
}

/* A shared frame is changed on a copy; the others keep theirs. */
static void test_shared(void)
{
    uint8_t ref[200];
    struct vs_pkt *p = vs_pkt_alloc(pool), *c;

    fill(ref, 200, 5);
    memcpy(vs_pkt_data(p), ref, 200);
    p->len = 200;
    vs_pkt_ref(p, 1);
    c = vs_vlan_own(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_EQUAL(c, p);
    CU_ASSERT_EQUAL(p->refcnt, 1); /* our reference went with the copy */
    vs_vlan_apply(c, VS_VLAN_POP, 0);
    CU_ASSERT_EQUAL(p->len, 200);
    CU_ASSERT_EQUAL(memcmp(vs_pkt_data(p), ref, 200), 0);
    CU_ASSERT_EQUAL(c->len, 196);
    vs_pkt_free(p);
    vs_pkt_free(c);
}

/* A lent frame: the header that goes out is the one decided on, whatever the peer
 * writes into its buffer after lending it; the rest comes from the peer. */
static void test_lent(void)
{
    static const uint32_t sizes[] = {18, 60, 64, 65, 100, 1514, 1518};
    static uint8_t guest[2048], ref[2048], out[2048];

    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint32_t len = sizes[i];
        for (int pop = 0; pop < 2; pop++) {
            struct vs_pkt *p = vs_pkt_alloc(pool), *c;

            fill(ref, len, pop ? 10 : -1);
            memcpy(guest, ref, len);
            vs_pkt_set_external(p, guest, len);
            /* The guest rewrites its header (and only its header: the switch sends
             * the rest from its buffer, as a lent frame's contract says). */
            memset(guest, 0xee, VS_PKT_LEND_HEAD < len ? VS_PKT_LEND_HEAD : len);
            c = vs_vlan_own(p);
            CU_ASSERT_PTR_NOT_NULL_FATAL(c);
            CU_ASSERT_PTR_NOT_EQUAL(c, p);
            CU_ASSERT_FALSE(c->flags & VS_PKT_F_EXTERNAL);
            vs_vlan_apply(c, pop ? VS_VLAN_POP : VS_VLAN_PUSH, 77);
            vs_pkt_copy_out(c, out);
            if (pop) {
                CU_ASSERT_EQUAL(c->len, len - 4);
                CU_ASSERT_EQUAL(memcmp(out, ref, 12), 0);
                CU_ASSERT_EQUAL(memcmp(out + 12, ref + 16, len - 16), 0);
            } else {
                CU_ASSERT_TRUE(pushed(ref, len, out, c->len, 77));
            }
            vs_pkt_free(c);
        }
    }
}

static void test_teardown(void)
{
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
    CU_ASSERT_EQUAL(vs_pool_free_count(vs_pool_large(pool)), vs_pool_size(vs_pool_large(pool)));
    vs_pool_destroy(pool);
}

int main(void)
{
    CU_pSuite s;

    if (vs_pool_create(256, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 8, VS_PAGES_NONE) < 0)
        return 1;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("vlan", NULL, NULL);
    CU_add_test(s, "VLAN sets", test_set_parse);
    CU_add_test(s, "ingress and egress per mode", test_decisions);
    CU_add_test(s, "port keys and their errors", test_conf_errors);
    CU_add_test(s, "push and pop on every frame size", test_push_pop_sizes);
    CU_add_test(s, "shared frame changed on a copy", test_shared);
    CU_add_test(s, "lent frame: the decided header", test_lent);
    CU_add_test(s, "no buffer left behind", test_teardown);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
