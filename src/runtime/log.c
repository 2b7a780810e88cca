/* One line per event on stderr, written with a single write() so that
 * concurrent threads never interleave: "vswitchd: LEVEL: message", or, when
 * stderr is the journal, "<N>message" with N the syslog priority, which
 * journald takes as the line's priority (sd-daemon(3)).
 *
 * Repeats: a small table keyed by (format string, hash of the line) counts the
 * lines of each message in the current window; past VS_LOG_REPEAT_MAX it
 * counts instead of writing, and the count is written as one line when the
 * window is over (at that message's next line or at vs_log_flush()). The table
 * is behind a mutex: logging is never on a per-packet path. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vswitch/log.h"

static enum vs_log_level log_level = VS_LOG_INFO;

void vs_log_set_level(enum vs_log_level level) { log_level = level; }
enum vs_log_level vs_log_get_level(void) { return log_level; }

/* ---- destination ---------------------------------------------------------- */

static int journal = -1; /* -1: not decided yet */

/* systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected to
 * stderr; stderr may since have been redirected, so compare (systemd.exec(5)). */
static int stderr_is_journal(void)
{
    const char *e = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st))
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

bool vs_log_to_journal(void)
{
    if (__atomic_load_n(&journal, __ATOMIC_RELAXED) < 0)
        __atomic_store_n(&journal, stderr_is_journal(), __ATOMIC_RELAXED);
    return journal > 0;
}

void vs_log_reset_destination(void) { __atomic_store_n(&journal, -1, __ATOMIC_RELAXED); }

static void emit(enum vs_log_level level, const char *text, size_t len)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    static const char prio[] = {'3', '4', '6', '7'}; /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
    char line[1100];
    int n;

    if (vs_log_to_journal())
        n = snprintf(line, sizeof(line), "<%c>%.*s", prio[level], (int)len, text);
    else
        n = snprintf(line, sizeof(line), "vswitchd: %s: %.*s", names[level], (int)len, text);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report it. */
    }
}

/* ---- repeats ----------------------------------------------------------------- */

struct repeat {
    const char *fmt;      /* the call site's format string; NULL: slot free */
    uint64_t hash;        /* of the formatted line */
    uint64_t window_ms;   /* start of the current window */
    unsigned lines;       /* written or counted in this window */
    unsigned suppressed;  /* counted, not written, in this window */
    enum vs_log_level level;
    char text[160];       /* the start of the line, for the "suppressed" line */
};

#define REPEAT_SLOTS 64

static pthread_mutex_t repeat_lock = PTHREAD_MUTEX_INITIALIZER;
static struct repeat repeats[REPEAT_SLOTS];

static uint64_t clock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t (*now_ms)(void) = clock_ms;

void vs_log_set_clock(uint64_t (*fn)(void)) { now_ms = fn ? fn : clock_ms; }

static uint64_t hash_line(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The "suppressed" line of r, if it has one; called with repeat_lock held. */
static void report(struct repeat *r)
{
    char line[256];
    int n;

    if (!r->suppressed)
        return;
    n = snprintf(line, sizeof(line), "suppressed %u message%s like: %s", r->suppressed,
                 r->suppressed == 1 ? "" : "s", r->text);
    emit(r->level, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1));
    r->suppressed = 0;
}

/* Whether this line may be written, counting it. */
static bool admit(enum vs_log_level level, const char *fmt, const char *text, size_t len)
{
    uint64_t h = hash_line(text, len) ^ (uint64_t)(uintptr_t)fmt, now = now_ms();
    struct repeat *r = &repeats[(h ^ (h >> 29)) % REPEAT_SLOTS];
    bool ok;

    pthread_mutex_lock(&repeat_lock);
    if (r->fmt != fmt || r->hash != h) {
        /* Another message takes the slot: what it counted is told now. */
        report(r);
        *r = (struct repeat){.fmt = fmt, .hash = h, .window_ms = now};
        snprintf(r->text, sizeof(r->text), "%.*s", (int)len, text);
    } else if (now - r->window_ms >= VS_LOG_REPEAT_WINDOW_S * 1000ull) {
        report(r);
        r->window_ms = now;
        r->lines = 0;
    }
    r->level = level;
    ok = ++r->lines <= VS_LOG_REPEAT_MAX;
    if (!ok)
        r->suppressed++;
    pthread_mutex_unlock(&repeat_lock);
    return ok;
}

void vs_log_flush(void)
{
    uint64_t now = now_ms();

    pthread_mutex_lock(&repeat_lock);
    for (unsigned i = 0; i < REPEAT_SLOTS; i++)
        if (repeats[i].suppressed &&
            now - repeats[i].window_ms >= VS_LOG_REPEAT_WINDOW_S * 1000ull) {
            report(&repeats[i]);
            repeats[i].window_ms = now;
            repeats[i].lines = 0;
        }
    pthread_mutex_unlock(&repeat_lock);
}

void vs_log_flush_all(void)
{
    pthread_mutex_lock(&repeat_lock);
    for (unsigned i = 0; i < REPEAT_SLOTS; i++)
        report(&repeats[i]);
    memset(repeats, 0, sizeof(repeats));
    pthread_mutex_unlock(&repeat_lock);
}

/* ---- entry points ------------------------------------------------------------ */

static void log_v(enum vs_log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char text[1024];
    int n;

    if (level > log_level)
        return;
    n = vsnprintf(text, sizeof(text), fmt, ap);
    if (n < 0)
        return;
    if (suffix && n < (int)sizeof(text))
        n += snprintf(text + n, sizeof(text) - (size_t)n, "%s", suffix);
    if (n >= (int)sizeof(text))
        n = (int)sizeof(text) - 1;
    /* Messages quote peers' input (names, paths, options): one event stays one
     * line, and no control sequence reaches a terminal. */
    for (int i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
            text[i] = '?';
    if (admit(level, fmt, text, (size_t)n))
        emit(level, text, (size_t)n);
}

void vs_log(enum vs_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_v(level, NULL, fmt, ap);
    va_end(ap);
}

void vs_log_limited(struct vs_log_limit *l, enum vs_log_level level, const char *fmt, ...)
{
    char note[96] = "";
    va_list ap;

    uint64_t now = now_ms();
    if (l->lines == 0 || now - l->window_start_ms >= VS_LOG_LIMIT_WINDOW_S * 1000ull) {
        if (l->left_out)
            snprintf(note, sizeof(note), " (%u more like it were not logged)", l->left_out);
        l->window_start_ms = now;
        l->lines = 0;
        l->left_out = 0;
    }
    if (l->lines >= VS_LOG_LIMIT_LINES) {
        l->left_out++;
        return;
    }
    if (++l->lines == VS_LOG_LIMIT_LINES)
        snprintf(note + strlen(note), sizeof(note) - strlen(note),
                 " (further lines like it in the next %d s are counted, not logged)",
                 VS_LOG_LIMIT_WINDOW_S);
    va_start(ap, fmt);
    log_v(level, note, fmt, ap);
    va_end(ap);
}
