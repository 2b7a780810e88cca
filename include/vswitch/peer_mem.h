/* Memory that a peer can take away under us: mappings of files a peer handed over
 * (a guest's RAM, a dirty log). The peer keeps its own fd and may shrink the file
 * (hugetlbfs files, unsealed memfds), and a hugetlbfs hole raises SIGBUS when the
 * pool runs dry: the next access would kill the process.
 *
 * A process-wide SIGBUS handler looks the faulting address up here. When it lies in
 * a registered mapping, the whole mapping is replaced by anonymous memory (the
 * access is retried and reads zeros; writes land in memory nobody shares), the
 * mapping is marked faulted, and the main loop is woken to call the owner's
 * callback, which stops what used the memory. Any other SIGBUS kills the process
 * as before. The lookup is async-signal-safe: a fixed table read with atomics, no
 * lock. */
#ifndef VSWITCH_PEER_MEM_H
#define VSWITCH_PEER_MEM_H

#include <stddef.h>
#include <stdint.h>

typedef void (*vs_peer_mem_fault_cb)(void *arg);

/* Installs the SIGBUS handler and watches for faults in the main loop (after
 * vs_loop_init). 0 or -errno. Without it, registering still works, and a fault
 * kills the process (unit tests). */
int vs_peer_mem_init(void);
void vs_peer_mem_fini(void);

/* Registers [addr, addr + len) before it is used: on a fault, cb(arg) runs once on
 * the main thread. Returns an id > 0 or -ENOSPC. Main thread. */
int vs_peer_mem_register(void *addr, size_t len, vs_peer_mem_fault_cb cb, void *arg);
/* Unregisters id (0 is ignored); call it before munmap. Main thread. */
void vs_peer_mem_unregister(int id);
/* Calls the callbacks of mappings that faulted since the last call (the main loop
 * does it; tests may too). Main thread. */
void vs_peer_mem_dispatch(void);
/* Faults caught since start. */
uint64_t vs_peer_mem_faults(void);

#endif
