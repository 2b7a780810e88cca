/* The main thread's event loop (epoll): control socket, vhost-user sockets and
 * messages, timers, signals. Any layer may register with it; pollers never use
 * it. All callbacks run on the main thread, one at a time. */
#ifndef VSWITCH_LOOP_H
#define VSWITCH_LOOP_H

#include <stdbool.h>
#include <stdint.h>

typedef void (*vs_loop_fd_cb)(int fd, uint32_t events, void *arg);
typedef void (*vs_loop_timer_cb)(void *arg);

int vs_loop_init(void);
void vs_loop_fini(void);

/* events: EPOLLIN/EPOLLOUT/... Returns 0 or -errno. */
int vs_loop_add_fd(int fd, uint32_t events, vs_loop_fd_cb cb, void *arg);
int vs_loop_mod_fd(int fd, uint32_t events);
/* Safe to call from inside any callback, including the fd's own. */
void vs_loop_del_fd(int fd);

/* One-shot (period_ms == 0) or periodic timer. Returns an id > 0 or -errno. */
int vs_loop_add_timer(uint64_t first_ms, uint64_t period_ms, vs_loop_timer_cb cb, void *arg);
void vs_loop_del_timer(int id);

/* Runs until vs_loop_stop(); returns 0. */
int vs_loop_run(void);
void vs_loop_stop(void);
bool vs_loop_running(void);

/* Monotonic clock helpers. */
uint64_t vs_now_ns(void);
static inline uint64_t vs_now_ms(void) { return vs_now_ns() / 1000000u; }

#endif
