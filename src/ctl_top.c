/* vswitchctl top: a live view of the pollers and ports, redrawn every second
 * from the ordinary requests (pollers, list-ports, show PORT) on one connection.
 * Rates are the differences between two samples over the time between them. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "src/ctl.h"

#define BUF_CAP (16u << 20)
#define MAX_PORTS 1024
#define MAX_POLLERS 64
#define MAX_REASONS 32
#define ROWS 24
#define COLS 80

struct port_sample {
    char name[32], type[16];
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    unsigned n_reasons;
    char reason[MAX_REASONS][24];
    uint64_t drops[MAX_REASONS];
};

struct poller_sample {
    int id, cpu;
    unsigned queues;
    uint64_t busy, idle, sleeps, packets;
};

struct sample {
    double t;
    uint64_t tsc_hz;
    char mode[16];
    unsigned n_ports, n_pollers;
    struct port_sample ports[MAX_PORTS];
    struct poller_sample pollers[MAX_POLLERS];
};

struct conn {
    int fd;
    char *buf;
    size_t len;
};

static volatile sig_atomic_t stop;
static void on_signal(int sig) { stop = sig; }

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t u64(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* One request, its result object (a new reference), or NULL with a message. */
static json_t *ask(struct conn *c, const char *command, json_t *params)
{
    json_t *req =
        json_pack("{s:s, s:o}", "command", command, "params", params ? params : json_object());
    json_t *reply, *res;
    const char *err;

    if (!req || vs_ctl_send(c->fd, req) < 0) {
        json_decref(req);
        fprintf(stderr, "vswitchctl: top: cannot send to vswitchd\n");
        return NULL;
    }
    json_decref(req);
    if (!(reply = vs_ctl_recv(c->fd, c->buf, BUF_CAP, &c->len, 10000)))
        return NULL;
    if ((err = vs_ctl_reply_error(reply))) {
        /* A port removed between list-ports and show: not worth stopping for. */
        json_decref(reply);
        return json_object();
    }
    res = json_incref(json_object_get(reply, "result"));
    json_decref(reply);
    return res;
}

