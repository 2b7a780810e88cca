/* The Prometheus endpoint (metrics.h): a small HTTP server on the main loop and
 * the exposition of the switch's counters. */
#include "control/metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/exposition.h"
#include "control/http_request.h"
#include "dataplane/capture.h"
#include "dataplane/switch.h"
#include "vswitch/listen.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"
#include "vswitch/pkt.h"

#define MAX_TEXT (64u << 20) /* far beyond 1024 ports with every drop reason */
#define ACCEPT_BURST 16
#define SWEEP_MS 500

struct client {
    struct vs_metrics *m;
    struct client *next, *prev;
    int fd;
    uint64_t deadline_ms;
    size_t in_len;
    char in[VS_HTTP_MAX_HEAD];
    char *out; /* the response, once the request is read */
    size_t out_off, out_len;
    bool sent; /* all of it: now waiting for the client to close */
};

struct vs_metrics {
    int fd;
    char addr[64];
    struct vs_switch *sw;
    struct vs_pool *pool;
    struct client *clients;
    unsigned n_clients;
    int sweep_timer;
    bool busy_logged, bad_logged;
};

/* ---- the exposition ------------------------------------------------------ */

static uint64_t jint(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static const char *jstr(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_string(v) ? json_string_value(v) : "";
}

/* One counter family over every port: value(c) of each. */
static void port_family(struct vs_expo *e, struct vs_switch *sw, const json_t *ports,
                        const char *name, const char *help, size_t offset)
{
    size_t i;
    json_t *p;

    vs_expo_family(e, name, "counter", help);
    json_array_foreach(ports, i, p)
    {
        struct vs_port_counters c;
        const char *labels[] = {"port", jstr(p, "name"), "type", jstr(p, "type"), NULL};

        if (vs_switch_port_counters(sw, jstr(p, "name"), &c) == 0)
            vs_expo_sample(e, name, labels, *(const uint64_t *)((const char *)&c + offset));
    }
}

char *vs_metrics_render(struct vs_switch *sw, struct vs_pool *pool, size_t *len)
{
    json_t *list = vs_switch_list_ports(sw), *pollers = vs_switch_pollers(sw);
    const json_t *ports = json_object_get(list, "ports"), *p;
    struct vs_expo e;
    uint32_t fdb_count, fdb_cap;
    char num[16], cpu[16];
    size_t i;

    vs_expo_init(&e, MAX_TEXT);
    port_family(&e, sw, ports, "vswitch_port_rx_packets_total", "Frames received on the port.",
                offsetof(struct vs_port_counters, rx_packets));
    port_family(&e, sw, ports, "vswitch_port_rx_bytes_total", "Bytes received on the port.",
                offsetof(struct vs_port_counters, rx_bytes));
    port_family(&e, sw, ports, "vswitch_port_tx_packets_total", "Frames the port sent.",
                offsetof(struct vs_port_counters, tx_packets));
    port_family(&e, sw, ports, "vswitch_port_tx_bytes_total", "Bytes the port sent.",
                offsetof(struct vs_port_counters, tx_bytes));
    vs_expo_family(&e, "vswitch_port_drops_total", "counter",
                   "Frames the switch dropped and counted on the port, by reason.");
    json_array_foreach(ports, i, p)
    {
        struct vs_port_counters c;

        if (vs_switch_port_counters(sw, jstr(p, "name"), &c))
            continue;
        for (int d = 0; d < VS_DROP__COUNT; d++) {
            const char *labels[] = {"port",   jstr(p, "name"),
                                    "type",   jstr(p, "type"),
                                    "reason", vs_drop_name((enum vs_drop)d),
                                    NULL};
            vs_expo_sample(&e, "vswitch_port_drops_total", labels, c.drops[d]);
        }
    }
    vs_expo_family(&e, "vswitch_port_up", "gauge",
                   "1 when the port's link is up (a peer is "
                   "connected), else 0.");
    json_array_foreach(ports, i, p)
    {
        const char *labels[] = {"port", jstr(p, "name"), "type", jstr(p, "type"), NULL};

        vs_expo_sample(&e, "vswitch_port_up", labels, !strcmp(jstr(p, "link"), "up"));
    }

    static const struct {
        const char *name, *key, *help;
    } pf[] = {
        {"vswitch_poller_busy_cycles_total", "busy_cycles",
         "TSC cycles the poller spent on loops that carried frames."},
        {"vswitch_poller_idle_cycles_total", "idle_cycles",
         "TSC cycles the poller spent polling queues that had nothing."},
        {"vswitch_poller_sleeps_total", "sleeps", "Times an adaptive poller went to sleep."},
        {"vswitch_poller_naps_total", "naps", "Naps of an adaptive poller under light load."},
        {"vswitch_poller_rx_packets_total", "packets",
         "Frames the poller received from its "
         "queues."},
    };
    const json_t *plist = json_object_get(pollers, "pollers");
    for (size_t k = 0; k < VS_ARRAY_SIZE(pf); k++) {
        const json_t *q;

        vs_expo_family(&e, pf[k].name, "counter", pf[k].help);
        json_array_foreach(plist, i, q)
        {
            const char *labels[] = {"poller", num, "cpu", cpu, NULL};

            snprintf(num, sizeof(num), "%" PRIu64, jint(q, "id"));
            snprintf(cpu, sizeof(cpu), "%" JSON_INTEGER_FORMAT,
                     json_integer_value(json_object_get(q, "cpu")));
            vs_expo_sample(&e, pf[k].name, labels, jint(q, pf[k].key));
        }
    }
    vs_expo_family(&e, "vswitch_poller_cycles_per_second", "gauge",
                   "TSC frequency: divide the cycle counters by it for seconds.");
    vs_expo_sample(&e, "vswitch_poller_cycles_per_second", NULL, jint(pollers, "tsc_hz"));

    vs_switch_fdb_usage(sw, &fdb_count, &fdb_cap);
    vs_expo_family(&e, "vswitch_fdb_entries", "gauge", "Stations in the forwarding table.");
    vs_expo_sample(&e, "vswitch_fdb_entries", NULL, fdb_count);
    vs_expo_family(&e, "vswitch_fdb_capacity", "gauge", "Entries the forwarding table holds.");
    vs_expo_sample(&e, "vswitch_fdb_capacity", NULL, fdb_cap);

    vs_expo_family(&e, "vswitch_pool_buffers", "gauge",
                   "Packet buffers in the pool (small: 2 KiB, large: 64 KiB).");
    for (int k = 0; k < 2 && pool; k++) {
        const struct vs_pool *pl = k ? vs_pool_large(pool) : pool;
        const char *labels[] = {"pool", k ? "large" : "small", NULL};

        if (pl)
            vs_expo_sample(&e, "vswitch_pool_buffers", labels, vs_pool_size(pl));
    }
    vs_expo_family(&e, "vswitch_pool_buffers_in_use", "gauge",
                   "Packet buffers held by ports, pollers' caches and frames in flight.");
    for (int k = 0; k < 2 && pool; k++) {
        const struct vs_pool *pl = k ? vs_pool_large(pool) : pool;
        const char *labels[] = {"pool", k ? "large" : "small", NULL};

        if (pl)
            vs_expo_sample(&e, "vswitch_pool_buffers_in_use", labels,
                           vs_pool_size(pl) - vs_pool_free_count(pl));
    }
    vs_expo_family(&e, "vswitch_captures", "gauge", "Packet captures running.");
    vs_expo_sample(&e, "vswitch_captures", NULL, vs_capture_count(sw));

    json_decref(list);
    json_decref(pollers);
    if (e.failed) {
        vs_expo_free(&e);
        return NULL;
    }
    *len = e.len;
    return e.buf;
}

/* ---- HTTP ------------------------------------------------------------------ */

static void client_close(struct client *c)
{
    struct vs_metrics *m = c->m;

    vs_loop_del_fd(c->fd);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        m->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    m->n_clients--;
    free(c->out);
    free(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

/* The response: status line, headers, body (unless head_only). */
static void respond(struct client *c, int status, const char *type, const char *body, size_t len,
                    bool head_only)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, status_text(status), type, len);

    c->out_len = (size_t)n + (head_only ? 0 : len);
    c->out = malloc(c->out_len);
    if (!c->out) {
        c->out_len = 0;
        return;
    }
    memcpy(c->out, head, (size_t)n);
    if (!head_only)
        memcpy(c->out + n, body, len);
}

static void answer(struct client *c, int status, const struct vs_http_request *req)
{
    static const char text[] = "text/plain; charset=utf-8";
    bool head_only = status == 200 && !strcmp(req->method, "HEAD");
    char msg[128];

    if (status == 200 && strcmp(req->method, "GET") && strcmp(req->method, "HEAD"))
        status = 405;
    else if (status == 200 && strcmp(req->path, "/metrics") && strcmp(req->path, "/"))
        status = 404;
    if (status == 200) {
        size_t len = 0;
        char *body = vs_metrics_render(c->m->sw, c->m->pool, &len);

        if (body) {
            respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, head_only);
            free(body);
            return;
        }
        status = 500;
    }
    snprintf(msg, sizeof(msg), "%d %s%s\n", status, status_text(status),
             status == 404 ? ": the metrics are at /metrics" : "");
    respond(c, status, text, msg, strlen(msg), false);
}

