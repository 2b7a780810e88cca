/* The vhost-user port type: the UNIX socket (server or client with reconnect),
 * message framing over it, the data path and show().
 *
 * Framing: the socket is non-blocking and serviced by the main loop. A message is
 * assembled across as many reads as it takes (header first, then exactly the
 * payload the header announces, so that fds of the next message are never taken
 * for this one); fds arrive with the first bytes.
 *
 * Replies never make the main thread wait: what the socket does not take at once
 * is queued and sent when it becomes writable. A front-end that sends requests
 * without reading the replies fills the socket and then the queue; past
 * REPLY_QUEUE_MAX it is disconnected (a well-behaved one has at most one reply
 * outstanding: it waits for each). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ports/vhost_user/dev.h"
#include "ports/vhost_user/port_args.h"
#include "ports/vhost_user/vhost_user.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/eventfd.h"
#include "vswitch/listen.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"

#define RECONNECT_FIRST_MS 100
#define RECONNECT_MAX_MS 5000
/* Bytes of replies queued beyond what the socket holds: hundreds of replies. */
#define REPLY_QUEUE_MAX (16u << 10)
#define CONN_EVENTS (EPOLLIN | EPOLLRDHUP)
#define VS_VHU_ARRAY_FDS (VS_VHU_MAX_FDS + 1)

struct vhu_port {
    struct vs_vhu_dev dev; /* first: port->priv is also the struct vs_vnet_dev */
    struct vs_port *port;
    struct vs_vhu_args args;

    struct vs_listener listener; /* server mode */
    int conn_fd;
    int timer;      /* reconnect timer id, 0 when none */
    unsigned backoff_ms;
    bool connect_fail_logged;

    /* The message being assembled. */
    struct vs_vhu_msg in;
    size_t have;
    int fds[VS_VHU_ARRAY_FDS]; /* one more than allowed: "too many" reaches the handler */
    unsigned nfds;

    struct vs_vhu_msg out;
    uint8_t *replyq; /* REPLY_QUEUE_MAX bytes once needed; replyq_len of them unsent */
    size_t replyq_len;

    uint64_t connects, disconnects, refused, reply_overflows;
    uint64_t memory_faults; /* connections dropped because their memory faulted */
    bool refused_logged; /* per connection */
    bool reply_overflow_logged; /* per port: a reconnecting flooder logs once */
};

/* The shared data path finds the device at port->priv. */
_Static_assert(offsetof(struct vhu_port, dev.net) == 0, "vs_vnet_dev first");

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void update_link(struct vhu_port *vp)
{
    VS_WRITE_ONCE(vp->port->link_up, vp->conn_fd >= 0 && vs_vnet_link_up(&vp->dev.net));
}

static void drop_pending(struct vhu_port *vp)
{
    for (unsigned i = 0; i < vp->nfds; i++)
        close_fd(&vp->fds[i]);
    vp->nfds = 0;
    vp->have = 0;
}

static void client_schedule(struct vhu_port *vp, unsigned delay_ms);
static void reply_queue_free(struct vhu_port *vp);

static void conn_drop(struct vhu_port *vp, const char *why)
{
    if (vp->conn_fd < 0)
        return;
    vs_loop_del_fd(vp->conn_fd);
    close_fd(&vp->conn_fd);
    drop_pending(vp);
    reply_queue_free(vp);
    vs_vhu_dev_reset(&vp->dev);
    vp->disconnects++;
    update_link(vp);
    if (why) /* NULL: the reason was logged already */
        vs_log_limited(&vp->dev.conn_log, VS_LOG_INFO, "port %s: front-end %s on %s",
                       vp->port->name, why, vp->args.path);
    if (!vp->args.server) {
        vp->backoff_ms = RECONNECT_FIRST_MS;
        vp->connect_fail_logged = false;
        client_schedule(vp, RECONNECT_FIRST_MS);
    }
}

/* Sends what fits without waiting; returns the bytes sent or -errno. */
static ssize_t send_some(int fd, const void *buf, size_t len)
{
    ssize_t n;

    do
        n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    return n;
}

