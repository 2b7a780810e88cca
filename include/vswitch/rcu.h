/* Read-copy-update, quiescent-state flavour (liburcu QSBR).
 *
 * Pollers register, read published pointers with vs_rcu_deref() and report a
 * quiescent state once per loop. The control thread publishes a new object with
 * vs_rcu_assign(), waits with vs_rcu_synchronize(), then frees the old one. A
 * poller that sleeps goes offline first, so a grace period never waits on it. */
#ifndef VSWITCH_RCU_H
#define VSWITCH_RCU_H

#define _LGPL_SOURCE
#include <urcu-qsbr.h>

#define vs_rcu_deref(p) rcu_dereference(p)
#define vs_rcu_assign(p, v) rcu_assign_pointer((p), (v))

static inline void vs_rcu_register_thread(void) { rcu_register_thread(); }
static inline void vs_rcu_unregister_thread(void) { rcu_unregister_thread(); }
static inline void vs_rcu_quiescent(void) { rcu_quiescent_state(); }
static inline void vs_rcu_offline(void) { rcu_thread_offline(); }
static inline void vs_rcu_online(void) { rcu_thread_online(); }
/* Waits until every online registered thread has passed a quiescent state.
 * Must not be called by a thread that is online inside a read-side section. */
void vs_rcu_synchronize(void);

#endif
