/* vhost-user port: a fake front-end over a real UNIX socket against the port type,
 * with the main loop running in a thread of its own. Port ops that belong to the
 * main thread (open, close, show) run on that thread through on_loop(); the test
 * thread plays the poller (rx_burst/tx_burst) while no message is in flight. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "test/common/vhost_frontend.h"
#include "ports/vhost_user/port_args.h"
#include "ports/vhost_user/vhost_user.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/pkt.h"
#include "vswitch/rcu.h"

#define BIT(n) (1ull << (n))

static const struct vs_port_ops *ops = &vs_port_vhost_user_ops;
static struct vs_pool *pool;
static char tmpdir[64];
static char sock_path[108];

/* ---- the loop thread -------------------------------------------------------- */

static pthread_t loop_thread;
static int cmd_fd = -1;
static sem_t cmd_done;
static void (*cmd_fn)(void *);
static void *cmd_arg;

static void cmd_cb(int fd, uint32_t events, void *arg)
{
    uint64_t v;

    if (read(fd, &v, sizeof(v)) != sizeof(v))
        return;
    if (cmd_fn) {
        cmd_fn(cmd_arg);
        cmd_fn = NULL;
        sem_post(&cmd_done);
    }
}

static void *loop_main(void *arg)
{
    vs_loop_run();
    return NULL;
}

/* Runs fn(arg) on the loop thread and waits for it. */
static void on_loop(void (*fn)(void *), void *arg)
{
    uint64_t one = 1;

    cmd_fn = fn;
    cmd_arg = arg;
    if (write(cmd_fd, &one, sizeof(one)) != sizeof(one))
        abort();
    while (sem_wait(&cmd_done) < 0 && errno == EINTR) {
    }
}

static void stop_fn(void *arg) { vs_loop_stop(); }

/* ---- ports ------------------------------------------------------------------- */

struct open_req {
    struct vs_port *port;
    struct vs_port_args args;
    struct vs_port_err err;
    int rc;
};

static void open_fn(void *arg)
{
    struct open_req *r = arg;

    r->rc = ops->open(r->port, &r->args, &r->err);
}

static void close_fn(void *arg)
{
    ops->close(arg);
}