/* Sends the reply, or queues what the socket does not take now (behind what is
 * already queued, so that replies stay in order). 0, -ENOBUFS when the queue is
 * full, or another -errno when the connection failed. */
static int reply_send(struct vhu_port *vp, const void *buf, size_t len)
{
    ssize_t n = 0;

    if (vp->replyq_len == 0 && (n = send_some(vp->conn_fd, buf, len)) < 0)
        return (int)n;
    if ((size_t)n == len)
        return 0;
    len -= (size_t)n;
    if (vp->replyq_len + len > REPLY_QUEUE_MAX)
        return -ENOBUFS;
    if (!vp->replyq && !(vp->replyq = malloc(REPLY_QUEUE_MAX)))
        return -ENOMEM;
    memcpy(vp->replyq + vp->replyq_len, (const uint8_t *)buf + n, len);
    if (vp->replyq_len == 0)
        vs_loop_mod_fd(vp->conn_fd, CONN_EVENTS | EPOLLOUT);
    vp->replyq_len += len;
    return 0;
}

/* The socket is writable again: send what is queued. 0 or -errno. */
static int reply_flush(struct vhu_port *vp)
{
    ssize_t n = send_some(vp->conn_fd, vp->replyq, vp->replyq_len);

    if (n < 0)
        return (int)n;
    memmove(vp->replyq, vp->replyq + n, vp->replyq_len - (size_t)n);
    vp->replyq_len -= (size_t)n;
    if (vp->replyq_len == 0)
        vs_loop_mod_fd(vp->conn_fd, CONN_EVENTS);
    return 0;
}

static void reply_queue_free(struct vhu_port *vp)
{
    free(vp->replyq);
    vp->replyq = NULL;
    vp->replyq_len = 0;
}

/* A complete message is in vp->in: hand it to the device and answer. Returns false
 * when the connection was dropped. */
static bool conn_dispatch(struct vhu_port *vp)
{
    int rc = vs_vhost_user_handle_msg(&vp->dev, &vp->in.hdr, &vp->in.p, vp->fds, vp->nfds,
                                      &vp->out);

    /* The handler closed or kept every fd. */
    vp->nfds = 0;
    vp->have = 0;
    if (rc < 0) {
        conn_drop(vp, NULL); /* the handler said why, in one line */
        return false;
    }
    /* Before the reply: once the front-end hears back, the link state is current. */
    update_link(vp);
    if (rc > 0 &&
        (rc = reply_send(vp, &vp->out, sizeof(vp->out.hdr) + vp->out.hdr.size)) == -ENOBUFS) {
        vp->reply_overflows++;
        vs_log_once(&vp->reply_overflow_logged, VS_LOG_WARN,
                    "port %s: the front-end on %s does not read its replies (%u bytes queued); "
                    "disconnected (further such disconnections are counted, not logged)",
                    vp->port->name, vp->args.path, REPLY_QUEUE_MAX);
        conn_drop(vp, NULL);
        return false;
    }
    if (rc < 0) {
        vs_warn("port %s: cannot send the %s reply to the front-end on %s (%s); disconnected",
                vp->port->name, vs_vhu_request_name(vp->out.hdr.request), vp->args.path,
                strerror(-rc));
        conn_drop(vp, NULL);
        return false;
    }
    return true;
}

static void take_fds(struct vhu_port *vp, struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const uint8_t *data = CMSG_DATA(cm);

        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (vp->nfds < VS_VHU_ARRAY_FDS)
                vp->fds[vp->nfds++] = fd;
            else
                close(fd);
        }
    }
}

