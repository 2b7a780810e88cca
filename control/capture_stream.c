/* Capture streams (capture_stream.h): one per connection that asked for a
 * capture, served on the main loop. Frames are taken from the session's rings
 * only while the stream's output has room, so a client that reads slowly costs
 * the switch nothing but the frames its rings cannot hold (counted as lost). */
#include "control/capture_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "control/pcapng.h"
#include "control/server.h"
#include "dataplane/capture.h"
#include "dataplane/switch.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"

#define OUT_CAP (2u << 20)  /* output buffer of a stream */
#define OUT_FILL (1u << 20) /* frames are taken while less than this waits */
#define DRAIN_MS 20         /* rings are read at least this often */
#define END_GRACE_MS 5000   /* time to take the last bytes before the close */
#define ISB_ROOM 256        /* kept for the statistics at the end */

static const char *const dir_names[VS_CAP_KINDS] = {"rx", "tx", "drops"};
static const unsigned kind_bits[VS_CAP_KINDS] = {VS_CAP_RX, VS_CAP_TX, VS_CAP_DROPS};

struct stream {
    struct stream *next, *prev;
    struct vs_switch *sw;
    struct vs_capture *cap; /* NULL once ended */
    int fd;
    bool ending;
    uint32_t events; /* what the loop watches on fd */
    uint64_t count, captured;
    uint64_t sent[VS_CAP_KINDS], lost[VS_CAP_KINDS];
    uint32_t ifid[VS_CAP_KINDS]; /* interface of each kind asked for */
    uint64_t end_ms;
    uint8_t *out;
    size_t off, len;
    char port[VS_PORT_NAME_MAX];
};

static struct stream *streams;
static int drain_timer;

static uint64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void stream_close(struct stream *st)
{
    if (st->fd >= 0) {
        vs_loop_del_fd(st->fd);
        close(st->fd);
    }
    vs_capture_stop(st->sw, st->cap);
    if (st->prev)
        st->prev->next = st->next;
    else if (streams == st)
        streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    vs_info("capture on %s: ended, %" PRIu64 " frames sent, %" PRIu64 " lost", st->port,
            st->captured, st->lost[0] + st->lost[1] + st->lost[2]);
    free(st->out);
    free(st);
    if (!streams && drain_timer > 0) {
        vs_loop_del_timer(drain_timer);
        drain_timer = 0;
    }
}

static bool put_frame(const struct vs_capture_frame *f, void *arg)
{
    struct stream *st = arg;
    enum vs_capture_kind k = vs_capture_frame_kind(f);
    char comment[96];
    size_t n;

    if (st->len + VS_PCAPNG_EPB_MAX(f->caplen) > OUT_CAP - ISB_ROOM)
        return false;
    if (k == VS_CAP_KIND_DROPS)
        snprintf(comment, sizeof(comment), "drop: %s (%s)", vs_drop_name((enum vs_drop)f->reason),
                 f->dir == VS_CAP_RX ? "ingress" : "egress");
    n = vs_pcapng_epb(st->out + st->len, OUT_CAP - st->len, st->ifid[k], f->ts_ns, f->data,
                      f->caplen, f->orig_len,
                      f->dir == VS_CAP_RX ? VS_PCAPNG_INBOUND : VS_PCAPNG_OUTBOUND,
                      k == VS_CAP_KIND_DROPS ? comment : NULL);
    if (!n)
        return false;
    st->len += n;
    st->sent[k]++;
    st->captured++;
    return true;
}

/* Takes frames while the output has room (up to limit bytes waiting) and the
 * count allows. */
static void fill(struct stream *st, size_t limit)
{
    while (st->cap && !st->ending && st->len - st->off < limit) {
        uint64_t left = st->count ? st->count - st->captured : UINT32_MAX;

        if (st->off && st->off == st->len)
            st->off = st->len = 0;
        else if (st->off > OUT_CAP / 2) {
            memmove(st->out, st->out + st->off, st->len - st->off);
            st->len -= st->off;
            st->off = 0;
        }
        if (!vs_capture_read(st->cap, left > UINT32_MAX ? UINT32_MAX : (unsigned)left, put_frame,
                             st))
            break;
    }
}

static bool count_lost(const struct vs_capture_frame *f, void *arg)
{
    ((uint64_t *)arg)[vs_capture_frame_kind(f)]++;
    return true;
}

/* Ends the capture: what waits in the rings and fits, then the statistics. What
 * does not fit counts as lost, so that every frame the port saw while the
 * capture ran is either in the stream or in its isb_ifdrop. */
