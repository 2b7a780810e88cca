/* Queue hand-over between adaptive pollers: a queue that moves away from a
 * sleeping poller to a busy one must not keep asking its peer for notifications. */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dataplane/switch.h"
#include "vswitch/loop.h"
#include "vswitch/pkt.h"

/* A port with one rx queue that never has traffic and records what the pollers
 * ask of its notifications. With nowait=1 it cannot wake a poller, so the poller
 * that owns it never sleeps. */
struct notport {
    int wait_fd;
    bool nowait;
    int notify; /* last rx_notify value, -1 before the first */
};

static struct notport nports[8];
static int next_nport;

static int np_validate(const struct vs_port_args *args, struct vs_port_err *err) { return 0; }

static int np_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct notport *n = &nports[next_nport++];

    n->wait_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    n->nowait = vs_port_args_get(args, "nowait", NULL) != NULL;
    n->notify = -1;
    port->priv = n;
    port->n_rxq = 1;
    port->n_txq = 1;
    port->link_up = 1;
    return n->wait_fd < 0 ? -errno : 0;
}

static void np_close(struct vs_port *port)
{
    struct notport *n = port->priv;

    close(n->wait_fd);
    n->wait_fd = -1;
}

static uint16_t np_rx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return 0;
}

static uint16_t np_tx(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    vs_pkt_free_bulk(pkts, n);
    return n;
}

static int np_wait_fd(struct vs_port *port, uint16_t q)
{
    struct notport *n = port->priv;

    return n->nowait ? -1 : n->wait_fd;
}

static void np_notify(struct vs_port *port, uint16_t q, bool enable)
{
    struct notport *n = port->priv;

    __atomic_store_n(&n->notify, enable, __ATOMIC_SEQ_CST);
}

static const char *const np_keys[] = {"nowait", NULL};
static const struct vs_port_ops np_ops = {
    .type = "notify",
    .keys = np_keys,
    .validate = np_validate,
    .open = np_open,
    .close = np_close,
    .rx_burst = np_rx,
    .tx_burst = np_tx,
    .rx_wait_fd = np_wait_fd,
    .rx_notify = np_notify,
};

static struct vs_pool *pool;
static struct vs_switch *sw;

static struct notport *add(const char *name, bool nowait)
{
    struct vs_port_arg a = {.key = "nowait", .value = "1"};
    struct vs_port_args args = {nowait ? 1 : 0, &a};
    struct vs_port_err err;

    CU_ASSERT_EQUAL_FATAL(vs_switch_add_port(sw, name, "notify", &args, &err), 0);
    return &nports[next_nport - 1];
}

static int notify_of(const struct notport *n)
{
    return __atomic_load_n(&n->notify, __ATOMIC_SEQ_CST);
}

/* The poller that polls port name's queue, or -1. */
static int owner(const char *name)
{
    json_t *pl = vs_switch_pollers(sw), *pollers = json_object_get(pl, "pollers"), *p, *q;
    size_t i, j;
    int id = -1;

    json_array_foreach(pollers, i, p)
    {
        json_array_foreach(json_object_get(p, "queues"), j, q)
        {
            if (!strcmp(json_string_value(json_object_get(q, "port")), name))
                id = (int)json_integer_value(json_object_get(p, "id"));
        }
    }
    json_decref(pl);
    return id;
}

/* Waits up to 2 s for n's notifications to read want. */
static bool wait_notify(const struct notport *n, int want)
{
    for (int i = 0; i < 2000 && notify_of(n) != want; i++)
        usleep(1000);
    return notify_of(n) == want;
}

static void test_moved_queue_notifications_off(void)
{
    struct vs_switch_params prm = {
        .n_pollers = 2, .cpus = {0, 1}, .mode = VS_POLL_ADAPTIVE, .fdb_size = 64, .fdb_aging = 300};
    struct notport *y, *b;

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_port_type_register(&np_ops), 0);
    CU_ASSERT_EQUAL_FATAL(vs_pool_create(256, VS_PAGES_NONE, &pool), 0);
    prm.pool = pool;
    CU_ASSERT_EQUAL_FATAL(vs_switch_create(&prm, &sw), 0);
    CU_ASSERT_EQUAL_FATAL(vs_switch_start(sw), 0);

    /* Round-robin in port order: x, a on poller 0 (kept awake by x); y, b on poller
     * 1, which sleeps with notifications on. */
    add("x", true);
    y = add("y", false);
    add("a", false);
    b = add("b", false);
    CU_ASSERT_EQUAL(owner("x"), 0);
    CU_ASSERT_EQUAL(owner("b"), 1);
    CU_ASSERT_TRUE_FATAL(wait_notify(b, 1));
    CU_ASSERT_TRUE(wait_notify(y, 1));

    /* Without a, b moves to the busy poller 0 while poller 1 sleeps. */
    CU_ASSERT_EQUAL(vs_switch_del_port(sw, "a"), 0);
    CU_ASSERT_EQUAL(owner("b"), 0);
    CU_ASSERT_EQUAL(owner("y"), 1);
    usleep(300 * 1000); /* several of the pollers' sleep timeouts */
    CU_ASSERT_EQUAL(notify_of(b), 0);
    /* Poller 1 kept y and still sleeps on it. */
    CU_ASSERT_TRUE(wait_notify(y, 1));

    vs_switch_destroy(sw);
    CU_ASSERT_EQUAL(vs_pool_free_count(pool), vs_pool_size(pool));
    vs_pool_destroy(pool);
    vs_loop_fini();
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("sched", NULL, NULL);
    CU_add_test(s, "moved queue ends with notifications off", test_moved_queue_notifications_off);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
