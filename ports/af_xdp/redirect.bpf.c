/* The XDP program an af_xdp port attaches to its interface (through libxdp's
 * dispatcher, so other XDP programs keep running next to it): a frame that
 * arrives on a queue with an AF_XDP socket in vs_xsks goes to that socket, every
 * other frame continues to the next program or the kernel's stack (XDP_PASS).
 * vs_owner holds the pid of the vswitchd that attached it, so that a vswitchd
 * started after a crash can tell a program left behind from one still in use,
 * and counts the frames passed on (the program must use the map for the kernel
 * to list it among the program's maps, where that vswitchd finds it). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define VS_XSK_MAX_QUEUES 64

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, VS_XSK_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} vs_xsks SEC(".maps");

struct vs_owner {
    __u32 pid;
    __u32 pad;
    __u64 passed; /* frames of queues without a socket, left to the kernel */
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vs_owner);
} vs_owner SEC(".maps");

SEC("xdp")
int vs_xsk_redirect(struct xdp_md *ctx)
{
    __u32 key = 0;
    struct vs_owner *o;
    /* A queue without a socket (or beyond the map) falls back to XDP_PASS. */
    long act = bpf_redirect_map(&vs_xsks, ctx->rx_queue_index, XDP_PASS);

    if (act == XDP_PASS && (o = bpf_map_lookup_elem(&vs_owner, &key)))
        __sync_fetch_and_add(&o->passed, 1);
    return (int)act;
}

char _license[] SEC("license") = "Dual BSD/GPL";
