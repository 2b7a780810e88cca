/* The VDUSE port type: device creation, the device fd in the main loop, the vDPA
 * bus through a worker thread, the data path and show().
 *
 * Adding the device to the vDPA bus probes its driver inside the netlink request,
 * and the probe waits for our replies to SET_STATUS: the request runs on a worker
 * thread while the main loop serves the device fd, and the worker's end is an
 * eventfd in the loop. Removal is the same with the port's close() serving the
 * device itself until the kernel let go. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "ports/vduse/args.h"
#include "ports/vduse/bus.h"
#include "ports/vduse/control.h"
#include "ports/vduse/dev.h"
#include "ports/vduse/vduse.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/compiler.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/worker.h"

#define CHECK_MS 100            /* IOTLB miss recovery and ifname lookup */
#define DETACH_TIMEOUT_MS 30000 /* the kernel's own request timeout is 30 s */

enum bus_state { BUS_ATTACHING, BUS_ATTACHED, BUS_FAILED };

struct vduse_port {
    struct vs_vduse_dev dev;
    struct vs_port *port;
    struct vs_vduse_args args;
    struct vs_worker worker;
    enum bus_state bus;
    char bus_error[256];
    int timer;
    char ifname[64]; /* host netdev (virtio_vdpa) or vhost-vdpa-N */
    bool leftover;   /* a previous run's device was removed at open */
    uint64_t write_errors;
    bool write_error_logged;
    struct vduse_port *next; /* in open_ports */
};

/* Every open VDUSE port. The kernel serialises vDPA bus changes, so a removal may
 * wait for another device's probe, which waits for that device's replies: while
 * close() serves devices itself, it serves all of them. Main thread. */
static struct vduse_port *open_ports;

static const char *const bus_state_names[] = {"attaching", "attached", "failed"};

static void update_link(struct vduse_port *vp)
{
    VS_WRITE_ONCE(vp->port->link_up, vp->bus == BUS_ATTACHED && vs_vduse_link_up(&vp->dev));
}

/* ---- the device fd -------------------------------------------------------------- */

/* Serves what the kernel asked; at most a budget per call so that a device that
 * never stops asking cannot starve the loop (which calls us again). */
static void serve_requests(struct vduse_port *vp)
{
    for (unsigned budget = 64; budget; budget--) {
        struct vduse_dev_request req;
        struct vduse_dev_response resp;
        ssize_t n = read(vp->dev.fd, &req, sizeof(req));

        if (n < 0) {
            if (errno != EINTR && errno != EAGAIN)
                vs_log_once(&vp->write_error_logged, VS_LOG_ERR, "port %s: reading %s/%s: %s",
                            vp->port->name, VS_VDUSE_DEV_DIR, vp->args.name, strerror(errno));
            break;
        }
        if (!vs_vduse_handle_request(&vp->dev, &req, (size_t)n, &resp))
            continue;
        if (write(vp->dev.fd, &resp, sizeof(resp)) != (ssize_t)sizeof(resp)) {
            vp->write_errors++;
            vs_log_once(&vp->write_error_logged, VS_LOG_ERR,
                        "port %s: answering request %u of %s/%s: %s", vp->port->name,
                        resp.request_id, VS_VDUSE_DEV_DIR, vp->args.name, strerror(errno));
        }
    }
    update_link(vp);
}

static void dev_cb(int fd, uint32_t events, void *arg) { serve_requests(arg); }

/* Serves the devices until vp's worker call returns (close, and the leftover
 * cleanup at open, which cannot wait for the loop). */
