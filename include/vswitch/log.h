/* Process-wide logging: one line per event, to stderr as "vswitchd: LEVEL: ...",
 * or with the line's syslog priority as a "<N>" prefix when stderr is the
 * journal (JOURNAL_STREAM, under systemd). Callers add context:
 * "port vm1: SET_MEM_TABLE: region 2 overlaps region 0".
 *
 * Every line goes through a repeat limit: the same message (same format string,
 * same text) written more than VS_LOG_REPEAT_MAX times in VS_LOG_REPEAT_WINDOW_S
 * seconds is counted instead, and one "suppressed K messages like: ..." line
 * follows when the window is over (at the message's next line, or at
 * vs_log_flush(), which the main loop calls every window). */
#ifndef VSWITCH_LOG_H
#define VSWITCH_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum vs_log_level { VS_LOG_ERR, VS_LOG_WARN, VS_LOG_INFO, VS_LOG_DEBUG };

void vs_log_set_level(enum vs_log_level level);
enum vs_log_level vs_log_get_level(void);
void vs_log(enum vs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define VS_LOG_REPEAT_MAX 10
#define VS_LOG_REPEAT_WINDOW_S 10
/* Writes the "suppressed" lines of messages whose window is over. */
void vs_log_flush(void);
/* Writes every pending "suppressed" line now and forgets all counts (at exit). */
void vs_log_flush_all(void);
/* Whether lines go to the journal with priorities (decided at the first line
 * from JOURNAL_STREAM and stderr; vs_log_reset_destination() decides again). */
bool vs_log_to_journal(void);
void vs_log_reset_destination(void);
/* Tests: the millisecond clock of the repeat limit (NULL: CLOCK_MONOTONIC). */
void vs_log_set_clock(uint64_t (*now_ms)(void));

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
