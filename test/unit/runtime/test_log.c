/* vs_log_limited: a burst of lines from one source is cut to VS_LOG_LIMIT_LINES,
 * the last one says so, and the first line of the next window counts the rest. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vswitch/log.h"

/* Runs fn with stderr sent to a temporary file; returns what was written. */
static char *capture(void (*fn)(struct vs_log_limit *), struct vs_log_limit *l)
{
    static char buf[8192];
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    dup2(fileno(f), STDERR_FILENO);
    fn(l);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static unsigned count_lines(const char *s)
{
    unsigned n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void twenty(struct vs_log_limit *l)
{
    for (int i = 0; i < 20; i++)
        vs_log_limited(l, VS_LOG_WARN, "port p0: front-end connected (%d)", i);
}

static void one(struct vs_log_limit *l)
{
    vs_log_limited(l, VS_LOG_WARN, "port p0: front-end connected (again)");
}

static void test_burst_is_cut(void)
{
    struct vs_log_limit l = {0};
    char *out = capture(twenty, &l);

    CU_ASSERT_EQUAL(count_lines(out), VS_LOG_LIMIT_LINES);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(0)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(4)"));
    CU_ASSERT_PTR_NULL(strstr(out, "(5)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(4) (further lines like it"));
    CU_ASSERT_EQUAL(l.left_out, 20 - VS_LOG_LIMIT_LINES);

    /* Still inside the window: nothing. */
    out = capture(one, &l);
    CU_ASSERT_EQUAL(count_lines(out), 0);

    /* A window later: logged again, with the count of what was left out. */
    l.window_start_ms -= VS_LOG_LIMIT_WINDOW_S * 1000ull;
    out = capture(one, &l);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "(again) (16 more like it were not logged)"));
    CU_ASSERT_EQUAL(l.left_out, 0);
    CU_ASSERT_EQUAL(l.lines, 1);
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("log", NULL, NULL);
    CU_add_test(s, "a burst from one source is cut and counted", test_burst_is_cut);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