static int serve_until_done(struct vduse_port *vp)
{
    uint64_t deadline = vs_now_ms() + DETACH_TIMEOUT_MS;

    while (vs_now_ms() < deadline) {
        struct pollfd p[1 + VS_MAX_PORTS];
        struct vduse_port *who[1 + VS_MAX_PORTS];
        unsigned n = 1;

        p[0] = (struct pollfd){.fd = vp->worker.done_fd, .events = POLLIN};
        who[0] = vp;
        for (struct vduse_port *o = open_ports; o && n < VS_ARRAY_SIZE(p); o = o->next)
            if (o != vp && o->dev.fd >= 0) {
                p[n] = (struct pollfd){.fd = o->dev.fd, .events = POLLIN};
                who[n++] = o;
            }
        if (vp->dev.fd >= 0 && n < VS_ARRAY_SIZE(p)) {
            p[n] = (struct pollfd){.fd = vp->dev.fd, .events = POLLIN};
            who[n++] = vp;
        }
        if (poll(p, n, 100) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            return vs_worker_join(&vp->worker);
        for (unsigned i = 1; i < n; i++)
            if (p[i].revents)
                serve_requests(who[i]);
    }
    vs_err("port %s: the kernel did not finish with vDPA device %s in %u s", vp->port->name,
           vp->args.name, DETACH_TIMEOUT_MS / 1000);
    return -ETIMEDOUT;
}

/* Takes the device off the bus (serving it meanwhile) and destroys it. */
static int remove_device(struct vduse_port *vp)
{
    int rc = 0;

    if (vp->worker.running)
        serve_until_done(vp); /* an attach still in flight */
    if (vs_vduse_bus_has(vp->args.name)) {
        if ((rc = vs_worker_start(&vp->worker, vs_vduse_bus_detach, &vp->args)) == 0)
            rc = serve_until_done(vp);
        if (rc < 0)
            vs_err("port %s: detaching vDPA device %s: %s", vp->port->name, vp->args.name,
                   vp->worker.why[0] ? vp->worker.why : strerror(-rc));
    }
    vs_vduse_dev_reset(&vp->dev);
    if (vp->dev.fd >= 0) {
        close(vp->dev.fd);
        vp->dev.fd = -1;
    }
    /* The kernel lets go of the device file a little after the last close. */
    for (int tries = 0; tries < 100; tries++) {
        rc = vs_vduse_destroy(vp->args.name);
        if (rc != -EBUSY)
            break;
        usleep(10000);
    }
    return rc == -ENOENT || rc == -EINVAL ? 0 : rc;
}

/* ---- the bus ------------------------------------------------------------------ */

static void find_ifname(struct vduse_port *vp)
{
    if (vp->ifname[0])
        return;
    if (vp->args.driver == VS_VDUSE_VHOST_VDPA)
        vs_vduse_bus_vhost_dev(vp->args.name, vp->ifname, sizeof(vp->ifname));
    else
        vs_vduse_bus_ifname(vp->args.name, vp->ifname, sizeof(vp->ifname));
    if (vp->ifname[0])
        vs_info("port %s: vDPA device %s attached: %s%s", vp->port->name, vp->args.name,
                vp->args.driver == VS_VDUSE_VHOST_VDPA ? "/dev/" : "host interface ", vp->ifname);
}

static void attach_done_cb(int fd, uint32_t events, void *arg)
{
    struct vduse_port *vp = arg;
    int rc;

    vs_loop_del_fd(fd);
    rc = vs_worker_join(&vp->worker);
    if (rc < 0) {
        snprintf(vp->bus_error, sizeof(vp->bus_error), "%s", vp->worker.why);
        vs_err("port %s: attaching vDPA device %s: %s", vp->port->name, vp->args.name,
               vp->bus_error);
        vp->bus = BUS_FAILED;
        VS_WRITE_ONCE(vp->port->failed, 1);
        return;
    }
    vp->bus = BUS_ATTACHED;
    find_ifname(vp);
    update_link(vp);
}

static void check_cb(void *arg)
{
    struct vduse_port *vp = arg;
    unsigned n = vs_vduse_recover(&vp->dev);

    if (n)
        vs_info("port %s: the driver used IOVAs mapped after its queues started; mapped "
                "them and restarted %u queue(s)",
                vp->port->name, n);
    if (vp->bus == BUS_ATTACHED)
        find_ifname(vp);
    update_link(vp);
}

/* ---- open/close ---------------------------------------------------------------- */

static int vduse_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_vduse_args a;

    return vs_vduse_parse_args(args, NULL, &a, err);
}

