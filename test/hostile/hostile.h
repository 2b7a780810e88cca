/* Shared pieces of the hostile front-end programs. Each program in this folder
 * connects to a vhost-user port of a running vswitchd as a front-end (built on
 * test/common/vhost_frontend.h) and either attacks it in one particular way or,
 * for vs_hostile_check, checks that the switch still negotiates and forwards.
 * test/integration/hostile_lib.sh runs them and judges the switch from outside.
 *
 * An attack program prints one line "READY ..." on stdout once its attack is in
 * place, then keeps its connection (and every fd it handed over) until SIGTERM. */
#ifndef VS_TEST_HOSTILE_H
#define VS_TEST_HOSTILE_H

#include <stdint.h>

#include "test/common/vhost_frontend.h"

/* Prints "PROG: message" on stderr and exits 1. */
void hx_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Prints "PROG: message" on stdout. */
void hx_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hx_set_prog(const char *argv0);

/* Connects to a socket that may not exist yet, retrying for up to timeout_ms. */
int hx_connect(struct fe *fe, const char *path, int timeout_ms);

/* The options every program negotiates with unless it says otherwise. */
struct fe_opts hx_default_opts(void);

/* Fills the guest RX ring of queue pair 0 with buffers and asks for interrupts. */
unsigned hx_post_rx(struct fe *fe);
/* Kicks vring i when the device asked for kicks. */
void hx_kick(struct fe *fe, unsigned i);

/* Prints "READY what" and waits for SIGTERM, keeping everything open. */
void hx_ready_and_hold(const char *what) __attribute__((noreturn));

uint64_t hx_now_ms(void);

#endif