/* Sends what the socket takes. false: the client is gone. Once all went, our
 * side is shut down and what the client still sends is read and dropped until it
 * closes (or the deadline): closing with unread bytes would reset the
 * connection, and the client could lose the response. */
static bool client_send(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->out_off += (size_t)n;
    }
    if (!c->sent) {
        c->sent = true;
        shutdown(c->fd, SHUT_WR);
        if (vs_loop_mod_fd(c->fd, EPOLLIN))
            return false;
    }
    return true;
}

static void client_cb(int fd, uint32_t events, void *arg)
{
    struct client *c = arg;
    struct vs_http_request req;
    ssize_t n;
    int rc;

    if (events & EPOLLERR) {
        client_close(c);
        return;
    }
    if (c->sent) {
        char sink[4096];

        n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            client_close(c);
        return;
    }
    if (c->out) {
        if (!client_send(c))
            client_close(c);
        return;
    }
    n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    c->in_len += (size_t)n;
    rc = vs_http_parse_request(c->in, c->in_len, &req);
    if (rc == 0)
        return;
    if (rc < 0)
        vs_log_once(&c->m->bad_logged, VS_LOG_INFO,
                    "metrics %s: refused a request (HTTP %d; logged once)", c->m->addr, -rc);
    answer(c, rc > 0 ? 200 : -rc, &req);
    /* Whatever else comes is not read: the response ends the connection. */
    if (!c->out || vs_loop_mod_fd(fd, EPOLLOUT) || !client_send(c))
        client_close(c);
}