static void conn_cb(int fd, uint32_t events, void *arg)
{
    struct vhu_port *vp = arg;
    union {
        char buf[CMSG_SPACE(sizeof(int) * 2 * VS_VHU_MAX_FDS)];
        struct cmsghdr align;
    } cbuf;

    /* A front-end that never stops talking must not starve the control socket and
     * the other ports: the loop calls us again while data is pending. */
    unsigned budget = 64;
    int rc;

    if ((events & EPOLLOUT) && vp->replyq_len && (rc = reply_flush(vp)) < 0) {
        vs_warn("port %s: cannot send replies to the front-end on %s (%s); disconnected",
                vp->port->name, vp->args.path, strerror(-rc));
        conn_drop(vp, NULL);
        return;
    }
    for (;;) {
        size_t want;

        if (vp->have < sizeof(vp->in.hdr)) {
            want = sizeof(vp->in.hdr) - vp->have;
        } else {
            if (vp->in.hdr.size > VS_VHU_MAX_PAYLOAD ||
                (vp->in.hdr.flags & VS_VHU_VERSION_MASK) != VS_VHU_VERSION) {
                /* The handler refuses the header; the stream cannot be resynchronised. */
                conn_dispatch(vp);
                if (vp->conn_fd >= 0)
                    conn_drop(vp, NULL);
                return;
            }
            want = sizeof(vp->in.hdr) + vp->in.hdr.size - vp->have;
            if (want == 0) {
                if (!conn_dispatch(vp) || --budget == 0)
                    return;
                continue;
            }
        }

        struct iovec iov = {.iov_base = (uint8_t *)&vp->in + vp->have, .iov_len = want};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf.buf,
                            .msg_controllen = sizeof(cbuf.buf)};
        ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (events & (EPOLLHUP | EPOLLERR))
                    conn_drop(vp, "hung up");
                return;
            }
            conn_drop(vp, "connection failed; disconnected");
            return;
        }
        take_fds(vp, &mh);
        if (n == 0) {
            conn_drop(vp, vp->have ? "closed the connection in the middle of a message"
                                   : "disconnected");
            return;
        }
        if (mh.msg_flags & MSG_CTRUNC) {
            /* More fds than any message carries: make sure the handler refuses it. */
            while (vp->nfds < VS_VHU_ARRAY_FDS)
                vp->fds[vp->nfds++] = -1;
        }
        vp->have += (size_t)n;
    }
}

static void conn_attach(struct vhu_port *vp, int fd)
{
    int rc = vs_loop_add_fd(fd, CONN_EVENTS, conn_cb, vp);

    if (rc < 0) {
        vs_err("port %s: cannot watch the front-end connection: %s", vp->port->name,
               strerror(-rc));
        close(fd);
        if (!vp->args.server)
            client_schedule(vp, vp->backoff_ms);
        return;
    }
    vp->conn_fd = fd;
    vp->have = 0;
    vp->nfds = 0;
    vp->connects++;
    vp->refused_logged = false;
    vp->backoff_ms = RECONNECT_FIRST_MS;
    vp->connect_fail_logged = false;
    vs_log_limited(&vp->dev.conn_log, VS_LOG_INFO, "port %s: front-end connected on %s",
                   vp->port->name, vp->args.path);
}

static void accept_cb(int fd, uint32_t events, void *arg)
{
    struct vhu_port *vp = arg;

    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (c < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                vs_warn("port %s: accept on %s: %s", vp->port->name, vp->args.path,
                        strerror(errno));
            return;
        }
        if (vp->conn_fd >= 0) {
            vp->refused++;
            vs_log_once(&vp->refused_logged, VS_LOG_WARN,
                        "port %s: refused a second front-end on %s (one is already connected; "
                        "further refusals are counted, not logged)",
                        vp->port->name, vp->args.path);
            close(c);
            continue;
        }
        conn_attach(vp, c);
    }
}

