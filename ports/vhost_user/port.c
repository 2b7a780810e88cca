/* The vhost-user port type: options, socket, and the ops table. */
#include <errno.h>

#include "ports/vhost_user/port_args.h"
#include "ports/vhost_user/vhost_user.h"

static int vhu_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_vhu_args a;

    return vs_vhu_parse_args(args, &a, err);
}

static int vhu_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct vs_vhu_args a;
    int rc;

    if ((rc = vs_vhu_parse_args(args, &a, err)) < 0)
        return rc;
    vs_port_err_set(err, -1, "vhost-user ports are not implemented yet");
    return -ENOSYS;
}

static void vhu_close(struct vs_port *port) {}

static uint16_t vhu_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return 0;
}

static uint16_t vhu_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    return 0;
}

static void vhu_show(struct vs_port *port, json_t *out) {}

const struct vs_port_ops vs_port_vhost_user_ops = {
    .type = "vhost-user",
    .keys = vs_vhu_keys,
    .validate = vhu_validate,
    .open = vhu_open,
    .close = vhu_close,
    .rx_burst = vhu_rx_burst,
    .tx_burst = vhu_tx_burst,
    .show = vhu_show,
};
