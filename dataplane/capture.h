/* Packet capture: frames copied off the fast path while someone captures.
 *
 * A capture session watches one port in some directions. For each poller it has
 * a bounded byte ring (single producer: that poller; single consumer: the main
 * thread) of records, each a frame's first snaplen bytes with its length, time,
 * direction and, for a dropped frame, the reason. Pollers copy the bytes during
 * the burst that holds the frame (a frame lent from a guest is only valid until
 * then) and never wait: a record that does not fit is counted as lost. With no
 * session on a port a poller pays one test of a byte per rx and tx burst, and one
 * per dropped frame.
 *
 * Every function here runs on the main thread except the vs_capture_*() hooks in
 * dp.h, which run on pollers. */
#ifndef VS_DATAPLANE_CAPTURE_H
#define VS_DATAPLANE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_switch;
struct vs_capture;

/* Directions a session watches (also the bits of a port's capture byte). */
#define VS_CAP_RX 0x01    /* frames received on the port */
#define VS_CAP_TX 0x02    /* frames the port took for sending */
#define VS_CAP_DROPS 0x04 /* frames dropped and counted on the port, with the reason */
#define VS_CAP_ALL (VS_CAP_RX | VS_CAP_TX | VS_CAP_DROPS)

#define VS_CAPTURE_MAX 8                 /* sessions at once */
#define VS_CAPTURE_SNAPLEN_MAX 262144    /* what tcpdump takes by default */
#define VS_CAPTURE_RING_BYTES (2u << 20) /* per poller and session */
#define VS_CAPTURE_NO_REASON 0xff

/* One captured frame, as vs_capture_read hands it over. */
struct vs_capture_frame {
    uint64_t ts_ns;    /* CLOCK_REALTIME when its burst was copied */
    uint32_t orig_len; /* the frame's length */
    uint32_t caplen;   /* bytes at data: min(orig_len, snaplen) */
    uint8_t dir;       /* VS_CAP_RX (seen at ingress) or VS_CAP_TX (at egress) */
    uint8_t reason;    /* enum vs_drop for a dropped frame, else VS_CAPTURE_NO_REASON */
    const uint8_t *data;
};

/* Starts a session on the port named port. dirs: VS_CAP_* bits (non-zero).
 * snaplen: 1..VS_CAPTURE_SNAPLEN_MAX. ring_bytes: per poller, a power of two of
 * at least 64 KiB (0: VS_CAPTURE_RING_BYTES). Returns 0, -ENOENT (no such port),
 * -EBUSY (VS_CAPTURE_MAX sessions run), -EINVAL or -ENOMEM. */
int vs_capture_start(struct vs_switch *sw, const char *port, unsigned dirs, uint32_t snaplen,
                     size_t ring_bytes, struct vs_capture **out);
/* Pollers stop writing to the session (a grace period); what waits in it can
 * still be read. */
void vs_capture_end(struct vs_switch *sw, struct vs_capture *c);
/* Ends a session (vs_capture_end) and frees it. */
void vs_capture_stop(struct vs_switch *sw, struct vs_capture *c);

/* Hands each waiting frame the session wants to fn, in order per poller, until fn
 * returns false (the frame stays for the next call) or max frames went. Returns
 * the number handed over. */
typedef bool (*vs_capture_fn)(const struct vs_capture_frame *f, void *arg);
unsigned vs_capture_read(struct vs_capture *c, unsigned max, vs_capture_fn fn, void *arg);

/* What a frame is to a session: received, sent, or dropped. */
enum vs_capture_kind { VS_CAP_KIND_RX, VS_CAP_KIND_TX, VS_CAP_KIND_DROPS, VS_CAP_KINDS };
static inline enum vs_capture_kind vs_capture_frame_kind(const struct vs_capture_frame *f)
{
    return f->reason != VS_CAPTURE_NO_REASON ? VS_CAP_KIND_DROPS
           : f->dir == VS_CAP_RX             ? VS_CAP_KIND_RX
                                             : VS_CAP_KIND_TX;
}
/* Frames of each kind the session lost because a ring was full (its reader was
 * too slow). */
void vs_capture_lost(const struct vs_capture *c, uint64_t lost[VS_CAP_KINDS]);
/* The port was removed: no frame comes any more (what waits can still be read). */
bool vs_capture_port_gone(const struct vs_capture *c);
const char *vs_capture_port_name(const struct vs_capture *c);
const char *vs_capture_port_type(const struct vs_capture *c);
unsigned vs_capture_dirs(const struct vs_capture *c);
uint32_t vs_capture_snaplen(const struct vs_capture *c);
/* Sessions running now. */
unsigned vs_capture_count(const struct vs_switch *sw);

/* switch.c: the port in slot id goes away; its sessions stop receiving frames. */
void vs_capture_port_removed(struct vs_switch *sw, uint16_t id);

#endif
