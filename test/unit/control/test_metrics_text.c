/* The metrics endpoint's pure parts: the Prometheus text writer (HELP and TYPE
 * lines, labels, escaping, the size bound) and the HTTP request head parser
 * (complete, incomplete, each refusal). */
#include <string.h>

#include <CUnit/Basic.h>

#include "control/exposition.h"
#include "control/http_request.h"

static void test_family_and_samples(void)
{
    struct vs_expo e;
    const char *labels[] = {"port", "vm1", "type", "vhost-user", NULL};

    vs_expo_init(&e, 1 << 20);
    vs_expo_family(&e, "vswitch_port_rx_packets_total", "counter", "Frames received.");
    vs_expo_sample(&e, "vswitch_port_rx_packets_total", labels, 18446744073709551615ull);
    vs_expo_sample(&e, "vswitch_fdb_entries", NULL, 0);
    CU_ASSERT_FALSE(e.failed);
    CU_ASSERT_STRING_EQUAL(e.buf,
                           "# HELP vswitch_port_rx_packets_total Frames received.\n"
                           "# TYPE vswitch_port_rx_packets_total counter\n"
                           "vswitch_port_rx_packets_total{port=\"vm1\",type=\"vhost-user\"} "
                           "18446744073709551615\n"
                           "vswitch_fdb_entries 0\n");
    CU_ASSERT_EQUAL(e.len, strlen(e.buf));
    vs_expo_free(&e);
}

static void test_escaping(void)
{
    struct vs_expo e;
    const char *labels[] = {"reason", "a\"b\\c\nd", "empty", "", NULL};

    vs_expo_init(&e, 1 << 20);
    vs_expo_family(&e, "m", "gauge", "back\\slash\nnew \"quoted\"");
    vs_expo_sample(&e, "m", labels, 7);
    CU_ASSERT_STRING_EQUAL(e.buf, "# HELP m back\\\\slash\\nnew \"quoted\"\n"
                                  "# TYPE m gauge\n"
                                  "m{reason=\"a\\\"b\\\\c\\nd\",empty=\"\"} 7\n");
    vs_expo_free(&e);
}

static void test_bound(void)
{
    struct vs_expo e;

    vs_expo_init(&e, 64);
    vs_expo_family(&e, "short", "gauge", "fits");
    CU_ASSERT_FALSE(e.failed);
    for (int i = 0; i < 10; i++)
        vs_expo_sample(&e, "a_rather_long_metric_name_total", NULL, 123456789);
    CU_ASSERT_TRUE(e.failed); /* never served cut in the middle */
    CU_ASSERT(e.len <= 64);
    vs_expo_free(&e);
}

static int parse(const char *s, struct vs_http_request *r)
{
    return vs_http_parse_request(s, strlen(s), r);
}

static void test_http_good(void)
{
    struct vs_http_request r;
    const char *s = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\nextra";

    CU_ASSERT_EQUAL(parse(s, &r), (int)(strlen(s) - strlen("extra")));
    CU_ASSERT_STRING_EQUAL(r.method, "GET");
    CU_ASSERT_STRING_EQUAL(r.path, "/metrics");
    CU_ASSERT_EQUAL(parse("HEAD / HTTP/1.0\n\n", &r), 17);
    CU_ASSERT_STRING_EQUAL(r.method, "HEAD");
    CU_ASSERT_STRING_EQUAL(r.path, "/");
}

static void test_http_incomplete(void)
{
    struct vs_http_request r;

    CU_ASSERT_EQUAL(parse("", &r), 0);
    CU_ASSERT_EQUAL(parse("GET /metrics HTTP/1.1\r\n", &r), 0);
    CU_ASSERT_EQUAL(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", &r), 0);
}

static void test_http_refused(void)
{
    struct vs_http_request r;
    char big[VS_HTTP_MAX_HEAD + 100], path[VS_HTTP_MAX_PATH + 40];

    CU_ASSERT_EQUAL(parse("get /metrics HTTP/1.1\r\n\r\n", &r), -400);
    CU_ASSERT_EQUAL(parse("GET metrics HTTP/1.1\r\n\r\n", &r), -400);
    CU_ASSERT_EQUAL(parse("GET /metrics\r\n\r\n", &r), -400);
    CU_ASSERT_EQUAL(parse("GET /metrics HTTP/2.0\r\n\r\n", &r), -400);
    CU_ASSERT_EQUAL(parse("GET /metrics HTTP/1.9\r\n\r\n", &r), -505);
    CU_ASSERT_EQUAL(parse("GET /metrics HTTP/1.1 x\r\n\r\n", &r), -400);
    CU_ASSERT_EQUAL(parse("GETTINGVERYLONGMETHOD / HTTP/1.1\r\n\r\n", &r), -400);
    CU_ASSERT_EQUAL(vs_http_parse_request("GET /\0 HTTP/1.1\r\n\r\n", 20, &r), -400);
    /* A head that fills the buffer without its blank line. */
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    CU_ASSERT_EQUAL(vs_http_parse_request(big, sizeof(big), &r), -431);
    CU_ASSERT_EQUAL(vs_http_parse_request(big, VS_HTTP_MAX_HEAD - 1, &r), 0);
    /* A path longer than the parser keeps. */
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    snprintf(big, sizeof(big), "GET %.*s HTTP/1.1\r\n\r\n", (int)sizeof(path), path);
    CU_ASSERT_EQUAL(parse(big, &r), -414);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("metrics_text", NULL, NULL);
    CU_add_test(s, "family and samples", test_family_and_samples);
    CU_add_test(s, "escaping", test_escaping);
    CU_add_test(s, "bound", test_bound);
    CU_add_test(s, "http good", test_http_good);
    CU_add_test(s, "http incomplete", test_http_incomplete);
    CU_add_test(s, "http refused", test_http_refused);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