static struct vs_port *port_open_args(const char *path, const char *mode, const char *queues,
                                      const char *in_order, int *rc)
{
    struct vs_port_arg a[4];
    unsigned n = 0;
    struct open_req r = {0};
    struct vs_port *p = calloc(1, sizeof(*p));

    snprintf(p->name, sizeof(p->name), "vm%d", rand() % 100);
    p->ops = ops;
    p->pool = pool;
    a[n++] = (struct vs_port_arg){.key = "path", .value = path};
    if (mode)
        a[n++] = (struct vs_port_arg){.key = "mode", .value = mode};
    if (queues)
        a[n++] = (struct vs_port_arg){.key = "queues", .value = queues};
    if (in_order)
        a[n++] = (struct vs_port_arg){.key = "in_order", .value = in_order};
    r.port = p;
    r.args.n = n;
    r.args.v = a;
    on_loop(open_fn, &r);
    *rc = r.rc;
    if (r.rc < 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* A server port on sock_path with these options (key, value pairs) besides path,
 * taking buffers from pl; NULL with *rc when open() refused it. */
static struct vs_port *port_open_pool(const char *const *kv, unsigned n, struct vs_pool *pl,
                                      int *rc)
{
    struct vs_port_arg a[8];
    struct open_req r = {0};
    struct vs_port *p = calloc(1, sizeof(*p));

    snprintf(p->name, sizeof(p->name), "vm%d", rand() % 100);
    p->ops = ops;
    p->pool = pl;
    a[0] = (struct vs_port_arg){.key = "path", .value = sock_path};
    for (unsigned i = 0; i < n && i < 7; i++)
        a[i + 1] = (struct vs_port_arg){.key = kv[2 * i], .value = kv[2 * i + 1]};
    r.port = p;
    r.args.n = n + 1;
    r.args.v = a;
    on_loop(open_fn, &r);
    *rc = r.rc;
    if (r.rc < 0) {
        free(p);
        return NULL;
    }
    return p;
}

static struct vs_port *port_open_kv(const char *const *kv, unsigned n)
{
    int rc;
    struct vs_port *p = port_open_pool(kv, n, pool, &rc);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

static struct vs_port *port_open(const char *queues)
{
    int rc;
    struct vs_port *p = port_open_args(sock_path, NULL, queues, NULL, &rc);

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

static void port_close(struct vs_port *p)
{
    on_loop(close_fn, p);
    free(p);
}

struct show_req {
    struct vs_port *port;
    json_t *j;
};

static void show_fn(void *arg)
{
    struct show_req *r = arg;

    r->j = json_object();
    ops->show(r->port, r->j);
}

static json_t *port_show(struct vs_port *p)
{
    struct show_req r = {.port = p};

    on_loop(show_fn, &r);
    return r.j;
}

static bool port_connected(struct vs_port *p)
{
    json_t *j = port_show(p);
    bool c = json_is_true(json_object_get(j, "connected"));

    json_decref(j);
    return c;
}

static json_int_t show_int(struct vs_port *p, const char *key)
{
    json_t *j = port_show(p);
    json_int_t v = json_integer_value(json_object_get(j, key));

    json_decref(j);
    return v;
}

static json_int_t show_msg_err(struct vs_port *p, const char *name)
{
    json_t *j = port_show(p);
    json_int_t v = json_integer_value(json_object_get(json_object_get(j, "message_errors"), name));

    json_decref(j);
    return v;
}

static json_int_t vring_starts(struct vs_port *p, unsigned vring)
{
    json_t *j = port_show(p);
    json_int_t v = json_integer_value(
        json_object_get(json_array_get(json_object_get(j, "queues"), vring), "starts"));

    json_decref(j);
    return v;
}

/* Waits until the back-end has seen the front-end go away. */
static bool wait_disconnected(struct vs_port *p)
{
    for (int i = 0; i < 2000; i++) {
        if (!port_connected(p))
            return true;
        usleep(1000);
    }
    return false;
}

static bool wait_connected(struct vs_port *p)
{
    for (int i = 0; i < 2000; i++) {
        if (port_connected(p))
            return true;
        usleep(1000);
    }
    return false;
}

/* ---- frames ------------------------------------------------------------------ */

static void make_frame(uint8_t *f, unsigned len, uint8_t src_last, uint32_t seq)
{
    memset(f, 0, len);
    memset(f, 0xff, 6);
    f[6] = 0x02;
    f[11] = src_last;
    f[12] = 0x88;
    f[13] = 0xb5;
    memcpy(f + 14, &seq, sizeof(seq));
    for (unsigned i = 18; i < len; i++)
        f[i] = (uint8_t)(i * 7 + seq);
}

/* As the dataplane does once a burst's frames are forwarded: lent guest buffers go
 * back to the guest only now. */
static void rx_done(struct vs_port *p, uint16_t q, uint16_t k)
{
    if (k && ops->rx_done)
        ops->rx_done(p, q);
}

/* Guest TX ring q → rx_burst: n frames, checked byte for byte. Returns frames seen. */
static unsigned guest_to_switch(struct fe *fe, struct vs_port *p, unsigned q, unsigned n,
                                unsigned len)
{
    struct vs_vdrv *d = &fe->ring[2 * q + 1];
    uint8_t f[2048], in[VS_PKT_DATA_ROOM];
    unsigned got = 0;

    unsigned posted = 0;

    for (int tries = 0; tries < 1000 && got < n; tries++) {
        struct vs_pkt *pkts[VS_BURST];

        while (posted < n) {
            make_frame(f, len, 0x10 + (uint8_t)q, posted);
            if (vs_vdrv_post_tx(d, f, len, 1 + posted % 3, false) < 0)
                break; /* ring full: let the back-end consume first */
            posted++;
        }
        uint16_t k = ops->rx_burst(p, (uint16_t)q, pkts, VS_BURST);

        for (uint16_t i = 0; i < k; i++) {
            make_frame(f, len, 0x10 + (uint8_t)q, got);
            vs_pkt_copy_out(pkts[i], in); /* lent frames too */
            if (pkts[i]->len == len && !memcmp(in, f, len))
                got++;
        }
        vs_pkt_free_bulk(pkts, k);
        rx_done(p, (uint16_t)q, k);
        vs_vdrv_reap(d);
    }
    vs_vdrv_reap(d);
    return got;
}

/* tx_burst → guest RX ring q: n frames, checked as the guest sees them. */
static unsigned switch_to_guest(struct fe *fe, struct vs_port *p, unsigned q, unsigned n,
                                unsigned len)
{
    struct vs_vdrv *d = &fe->ring[2 * q];
    unsigned got = 0, sent = 0;
    uint8_t f[2048], in[4096];

    while (vs_vdrv_free_count(d) > 0 && vs_vdrv_post_rx(d, 2048, 1, false) >= 0) {
    }
    while (sent < n) {
        struct vs_pkt *pkts[VS_BURST];
        unsigned k = VS_MIN(n - sent, (unsigned)VS_BURST);

        if (vs_pkt_alloc_bulk(pool, pkts, k) != k)
            return got;
        for (unsigned i = 0; i < k; i++) {
            make_frame(vs_pkt_data(pkts[i]), len, 0x20, sent + i);
            pkts[i]->len = (uint16_t)len;
        }
        uint16_t took = ops->tx_burst(p, (uint16_t)q, pkts, (uint16_t)k);
        vs_pkt_free_bulk(pkts + took, k - took); /* the port freed the ones it took */
        sent += k;
        for (;;) {
            int r = vs_vdrv_recv(d, in, sizeof(in), NULL);
            if (r <= 0)
                break;
            make_frame(f, len, 0x20, got);
            if ((unsigned)r == len && !memcmp(in, f, len))
                got++;
            vs_vdrv_post_rx(d, 2048, 1, false);
        }
    }
    return got;
}

static bool eventfd_fired(int fd)
{
    uint64_t v;

    return read(fd, &v, sizeof(v)) == sizeof(v) && v > 0;
}

/* ---- suites ------------------------------------------------------------------ */

static int suite_init(void)
{
    vs_log_set_level(VS_LOG_WARN);
    if (vs_pool_create(4096, VS_PAGES_NONE, &pool) < 0 ||
        vs_pool_add_large(pool, 16, VS_PAGES_NONE) < 0)
        return -1;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vs-vhu-test.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(sock_path, sizeof(sock_path), "%s/sub/dir/vm.sock", tmpdir);
    if (vs_loop_init() < 0 || sem_init(&cmd_done, 0, 0) < 0)
        return -1;
    cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (cmd_fd < 0 || vs_loop_add_fd(cmd_fd, EPOLLIN, cmd_cb, NULL) < 0)
        return -1;
    return pthread_create(&loop_thread, NULL, loop_main, NULL) ? -1 : 0;
}

static int suite_fini(void)
{
    char cmd[128];

    on_loop(stop_fn, NULL);
    pthread_join(loop_thread, NULL);
    vs_loop_fini();
    close(cmd_fd);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        return -1;
    return 0;
}

static void test_validate(void)
{
    struct vs_port_err err;
    char longp[200], file[128];
    struct vs_port_arg a[3];
    struct vs_port_args args = {.v = a};
    int fd;

#define A(k, v) {.key = (k), .value = (v)}
#define V(...)                                                                           \
    ({                                                                                   \
        struct vs_port_arg tmp[] = {__VA_ARGS__};                                        \
        memcpy(a, tmp, sizeof(tmp));                                                     \
        args.n = sizeof(tmp) / sizeof(tmp[0]);                                           \
        memset(&err, 0, sizeof(err));                                                    \
        ops->validate(&args, &err);                                                      \
    })
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock")), 0);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("mode", "client"), A("queues", "8")), 0);
    CU_ASSERT_EQUAL(V(A("mode", "server")), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "path"));
    CU_ASSERT_EQUAL(V(A("path", "relative.sock")), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "absolute"));
    CU_ASSERT_EQUAL(err.arg, 0);
    memset(longp, 'a', sizeof(longp));
    longp[0] = '/';
    longp[150] = '\0';
    CU_ASSERT_EQUAL(V(A("path", longp)), -EINVAL);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("mode", "both")), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("queues", "0")), -EINVAL);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("queues", "9")), -EINVAL);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("colour", "red")), -EINVAL);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("in_order", "false")), 0);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("in_order", "1")), 0);
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("mode", "client"), A("in_order", "maybe")),
                    -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "in_order"));
    CU_ASSERT_EQUAL(V(A("path", "/tmp/x.sock"), A("in_order", "")), -EINVAL);
    /* The parent is a regular file: server mode cannot create the socket there. */
    snprintf(file, sizeof(file), "%s/plainfile", tmpdir);
    fd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    snprintf(longp, sizeof(longp), "%s/sock", file);
    CU_ASSERT_EQUAL(V(A("path", longp)), -ENOTDIR);
    /* A regular file where the socket should go is never replaced. */
    CU_ASSERT_EQUAL(V(A("path", file)), -EEXIST);
    /* validate() has no side effects: nothing was created. */
    snprintf(longp, sizeof(longp), "%s/new/dir/x.sock", tmpdir);
    CU_ASSERT_EQUAL(V(A("path", longp)), 0);
    snprintf(longp, sizeof(longp), "%s/new", tmpdir);
    CU_ASSERT_EQUAL(access(longp, F_OK), -1);
    unlink(file);
#undef V
#undef A
}