/* Everything that can tell the fix before anything is created. */
static int preflight(const struct vs_vduse_args *a, struct vs_port_err *err)
{
    struct utsname u;
    char why[256];
    int rc;

    uname(&u);
    if ((rc = vs_vduse_check_kernel(u.release, why, sizeof(why))) < 0 ||
        (access(VS_VDUSE_CONTROL, F_OK) < 0 &&
         (rc = -ENOENT,
          snprintf(why, sizeof(why), "%s does not exist: load the VDUSE module (modprobe vduse)",
                   VS_VDUSE_CONTROL))) ||
        (rc = vs_vduse_bus_check(a->driver, why, sizeof(why))) < 0) {
        vs_port_err_set(err, -1, "%s", why);
        return rc;
    }
    return 0;
}

/* A device of our name left by a previous run (killed before it could remove it):
 * serve it while it comes off the bus, then destroy it. */
static int remove_leftover(struct vduse_port *vp, struct vs_port_err *err)
{
    char path[sizeof(VS_VDUSE_DEV_DIR) + VS_VDUSE_NAME_MAX + 1];
    struct stat st;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", VS_VDUSE_DEV_DIR, vp->args.name);
    if (stat(path, &st) < 0) {
        if (vs_vduse_bus_has(vp->args.name)) {
            vs_port_err_set(err, -1,
                            "the vDPA bus has a device named '%s' that is not a VDUSE device; "
                            "choose another name or remove it (vdpa dev del %s)",
                            vp->args.name, vp->args.name);
            return -EEXIST;
        }
        return 0;
    }
    vp->dev.fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (vp->dev.fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1,
                        errno == EBUSY ? "VDUSE device '%s' is served by another process "
                                         "(another vswitchd?); stop it or choose another name"
                                       : "cannot open the existing VDUSE device '%s': %s",
                        vp->args.name, strerror(errno));
        return rc;
    }
    vs_info("port %s: removing VDUSE device %s left by a previous run", vp->port->name,
            vp->args.name);
    vp->leftover = true;
    if ((rc = remove_device(vp)) < 0) {
        vs_port_err_set(err, -1, "cannot remove the VDUSE device '%s' of a previous run: %s",
                        vp->args.name, strerror(-rc));
        return rc;
    }
    return 0;
}

/* Takes the port's fds and timer out of the loop (each is ours and open, so
 * deleting one that was never added does nothing). */
static void unwatch(struct vduse_port *vp)
{
    vs_loop_del_fd(vp->dev.fd);
    if (vp->worker.running)
        vs_loop_del_fd(vp->worker.done_fd);
    if (vp->timer > 0)
        vs_loop_del_timer(vp->timer);
    vp->timer = 0;
}

static void vduse_free(struct vduse_port *vp)
{
    for (struct vduse_port **pp = &open_ports; *pp; pp = &(*pp)->next)
        if (*pp == vp) {
            *pp = vp->next;
            break;
        }
    vs_vduse_dev_fini(&vp->dev);
    free(vp);
}

static int vduse_open(struct vs_port *port, const struct vs_port_args *args,
                      struct vs_port_err *err)
{
    struct vduse_port *vp;
    char why[256];
    int rc;

