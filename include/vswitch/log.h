/* Process-wide logging: one line per event, to stderr (and syslog-friendly).
 * Callers add context: "port vm1: SET_MEM_TABLE: region 2 overlaps region 0". */
#ifndef VSWITCH_LOG_H
#define VSWITCH_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum vs_log_level { VS_LOG_ERR, VS_LOG_WARN, VS_LOG_INFO, VS_LOG_DEBUG };

void vs_log_set_level(enum vs_log_level level);
enum vs_log_level vs_log_get_level(void);
void vs_log(enum vs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define vs_err(...) vs_log(VS_LOG_ERR, __VA_ARGS__)
#define vs_warn(...) vs_log(VS_LOG_WARN, __VA_ARGS__)
#define vs_info(...) vs_log(VS_LOG_INFO, __VA_ARGS__)
#define vs_debug(...)                                                                    \
    do {                                                                                 \
        if (vs_log_get_level() >= VS_LOG_DEBUG)                                          \
            vs_log(VS_LOG_DEBUG, __VA_ARGS__);                                           \
    } while (0)

/* Log only the first time *flag goes from false to true: for errors caused by
 * external input (a guest, a NIC, a client) that could otherwise flood the log. */
#define vs_log_once(flag, level, ...)                                                    \
    do {                                                                                 \
        if (!__atomic_exchange_n((flag), true, __ATOMIC_RELAXED))                        \
            vs_log((level), __VA_ARGS__);                                                \
    } while (0)

/* Lines about one source of repeated events (a front-end reconnecting in a loop,
 * sending one bad request per connection): at most VS_LOG_LIMIT_LINES per
 * VS_LOG_LIMIT_WINDOW_S seconds; the first line of a later window says how many
 * were left out. Zero-initialise; one thread at a time (not atomic). */
#define VS_LOG_LIMIT_LINES 5
#define VS_LOG_LIMIT_WINDOW_S 10
struct vs_log_limit {
    uint64_t window_start_ms;
    unsigned lines, left_out;
};
void vs_log_limited(struct vs_log_limit *l, enum vs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