static void test_server_socket(void)
{
    struct stat st;
    struct vs_port *p, *p2;
    int rc, l;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    p = port_open(NULL);
    CU_ASSERT_EQUAL(stat(sock_path, &st), 0);
    CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
    CU_ASSERT_EQUAL(p->n_rxq, 1);
    CU_ASSERT_EQUAL(p->n_txq, 1);
    CU_ASSERT_EQUAL(p->link_up, 0);
    /* Somebody listens there: a second port must refuse, not steal the path. */
    p2 = port_open_args(sock_path, "server", NULL, NULL, &rc);
    CU_ASSERT_PTR_NULL(p2);
    CU_ASSERT_EQUAL(rc, -EADDRINUSE);
    port_close(p);
    CU_ASSERT_EQUAL(stat(sock_path, &st), -1);

    /* A stale socket file (nobody listening) is replaced. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(l);
    CU_ASSERT_EQUAL(stat(sock_path, &st), 0);
    p = port_open(NULL);
    struct fe fe;
    CU_ASSERT_EQUAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_TRUE(wait_connected(p));
    fe_close(&fe);
    port_close(p);
}

static json_int_t show_int_last;

static void traffic_case(const struct fe_opts *o, const char *queues)
{
    struct vs_port *p = port_open(queues);
    struct fe fe;
    int rc;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    rc = fe_negotiate(&fe, o);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc) {
        fprintf(stderr, "negotiation failed at step %d\n", rc);
        fe_close(&fe);
        port_close(p);
        return;
    }
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 1);
    for (unsigned q = 0; q < o->nqp; q++) {
        vs_vdrv_want_interrupts(&fe.ring[2 * q], true);
        vs_vdrv_want_interrupts(&fe.ring[2 * q + 1], true);
        CU_ASSERT_EQUAL(guest_to_switch(&fe, p, q, 50, 60 + 17 * q), 50);
        CU_ASSERT_EQUAL(guest_to_switch(&fe, p, q, 5, 1514), 5);
        /* TX completions are signalled too: a guest may wait for its buffers. */
        CU_ASSERT_TRUE(eventfd_fired(fe.call[2 * q + 1]));
        CU_ASSERT_EQUAL(switch_to_guest(&fe, p, q, 70, 64 + q), 70);
        CU_ASSERT_EQUAL(switch_to_guest(&fe, p, q, 3, 1514), 3);
        CU_ASSERT_TRUE(eventfd_fired(fe.call[2 * q]));
    }

    json_t *j = port_show(p);
    json_t *qs = json_object_get(j, "queues");
    CU_ASSERT_EQUAL(json_array_size(qs), 2 * o->nqp);
    json_t *rx0 = json_array_get(qs, 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(rx0, "direction")), "rx");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(rx0, "state")), "enabled");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(rx0, "ring")),
                           o->packed ? "packed" : "split");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(rx0, "packets")), 55);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_array_get(qs, 0), "packets")), 73);
    show_int_last = json_integer_value(json_object_get(j, "memory_regions"));
    CU_ASSERT_EQUAL(show_int_last, o->two_regions ? 2 : 1);
    json_decref(j);

    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 0);
    port_close(p);
}

static void test_traffic_split(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};

    traffic_case(&o, NULL);
}

static void test_traffic_split_event_idx(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 128, .event_idx = true};

    traffic_case(&o, NULL);
}

static void test_traffic_packed(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64, .packed = true};

    traffic_case(&o, NULL);
}

static void test_traffic_split_in_order(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64, .event_idx = true, .in_order = true};

    traffic_case(&o, NULL);
}

static void test_traffic_packed_in_order(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 100, .packed = true, .in_order = true};

    traffic_case(&o, NULL);
}

/* IN_ORDER is offered unless the port says in_order=false; a front-end that asks
 * for it anyway is refused like any feature that was not offered. */
static void test_in_order_offer(void)
{
    static const char *const vals[] = {NULL, "true", "false", "0"};
    for (unsigned i = 0; i < 4; i++) {
        int rc;
        struct vs_port *p = port_open_args(sock_path, NULL, NULL, vals[i], &rc);
        struct fe fe;
        uint64_t f;
        bool offer = i < 2;

        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
        CU_ASSERT_EQUAL(fe_get_u64(&fe, VS_VHU_GET_FEATURES, &f), 0);
        CU_ASSERT_EQUAL(!!(f & (1ull << VIRTIO_F_IN_ORDER)), offer);
        CU_ASSERT_TRUE(!!(f & (1ull << VIRTIO_F_RING_PACKED)));
        int ack = fe_ack_u64(&fe, VS_VHU_SET_FEATURES,
                             (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_IN_ORDER));
        CU_ASSERT(offer ? ack == 0 : ack != 0);
        fe_close(&fe);
        CU_ASSERT_TRUE(wait_disconnected(p));
        port_close(p);
    }
}

static void test_traffic_packed_two_queues(void)
{
    struct fe_opts o = {.nqp = 2, .ring_size = 100, .packed = true, .event_idx = true};

    traffic_case(&o, "2");
}

static void test_traffic_two_regions(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 128, .two_regions = true};

    traffic_case(&o, NULL);
    CU_ASSERT_EQUAL(show_int_last, 2);
}

/* Guest memory on 2 MiB hugepages: the back-end maps at the file's page size. */
static void test_traffic_hugetlb(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64, .packed = true, .hugetlb = true,
                        .two_regions = true};
    int fd = memfd_create("probe", MFD_CLOEXEC | MFD_HUGETLB);

    if (fd < 0 || ftruncate(fd, FE_MEM_SIZE) < 0 ||
        fallocate(fd, 0, 0, FE_MEM_SIZE) < 0) {
        const char *ci = getenv("CI");

        if (fd >= 0)
            close(fd);
        fprintf(stderr, "no %u MiB of 2 MiB hugepages: ", FE_MEM_SIZE >> 20);
        if (ci && !strcmp(ci, "true")) {
            CU_FAIL("hugepages needed in CI");
        } else {
            fprintf(stderr, "skipped ");
        }
        return;
    }
    close(fd);
    traffic_case(&o, NULL);
    CU_ASSERT_EQUAL(show_int_last, 2);
}

static void test_traffic_add_mem_reg(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64, .add_mem_reg = true};

    traffic_case(&o, NULL);
}

static void test_traffic_legacy(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64, .no_protocol_features = true};

    traffic_case(&o, NULL);
}

/* The guest enabled fewer queue pairs than the port has: our tx queue 1 lands on
 * the guest's queue 0 instead of being dropped. */
static void test_tx_queue_fallback(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct vs_port *p = port_open("2");
    struct fe fe;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL(p->n_txq, 2);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 1);
    struct vs_pkt *pk[1];
    CU_ASSERT_EQUAL(ops->rx_burst(p, 1, pk, 1), 0);
    vs_vdrv_post_rx(&fe.ring[0], 2048, 1, false);
    CU_ASSERT_EQUAL_FATAL(vs_pkt_alloc_bulk(pool, pk, 1), 1);
    make_frame(vs_pkt_data(pk[0]), 100, 0x20, 0);
    pk[0]->len = 100;
    CU_ASSERT_EQUAL(ops->tx_burst(p, 1, pk, 1), 1);
    uint8_t in[2048];
    CU_ASSERT_EQUAL(vs_vdrv_recv(&fe.ring[0], in, sizeof(in), NULL), 100);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* Stopping a ring returns its index; it restarts from the base it is given. */
