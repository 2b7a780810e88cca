/* vs_log_limited: a burst of lines from one source is cut to VS_LOG_LIMIT_LINES,
 * the last one says so, and the first line of the next window counts the rest.
 * The repeat limit of every line: the same message more than VS_LOG_REPEAT_MAX
 * times in a window is counted and reported later, from one thread or many.
 * Journal priorities when stderr is the stream JOURNAL_STREAM names. */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

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

/* ---- the repeat limit ---------------------------------------------------- */

static uint64_t fake_ms = 1000000;
static uint64_t fake_clock(void) { return fake_ms; }

/* Runs fn with stderr sent to a temporary file; returns what was written. */
static char *capture_fn(void (*fn)(void))
{
    static char buf[65536];
    FILE *f = tmpfile();
    int saved = dup(STDERR_FILENO);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    dup2(fileno(f), STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void same_25(void)
{
    for (int i = 0; i < 25; i++)
        vs_log(VS_LOG_WARN, "port %s: bad descriptor", "p1");
}

static void same_12_then_later(void)
{
    for (int i = 0; i < 12; i++)
        vs_log(VS_LOG_WARN, "port %s: bad descriptor", "p2");
    fake_ms += VS_LOG_REPEAT_WINDOW_S * 1000;
    vs_log(VS_LOG_WARN, "port %s: bad descriptor", "p2");
}

static void distinct_30(void)
{
    for (int i = 0; i < 30; i++)
        vs_log(VS_LOG_INFO, "port p%d: front-end connected", i);
}

static void flush(void) { vs_log_flush(); }
static void flush_all(void) { vs_log_flush_all(); }

static void test_repeats(void)
{
    char *out;

    vs_log_set_clock(fake_clock);
    vs_log_flush_all();

    /* A burst: VS_LOG_REPEAT_MAX lines, the rest counted. */
    out = capture_fn(same_25);
    CU_ASSERT_EQUAL(count_lines(out), VS_LOG_REPEAT_MAX);
    CU_ASSERT_PTR_NULL(strstr(out, "suppressed"));
    /* Inside the window nothing is reported yet; after it, one line with the count. */
    out = capture_fn(flush);
    CU_ASSERT_EQUAL(count_lines(out), 0);
    fake_ms += VS_LOG_REPEAT_WINDOW_S * 1000;
    out = capture_fn(flush);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "vswitchd: warning: suppressed 15 messages like: port p1: "
                                       "bad descriptor\n"));
    out = capture_fn(flush);
    CU_ASSERT_EQUAL(count_lines(out), 0);
    /* A new window: written again. */
    out = capture_fn(same_25);
    CU_ASSERT_EQUAL(count_lines(out), VS_LOG_REPEAT_MAX);

    /* The next line of the message after its window reports the count first. */
    out = capture_fn(same_12_then_later);
    CU_ASSERT_EQUAL(count_lines(out), VS_LOG_REPEAT_MAX + 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "suppressed 2 messages like: port p2: bad descriptor\n"
                                       "vswitchd: warning: port p2: bad descriptor\n"));

    /* At exit every pending count is told (p1's second burst). */
    out = capture_fn(flush_all);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "suppressed 15 messages like: port p1"));

    /* One call site, different text: different messages, none suppressed. (With a
     * count pending, a message taking its slot would tell it first: an extra line
     * that depends on where the hashes fall, so nothing is pending here.) */
    out = capture_fn(distinct_30);
    CU_ASSERT_EQUAL(count_lines(out), 30);
    CU_ASSERT_PTR_NULL(strstr(out, "suppressed"));
    vs_log_set_clock(NULL);
}

#define THREADS 4
#define PER_THREAD 1000

static void *hammer(void *arg)
{
    for (int i = 0; i < PER_THREAD; i++)
        vs_log(VS_LOG_ERR, "poller: the same complaint");
    return NULL;
}

static void threads(void)
{
    pthread_t t[THREADS];

    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    vs_log_flush_all();
}

static void test_repeats_threads(void)
{
    char expect[128];
    char *out;

    vs_log_set_clock(fake_clock); /* one window however slow the machine */
    vs_log_flush_all();
    out = capture_fn(threads);
    CU_ASSERT_EQUAL(count_lines(out), VS_LOG_REPEAT_MAX + 1);
    snprintf(expect, sizeof(expect), "suppressed %d messages like: poller: the same complaint\n",
             THREADS * PER_THREAD - VS_LOG_REPEAT_MAX);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, expect));
    vs_log_set_clock(NULL);
}

/* ---- the journal ------------------------------------------------------------ */

static void levels(void)
{
    vs_log_reset_destination();
    vs_err("e");
    vs_warn("w");
    vs_info("i");
    vs_log_set_level(VS_LOG_DEBUG);
    vs_debug("d");
    vs_log_set_level(VS_LOG_INFO);
}

static void levels_in_journal(void)
{
    struct stat st;
    char v[64];

    fstat(STDERR_FILENO, &st);
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", v, 1);
    levels();
    unsetenv("JOURNAL_STREAM");
}

static void levels_other_stream(void)
{
    setenv("JOURNAL_STREAM", "1:2", 1); /* stderr was redirected since */
    levels();
    unsetenv("JOURNAL_STREAM");
}

static void test_journal(void)
{
    vs_log_flush_all();
    CU_ASSERT_STRING_EQUAL(capture_fn(levels_in_journal), "<3>e\n<4>w\n<6>i\n<7>d\n");
    CU_ASSERT_STRING_EQUAL(capture_fn(levels_other_stream),
                           "vswitchd: error: e\nvswitchd: warning: w\nvswitchd: info: i\n"
                           "vswitchd: debug: d\n");
    CU_ASSERT_STRING_EQUAL(capture_fn(levels), "vswitchd: error: e\nvswitchd: warning: w\n"
                                               "vswitchd: info: i\nvswitchd: debug: d\n");
    CU_ASSERT_FALSE(vs_log_to_journal());
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("log", NULL, NULL);
    CU_add_test(s, "a burst from one source is cut and counted", test_burst_is_cut);
    CU_add_test(s, "repeats of one message are counted and reported later", test_repeats);
    CU_add_test(s, "repeats from several threads", test_repeats_threads);
    CU_add_test(s, "priorities in the journal, plain lines elsewhere", test_journal);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
