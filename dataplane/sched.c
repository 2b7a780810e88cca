/* Rx queue → poller assignment: round-robin over every (port, queue) in port order.
 *
 * A queue that moves from poller A to poller B must never be polled by both at
 * once, so a rebalance has two steps: first every poller gets a list holding only
 * the queues it keeps (moved queues appear nowhere), a grace period passes, then
 * the final lists are published. Old lists are freed after a grace period.
 *
 * Between the two steps no poller owns a moved queue, and that is where its
 * notifications are switched off: A may have switched them on before it slept,
 * and only turns them off again for the queues it still has when it wakes, while a
 * busy B never touches them (the guest would exit once per batch for nothing). */
#include <errno.h>
#include <stdlib.h>

#include "dataplane/dp.h"
#include "vswitch/rcu.h"

unsigned vs_sched_test_fail_allocs;

static struct vs_poll_list *list_alloc(unsigned cap)
{
    if (vs_sched_test_fail_allocs) {
        vs_sched_test_fail_allocs--;
        return NULL;
    }
    return calloc(1, sizeof(struct vs_poll_list) + cap * sizeof(struct vs_rxq_ref));
}

static bool list_has(const struct vs_poll_list *l, const struct vs_dp_port *port, uint16_t q)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->q[i].port == port && l->q[i].queue == q)
            return true;
    return false;
}

static void publish_all(struct vs_switch *sw, struct vs_poll_list **lists)
{
    unsigned np = sw->params.n_pollers;
    struct vs_poll_list *old[VS_MAX_POLLERS];

    for (unsigned i = 0; i < np; i++) {
        old[i] = sw->pollers[i].list;
        vs_rcu_assign(sw->pollers[i].list, lists[i]);
        vs_poller_wake(&sw->pollers[i]);
    }
    vs_rcu_synchronize();
    for (unsigned i = 0; i < np; i++)
        free(old[i]);
}

int vs_sched_rebalance(struct vs_switch *sw)
{
    unsigned np = sw->params.n_pollers, total = 0, k = 0;
    struct vs_poll_list *final[VS_MAX_POLLERS] = {0}, *keep[VS_MAX_POLLERS] = {0};
    int rc = -ENOMEM;

    for (unsigned i = 0; i < VS_MAX_PORTS; i++)
        if (sw->ports[i])
            total += sw->ports[i]->port.n_rxq;
    for (unsigned i = 0; i < np; i++)
        if (!(final[i] = list_alloc(total)) || !(keep[i] = list_alloc(total)))
            goto out;

    for (unsigned i = 0; i < VS_MAX_PORTS; i++) {
        struct vs_dp_port *dp = sw->ports[i];

        for (uint16_t q = 0; dp && q < dp->port.n_rxq; q++, k++) {
            struct vs_poll_list *l = final[k % np];

            l->q[l->n++] = (struct vs_rxq_ref){.port = dp, .queue = q};
        }
    }
    for (unsigned i = 0; i < np; i++) {
        const struct vs_poll_list *cur = sw->pollers[i].list;

        for (unsigned j = 0; j < final[i]->n; j++)
            if (cur && list_has(cur, final[i]->q[j].port, final[i]->q[j].queue))
                keep[i]->q[keep[i]->n++] = final[i]->q[j];
    }
    publish_all(sw, keep);
    /* Now no poller owns a queue that is in final[i] but not in keep[i]. */
    for (unsigned i = 0; i < np; i++)
        for (unsigned j = 0; j < final[i]->n; j++) {
            struct vs_rxq_ref *r = &final[i]->q[j];

            if (r->port->port.ops->rx_notify && !list_has(keep[i], r->port, r->queue))
                r->port->port.ops->rx_notify(&r->port->port, r->queue, false);
        }
    publish_all(sw, final);
    return 0;
out:
    for (unsigned i = 0; i < np; i++) {
        free(final[i]);
        free(keep[i]);
    }
    return rc;
}