static void test_vring_base_and_restart(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    struct vs_vhu_msg r;
    struct vhost_vring_state s = {.index = 1};
    struct vs_pkt *pkts[VS_BURST];
    uint8_t f[100];

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 7, 100), 7);
    CU_ASSERT_EQUAL(fe_send(&fe, VS_VHU_GET_VRING_BASE, VS_VHU_VERSION, &s, sizeof(s), NULL, 0),
                    0);
    CU_ASSERT_EQUAL_FATAL(fe_recv(&fe, &r, 2000), 0);
    CU_ASSERT_EQUAL(r.hdr.request, VS_VHU_GET_VRING_BASE);
    CU_ASSERT_EQUAL(r.hdr.size, sizeof(s));
    CU_ASSERT_EQUAL(r.p.state.index, 1);
    CU_ASSERT_EQUAL(r.p.state.num, 7);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 0);

    /* Stopped: a posted frame stays in the ring. */
    make_frame(f, sizeof(f), 0x10, 0);
    CU_ASSERT(vs_vdrv_post_tx(&fe.ring[1], f, sizeof(f), 1, false) >= 0);
    CU_ASSERT_EQUAL(ops->rx_burst(p, 0, pkts, VS_BURST), 0);

    /* Restart from 7 (what the front-end would do after migration or a reset). */
    uint64_t v = 1;
    CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_BASE, 1, 7), 0);
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_KICK, &v, 8, &fe.kick[1], 1), 0);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 1);
    uint16_t k = ops->rx_burst(p, 0, pkts, VS_BURST);
    CU_ASSERT_EQUAL(k, 1);
    if (k == 1) {
        uint8_t in[sizeof(f)];

        CU_ASSERT_EQUAL_FATAL(pkts[0]->len, sizeof(f));
        vs_pkt_copy_out(pkts[0], in);
        CU_ASSERT_EQUAL(memcmp(in, f, sizeof(f)), 0);
    }
    vs_pkt_free_bulk(pkts, k);
    rx_done(p, 0, k);

    /* Disabling the guest's RX ring stops deliveries; enabling resumes them. */
    CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_ENABLE, 0, 0), 0);
    CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 4, 80), 0);
    CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_ENABLE, 0, 1), 0);
    CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 4, 80), 4);

    /* The same memory table again (QEMU sends it per queue pair): nothing restarts. */
    json_int_t starts = vring_starts(p, 1);
    CU_ASSERT_EQUAL(fe_send_mem_table(&fe), 0);
    CU_ASSERT_EQUAL(vring_starts(p, 1), starts);
    /* A different table under running rings: they pause, remap and go on. */
    fe.opts.two_regions = true;
    CU_ASSERT_EQUAL(fe_send_mem_table(&fe), 0);
    CU_ASSERT_EQUAL(vring_starts(p, 1), starts + 1);
    CU_ASSERT_EQUAL(show_int(p, "memory_regions"), 2);
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 3, 90), 3);
    fe.opts.two_regions = false;
    CU_ASSERT_EQUAL(fe_send_mem_table(&fe), 0);
    CU_ASSERT_EQUAL(vring_starts(p, 1), starts + 2);
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 3, 90), 3);

    /* A new call fd under a running ring: interrupts go to the new one. */
    int newcall = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    v = 0;
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_CALL, &v, 8, &newcall, 1), 0);
    eventfd_fired(fe.call[0]);
    vs_vdrv_want_interrupts(&fe.ring[0], true);
    CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 2, 80), 2);
    CU_ASSERT_TRUE(eventfd_fired(newcall));
    CU_ASSERT_FALSE(eventfd_fired(fe.call[0]));
    close(newcall);

    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* QEMU 10 updates memory one region at a time (REM then ADD) under running rings:
 * the rings wait while their memory is gone and carry on where they were. */
static void test_mem_slots_live(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64, .add_mem_reg = true};
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    struct vs_vhu_mem_reg m;
    struct vs_pkt *pkts[VS_BURST];
    uint8_t f[80];

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 5, 80), 5);
    m = (struct vs_vhu_mem_reg){.r = {.gpa = VS_VDRV_GPA_BASE,
                                      .size = fe.mem_size,
                                      .uva = fe_uva(&fe, VS_VDRV_GPA_BASE)}};
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_REM_MEM_REG, &m, sizeof(m), NULL, 0), 0);
    CU_ASSERT_EQUAL(show_int(p, "memory_regions"), 0);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 0);
    make_frame(f, sizeof(f), 0x10, 0);
    CU_ASSERT(vs_vdrv_post_tx(&fe.ring[1], f, sizeof(f), 1, false) >= 0);
    CU_ASSERT_EQUAL(ops->rx_burst(p, 0, pkts, VS_BURST), 0);
    /* Adding it again (an old front-end also sends the fd with REM: closed). */
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_REM_MEM_REG, &m, sizeof(m), &fe.memfd, 1) != 0, 1);
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_ADD_MEM_REG, &m, sizeof(m), &fe.memfd, 1), 0);
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_ADD_MEM_REG, &m, sizeof(m), &fe.memfd, 1), 0); /* again */
    CU_ASSERT_EQUAL(show_int(p, "memory_regions"), 1);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 1);
    uint16_t k = ops->rx_burst(p, 0, pkts, VS_BURST);
    CU_ASSERT_EQUAL(k, 1);
    if (k == 1) {
        uint8_t in[sizeof(f)];

        CU_ASSERT_EQUAL_FATAL(pkts[0]->len, sizeof(f));
        vs_pkt_copy_out(pkts[0], in);
        CU_ASSERT_EQUAL(memcmp(in, f, sizeof(f)), 0);
    }
    vs_pkt_free_bulk(pkts, k);
    rx_done(p, 0, k);
    vs_vdrv_reap(&fe.ring[1]);
    CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 5, 80), 5);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* A front-end that kicks before it sends memory and addresses: the ring starts as
 * soon as it is complete. */
static void test_ring_waits_for_setup(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    uint64_t v, f;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_mem_init(&fe), 0);
    fe.opts = o;
    CU_ASSERT_EQUAL(fe_get_u64(&fe, VS_VHU_GET_FEATURES, &f), 0);
    fe.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << 30);
    CU_ASSERT_EQUAL(fe_ack_u64(&fe, VS_VHU_SET_FEATURES, fe.features), 0);
    for (unsigned i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL_FATAL(vs_vdrv_init(&fe.ring[i], &fe.vm, 64, 0), 0);
        fe.ring_init[i] = true;
        fe.kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        v = i;
        CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_KICK, &v, 8, &fe.kick[i], 1), 0);
        CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_ENABLE, i, 1), 0);
    }
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 0);
    CU_ASSERT_EQUAL(fe_send_mem_table(&fe), 0);
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_addr a = {.index = i};

        CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_NUM, i, 64), 0);
        a.desc_user_addr = fe_uva(&fe, fe.ring[i].desc_gpa);
        a.avail_user_addr = fe_uva(&fe, fe.ring[i].avail_gpa);
        a.used_user_addr = fe_uva(&fe, fe.ring[i].used_gpa);
        CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    }
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 1);
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 3, 64), 3);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

static void test_rarp_mtu_status(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    uint8_t mac[8] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    struct vs_pkt *pkts[VS_BURST];
    uint64_t st;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SEND_RARP, mac, 8, NULL, 0), 0);
    uint16_t k = ops->rx_burst(p, 0, pkts, VS_BURST);
    CU_ASSERT_EQUAL(k, 1);
    if (k == 1) {
        const uint8_t *d = vs_pkt_data(pkts[0]);
        CU_ASSERT_EQUAL(pkts[0]->len, 60);
        CU_ASSERT_EQUAL(d[0], 0xff);
        CU_ASSERT_EQUAL(memcmp(d + 6, mac, 6), 0);
        CU_ASSERT_EQUAL(d[12], 0x80);
        CU_ASSERT_EQUAL(d[13], 0x35);
        CU_ASSERT_EQUAL(d[21], 3); /* reverse request */
    }
    vs_pkt_free_bulk(pkts, k);
    rx_done(p, 0, k);
    CU_ASSERT_EQUAL(ops->rx_burst(p, 0, pkts, VS_BURST), 0);
    CU_ASSERT_EQUAL(show_int(p, "rarp_sent"), 1);

    CU_ASSERT_EQUAL(fe_ack_u64(&fe, VS_VHU_NET_SET_MTU, 1500), 0);
    CU_ASSERT_EQUAL(show_int(p, "mtu"), 1500);
    CU_ASSERT_EQUAL(show_int(p, "guest_mtu"), 1500);
    CU_ASSERT_NOT_EQUAL(fe_ack_u64(&fe, VS_VHU_NET_SET_MTU, 9000), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack_u64(&fe, VS_VHU_NET_SET_MTU, 10), 0);
    CU_ASSERT_EQUAL(fe_get_u64(&fe, VS_VHU_GET_STATUS, &st), 0);
    CU_ASSERT_EQUAL(st, 15);

    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