static void finish(struct stream *st)
{
    uint64_t now = wall_ns();

    if (st->ending)
        return;
    vs_capture_end(st->sw, st->cap);
    fill(st, OUT_CAP);
    if (!st->count || st->captured < st->count)
        vs_capture_read(st->cap, UINT32_MAX, count_lost, st->lost);
    st->ending = true;
    st->end_ms = vs_now_ms() + END_GRACE_MS;
    {
        uint64_t ring_lost[VS_CAP_KINDS];

        vs_capture_lost(st->cap, ring_lost);
        for (int k = 0; k < VS_CAP_KINDS; k++)
            st->lost[k] += ring_lost[k];
    }
    vs_capture_stop(st->sw, st->cap);
    st->cap = NULL;
    if (st->off) {
        memmove(st->out, st->out + st->off, st->len - st->off);
        st->len -= st->off;
        st->off = 0;
    }
    for (int k = 0; k < VS_CAP_KINDS; k++)
        if (st->ifid[k] != UINT32_MAX)
            st->len += vs_pcapng_isb(st->out + st->len, OUT_CAP - st->len, st->ifid[k], now,
                                     st->sent[k], st->lost[k]);
}

/* Sends what the socket takes. Returns false when the client is gone or done. */
static bool flush(struct stream *st)
{
    uint32_t ev;

    while (st->off < st->len) {
        ssize_t n = send(st->fd, st->out + st->off, st->len - st->off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return false;
        }
        st->off += (size_t)n;
    }
    if (st->ending && (st->off == st->len || vs_now_ms() > st->end_ms))
        return false;
    /* Once ending, the client's end of file must not wake us again and again. */
    ev = (st->ending ? 0 : EPOLLIN | EPOLLRDHUP) | (st->off < st->len ? EPOLLOUT : 0);
    if (ev != st->events) {
        st->events = ev;
        if (vs_loop_mod_fd(st->fd, ev))
            return false;
    }
    return true;
}

/* Reads the rings, ends the capture when its count is reached or its port went,
 * and sends. Returns false when the stream was closed. */
static bool service(struct stream *st)
{
    fill(st, OUT_FILL);
    if (st->cap && ((st->count && st->captured >= st->count) || vs_capture_port_gone(st->cap)))
        finish(st);
    if (!flush(st)) {
        stream_close(st);
        return false;
    }
    return true;
}

static void drain_cb(void *arg)
{
    for (struct stream *st = streams, *next; st; st = next) {
        next = st->next;
        service(st);
    }
}

static void stream_cb(int fd, uint32_t events, void *arg)
{
    struct stream *st = arg;

    if (events & EPOLLERR) {
        stream_close(st);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
        char buf[256];
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        /* Anything from the client, or its end of file, asks for the end. */
        if (n >= 0 || (errno != EAGAIN && errno != EINTR))
            finish(st);
        if (events & EPOLLHUP) {
            stream_close(st);
            return;
        }
    }
    service(st);
}

/* ---- the commands ------------------------------------------------------- */

static void take(void *stream, int fd, const char *pending, size_t len);

int vs_capture_cmd(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    struct vs_switch *sw = ctx;
    json_t *port = json_object_get(params, "port"), *dirs = json_object_get(params, "directions");
    json_t *count = json_object_get(params, "count"), *snap = json_object_get(params, "snaplen");
    json_t *names = json_array();
    unsigned bits = 0;
    uint32_t snaplen = VS_CAPTURE_SNAPLEN_MAX;
    struct stream *st;
    size_t i;
    json_t *d;
    int rc;

    if (!names)
        return -ENOMEM;
    if (!json_is_string(port)) {
        snprintf(err, errlen, "%s",
                 port ? "parameter 'port' must be a string" : "missing parameter 'port'");
        json_decref(names);
        return -EINVAL;
    }
    if (dirs && (!json_is_array(dirs) || !json_array_size(dirs))) {
        snprintf(err, errlen,
                 "parameter 'directions' must be a non-empty array of \"rx\", "
                 "\"tx\", \"drops\"");
        json_decref(names);
        return -EINVAL;
    }
    json_array_foreach(dirs, i, d)
    {
        int k;

        for (k = 0; k < VS_CAP_KINDS; k++)
            if (json_is_string(d) && !strcmp(json_string_value(d), dir_names[k]))
                break;
        if (k == VS_CAP_KINDS) {
            snprintf(err, errlen,
                     "parameter 'directions': each must be \"rx\", \"tx\" or "
                     "\"drops\"");
            json_decref(names);
            return -EINVAL;
        }
        bits |= kind_bits[k];
    }
    if (!bits)
        bits = VS_CAP_ALL;
    if (count && (!json_is_integer(count) || json_integer_value(count) < 0)) {
        snprintf(err, errlen, "parameter 'count' must be a number of frames (0: no limit)");
        json_decref(names);
        return -EINVAL;
    }
    if (snap && (!json_is_integer(snap) || json_integer_value(snap) < 1 ||
                 json_integer_value(snap) > VS_CAPTURE_SNAPLEN_MAX)) {
        snprintf(err, errlen, "parameter 'snaplen' must be 1..%d bytes", VS_CAPTURE_SNAPLEN_MAX);
        json_decref(names);
        return -EINVAL;
    }
    if (snap)
        snaplen = (uint32_t)json_integer_value(snap);
    if (!(st = calloc(1, sizeof(*st))) || !(st->out = malloc(OUT_CAP))) {
        free(st);
        json_decref(names);
        return -ENOMEM;
    }
    st->sw = sw;
    st->fd = -1;
    st->count = count ? (uint64_t)json_integer_value(count) : 0;
    rc = vs_capture_start(sw, json_string_value(port), bits, snaplen, 0, &st->cap);
    if (rc < 0) {
        if (rc == -ENOENT)
            snprintf(err, errlen, "no port named '%s' (see list-ports)", json_string_value(port));
        else if (rc == -EBUSY)
            snprintf(err, errlen, "%d captures are running already; end one first (see captures)",
                     VS_CAPTURE_MAX);
        free(st->out);
        free(st);
        json_decref(names);
        return rc;
    }
    snprintf(st->port, sizeof(st->port), "%s", vs_capture_port_name(st->cap));
    for (int k = 0, n = 0; k < VS_CAP_KINDS; k++) {
        st->ifid[k] = UINT32_MAX;
        if (bits & kind_bits[k]) {
            st->ifid[k] = (uint32_t)n++;
            json_array_append_new(names, json_string(dir_names[k]));
        }
    }
    vs_ctl_take_connection(take, st);
    *result = json_pack("{s:s, s:s, s:o, s:I, s:i, s:s}", "port", st->port, "type",
                        vs_capture_port_type(st->cap), "directions", names, "count",
                        (json_int_t)st->count, "snaplen", (int)snaplen, "format", "pcapng");
    return 0;
}