/* Connections are closed at their deadline, whatever they did meanwhile. */
static void sweep(void *arg)
{
    struct vs_metrics *m = arg;
    uint64_t now = vs_now_ms();

    for (struct client *c = m->clients, *next; c; c = next) {
        next = c->next;
        if (now >= c->deadline_ms)
            client_close(c);
    }
}

static void listen_cb(int fd, uint32_t events, void *arg)
{
    struct vs_metrics *m = arg;

    for (int i = 0; i < ACCEPT_BURST; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct client *c;

        if (cfd < 0)
            return;
        if (m->n_clients >= VS_METRICS_MAX_CLIENTS || !(c = calloc(1, sizeof(*c)))) {
            vs_log_once(&m->busy_logged, VS_LOG_WARN,
                        "metrics %s: %u clients at once; closing more (logged once)", m->addr,
                        VS_METRICS_MAX_CLIENTS);
            close(cfd);
            continue;
        }
        c->m = m;
        c->fd = cfd;
        c->deadline_ms = vs_now_ms() + VS_METRICS_TIMEOUT_MS;
        if (vs_loop_add_fd(cfd, EPOLLIN, client_cb, c)) {
            close(cfd);
            free(c);
            continue;
        }
        c->next = m->clients;
        if (c->next)
            c->next->prev = c;
        m->clients = c;
        m->n_clients++;
    }
}

int vs_metrics_start(const char *addr_port, struct vs_switch *sw, struct vs_pool *pool,
                     struct vs_metrics **out)
{
    struct vs_metrics *m = calloc(1, sizeof(*m));
    char what[32];
    int rc;

    *out = NULL;
    if (!m)
        return -ENOMEM;
    snprintf(m->addr, sizeof(m->addr), "%s", addr_port);
    m->sw = sw;
    m->pool = pool;
    m->fd = vs_listen_tcp(addr_port, 64, what, sizeof(what));
    if (m->fd < 0) {
        rc = m->fd;
        vs_err("metrics %s: %s: %s%s", addr_port, what, strerror(-rc),
               rc == -EADDRINUSE      ? "; another program listens there: choose another "
                                        "control.metrics"
               : rc == -EADDRNOTAVAIL ? "; the address is not one of this host's: choose "
                                        "another control.metrics"
                                      : "");
        free(m);
        return rc;
    }
    if ((rc = vs_loop_add_fd(m->fd, EPOLLIN, listen_cb, m)) < 0 ||
        (rc = vs_loop_add_timer(SWEEP_MS, SWEEP_MS, sweep, m)) < 0) {
        vs_err("metrics %s: cannot watch it: %s", addr_port, strerror(-rc));
        vs_loop_del_fd(m->fd);
        close(m->fd);
        free(m);
        return rc;
    }
    m->sweep_timer = rc;
    vs_info("metrics: http://%s/metrics", addr_port);
    *out = m;
    return 0;
}

void vs_metrics_stop(struct vs_metrics *m)
{
    if (!m)
        return;
    while (m->clients)
        client_close(m->clients);
    vs_loop_del_timer(m->sweep_timer);
    vs_loop_del_fd(m->fd);
    close(m->fd);
    free(m);
}