static bool json_has(json_t *a, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(a, i, v)
        if (!strcmp(json_string_value(v), s))
            return true;
    return false;
}

/* Offloads offered by default and negotiated as the front-end chose: tx_offloads
 * follows the GUEST_* features (and goes back to 0 on disconnect), a TX header's
 * request reaches the packet, the RX header says DATA_VALID; the port's mtu bounds
 * NET_SET_MTU; offloads=off offers none. */
static void test_offloads_mtu(void)
{
    const char *kv[] = {"mtu", "9000"};
    struct vs_port *p = port_open_kv(kv, 1);
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct fe fe;
    uint64_t f = 0;
    struct vs_pkt *pkts[VS_BURST];
    uint8_t frame[200], h[10];

    o.extra_features = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
                       BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
                       BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN);
    CU_ASSERT_EQUAL(p->mtu, 9000);
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL(fe_get_u64(&fe, VS_VHU_GET_FEATURES, &f), 0);
    CU_ASSERT_EQUAL(f & VS_VNET_OFFLOAD_FEATURES, VS_VNET_OFFLOAD_FEATURES);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->tx_offloads), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->tx_offloads), VS_OL_CSUM | VS_OL_TSO4 | VS_OL_TSO6 | VS_OL_ECN);
    json_t *j = port_show(p);
    json_t *ol = json_object_get(j, "offloads");
    CU_ASSERT_TRUE(json_has(ol, "csum"));
    CU_ASSERT_TRUE(json_has(ol, "host_tso4"));
    CU_ASSERT_TRUE(json_has(ol, "guest_tso6"));
    CU_ASSERT_TRUE(json_has(ol, "guest_ecn"));
    CU_ASSERT_FALSE(json_has(ol, "host_tso6"));
    CU_ASSERT_FALSE(json_has(ol, "host_uso"));
    CU_ASSERT_EQUAL(json_array_size(ol), 6);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "mtu")), 9000);
    json_decref(j);

    /* Guest TX: a checksum request reaches the switch with the frame, lent as a
     * chain (its head in the packet, the rest in guest memory). */
    struct vs_vdrv *d = &fe.ring[1];
    make_frame(frame, sizeof(frame), 0x30, 0);
    int id = vs_vdrv_post_tx(d, frame, sizeof(frame), 1, false);
    CU_ASSERT_FATAL(id >= 0);
    uint8_t *hdr = vs_vdrv_mem_hva(d->mem, d->bufs[id].area_gpa);
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[6] = 34;
    hdr[8] = 16;
    uint16_t k = ops->rx_burst(p, 0, pkts, VS_BURST);
    CU_ASSERT_EQUAL(k, 1);
    if (k == 1) {
        CU_ASSERT_EQUAL(pkts[0]->ol_flags, VS_OL_CSUM);
        CU_ASSERT_EQUAL(pkts[0]->csum_start, 34);
        CU_ASSERT_EQUAL(pkts[0]->csum_offset, 16);
        CU_ASSERT_TRUE(pkts[0]->flags & VS_PKT_F_CHAIN);
        uint8_t in[sizeof(frame)];
        vs_pkt_copy_out(pkts[0], in);
        CU_ASSERT_EQUAL(memcmp(in, frame, sizeof(frame)), 0);
    }
    vs_pkt_free_bulk(pkts, k);
    rx_done(p, 0, k);
    vs_vdrv_reap(d);

    /* Guest RX: a frame the switch vouches for arrives with DATA_VALID. */
    d = &fe.ring[0];
    CU_ASSERT_FATAL(vs_vdrv_post_rx(d, 2048, 1, false) >= 0);
    pkts[0] = vs_pkt_alloc(pool);
    make_frame(vs_pkt_data(pkts[0]), 100, 0x31, 0);
    pkts[0]->len = 100;
    pkts[0]->ol_flags = VS_OL_CSUM_VALID;
    CU_ASSERT_EQUAL(ops->tx_burst(p, 0, pkts, 1), 1);
    CU_ASSERT_EQUAL(vs_vdrv_recv_hdr(d, frame, sizeof(frame), NULL, h), 100);
    CU_ASSERT_EQUAL(h[0], VIRTIO_NET_HDR_F_DATA_VALID);

    CU_ASSERT_EQUAL(fe_ack_u64(&fe, VS_VHU_NET_SET_MTU, 9000), 0);
    CU_ASSERT_EQUAL(show_int(p, "guest_mtu"), 9000);
    CU_ASSERT_NOT_EQUAL(fe_ack_u64(&fe, VS_VHU_NET_SET_MTU, 9001), 0);
    CU_ASSERT_EQUAL(show_int(p, "guest_mtu"), 9000);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    CU_ASSERT_EQUAL(VS_READ_ONCE(p->tx_offloads), 0);
    port_close(p);

    const char *off[] = {"offloads", "off"};
    p = port_open_kv(off, 1);
    CU_ASSERT_EQUAL(p->mtu, 1500);
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL(fe_get_u64(&fe, VS_VHU_GET_FEATURES, &f), 0);
    CU_ASSERT_EQUAL(f & VS_VNET_OFFLOAD_FEATURES, 0);
    CU_ASSERT((f & BIT(VIRTIO_NET_F_MRG_RXBUF)) != 0);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);

    /* Without large buffers: the checksum offloads only, and no jumbo MTU. */
    struct vs_pool *small;
    int rc;
    CU_ASSERT_FATAL(vs_pool_create(256, VS_PAGES_NONE, &small) == 0);
    p = port_open_pool(kv, 1, small, &rc);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_EQUAL(rc, -EINVAL);
    const char *mtu2030[] = {"mtu", "2030"};
    p = port_open_pool(mtu2030, 1, small, &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL(fe_get_u64(&fe, VS_VHU_GET_FEATURES, &f), 0);
    CU_ASSERT_EQUAL(f & VS_VNET_OFFLOAD_FEATURES, VS_VNET_OFFLOAD_FEATURES_SMALL);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
    vs_pool_destroy(small);

    /* The mtu option: 68..9198. */
    struct vs_vhu_args va;
    struct vs_port_err err;
    struct vs_port_arg bad[2] = {{.key = "path", .value = sock_path}, {.key = "mtu", .value = "9199"}};
    struct vs_port_args ba = {.n = 2, .v = bad};
    CU_ASSERT_EQUAL(vs_vhu_parse_args(&ba, &va, &err), -EINVAL);
    CU_ASSERT_EQUAL(err.arg, 1);
    bad[1].value = "9198";
    CU_ASSERT_EQUAL(vs_vhu_parse_args(&ba, &va, &err), 0);
    CU_ASSERT_EQUAL(va.mtu, 9198);
}

static bool log_bit(const uint8_t *log, uint64_t gpa)
{
    uint64_t page = gpa >> 12;

    return log[page / 8] & (1u << (page % 8));
}

/* Live migration: LOG_ALL on a running device, the log shared by fd, every page
 * we write into guest memory shows up dirty. */