    vp = calloc(1, sizeof(*vp));
    if (!vp)
        return -ENOMEM;
    vp->port = port;
    vs_worker_init(&vp->worker);
    if ((rc = vs_vduse_parse_args(args, port->name, &vp->args, err)) < 0 ||
        (rc = preflight(&vp->args, err)) < 0) {
        free(vp);
        return rc;
    }
    if ((rc = vs_vduse_dev_init(&vp->dev, port->name, &vs_vduse_sys_kernel)) < 0) {
        vs_port_err_set(err, -1, "cannot create eventfds: %s", strerror(-rc));
        free(vp);
        return rc;
    }
    for (struct vduse_port *o = open_ports; o; o = o->next) {
        if (!strcmp(o->args.name, vp->args.name)) {
            vs_port_err_set(err, -1,
                            "port %s serves VDUSE device '%s' already; choose another "
                            "name",
                            o->port->name, vp->args.name);
            vduse_free(vp);
            return -EEXIST;
        }
    }
    vp->next = open_ports;
    open_ports = vp;
    if ((rc = remove_leftover(vp, err)) < 0) {
        vduse_free(vp);
        return rc;
    }
    if ((rc = vs_vnet_port_options(&vp->dev.net, port, vp->args.mtu, vp->args.offloads,
                                   &vp->dev.offered, args, err)) < 0) {
        vduse_free(vp);
        return rc;
    }
    rc = vs_vduse_create(&vp->args, vp->dev.offered, why, sizeof(why));
    if (rc < 0) {
        vs_port_err_set(err, -1, "%s", why);
        vduse_free(vp);
        return rc;
    }
    vp->dev.fd = rc;
    port->n_rxq = port->n_txq = 1;
    port->link_up = 0;
    port->priv = vp;
    if ((rc = vs_loop_add_fd(vp->dev.fd, EPOLLIN, dev_cb, vp)) < 0)
        goto fail;
    if ((rc = vs_loop_add_timer(CHECK_MS, CHECK_MS, check_cb, vp)) < 0)
        goto fail;
    vp->timer = rc;
    if ((rc = vs_worker_start(&vp->worker, vs_vduse_bus_attach, &vp->args)) < 0 ||
        (rc = vs_loop_add_fd(vp->worker.done_fd, EPOLLIN, attach_done_cb, vp)) < 0)
        goto fail;
    vp->bus = BUS_ATTACHING;
    vs_info("port %s: VDUSE device %s created, attaching it to the vDPA bus (%s)", port->name,
            vp->args.name, vp->args.driver == VS_VDUSE_VHOST_VDPA ? "vhost_vdpa" : "virtio_vdpa");
    return 0;
fail:
    vs_port_err_set(err, -1, "cannot watch the VDUSE device: %s", strerror(-rc));
    unwatch(vp);
    remove_device(vp);
    port->priv = NULL;
    vduse_free(vp);
    return rc;
}

static void vduse_close(struct vs_port *port)
{
    struct vduse_port *vp = port->priv;
    int rc;

    if (!vp)
        return;
    unwatch(vp);
    if ((rc = remove_device(vp)) < 0)
        vs_err("port %s: cannot destroy VDUSE device %s: %s", port->name, vp->args.name,
               strerror(-rc));
    port->link_up = 0;
    port->priv = NULL;
    vduse_free(vp);
}

/* ---- data path ------------------------------------------------------------------ */

/* The shared virtio-net data path (ports/virtio/net_rxtx.c) takes port->priv as the
 * device: our port struct starts with it. */
_Static_assert(offsetof(struct vduse_port, dev.net) == 0, "priv must start with the vnet device");

/* ---- show ----------------------------------------------------------------------- */

static json_t *feature_list(uint64_t f)
{
    json_t *a = json_array();

    for (unsigned b = 0; b < 64; b++) {
        if (!(f & (1ull << b)))
            continue;
        const char *s = vs_vduse_feature_name(b);
        char buf[16];

        if (!s) {
            snprintf(buf, sizeof(buf), "bit%u", b);
            s = buf;
        }
        json_array_append_new(a, json_string(s));
    }
    return a;
}

static json_t *queue_json(const struct vs_vduse_dev *dev, unsigned i)
{
    const struct vs_vduse_queue *q = &dev->q[i];
    const struct vs_vnet_queue *nq = &dev->net.q[i];
    const struct vs_virtq *vq = &nq->vq;
    bool open = vs_vnet_gate_get(nq) == VS_VNET_GATE_OPEN;
    json_t *errs = json_object();

    for (unsigned e = 0; e < VS_VQ_ERR__COUNT; e++)
        json_object_set_new(errs, vs_virtq_error_name(e),
                            json_integer((json_int_t)vq->stats.err[e]));
    return json_pack("{s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "vq",
                     (int)q->index, "direction", q->index == 0 ? "rx" : "tx", "state",
                     vq->broken ? "broken"
                     : open     ? "started"
                                : "stopped",
                     "ring", vq->packed ? "packed" : "split", "size", (int)q->info.num, "packets",
                     (json_int_t)vq->stats.packets, "bytes", (json_int_t)vq->stats.bytes,
                     "no_buffers", (json_int_t)vq->stats.no_buffers, "no_mbufs",
                     (json_int_t)vq->stats.no_mbufs, "interrupts", (json_int_t)vq->stats.kicks_sent,
                     "interrupt_failures", (json_int_t)vq->stats.kicks_failed, "starts", (json_int_t)nq->starts, "errors",
                     errs);
}