static void client_try(void *arg)
{
    struct vhu_port *vp = arg;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    vp->timer = 0;
    if (vp->conn_fd >= 0)
        return;
    memcpy(sa.sun_path, vp->args.path, sizeof(sa.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        conn_attach(vp, fd);
        return;
    }
    if (!vp->connect_fail_logged) {
        vp->connect_fail_logged = true;
        vs_info("port %s: waiting for the front-end to listen on %s (%s); retrying",
                vp->port->name, vp->args.path, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    client_schedule(vp, vp->backoff_ms);
    vp->backoff_ms = VS_MIN(vp->backoff_ms * 2, RECONNECT_MAX_MS);
}

static void client_schedule(struct vhu_port *vp, unsigned delay_ms)
{
    int id;

    if (vp->timer > 0)
        return;
    id = vs_loop_add_timer(delay_ms, 0, client_try, vp);
    if (id < 0) {
        vs_err("port %s: cannot schedule a reconnect: %s", vp->port->name, strerror(-id));
        return;
    }
    vp->timer = id;
}

static int server_open(struct vhu_port *vp, struct vs_port_err *err)
{
    char what[64];
    int rc;

    rc = vs_listen_unix(vp->args.path, 0660, (gid_t)-1, 4, &vp->listener, what, sizeof(what));
    if (rc == -EADDRINUSE)
        vs_port_err_set(err, -1,
                        "another process is listening on %s (another vswitchd?); "
                        "stop it or choose another path",
                        vp->args.path);
    else if (rc == -EEXIST)
        vs_port_err_set(err, -1, "%s exists and is not a socket; refusing to replace it",
                        vp->args.path);
    else if (rc < 0)
        vs_port_err_set(err, -1, "cannot set up %s: %s: %s", vp->args.path, what, strerror(-rc));
    if (rc < 0)
        return rc;
    if ((rc = vs_loop_add_fd(vp->listener.fd, EPOLLIN, accept_cb, vp)) < 0) {
        vs_port_err_set(err, -1, "cannot watch %s: %s", vp->args.path, strerror(-rc));
        vs_listen_close(&vp->listener);
        return rc;
    }
    return 0;
}

static void server_close(struct vhu_port *vp)
{
    if (vp->listener.fd < 0)
        return;
    vs_loop_del_fd(vp->listener.fd);
    vs_listen_close(&vp->listener);
}

/* A mapping of this front-end's memory or log faulted (the file shrank, or a hugetlbfs
 * hole): the pollers now read zeros there. Drop the connection, which stops the rings
 * and unmaps everything; the other ports never noticed. */
static void vhu_mem_fault(void *arg)
{
    struct vhu_port *vp = arg;

    if (vp->conn_fd < 0)
        return;
    vp->memory_faults++;
    vs_err("port %s: guest memory of the front-end on %s became inaccessible (file truncated, "
           "or hugepages ran out); port stopped and front-end disconnected. Back guest memory "
           "with files that cannot shrink (sealed memfds, hugetlbfs with reserved pages)",
           vp->port->name, vp->args.path);
    conn_drop(vp, NULL);
}

static int vhu_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_vhu_args a;

    return vs_vhu_parse_args(args, &a, err);
}

static int vhu_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vhu_port *vp;
    int rc;

    vp = calloc(1, sizeof(*vp));
    if (!vp)
        return -ENOMEM;
    if ((rc = vs_vhu_parse_args(args, &vp->args, err)) < 0) {
        free(vp);
        return rc;
    }
    vp->port = port;
    vp->listener.fd = vp->conn_fd = -1;
    vp->backoff_ms = RECONNECT_FIRST_MS;
    vs_vhu_dev_init(&vp->dev, port->name, vp->args.queues);
    vp->dev.max_map = vp->args.max_memory;
    vp->dev.on_fault = vhu_mem_fault;
    vp->dev.fault_arg = vp;
    if (!vp->args.in_order)
        vp->dev.offered &= ~(1ull << VIRTIO_F_IN_ORDER);
    if ((rc = vs_vnet_port_options(&vp->dev.net, port, vp->args.mtu, vp->args.offloads,
                                   &vp->dev.offered, args, err)) < 0) {
        free(vp);
        return rc;
    }
    vp->dev.net.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (vp->dev.net.wake_fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "eventfd: %s", strerror(errno));
        free(vp);
        return rc;
    }
    port->n_rxq = port->n_txq = (uint16_t)vp->args.queues;
    port->link_up = 0;
    port->priv = vp;
    if (vp->args.server) {
        if ((rc = server_open(vp, err)) < 0) {
            port->priv = NULL;
            close(vp->dev.net.wake_fd);
            free(vp);
            return rc;
        }
        vs_info("port %s: waiting for a front-end on %s", port->name, vp->args.path);
    } else {
        client_try(vp);
    }
    return 0;
}