static void test_dirty_log(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    uint64_t log_size = ((VS_VDRV_GPA_BASE + FE_MEM_SIZE) >> 12) / 8 + 1;
    struct vs_vhu_log l = {.mmap_size = log_size, .mmap_offset = 0};
    struct vs_vhu_msg r;
    int lfd;
    uint8_t *log;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    lfd = memfd_create("log", MFD_CLOEXEC);
    CU_ASSERT_FATAL(lfd >= 0);
    CU_ASSERT_EQUAL_FATAL(ftruncate(lfd, (off_t)log_size), 0);
    log = mmap(NULL, log_size, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    CU_ASSERT_FATAL(log != MAP_FAILED);

    CU_ASSERT_EQUAL(fe_send(&fe, VS_VHU_SET_LOG_BASE, VS_VHU_VERSION, &l, sizeof(l), &lfd, 1), 0);
    CU_ASSERT_EQUAL_FATAL(fe_recv(&fe, &r, 2000), 0);
    CU_ASSERT_EQUAL(r.hdr.request, VS_VHU_SET_LOG_BASE);
    CU_ASSERT_EQUAL(r.hdr.size, 8);
    CU_ASSERT_EQUAL(r.p.u64, 0);
    CU_ASSERT_EQUAL(fe_ack_u64(&fe, VS_VHU_SET_FEATURES, fe.features | (1ull << 26)), 0);
    CU_ASSERT_TRUE(VS_READ_ONCE(p->link_up));
    /* SET_LOG_FD is not offered: refused, its fd not kept, the connection goes on. */
    int efd = eventfd(0, EFD_CLOEXEC), fds_before = count_fds();
    CU_ASSERT_FATAL(efd >= 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_LOG_FD, NULL, 0, &efd, 1), 0);
    close(efd);
    CU_ASSERT_EQUAL(count_fds(), fds_before - 1);

    CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 1, 200), 1);
    /* The guest RX buffer (id 0 was posted first) and the used ring are dirty. */
    CU_ASSERT_TRUE(log_bit(log, fe.ring[0].bufs[0].area_gpa));
    CU_ASSERT_TRUE(log_bit(log, fe.ring[0].used_gpa));
    /* A page we never wrote is clean. */
    CU_ASSERT_FALSE(log_bit(log, VS_VDRV_GPA_BASE + FE_MEM_SIZE - 4096));
    json_t *j = port_show(p);
    CU_ASSERT_TRUE(json_is_true(json_object_get(j, "dirty_log")));
    json_decref(j);

    munmap(log, log_size);
    close(lfd);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* Hostile or broken front-ends: each bad message is refused (with a non-zero ack
 * when one was asked for), no fd leaks, and the connection goes on. */
static void test_bad_messages(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    int fds_before, efd[4];
    uint64_t v;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_mem_init(&fe), 0);
    CU_ASSERT_TRUE(wait_connected(p)); /* the accepted socket is counted too */
    fds_before = count_fds();

    /* Payload sizes that do not match the request. */
    uint32_t four = 1;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_FEATURES, &four, 4, NULL, 0), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_NUM, &four, 4, NULL, 0), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_OWNER, &v, 8, NULL, 0), 0);
    CU_ASSERT(show_msg_err(p, "bad_size") >= 3);

    /* Features we never offered. */
    CU_ASSERT_NOT_EQUAL(fe_ack_u64(&fe, VS_VHU_SET_FEATURES, 1ull << VIRTIO_NET_F_GUEST_UFO), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack_u64(&fe, VS_VHU_SET_PROTOCOL_FEATURES, 1ull << 5), 0);

    /* Wrong fd counts: the back-end closes what it received. */
    for (int i = 0; i < 4; i++)
        efd[i] = eventfd(0, EFD_CLOEXEC);
    v = 0;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_CALL, &v, 8, NULL, 0), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_CALL, &v, 8, efd, 3), 0);
    v = VS_VHU_VRING_NOFD;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_KICK, &v, 8, efd, 1), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_OWNER, NULL, 0, efd, 4), 0);
    CU_ASSERT(show_msg_err(p, "bad_fd_count") >= 4);
    /* Notification fds that are not eventfds: refused with an error reply, counted,
     * and closed like any refused fd. */
    int pp[2], sp[2];
    CU_ASSERT_EQUAL_FATAL(pipe(pp), 0);
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    v = 0;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_CALL, &v, 8, &pp[1], 1), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_KICK, &v, 8, &pp[0], 1), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_ERR, &v, 8, &sp[0], 1), 0);
    CU_ASSERT_EQUAL(show_msg_err(p, "bad_fd_type"), 3);
    for (int i = 0; i < 2; i++) {
        close(pp[i]);
        close(sp[i]);
    }
    /* Vring index out of range (with a good fd, which must be closed too). */
    v = 5;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_CALL, &v, 8, efd, 1), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_NUM, 2, 64), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_NUM, 0, 100), 0); /* split: 2^n */
    CU_ASSERT_NOT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_NUM, 0, 65536), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_ENABLE, 0, 7), 0);
    /* Unknown and unsupported requests. */
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, 99, NULL, 0, NULL, 0), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_CONFIG, NULL, 0, NULL, 0), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_BACKEND_REQ_FD, NULL, 0, efd, 1), 0);
    CU_ASSERT(show_msg_err(p, "unsupported_request") >= 3);

    /* Memory tables: overlapping, zero-sized, wrapping, larger than the file, fd
     * count not matching. */
    struct vs_vhu_mem_table t = {.nregions = 2};
    int mfds[2] = {fe.memfd, fe.memfd};
    t.r[0] = (struct vs_vhu_mem_region){.gpa = 0, .size = 0x200000, .uva = 0x10000000};
    t.r[1] = (struct vs_vhu_mem_region){
        .gpa = 0x100000, .size = 0x200000, .uva = 0x20000000, .mmap_offset = 0x200000};
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 2 * 32, mfds, 2), 0);
    t.r[1].gpa = 0x200000;
    t.r[1].uva = 0x10100000; /* user addresses overlap */
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 2 * 32, mfds, 2), 0);
    t.r[1].uva = 0x20000000;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 2 * 32, mfds, 1), 0);
    t.r[1].size = 0;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 2 * 32, mfds, 2), 0);
    t.r[1].size = 0x200000;
    t.r[1].gpa = ~0ull - 0x1000;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 2 * 32, mfds, 2), 0);
    t.r[1].gpa = 0x200000;
    t.r[1].mmap_offset = FE_MEM_SIZE; /* past the end of the memfd: SIGBUS if mapped */
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 2 * 32, mfds, 2), 0);
    t.nregions = 9;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, sizeof(t), mfds, 2), 0);
    t.nregions = 2;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 32, mfds, 2), 0);
    /* Not a memory file. */
    t.nregions = 1;
    t.r[0].mmap_offset = 0;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_MEM_TABLE, &t, 8 + 32, efd, 1), 0);
    CU_ASSERT(show_msg_err(p, "bad_memory") >= 7);
    CU_ASSERT_EQUAL(show_int(p, "memory_regions"), 0);
    /* REM_MEM_REG of something never added. */
    struct vs_vhu_mem_reg mr = {.r = {.gpa = 0x1000, .size = 0x1000, .uva = 0x1000}};
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_REM_MEM_REG, &mr, sizeof(mr), NULL, 0), 0);

    /* Now a correct device, then ring addresses outside guest memory. */
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    struct vhost_vring_addr a = {.index = 1};
    a.desc_user_addr = fe_uva(&fe, fe.ring[1].desc_gpa);
    a.avail_user_addr = fe_uva(&fe, fe.ring[1].avail_gpa);
    a.used_user_addr = fe_uva(&fe, VS_VDRV_GPA_BASE) + FE_MEM_SIZE - 8; /* runs off the end */
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    a.used_user_addr = 0x1234;
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    a.used_user_addr = fe_uva(&fe, fe.ring[1].used_gpa) + 2; /* misaligned */
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
    CU_ASSERT(show_msg_err(p, "bad_ring") >= 3);
    /* The refused messages left the running rings alone. */
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 4, 64), 4);
    CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 4, 64), 4);
    CU_ASSERT_TRUE(port_connected(p));

    for (int i = 0; i < 4; i++)
        close(efd[i]);
    /* Every fd the back-end received with a refused message is closed again; the
     * ones it kept (memory was closed after mmap; kick/call of the good device)
     * are only those of the negotiated device, which fe_negotiate created: count
     * after the front-end goes away. */
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    /* Gone: the front-end's socket and memfd, and the back-end's accepted socket. */
    CU_ASSERT_EQUAL(count_fds(), fds_before - 3);
    port_close(p);
}