static void copy_str(char *dst, size_t size, const json_t *v)
{
    snprintf(dst, size, "%s", json_is_string(v) ? json_string_value(v) : "?");
    for (char *p = dst; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

static bool take_sample(struct conn *c, struct sample *s)
{
    json_t *pollers = ask(c, "pollers", NULL), *ports, *p;
    size_t i;

    if (!pollers)
        return false;
    memset(s, 0, sizeof(*s));
    s->t = now_s();
    s->tsc_hz = u64(pollers, "tsc_hz");
    copy_str(s->mode, sizeof(s->mode), json_object_get(pollers, "mode"));
    json_array_foreach(json_object_get(pollers, "pollers"), i, p)
    {
        struct poller_sample *ps = &s->pollers[s->n_pollers];

        if (s->n_pollers == MAX_POLLERS)
            break;
        ps->id = (int)u64(p, "id");
        ps->cpu = (int)json_integer_value(json_object_get(p, "cpu"));
        ps->queues = (unsigned)json_array_size(json_object_get(p, "queues"));
        ps->busy = u64(p, "busy_cycles");
        ps->idle = u64(p, "idle_cycles");
        ps->sleeps = u64(p, "sleeps");
        ps->packets = u64(p, "packets");
        s->n_pollers++;
    }
    json_decref(pollers);
    if (!(ports = ask(c, "list-ports", NULL)))
        return false;
    json_array_foreach(json_object_get(ports, "ports"), i, p)
    {
        struct port_sample *ps = &s->ports[s->n_ports];
        json_t *show, *counters, *drops, *v;
        const char *reason;

        if (s->n_ports == MAX_PORTS)
            break;
        copy_str(ps->name, sizeof(ps->name), json_object_get(p, "name"));
        copy_str(ps->type, sizeof(ps->type), json_object_get(p, "type"));
        if (!(show = ask(c, "show", json_pack("{s:s}", "name", ps->name)))) {
            json_decref(ports);
            return false;
        }
        counters = json_object_get(show, "counters");
        if (!counters) { /* gone meanwhile */
            json_decref(show);
            continue;
        }
        ps->rx_packets = u64(counters, "rx_packets");
        ps->rx_bytes = u64(counters, "rx_bytes");
        ps->tx_packets = u64(counters, "tx_packets");
        ps->tx_bytes = u64(counters, "tx_bytes");
        drops = json_object_get(counters, "drops");
        json_object_foreach(drops, reason, v)
        {
            if (ps->n_reasons == MAX_REASONS)
                break;
            snprintf(ps->reason[ps->n_reasons], sizeof(ps->reason[0]), "%s", reason);
            ps->drops[ps->n_reasons++] = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
        }
        json_decref(show);
        s->n_ports++;
    }
    json_decref(ports);
    return true;
}

/* 1234567 -> "1.23M": at most 6 characters. */
static void human(char *out, size_t size, double v)
{
    static const char units[] = " kMGTP";
    int u = 0;

    while (v >= 999.5 && u < 5) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(out, size, "%.0f", v);
    else
        snprintf(out, size, "%.*f%c", v < 9.995 ? 2 : v < 99.95 ? 1 : 0, v, units[u]);
}

static uint64_t delta(uint64_t now, uint64_t before) { return now >= before ? now - before : 0; }

struct port_rate {
    const struct port_sample *s;
    double rx_pps, rx_bps, tx_pps, tx_bps, drops_ps;
};

static int by_load(const void *a, const void *b)
{
    const struct port_rate *x = a, *y = b;
    double lx = x->rx_pps + x->tx_pps + x->drops_ps, ly = y->rx_pps + y->tx_pps + y->drops_ps;

    if (lx != ly)
        return lx < ly ? 1 : -1;
    return strcmp(x->s->name, y->s->name);
}

static const struct port_sample *find_port(const struct sample *s, const char *name)
{
    for (unsigned i = 0; i < s->n_ports; i++)
        if (!strcmp(s->ports[i].name, name))
            return &s->ports[i];
    return NULL;
}

static uint64_t reason_count(const struct port_sample *p, const char *reason)
{
    for (unsigned i = 0; p && i < p->n_reasons; i++)
        if (!strcmp(p->reason[i], reason))
            return p->drops[i];
    return 0;
}

/* One frame of at most ROWS lines of at most COLS characters. */
static void draw(FILE *f, const struct sample *a, const struct sample *b, bool live)
{
    static struct port_rate rates[MAX_PORTS];
    double dt = b->t - a->t > 0.001 ? b->t - a->t : 0.001;
    unsigned lines = 0, n_pollers = b->n_pollers, max_pollers;
    char t1[16], t2[16], t3[16], t4[16], t5[16], clock[16];
    time_t now = time(NULL);

    strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&now));
    fprintf(f, "vswitchd  %s  %u poller%s (%s)  %u port%s%s\n", clock, n_pollers,
            n_pollers == 1 ? "" : "s", b->mode, b->n_ports, b->n_ports == 1 ? "" : "s",
            live ? "  [q quits]" : "");
    fprintf(f, "\n%-6s %4s %6s %8s %6s %8s\n", "POLLER", "CPU", "BUSY%", "CYC/PKT", "QUEUES",
            "SLEEPS/S");
    lines += 3;
    /* Pollers take at most a third of the screen; ports get the rest. */
    max_pollers = n_pollers <= 6 ? n_pollers : 5;
    for (unsigned i = 0; i < n_pollers && i < max_pollers; i++) {
        const struct poller_sample *p = &b->pollers[i], *q = NULL;
        uint64_t busy, idle, pkts;
        double pct;

        for (unsigned j = 0; j < a->n_pollers; j++)
            if (a->pollers[j].id == p->id)
                q = &a->pollers[j];
        busy = q ? delta(p->busy, q->busy) : 0;
        idle = q ? delta(p->idle, q->idle) : 0;
        pkts = q ? delta(p->packets, q->packets) : 0;
        if (b->tsc_hz)
            pct = 100.0 * (double)busy / ((double)b->tsc_hz * dt);
        else
            pct = busy + idle ? 100.0 * (double)busy / (double)(busy + idle) : 0;
        if (pct > 100)
            pct = 100;
        if (pkts)
            human(t1, sizeof(t1), (double)busy / (double)pkts);
        else
            snprintf(t1, sizeof(t1), "-");
        human(t2, sizeof(t2), q ? (double)delta(p->sleeps, q->sleeps) / dt : 0);
        fprintf(f, "%-6d %4d %6.1f %8s %6u %8s\n", p->id, p->cpu, pct, t1, p->queues, t2);
        lines++;
    }
    if (n_pollers > max_pollers) {
        fprintf(f, "... %u more pollers\n", n_pollers - max_pollers);
        lines++;
    }

    for (unsigned i = 0; i < b->n_ports; i++) {
        const struct port_sample *p = &b->ports[i], *q = find_port(a, p->name);
        uint64_t d = 0;

        for (unsigned r = 0; q && r < p->n_reasons; r++)
            d += delta(p->drops[r], reason_count(q, p->reason[r]));
        rates[i] = (struct port_rate){
            p,
            q ? (double)delta(p->rx_packets, q->rx_packets) / dt : 0,
            q ? 8.0 * (double)delta(p->rx_bytes, q->rx_bytes) / dt : 0,
            q ? (double)delta(p->tx_packets, q->tx_packets) / dt : 0,
            q ? 8.0 * (double)delta(p->tx_bytes, q->tx_bytes) / dt : 0,
            (double)d / dt,
        };
    }
    qsort(rates, b->n_ports, sizeof(rates[0]), by_load);
    fprintf(f, "\n%-16s %-10s %8s %8s %8s %8s %8s\n", "PORT", "TYPE", "RX-PPS", "RX-BIT/S",
            "TX-PPS", "TX-BIT/S", "DROPS/S");
    lines += 2;
    for (unsigned i = 0; i < b->n_ports; i++) {
        const struct port_rate *r = &rates[i];
        const struct port_sample *q = find_port(a, r->s->name);
        char why[COLS + 1] = "";
        size_t wl = 0;

        if (lines + 1 + (i + 1 < b->n_ports) > ROWS) {
            fprintf(f, "... %u more ports\n", b->n_ports - i);
            break;
        }
        human(t1, sizeof(t1), r->rx_pps);
        human(t2, sizeof(t2), r->rx_bps);
        human(t3, sizeof(t3), r->tx_pps);
        human(t4, sizeof(t4), r->tx_bps);
        human(t5, sizeof(t5), r->drops_ps);
        fprintf(f, "%-16.16s %-10.10s %8s %8s %8s %8s %8s\n", r->s->name, r->s->type, t1, t2, t3,
                t4, t5);
        lines++;
        /* Drops by reason, on a line of their own while the screen has room. */
        for (unsigned k = 0; q && k < r->s->n_reasons; k++) {
            uint64_t d = delta(r->s->drops[k], reason_count(q, r->s->reason[k]));

            if (!d)
                continue;
            human(t1, sizeof(t1), (double)d / dt);
            wl += (size_t)snprintf(why + wl, sizeof(why) - wl, "%s%s %s/s",
                                   wl ? ", " : "  drops: ", r->s->reason[k], t1);
            if (wl >= sizeof(why) - 1)
                break;
        }
        if (wl && lines + 1 < ROWS) {
            fprintf(f, "%.*s\n", COLS, why);
            lines++;
        }
    }
}

