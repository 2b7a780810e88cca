/* One line per event on stderr: "vswitchd: LEVEL: message". Lines are written
 * with a single write() so that concurrent threads never interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vswitch/log.h"

static enum vs_log_level log_level = VS_LOG_INFO;

void vs_log_set_level(enum vs_log_level level) { log_level = level; }
enum vs_log_level vs_log_get_level(void) { return log_level; }

void vs_log(enum vs_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    char line[1024];
    va_list ap;
    int n;

    if (level > log_level)
        return;
    n = snprintf(line, sizeof(line), "vswitchd: %s: ", names[level]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
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