/* Framing errors cannot be answered: the connection is closed, fds and all, and the
 * port takes the next front-end. */
static void test_bad_framing(void)
{
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    int fds0 = count_fds(), efd = eventfd(0, EFD_CLOEXEC);
    struct vs_vhu_hdr h = {.request = VS_VHU_SET_OWNER, .flags = VS_VHU_VERSION};

    /* Truncated header, then EOF. */
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_TRUE(wait_connected(p)); /* accepted before we go, or the next one is "second" */
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, &h, 6, &efd, 1), 0);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));

    /* A size larger than any message. */
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    h.size = 1u << 20;
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, &h, sizeof(h), &efd, 1), 0);
    CU_ASSERT_TRUE(fe_closed_by_peer(&fe, 2000));
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    CU_ASSERT(show_msg_err(p, "bad_header") >= 1);

    /* Wrong version bits. */
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    h.size = 0;
    h.flags = 2;
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, &h, sizeof(h), NULL, 0), 0);
    CU_ASSERT_TRUE(fe_closed_by_peer(&fe, 2000));
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));

    /* A message split in many pieces (with its fd on the first) is reassembled. */
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    struct vs_vhu_msg m = {.hdr = {.request = VS_VHU_SET_VRING_CALL,
                                   .flags = VS_VHU_VERSION | VS_VHU_FLAG_NEED_REPLY,
                                   .size = 8}};
    m.p.u64 = 0;
    const uint8_t *b = (const uint8_t *)&m;
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, b, 5, &efd, 1), 0);
    usleep(20000);
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, b + 5, 9, NULL, 0), 0);
    usleep(20000);
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, b + 14, 6, NULL, 0), 0);
    struct vs_vhu_msg r;
    CU_ASSERT_EQUAL(fe_recv(&fe, &r, 2000), 0);
    CU_ASSERT_EQUAL(r.hdr.request, VS_VHU_SET_VRING_CALL);
    CU_ASSERT_EQUAL(r.p.u64, 0);

    /* An unknown request without NEED_REPLY: nobody would learn it failed, so the
     * connection is closed. */
    CU_ASSERT_EQUAL(fe_send(&fe, 77, VS_VHU_VERSION, NULL, 0, NULL, 0), 0);
    CU_ASSERT_TRUE(fe_closed_by_peer(&fe, 2000));
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));

    /* A message with more fds than any request carries. */
    int many[20];
    for (int i = 0; i < 20; i++)
        many[i] = efd;
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_NOT_EQUAL(fe_ack(&fe, VS_VHU_SET_OWNER, NULL, 0, many, 20), 0);
    CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_OWNER, NULL, 0, NULL, 0), 0);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));

    close(efd);
    CU_ASSERT_EQUAL(count_fds(), fds0);

    /* And the port still serves a well-behaved front-end. */
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 3, 64), 3);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* Many messages in one write: each is framed on its own and answered in order. */
static void test_pipelined_messages(void)
{
    struct vs_port *p = port_open(NULL);
    struct fe fe;
    enum { N = 300 };
    static struct vs_vhu_hdr h[N];
    struct vs_vhu_msg r;
    int ok = 0;

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    for (int i = 0; i < N; i++)
        h[i] = (struct vs_vhu_hdr){.request = (i % 2) ? VS_VHU_SET_OWNER : VS_VHU_GET_QUEUE_NUM,
                                   .flags = VS_VHU_VERSION | VS_VHU_FLAG_NEED_REPLY};
    CU_ASSERT_EQUAL(fe_send_bytes(&fe, h, sizeof(h), NULL, 0), 0);
    for (int i = 0; i < N; i++) {
        if (fe_recv(&fe, &r, 2000) < 0)
            break;
        if (r.hdr.request == h[i].request && r.hdr.size == 8 &&
            r.p.u64 == ((i % 2) ? 0u : 1u))
            ok++;
    }
    CU_ASSERT_EQUAL(ok, N);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* One front-end at a time. */
static void test_second_connection_refused(void)
{
    struct vs_port *p = port_open(NULL);
    struct fe a, b;
    struct fe_opts o = {.nqp = 1, .ring_size = 64};

    CU_ASSERT_EQUAL_FATAL(fe_connect(&a, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&a, &o), 0);
    CU_ASSERT_EQUAL_FATAL(fe_connect(&b, sock_path), 0);
    CU_ASSERT_TRUE(fe_closed_by_peer(&b, 2000));
    fe_close(&b);
    CU_ASSERT_EQUAL(show_int(p, "refused_connections"), 1);
    /* The first one is unaffected. */
    CU_ASSERT_EQUAL(guest_to_switch(&a, p, 0, 2, 64), 2);
    fe_close(&a);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

/* 100 front-ends come and go, each with memory, rings and eventfds: the process
 * ends with the fds and mappings it started with. */
static void test_connect_cycles(void)
{
    struct vs_port *p = port_open(NULL);
    struct fe_opts o = {.nqp = 1, .ring_size = 64};
    int fds0 = count_fds(), maps0 = count_maps();

    for (int i = 0; i < 100; i++) {
        struct fe fe;

        CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
        o.packed = i & 1;
        o.add_mem_reg = (i % 3) == 0;
        int rc = fe_negotiate(&fe, &o);
        CU_ASSERT_EQUAL(rc, 0);
        if (i % 7 == 0) { /* split and packed, both memory messages */
            CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 2, 64), 2);
            CU_ASSERT_EQUAL(switch_to_guest(&fe, p, 0, 2, 64), 2);
        }
        fe_close(&fe);
        CU_ASSERT_TRUE(wait_disconnected(p));
    }
    CU_ASSERT_EQUAL(count_fds(), fds0);
    CU_ASSERT_EQUAL(count_maps(), maps0);
    CU_ASSERT_EQUAL(show_int(p, "connects"), 100);
    CU_ASSERT_EQUAL(show_int(p, "disconnects"), 100);
    port_close(p);
}

/* Client mode: the port connects to a listening front-end, and comes back after the
 * front-end restarts. */
static void test_client_reconnect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char path[108];
    struct vs_port *p;
    int l, c, rc;
    struct pollfd pfd;
    struct fe fe;
    struct fe_opts o = {.nqp = 1, .ring_size = 64};

    snprintf(path, sizeof(path), "%s/client.sock", tmpdir);
    /* Nobody listens yet: open succeeds and retries in the background. */
    p = port_open_args(path, "client", NULL, NULL, &rc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    usleep(300000);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_EQUAL_FATAL(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CU_ASSERT_EQUAL_FATAL(listen(l, 4), 0);
    for (int round = 0; round < 3; round++) {
        pfd = (struct pollfd){.fd = l, .events = POLLIN};
        /* Back-off is at most 5 s. */
        CU_ASSERT_EQUAL_FATAL(poll(&pfd, 1, 6000), 1);
        c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        CU_ASSERT_FATAL(c >= 0);
        fe_adopt(&fe, c);
        CU_ASSERT_EQUAL(fe_negotiate(&fe, &o), 0);
        CU_ASSERT_EQUAL(guest_to_switch(&fe, p, 0, 2, 64), 2);
        CU_ASSERT_EQUAL(VS_READ_ONCE(p->link_up), 1);
        fe_close(&fe); /* the front-end goes away: the port must come back */
    }
    pfd = (struct pollfd){.fd = l, .events = POLLIN};
    CU_ASSERT_EQUAL(poll(&pfd, 1, 2000), 1);
    port_close(p);
    /* The port was closed: whatever was pending is gone; nothing new comes. */
    c = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c >= 0)
        close(c);
    pfd = (struct pollfd){.fd = l, .events = POLLIN};
    CU_ASSERT_EQUAL(poll(&pfd, 1, 500), 0);
    close(l);
    unlink(path);
}