static void take(void *stream, int fd, const char *pending, size_t len)
{
    static const char *const what[VS_CAP_KINDS] = {
        "frames received on the port", "frames the port sent",
        "frames dropped on the port (the reason in each frame's comment)"};
    struct stream *st = stream;
    char name[VS_PORT_NAME_MAX + 8], desc[160];

    if (fd < 0 || len > OUT_CAP / 2) {
        if (fd >= 0)
            close(fd);
        vs_capture_stop(st->sw, st->cap);
        free(st->out);
        free(st);
        return;
    }
    st->fd = fd;
    memcpy(st->out, pending, len);
    st->len = len;
    st->len += vs_pcapng_shb(st->out + st->len, OUT_CAP - st->len, "vswitchd " VS_VERSION);
    for (int k = 0; k < VS_CAP_KINDS; k++) {
        if (st->ifid[k] == UINT32_MAX)
            continue;
        snprintf(name, sizeof(name), "%s:%s", st->port, dir_names[k]);
        snprintf(desc, sizeof(desc), "vswitch port %s (%s): %s", st->port,
                 vs_capture_port_type(st->cap), what[k]);
        st->len += vs_pcapng_idb(st->out + st->len, OUT_CAP - st->len, vs_capture_snaplen(st->cap),
                                 name, desc);
    }
    st->next = streams;
    if (streams)
        streams->prev = st;
    streams = st;
    st->events = EPOLLIN | EPOLLRDHUP;
    if (vs_loop_add_fd(fd, st->events, stream_cb, st)) {
        stream_close(st);
        return;
    }
    if (!drain_timer) {
        int t = vs_loop_add_timer(DRAIN_MS, DRAIN_MS, drain_cb, NULL);

        if (t < 0) {
            vs_err("capture on %s: cannot start its timer: %s", st->port, strerror(-t));
            stream_close(st);
            return;
        }
        drain_timer = t;
    }
    vs_info("capture on %s: started (%s%s%s, snaplen %u%s)", st->port,
            st->ifid[0] != UINT32_MAX ? "rx " : "", st->ifid[1] != UINT32_MAX ? "tx " : "",
            st->ifid[2] != UINT32_MAX ? "drops" : "", vs_capture_snaplen(st->cap),
            st->count ? ", count limited" : "");
    service(st);
}

int vs_capture_cmd_list(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    json_t *arr = json_array();

    for (struct stream *st = streams; arr && st; st = st->next) {
        json_t *dirs = json_array();
        uint64_t lost[VS_CAP_KINDS] = {0};

        if (st->cap)
            vs_capture_lost(st->cap, lost);
        else
            memcpy(lost, st->lost, sizeof(lost));
        for (int k = 0; k < VS_CAP_KINDS; k++)
            if (st->ifid[k] != UINT32_MAX)
                json_array_append_new(dirs, json_string(dir_names[k]));
        json_array_append_new(arr, json_pack("{s:s, s:o, s:I, s:I, s:I, s:s}", "port", st->port,
                                             "directions", dirs, "count", (json_int_t)st->count,
                                             "captured", (json_int_t)st->captured, "lost",
                                             (json_int_t)(lost[0] + lost[1] + lost[2]), "state",
                                             st->ending ? "ending" : "running"));
    }
    *result = json_pack("{s:o}", "captures", arr ? arr : json_array());
    return 0;
}

void vs_capture_streams_close(void)
{
    while (streams) {
        finish(streams);
        flush(streams);
        stream_close(streams);
    }
}
