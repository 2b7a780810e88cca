/* The XDP program of an af_xdp port (redirect.bpf.c), attached through libxdp:
 * with a bpffs at /sys/fs/bpf libxdp puts it behind its dispatcher, so other XDP
 * programs on the interface keep running; without one it is the interface's
 * only program. Main thread only. */
#ifndef VS_PORTS_AF_XDP_PROG_H
#define VS_PORTS_AF_XDP_PROG_H

#include <stdbool.h>
#include <stdint.h>

#include "ports/af_xdp/args.h"
#include "vswitch/port.h"

struct vs_xdp_prog;

/* Attaches the program to ifindex in mode (auto: the mode of a dispatcher already
 * there, else native, else generic) after removing programs of ours whose
 * vswitchd is gone. 0 or -errno with err saying what to do. */
int vs_xdp_prog_attach(int ifindex, const char *ifname, enum vs_xdp_mode mode,
                       struct vs_xdp_prog **out, struct vs_port_err *err);
/* Detaches and frees (NULL is fine). */
void vs_xdp_prog_detach(struct vs_xdp_prog *p);
/* The XSKMAP the sockets go into (key: queue id). */
int vs_xdp_prog_xsks_fd(const struct vs_xdp_prog *p);
/* VS_XDP_MODE_NATIVE or VS_XDP_MODE_GENERIC: what it was attached in. */
enum vs_xdp_mode vs_xdp_prog_mode(const struct vs_xdp_prog *p);
bool vs_xdp_prog_dispatched(const struct vs_xdp_prog *p); /* behind libxdp's dispatcher */
/* Not behind the dispatcher: why, with the fix (NULL when it is). */
const char *vs_xdp_prog_why_alone(const struct vs_xdp_prog *p);
unsigned vs_xdp_prog_id(const struct vs_xdp_prog *p);
/* Frames the program left to the kernel (queues without a socket). */
uint64_t vs_xdp_prog_passed(const struct vs_xdp_prog *p);

/* Removes programs of ours left on any interface of this network namespace by a
 * vswitchd that no longer runs (killed, crashed). Returns how many. */
int vs_xdp_prog_sweep(void);

#endif