/* ---- a real poller under live changes ---------------------------------------- */

struct poller {
    pthread_t t;
    struct vs_port *port;
    volatile bool stop;
    uint64_t got, bad;       /* frames seen in sequence / out of sequence */
    uint32_t next_seq;
};

static void *poller_main(void *arg)
{
    struct poller *pl = arg;
    struct vs_pkt *pkts[VS_BURST];

    vs_rcu_register_thread();
    while (!pl->stop) {
        uint16_t k = ops->rx_burst(pl->port, 0, pkts, VS_BURST);

        for (uint16_t i = 0; i < k; i++) {
            uint32_t seq;

            memcpy(&seq, vs_pkt_data(pkts[i]) + 14, sizeof(seq));
            if (pkts[i]->len == 100 && seq == pl->next_seq) {
                pl->next_seq++;
                __atomic_fetch_add(&pl->got, 1, __ATOMIC_RELAXED);
            } else {
                pl->bad++;
            }
        }
        /* Into the guest's RX ring, which has no buffers: exercises the locked path. */
        uint16_t took = k ? ops->tx_burst(pl->port, 0, pkts, k) : 0;
        vs_pkt_free_bulk(pkts + took, k - took);
        rx_done(pl->port, 0, k);
        vs_rcu_quiescent();
    }
    vs_rcu_unregister_thread();
    vs_pool_thread_flush();
    return NULL;
}

/* While a registered poller thread drains the guest's TX ring, the front-end keeps
 * posting frames and keeps changing the device: new memory tables (the old mapping
 * goes away), new call fds, ring stop (GET_VRING_BASE) and restart from the index it
 * returned. Every frame arrives exactly once and in order, nothing crashes. */
static void test_live_changes_under_poller(void)
{
    struct fe_opts o = {.nqp = 1, .ring_size = 128};
    struct vs_port *p = port_open(NULL);
    struct poller pl = {.port = p};
    struct fe fe;
    struct vs_vhu_msg r;
    uint32_t posted = 0;
    uint8_t f[100];

    CU_ASSERT_EQUAL_FATAL(fe_connect(&fe, sock_path), 0);
    CU_ASSERT_EQUAL_FATAL(fe_negotiate(&fe, &o), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&pl.t, NULL, poller_main, &pl), 0);
    /* At least 300 changes and 1500 frames (a loaded machine drains slowly). */
    for (int round = 0; round < 300 || (posted < 1500 && round < 20000); round++) {
        vs_vdrv_reap(&fe.ring[1]);
        for (int i = 0; i < 40; i++) {
            make_frame(f, sizeof(f), 0x10, posted);
            if (vs_vdrv_post_tx(&fe.ring[1], f, sizeof(f), 1, false) < 0) {
                usleep(200); /* ring full: give the poller the CPU */
                break;
            }
            posted++;
        }
        switch (round % 4) {
        case 0: /* alternate between two different tables: each one remaps */
            fe.opts.two_regions = !fe.opts.two_regions;
            CU_ASSERT_EQUAL(fe_send_mem_table(&fe), 0);
            break;
        case 1: {
            uint64_t v = round & 1 ? 1 : 0;
            int nc = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

            CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_CALL, &v, 8, &nc, 1), 0);
            close(fe.call[v]);
            fe.call[v] = nc;
            break;
        }
        case 2: {
            struct vhost_vring_state st = {.index = 1};
            uint64_t v = 1;

            CU_ASSERT_EQUAL(fe_send(&fe, VS_VHU_GET_VRING_BASE, VS_VHU_VERSION, &st, sizeof(st),
                                    NULL, 0), 0);
            CU_ASSERT_EQUAL_FATAL(fe_recv(&fe, &r, 2000), 0);
            CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_BASE, 1, r.p.state.num), 0);
            CU_ASSERT_EQUAL(fe_ack(&fe, VS_VHU_SET_VRING_KICK, &v, 8, &fe.kick[1], 1), 0);
            break;
        }
        case 3:
            CU_ASSERT_EQUAL(fe_ack_state(&fe, VS_VHU_SET_VRING_ENABLE, 0, round & 4 ? 0 : 1), 0);
            break;
        }
    }
    for (int i = 0; i < 3000 && __atomic_load_n(&pl.got, __ATOMIC_RELAXED) < posted; i++)
        usleep(1000);
    pl.stop = true;
    pthread_join(pl.t, NULL);
    CU_ASSERT_EQUAL(pl.got, posted);
    CU_ASSERT_EQUAL(pl.bad, 0);
    CU_ASSERT(posted > 1000);
    fe_close(&fe);
    CU_ASSERT_TRUE(wait_disconnected(p));
    port_close(p);
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("vhost_user", suite_init, suite_fini);
    CU_add_test(s, "validate", test_validate);
    CU_add_test(s, "server socket", test_server_socket);
    CU_add_test(s, "traffic split", test_traffic_split);
    CU_add_test(s, "traffic split event idx", test_traffic_split_event_idx);
    CU_add_test(s, "traffic packed", test_traffic_packed);
    CU_add_test(s, "traffic packed 2 queues", test_traffic_packed_two_queues);
    CU_add_test(s, "traffic split in order", test_traffic_split_in_order);
    CU_add_test(s, "traffic packed in order", test_traffic_packed_in_order);
    CU_add_test(s, "IN_ORDER offered unless in_order=false", test_in_order_offer);
    CU_add_test(s, "traffic ADD_MEM_REG", test_traffic_add_mem_reg);
    CU_add_test(s, "traffic two regions", test_traffic_two_regions);
    CU_add_test(s, "traffic hugetlbfs memory", test_traffic_hugetlb);
    CU_add_test(s, "traffic legacy front-end", test_traffic_legacy);
    CU_add_test(s, "tx queue fallback", test_tx_queue_fallback);
    CU_add_test(s, "vring base and restart", test_vring_base_and_restart);
    CU_add_test(s, "memory slots under running rings", test_mem_slots_live);
    CU_add_test(s, "ring waits for its setup", test_ring_waits_for_setup);
    CU_add_test(s, "rarp mtu status", test_rarp_mtu_status);
    CU_add_test(s, "offloads and mtu", test_offloads_mtu);
    CU_add_test(s, "dirty log", test_dirty_log);
    CU_add_test(s, "live changes under a poller", test_live_changes_under_poller);
    CU_add_test(s, "bad messages", test_bad_messages);
    CU_add_test(s, "bad framing", test_bad_framing);
    CU_add_test(s, "pipelined messages", test_pipelined_messages);
    CU_add_test(s, "second connection refused", test_second_connection_refused);
    CU_add_test(s, "100 connect cycles", test_connect_cycles);
    CU_add_test(s, "client reconnect", test_client_reconnect);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