static void vhu_close(struct vs_port *port)
{
    struct vhu_port *vp = port->priv;

    if (!vp)
        return;
    if (vp->timer > 0)
        vs_loop_del_timer(vp->timer);
    vp->timer = 0;
    if (vp->conn_fd >= 0) {
        vs_loop_del_fd(vp->conn_fd);
        close_fd(&vp->conn_fd);
    }
    drop_pending(vp);
    reply_queue_free(vp);
    vs_vhu_dev_reset(&vp->dev);
    server_close(vp);
    close_fd(&vp->dev.net.wake_fd);
    port->link_up = 0;
    port->priv = NULL;
    free(vp);
}

/* ---- show ------------------------------------------------------------------- */

static json_t *feature_list(uint64_t f, const char *(*name)(unsigned))
{
    json_t *a = json_array();

    for (unsigned b = 0; b < 64; b++) {
        if (!(f & (1ull << b)))
            continue;
        const char *s = name(b);
        char buf[16];

        if (!s) {
            snprintf(buf, sizeof(buf), "bit%u", b);
            s = buf;
        }
        json_array_append_new(a, json_string(s));
    }
    return a;
}

static void vhu_show(struct vs_port *port, json_t *out)
{
    struct vhu_port *vp = port->priv;
    const struct vs_vhu_dev *dev = &vp->dev;
    json_t *msg_errs = json_object();

    for (unsigned e = 0; e < VS_VHU_ERR__COUNT; e++)
        json_object_set_new(msg_errs, vs_vhu_msg_error_name(e),
                            json_integer((json_int_t)dev->msg_err[e]));

    json_object_set_new(out, "path", json_string(vp->args.path));
    json_object_set_new(out, "mode", json_string(vp->args.server ? "server" : "client"));
    json_object_set_new(out, "queue_pairs", json_integer(dev->net.n_qp));
    json_object_set_new(out, "connected", json_boolean(vp->conn_fd >= 0));
    json_object_set_new(out, "connects", json_integer((json_int_t)vp->connects));
    json_object_set_new(out, "disconnects", json_integer((json_int_t)vp->disconnects));
    json_object_set_new(out, "refused_connections", json_integer((json_int_t)vp->refused));
    json_object_set_new(out, "memory_faults", json_integer((json_int_t)vp->memory_faults));
    json_object_set_new(out, "reply_overflows", json_integer((json_int_t)vp->reply_overflows));
    json_object_set_new(out, "features", feature_list(dev->net.features, vs_vhu_feature_name));
    json_object_set_new(out, "protocol_features",
                        feature_list(dev->protocol_features, vs_vhu_protocol_feature_name));
    json_object_set_new(out, "offloads", vs_vnet_offloads_json(dev->net.features));
    json_object_set_new(out, "offloads_offered", vs_vnet_offloads_json(dev->offered));
    json_object_set_new(out, "mtu", json_integer(vp->port->mtu));
    json_object_set_new(out, "guest_mtu", json_integer(dev->mtu));
    json_object_set_new(out, "device_status", json_integer(dev->status));
    json_object_set_new(out, "memory_regions", json_integer(dev->net.mem.n));
    json_object_set_new(out, "memory_mapped",
                        json_integer((json_int_t)(vs_vhu_mem_mapped(&dev->net.mem) + dev->log_map_size)));
    json_object_set_new(out, "max_memory", json_integer((json_int_t)dev->max_map));
    json_object_set_new(out, "dirty_log", json_boolean(dev->log.bitmap != NULL));
    json_object_set_new(out, "messages", json_integer((json_int_t)dev->msgs));
    json_object_set_new(out, "message_errors", msg_errs);
    json_object_set_new(out, "rarp_sent", json_integer((json_int_t)dev->net.rarps_sent));
    json_object_set_new(out, "queues", vs_vnet_queues_json(&dev->net));
}

const struct vs_port_ops vs_port_vhost_user_ops = {
    .type = "vhost-user",
    .keys = vs_vhu_keys,
    .validate = vhu_validate,
    .open = vhu_open,
    .close = vhu_close,
    .rx_burst = vs_vnet_rx_burst,
    .tx_burst = vs_vnet_tx_burst,
    .show = vhu_show,
    .rx_done = vs_vnet_rx_done,
    .rx_wait_fd = vs_vnet_rx_wait_fd,
    .rx_notify = vs_vnet_rx_notify,
};