static void usage(const char *msg)
{
    fprintf(stderr,
            "vswitchctl: top: %s\nusage: vswitchctl top [--once]\n"
            "Try 'vswitchctl --help' for more information.\n",
            msg);
    exit(2);
}

int vs_ctl_top_main(const char *sock, int argc, char **argv)
{
    static const struct option opts[] = {{"once", no_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    static struct sample samples[2];
    struct conn c = {.buf = malloc(BUF_CAP)};
    struct termios saved, raw;
    bool once = false, tty;
    struct sigaction sa = {.sa_handler = on_signal};
    int o, cur = 0, rc = 0, in_fd = STDIN_FILENO;

    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'o')
            once = true;
        else
            usage("unknown option");
    }
    if (optind != argc)
        usage("no arguments are taken");
    if (!c.buf) {
        fprintf(stderr, "vswitchctl: out of memory\n");
        return 1;
    }
    c.fd = vs_ctl_connect(sock);
    if (!take_sample(&c, &samples[0]))
        return 1;
    if (once) {
        sleep(1);
        if (!take_sample(&c, &samples[1]))
            return 1;
        draw(stdout, &samples[0], &samples[1], false);
        return fflush(stdout) ? 1 : 0;
    }

    tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        raw = saved;
        raw.c_lflag &= (tcflag_t) ~(ICANON | ECHO);
        raw.c_cc[VMIN] = 0;
        raw.c_cc[VTIME] = 0;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    fputs("\033[?1049h", stdout); /* the alternate screen: the shell's comes back at the end */
    while (!stop) {
        double next = samples[cur].t + 1.0;
        struct pollfd p = {.fd = in_fd, .events = POLLIN};
        int ms = (int)((next - now_s()) * 1000);

        if (ms > 0 && poll(&p, 1, ms) > 0) {
            char ch;
            ssize_t n = read(in_fd, &ch, 1);

            if (n == 1 && (ch == 'q' || ch == 'Q'))
                break;
            if (n == 0 && !tty) /* stdin at its end: run until a signal */
                in_fd = -1;
            continue;
        }
        if (!take_sample(&c, &samples[!cur])) {
            rc = 1;
            break;
        }
        cur = !cur;
        fputs("\033[H\033[2J", stdout);
        draw(stdout, &samples[!cur], &samples[cur], true);
        fflush(stdout);
    }
    fputs("\033[?1049l", stdout);
    fflush(stdout);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    close(c.fd);
    free(c.buf);
    return rc;
}
