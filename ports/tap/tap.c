#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ports/tap/tap.h"
#include "vswitch/log.h"

struct tap {
    int fd;
    char ifname[IFNAMSIZ];
    uint64_t rx_errors, tx_errors;
    bool rx_err_logged, tx_err_logged;
};

static const char *const tap_keys[] = {"ifname", NULL};

static int tap_validate(const struct vs_port_args *args, struct vs_port_err *err)
{
    int idx, rc;
    const char *ifname;

    if ((rc = vs_port_args_check_keys(args, tap_keys, err)) < 0)
        return rc;
    ifname = vs_port_args_get(args, "ifname", &idx);
    if (!ifname) {
        vs_port_err_set(err, -1, "missing option 'ifname' (the TAP device name, e.g. ifname=vs-tap0)");
        return -EINVAL;
    }
    if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') || strchr(ifname, ' ') ||
        strchr(ifname, '%')) {
        vs_port_err_set(err, idx,
                        "ifname: '%s' is not a valid interface name (1 to %d characters, no '/', "
                        "' ' or '%%')",
                        ifname, IFNAMSIZ - 1);
        return -EINVAL;
    }
    return 0;
}

static int set_up(const char *ifname)
{
    struct ifreq ifr = {0};
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

    if (s < 0)
        return -errno;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        rc = -errno;
    else if (!(ifr.ifr_flags & IFF_UP)) {
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            rc = -errno;
    }
    close(s);
    return rc;
}

static int tap_open(struct vs_port *port, const struct vs_port_args *args, struct vs_port_err *err)
{
    struct ifreq ifr = {0};
    struct tap *t;
    int rc;

    if ((rc = tap_validate(args, err)) < 0)
        return rc;
    t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    snprintf(t->ifname, sizeof(t->ifname), "%s", vs_port_args_get(args, "ifname", NULL));
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        rc = -errno;
        vs_port_err_set(err, -1, "cannot open /dev/net/tun: %s (load the tun module: modprobe tun)",
                        strerror(-rc));
        free(t);
        return rc;
    }
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, t->ifname, IFNAMSIZ);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        rc = -errno;
        vs_port_err_set(err, -1,
                        "cannot create TAP device '%s': %s (is the name taken by another device?)",
                        t->ifname, strerror(-rc));
        close(t->fd);
        free(t);
        return rc;
    }
    if ((rc = set_up(t->ifname)) < 0)
        vs_warn("port %s: cannot set %s up: %s", port->name, t->ifname, strerror(-rc));
    port->priv = t;
    port->n_rxq = 1;
    port->n_txq = 1;
    VS_WRITE_ONCE(port->link_up, 1);
    return 0;
}

static void tap_close(struct vs_port *port)
{
    struct tap *t = port->priv;

    if (!t)
        return;
    close(t->fd); /* a non-persistent TAP device disappears with its last fd */
    free(t);
    port->priv = NULL;
}

static uint16_t tap_rx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct tap *t = port->priv;
    unsigned got = vs_pkt_alloc_bulk(port->pool, pkts, n);
    uint16_t rx = 0;

    while (rx < got) {
        struct vs_pkt *p = pkts[rx];
        ssize_t len = read(t->fd, vs_pkt_data(p), vs_pkt_tailroom(p));

        if (len < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                t->rx_errors++;
                vs_log_once(&t->rx_err_logged, VS_LOG_WARN, "port %s: read from %s: %s",
                            port->name, t->ifname, strerror(errno));
            }
            break;
        }
        if (len < 14) { /* not an Ethernet frame */
            t->rx_errors++;
            continue;
        }
        p->len = (uint16_t)len;
        rx++;
    }
    if (rx < got)
        vs_pkt_free_bulk(&pkts[rx], got - rx);
    return rx;
}

static uint16_t tap_tx_burst(struct vs_port *port, uint16_t q, struct vs_pkt **pkts, uint16_t n)
{
    struct tap *t = port->priv;
    uint16_t tx = 0;

    for (; tx < n; tx++) {
        struct vs_pkt *p = pkts[tx];
        uint16_t head = vs_pkt_head_len(p);
        /* A lent frame goes out as its private head and the rest from its peer. */
        struct iovec v[2] = {{p->data, head}, {(void *)vs_pkt_tail(p), p->len - head}};

        if (writev(t->fd, v, head < p->len ? 2 : 1) < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break; /* the kernel queue is full: the caller drops and counts the rest */
            /* EIO while the device is down, for one: the frame is gone either way. */
            t->tx_errors++;
            vs_log_once(&t->tx_err_logged, VS_LOG_WARN, "port %s: write to %s: %s", port->name,
                        t->ifname, strerror(errno));
        }
    }
    vs_pkt_free_bulk(pkts, tx);
    return tx;
}

/* The TAP fd itself is readable when a frame waits: an idle poller sleeps on it. */
static int tap_rx_wait_fd(struct vs_port *port, uint16_t q) { return ((struct tap *)port->priv)->fd; }

static void tap_show(struct vs_port *port, json_t *out)
{
    struct tap *t = port->priv;

    json_object_set_new(out, "ifname", json_string(t->ifname));
    json_object_set_new(out, "rx_errors", json_integer((json_int_t)t->rx_errors));
    json_object_set_new(out, "tx_errors", json_integer((json_int_t)t->tx_errors));
}

const struct vs_port_ops vs_port_tap_ops = {
    .type = "tap",
    .keys = tap_keys,
    .validate = tap_validate,
    .open = tap_open,
    .close = tap_close,
    .rx_burst = tap_rx_burst,
    .tx_burst = tap_tx_burst,
    .show = tap_show,
    .rx_wait_fd = tap_rx_wait_fd,
};
