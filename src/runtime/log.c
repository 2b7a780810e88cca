/* One line per event on stderr: "vswitchd: LEVEL: message". Lines are written
 * with a single write() so that concurrent threads never interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vswitch/log.h"

static enum vs_log_level log_level = VS_LOG_INFO;

void vs_log_set_level(enum vs_log_level level) { log_level = level; }
enum vs_log_level vs_log_get_level(void) { return log_level; }

static void log_v(enum vs_log_level level, const char *suffix, const char *fmt, va_list ap)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[1024];
    int n;

    if (level > log_level)
        return;
    n = snprintf(line, sizeof(line), "vswitchd: %s: ", names[level]);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    if (suffix && n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%s", suffix);
    if (n >= (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    /* Messages quote peers' input (names, paths, options): one event stays one
     * line, and no control sequence reaches a terminal. */
    for (int i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report it. */
    }
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
    struct timespec ts;
    char note[96] = "";
    va_list ap;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