static void vduse_show(struct vs_port *port, json_t *out)
{
    struct vduse_port *vp = port->priv;
    const struct vs_vduse_dev *dev = &vp->dev;
    json_t *queues = json_array(), *iotlb = json_array(), *errs = json_object(),
           *reqs = json_object();
    char status[96], mac[18];

    for (unsigned i = 0; i < VS_VDUSE_N_VQ; i++)
        json_array_append_new(queues, queue_json(dev, i));
    for (unsigned i = 0; i < dev->net.mem.n; i++) {
        const struct vs_guest_mem_region *r = &dev->net.mem.r[i];

        json_array_append_new(
            iotlb, json_pack("{s:I, s:I, s:I, s:I, s:s}", "start", (json_int_t)r->gpa, "last",
                             (json_int_t)(r->gpa + r->size - 1), "size", (json_int_t)r->size,
                             "offset", (json_int_t)dev->map[i].offset, "perm", "rw"));
    }
    for (unsigned e = 0; e < VS_VDUSE_ERR__COUNT; e++)
        json_object_set_new(errs, vs_vduse_error_name(e), json_integer((json_int_t)dev->err[e]));
    for (uint32_t t = 0; t < VS_ARRAY_SIZE(dev->requests); t++)
        json_object_set_new(reqs, vs_vduse_request_name(t),
                            json_integer((json_int_t)dev->requests[t]));
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", vp->args.mac[0], vp->args.mac[1],
             vp->args.mac[2], vp->args.mac[3], vp->args.mac[4], vp->args.mac[5]);

    json_object_set_new(out, "name", json_string(vp->args.name));
    json_object_set_new(
        out, "driver",
        json_string(vp->args.driver == VS_VDUSE_VHOST_VDPA ? "vhost_vdpa" : "virtio_vdpa"));
    json_object_set_new(out, "bus", json_string(bus_state_names[vp->bus]));
    if (vp->bus_error[0])
        json_object_set_new(out, "bus_error", json_string(vp->bus_error));
    json_object_set_new(out, vp->args.driver == VS_VDUSE_VHOST_VDPA ? "vhost_dev" : "ifname",
                        vp->ifname[0] ? json_string(vp->ifname) : json_null());
    json_object_set_new(out, "mac", json_string(mac));
    json_object_set_new(out, "mtu", json_integer(vp->args.mtu));
    json_object_set_new(out, "device_status",
                        json_string(vs_vduse_status_str(dev->status, status, sizeof(status))));
    json_object_set_new(out, "features_offered", feature_list(dev->offered));
    json_object_set_new(out, "features", feature_list(dev->features));
    json_object_set_new(out, "offloads", vs_vnet_offloads_json(dev->features));
    json_object_set_new(out, "offloads_offered", vs_vnet_offloads_json(dev->offered));
    json_object_set_new(out, "queues", queues);
    json_object_set_new(out, "iotlb", iotlb);
    json_object_set_new(out, "iotlb_mapped", json_integer((json_int_t)vs_vduse_iotlb_mapped(dev)));
    json_object_set_new(out, "iotlb_maps", json_integer((json_int_t)dev->maps));
    json_object_set_new(out, "iotlb_unmaps", json_integer((json_int_t)dev->unmaps));
    json_object_set_new(out, "iotlb_misses", json_integer((json_int_t)dev->iotlb_misses));
    json_object_set_new(out, "requests", reqs);
    json_object_set_new(out, "request_errors", errs);
    json_object_set_new(out, "reply_errors", json_integer((json_int_t)vp->write_errors));
    json_object_set_new(out, "recovered_leftover", json_boolean(vp->leftover));
}

const struct vs_port_ops vs_port_vduse_ops = {
    .type = "vduse",
    .keys = vs_vduse_keys,
    .validate = vduse_validate,
    .open = vduse_open,
    .close = vduse_close,
    .rx_burst = vs_vnet_rx_burst,
    .rx_done = vs_vnet_rx_done,
    .tx_burst = vs_vnet_tx_burst,
    .show = vduse_show,
    .rx_wait_fd = vs_vnet_rx_wait_fd,
    .rx_notify = vs_vnet_rx_notify,
};
