/* vswitchctl: sends one request to vswitchd's control socket and prints the reply,
 * as tables for people or as JSON (--json) for scripts. The protocol is the one
 * in control/server.h; this program needs nothing but jansson. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#ifndef VS_VERSION
#define VS_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/vswitch/vswitchd.sock"
#define DEFAULT_TIMEOUT 30.0
#define MAX_REPLY (1u << 30)

static const char usage_line[] =
    "usage: vswitchctl [-s SOCKET] [--json] [--timeout SECONDS] COMMAND [ARGS...]";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("vswitchctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s\nTry 'vswitchctl --help' for more information.\n", usage_line);
    exit(2);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("vswitchctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void help(void)
{
    printf("%s\n\n"
           "Controls a running vswitchd through its control socket.\n\n"
           "Commands:\n"
           "  add-port NAME TYPE [KEY=VALUE...]  add a port; KEY=VALUE are the type's options,\n"
           "                                     as in the ports section of the YAML config\n"
           "                                     (e.g. add-port tap0 tap ifname=vs-tap0)\n"
           "  del-port NAME                      remove a port\n"
           "  list-ports                         one line per port: link, queues, counters\n"
           "  show NAME                          everything about one port\n"
           "  fdb show                           the forwarding table\n"
           "  fdb flush [PORT]                   forget learnt addresses (all, or PORT's)\n"
           "  pollers                            poller threads, their queues and load\n"
           "  version                            vswitchd's version\n\n"
           "Options:\n"
           "  -s, --socket SOCKET   control socket (default: $VSWITCH_SOCKET, or %s)\n"
           "      --json            print the reply's result as JSON instead of tables\n"
           "      --timeout SECONDS give up waiting for vswitchd after SECONDS (default %g,\n"
           "                        0 waits forever)\n"
           "  -h, --help            this text\n"
           "  -V, --version         vswitchctl's own version\n\n"
           "Exit status: 0 on success, 1 when vswitchd refused the request or could not be\n"
           "reached, 2 for a usage error.\n",
           usage_line, DEFAULT_SOCKET, DEFAULT_TIMEOUT);
}

/* ---- talking to vswitchd ------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for events on fd until the deadline (0: none). Dies on timeout. */
static void wait_fd(int fd, short events, double deadline, double timeout)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms = -1, n;

        if (deadline > 0) {
            double left = deadline - now_s();
            if (left <= 0)
                die("no reply from vswitchd within %g s (see --timeout)", timeout);
            ms = (int)(left * 1000) + 1; /* rounded up: never spin at 0 ms */
        }
        n = poll(&p, 1, ms);
        if (n > 0)
            return;
        if (n < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
    }
}

static json_t *transact(const char *path, json_t *request, double timeout)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    double deadline = timeout > 0 ? now_s() + timeout : 0;
    char *line, *buf = NULL;
    size_t len, off = 0, cap = 0;
    json_error_t jerr;
    json_t *reply;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        die("cannot connect to %s: socket path longer than %zu bytes", path,
            sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    /* Non-blocking, so that a daemon too busy to accept cannot hang us past --timeout:
     * a UNIX socket says EAGAIN while its backlog is full. */
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            die("cannot connect to %s: %s (is vswitchd running? see -s)", path, strerror(errno));
        if (deadline > 0 && now_s() > deadline)
            die("cannot connect to %s: vswitchd does not accept connections (see --timeout)",
                path);
        usleep(10000);
    }

    line = json_dumps(request, JSON_COMPACT);
    if (!line)
        die("out of memory");
    len = strlen(line);
    line[len] = '\n'; /* the NUL's byte: json_dumps allocated len + 1 */
    while (off < len + 1) {
        ssize_t n;
        wait_fd(fd, POLLOUT, deadline, timeout);
        n = send(fd, line + off, len + 1 - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            /* The daemon may refuse us (too many clients) with a reply and close before
             * reading our request: print its reason rather than a broken pipe. */
            if (errno == EPIPE || errno == ECONNRESET)
                break;
            die("sending to %s: %s", path, strerror(errno));
        }
        off += (size_t)n;
    }
    free(line);

    /* One reply line. It can be large (a full forwarding table). */
    off = 0;
    for (;;) {
        ssize_t n;
        char *nl;
        if (cap - off < 65536) {
            cap = cap ? cap * 2 : 65536;
            if (cap > MAX_REPLY)
                die("reply from vswitchd larger than %u bytes", MAX_REPLY);
            buf = realloc(buf, cap);
            if (!buf)
                die("out of memory");
        }
        wait_fd(fd, POLLIN, deadline, timeout);
        n = recv(fd, buf + off, cap - off, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("reading from %s: %s", path, strerror(errno));
        }
        if (n == 0)
            die("vswitchd closed the connection without replying");
        nl = memchr(buf + off, '\n', (size_t)n);
        off += (size_t)n;
        if (nl) {
            off = (size_t)(nl - buf);
            break;
        }
    }
    close(fd);
    reply = json_loadb(buf, off, 0, &jerr);
    free(buf);
    if (!reply || !json_is_object(reply))
        die("bad reply from vswitchd: %s", reply ? "not an object" : jerr.text);
    return reply;
}

/* ---- printing ----------------------------------------------------------- */

/* A scalar as table text; objects and arrays as compact JSON. Caller frees. */
static char *text(const json_t *v)
{
    char *s = NULL;

    if (!v)
        return strdup("-");
    switch (json_typeof(v)) {
    case JSON_STRING:
        /* Strings may come from guests or NICs: keep terminal control bytes out. */
        s = strdup(json_string_value(v));
        for (char *c = s; c && *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = '?';
        return s;
    case JSON_INTEGER:
        if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
            s = NULL;
        return s;
    case JSON_REAL:
        if (asprintf(&s, "%g", json_real_value(v)) < 0)
            s = NULL;
        return s;
    case JSON_TRUE: return strdup("yes");
    case JSON_FALSE: return strdup("no");
    case JSON_NULL: return strdup("-");
    default: s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); return s ? s : strdup("?");
    }
}

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static void print_value(const char *key, const json_t *v, int indent, int width);

/* key: value lines, nested objects indented, keys aligned within one object. */
static void print_object(const json_t *obj, int indent)
{
    const char *key;
    json_t *v;
    int width = 0;

    json_object_foreach((json_t *)obj, key, v) {
        int l = (int)strlen(key) + 1;
        if (l > width)
            width = l;
    }
    json_object_foreach((json_t *)obj, key, v)
        print_value(key, v, indent, width);
}

static void print_array_items(const json_t *arr, int indent)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) {
        if (json_is_object(v) && json_object_size(v)) {
            /* The first member goes on the "- " line, the rest under it. */
            const char *key;
            json_t *m;
            int width = 0;
            bool first = true;
            json_object_foreach(v, key, m) {
                int l = (int)strlen(key) + 1;
                if (l > width)
                    width = l;
            }
            json_object_foreach(v, key, m) {
                if (first)
                    printf("%*s- ", indent, "");
                print_value(key, m, first ? 0 : indent + 2, width);
                first = false;
            }
        } else {
            char *s = text(v);
            printf("%*s- %s\n", indent, "", s ? s : "?");
            free(s);
        }
    }
}

static void print_value(const char *raw_key, const json_t *v, int indent, int width)
{
    char key[256], *s;
    size_t k;

    for (k = 0; raw_key[k] && k < sizeof(key) - 1; k++)
        key[k] = ((unsigned char)raw_key[k] < 0x20 || raw_key[k] == 0x7f) ? '?' : raw_key[k];
    key[k] = '\0';

    if (json_is_object(v) && json_object_size(v)) {
        printf("%*s%s:\n", indent, "", key);
        print_object(v, indent + 2);
        return;
    }
    if (json_is_array(v) && json_array_size(v)) {
        bool scalars = true;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) scalars = scalars && is_scalar(e);
        if (!scalars) {
            printf("%*s%s:\n", indent, "", key);
            print_array_items(v, indent + 2);
            return;
        }
        printf("%*s%s:%*s", indent, "", key, (int)(width - (int)strlen(key)), "");
        json_array_foreach(v, i, e) {
            s = text(e);
            printf("%s%s", i ? ", " : "", s ? s : "?");
            free(s);
        }
        putchar('\n');
        return;
    }
    s = json_is_object(v) ? strdup("{}") : json_is_array(v) ? strdup("[]") : text(v);
    printf("%*s%s:%*s%s\n", indent, "", key, (int)(width - (int)strlen(key)), "", s ? s : "?");
    free(s);
}

/* A table: header row, then rows; columns listed up front plus any unknown keys
 * found in the rows (so new fields show up without a new vswitchctl). */
struct column {
    const char *key;  /* member of each row object, or NULL for a computed column */
    char *header;
    bool right;       /* numbers are right-aligned */
};

struct table {
    struct column cols[64];
    size_t n_cols;
    char **cells; /* n_rows * n_cols */
    size_t n_rows;
};

static void table_col(struct table *t, const char *key, const char *header, bool right)
{
    if (t->n_cols < 64) {
        t->cols[t->n_cols].key = key;
        t->cols[t->n_cols].header = strdup(header);
        t->cols[t->n_cols].right = right;
        t->n_cols++;
    }
}

/* Adds a column for every member of the rows that no column and no entry of skip
 * names (skip: members deliberately left out of the table). */
static void table_extra_cols(struct table *t, const json_t *rows, const char *const *skip)
{
    size_t i;
    json_t *row, *v;
    const char *key;

    json_array_foreach(rows, i, row) {
        if (!json_is_object(row))
            continue;
        json_object_foreach(row, key, v) {
            bool known = false;
            for (size_t c = 0; c < t->n_cols && !known; c++)
                known = t->cols[c].key && !strcmp(t->cols[c].key, key);
            for (const char *const *s = skip; s && *s && !known; s++)
                known = !strcmp(*s, key);
            if (!known) {
                char h[64];
                size_t j;
                for (j = 0; key[j] && j < sizeof(h) - 1; j++) {
                    char ch = key[j];
                    h[j] = ch == '_'                           ? '-'
                           : (ch >= 'a' && ch <= 'z')          ? (char)(ch - 32)
                           : ((unsigned char)ch < 0x20 || ch == 0x7f) ? '?'
                                                               : ch;
                }
                h[j] = '\0';
                table_col(t, key, h, json_is_number(v));
            }
        }
    }
}

/* A cell's text: numbers from objects are summed (drops by reason → total drops). */
static char *cell_text(const json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_int_t sum = 0;
        bool numeric = true;
        json_object_foreach((json_t *)v, k, m) {
            if (!json_is_integer(m))
                numeric = false;
            else
                sum += json_integer_value(m);
        }
        if (numeric) {
            char *s;
            return asprintf(&s, "%" JSON_INTEGER_FORMAT, sum) < 0 ? NULL : s;
        }
    }
    return text(v);
}

static void table_fill(struct table *t, const json_t *rows)
{
    size_t i;
    json_t *row;

    t->n_rows = json_array_size(rows);
    t->cells = calloc(t->n_rows * t->n_cols + 1, sizeof(char *));
    if (!t->cells)
        die("out of memory");
    json_array_foreach(rows, i, row) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const json_t *v = json_is_object(row) && t->cols[c].key
                                  ? json_object_get(row, t->cols[c].key) : NULL;
            t->cells[i * t->n_cols + c] = cell_text(v);
        }
    }
}

static void table_print(struct table *t)
{
    size_t width[64] = {0};

    for (size_t c = 0; c < t->n_cols; c++) {
        width[c] = strlen(t->cols[c].header);
        for (size_t r = 0; r < t->n_rows; r++) {
            const char *s = t->cells[r * t->n_cols + c];
            if (s && strlen(s) > width[c])
                width[c] = strlen(s);
        }
    }
    for (size_t r = 0; r <= t->n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            const char *s = r == 0 ? t->cols[c].header : t->cells[(r - 1) * t->n_cols + c];
            bool last = c + 1 == t->n_cols;
            if (!s)
                s = "?";
            if (t->cols[c].right)
                printf("%*s%s", (int)width[c], s, last ? "" : "  ");
            else if (last)
                printf("%s", s);
            else
                printf("%-*s  ", (int)width[c], s);
        }
        putchar('\n');
    }
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    for (size_t c = 0; c < t->n_cols; c++)
        free(t->cols[c].header);
    memset(t, 0, sizeof(*t));
}

/* Members of result not in known[], printed generically after the main output. */
static void print_rest(const json_t *result, const char *const *known)
{
    json_t *rest = json_deep_copy(result);

    if (!rest)
        return;
    for (const char *const *k = known; *k; k++)
        json_object_del(rest, *k);
    if (json_object_size(rest))
        print_object(rest, 0);
    json_decref(rest);
}

static void print_list_ports(const json_t *res)
{
    static const char *const skip[] = {"id", "rx_bytes", "tx_bytes", NULL};
    static const char *const known[] = {"ports", NULL};
    const json_t *ports = json_object_get(res, "ports");
    struct table t = {0};

    if (!json_is_array(ports)) {
        print_object(res, 0);
        return;
    }
    table_col(&t, "name", "NAME", false);
    table_col(&t, "type", "TYPE", false);
    table_col(&t, "link", "LINK", false);
    table_col(&t, "rx_queues", "RXQ", true);
    table_col(&t, "tx_queues", "TXQ", true);
    table_col(&t, "rx_packets", "RX-PKTS", true);
    table_col(&t, "tx_packets", "TX-PKTS", true);
    table_col(&t, "drops", "DROPS", true);
    table_extra_cols(&t, ports, skip);
    table_fill(&t, ports);
    table_print(&t);
    print_rest(res, known);
}

static void print_fdb_show(const json_t *res)
{
    static const char *const known[] = {"entries", "count", "capacity", "aging", NULL};
    const json_t *entries = json_object_get(res, "entries");
    const json_t *count = json_object_get(res, "count"), *cap = json_object_get(res, "capacity");
    const json_t *aging = json_object_get(res, "aging");
    struct table t = {0};

    if (!json_is_array(entries)) {
        print_object(res, 0);
        return;
    }
    table_col(&t, "vlan", "VLAN", true);
    table_col(&t, "mac", "MAC", false);
    table_col(&t, "port", "PORT", false);
    table_col(&t, "age", "AGE", true);
    table_extra_cols(&t, entries, NULL);
    table_fill(&t, entries);
    table_print(&t);
    printf("%" JSON_INTEGER_FORMAT " entries",
           json_is_integer(count) ? json_integer_value(count)
                                  : (json_int_t)json_array_size(entries));
    if (json_is_integer(cap))
        printf(", capacity %" JSON_INTEGER_FORMAT, json_integer_value(cap));
    if (json_is_integer(aging)) {
        if (json_integer_value(aging))
            printf(", aging %" JSON_INTEGER_FORMAT " s", json_integer_value(aging));
        else
            printf(", no aging");
    }
    putchar('\n');
    print_rest(res, known);
}

static void print_pollers(const json_t *res)
{
    static const char *const known[] = {"mode", "pollers", "tx_queues", NULL};
    static const char *const poller_known[] = {"id", "cpu", "queues", NULL};
    const json_t *mode = json_object_get(res, "mode"), *pollers = json_object_get(res, "pollers");
    const json_t *txq = json_object_get(res, "tx_queues");
    size_t i;
    json_t *p;

    if (!json_is_array(pollers)) {
        print_object(res, 0);
        return;
    }
    if (json_is_string(mode))
        printf("mode: %s\n", json_string_value(mode));
    json_array_foreach(pollers, i, p) {
        const json_t *queues = json_object_get(p, "queues");
        char *id = text(json_object_get(p, "id")), *cpu = text(json_object_get(p, "cpu"));
        const json_t *busy = json_object_get(p, "busy_cycles"), *idle = json_object_get(p, "idle_cycles");
        size_t j;
        json_t *q;

        printf("\npoller %s on cpu %s\n", id ? id : "?", cpu ? cpu : "?");
        free(id);
        free(cpu);
        if (!json_is_object(p))
            continue;
        printf("  rx queues:");
        if (!json_is_array(queues) || !json_array_size(queues))
            printf(" none");
        json_array_foreach(queues, j, q) {
            char *port = text(json_object_get(q, "port")), *qn = text(json_object_get(q, "queue"));
            printf(" %s/%s", port ? port : "?", qn ? qn : "?");
            free(port);
            free(qn);
        }
        putchar('\n');
        if (json_is_integer(busy) && json_is_integer(idle) &&
            json_integer_value(busy) + json_integer_value(idle) > 0)
            printf("  busy: %.1f%%\n", 100.0 * (double)json_integer_value(busy) /
                                           (double)(json_integer_value(busy) +
                                                    json_integer_value(idle)));
        {
            json_t *rest = json_deep_copy(p);
            if (rest) {
                for (const char *const *k = poller_known; *k; k++)
                    json_object_del(rest, *k);
                print_object(rest, 2);
                json_decref(rest);
            }
        }
    }
    if (json_is_array(txq) && json_array_size(txq)) {
        struct table t = {0};
        printf("\ntx queues:\n");
        table_col(&t, "port", "PORT", false);
        table_col(&t, "queue", "QUEUE", true);
        table_col(&t, "shared", "SHARED", false);
        table_extra_cols(&t, txq, NULL);
        table_fill(&t, txq);
        table_print(&t);
    }
    {
        json_t *rest = json_deep_copy(res);
        if (rest) {
            for (const char *const *k = known; *k; k++)
                json_object_del(rest, *k);
            if (json_object_size(rest)) {
                putchar('\n');
                print_object(rest, 0);
            }
            json_decref(rest);
        }
    }
}

static void print_version(const json_t *res)
{
    static const char *const known[] = {"version", NULL};
    const json_t *v = json_object_get(res, "version");

    if (json_is_string(v))
        printf("vswitchd %s\n", json_string_value(v));
    print_rest(res, known);
}

static void print_fdb_flush(const json_t *res)
{
    static const char *const known[] = {"removed", NULL};
    const json_t *n = json_object_get(res, "removed");

    if (json_is_integer(n))
        printf("removed %" JSON_INTEGER_FORMAT " entr%s\n", json_integer_value(n),
               json_integer_value(n) == 1 ? "y" : "ies");
    print_rest(res, known);
}

static void print_show(const json_t *res)
{
    print_object(res, 0);
}

static void print_quiet(const json_t *res)
{
    static const char *const known[] = {"name", NULL};

    print_rest(res, known);
}

/* ---- commands ----------------------------------------------------------- */

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);

    if (!j)
        usage_error("'%s' is not valid UTF-8 text", s);
    return j;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > 31)
        return false;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static void check_name(const char *what, const char *s)
{
    if (!valid_name(s))
        usage_error("'%s' is not a valid %s; use 1..31 characters of A-Z a-z 0-9 _ . -", s, what);
}

typedef void (*printer)(const json_t *result);

/* Builds the request for argv (command first) and picks its printer. */
static json_t *build_request(int argc, char **argv, printer *print)
{
    const char *cmd = argv[0];
    json_t *params = json_object(), *req;
    const char *wire = cmd;

    if (!params)
        die("out of memory");
#define NARGS(lo, hi)                                                                    \
    do {                                                                                 \
        if (argc - 1 < (lo) || argc - 1 > (hi))                                          \
            usage_error("'%s' takes %s", cmd, argspec);                                  \
    } while (0)
    if (!strcmp(cmd, "add-port")) {
        const char *argspec = "NAME TYPE [KEY=VALUE...]";
        json_t *opts = json_object();
        if (argc - 1 < 2)
            usage_error("'%s' takes %s", cmd, argspec);
        check_name("port name", argv[1]);
        json_object_set_new(params, "name", jstr(argv[1]));
        json_object_set_new(params, "type", jstr(argv[2]));
        for (int i = 3; i < argc; i++) {
            char *eq = strchr(argv[i], '=');
            if (!eq || eq == argv[i])
                usage_error("'%s' is not an option; write KEY=VALUE", argv[i]);
            *eq = '\0';
            if (json_object_get(opts, argv[i]))
                usage_error("option '%s' given twice", argv[i]);
            json_t *key_check = jstr(argv[i]);
            json_decref(key_check);
            json_object_set_new(opts, argv[i], jstr(eq + 1));
        }
        json_object_set_new(params, "options", opts);
        *print = print_quiet;
    } else if (!strcmp(cmd, "del-port") || !strcmp(cmd, "show")) {
        const char *argspec = "NAME";
        NARGS(1, 1);
        check_name("port name", argv[1]);
        json_object_set_new(params, "name", jstr(argv[1]));
        *print = !strcmp(cmd, "show") ? print_show : print_quiet;
    } else if (!strcmp(cmd, "list-ports")) {
        const char *argspec = "no arguments";
        NARGS(0, 0);
        *print = print_list_ports;
    } else if (!strcmp(cmd, "fdb")) {
        if (argc < 2)
            usage_error("'fdb' takes 'show' or 'flush [PORT]'");
        if (!strcmp(argv[1], "show")) {
            if (argc != 2)
                usage_error("'fdb show' takes no arguments");
            wire = "fdb-show";
            *print = print_fdb_show;
        } else if (!strcmp(argv[1], "flush")) {
            if (argc > 3)
                usage_error("'fdb flush' takes at most one PORT");
            if (argc == 3) {
                check_name("port name", argv[2]);
                json_object_set_new(params, "port", jstr(argv[2]));
            }
            wire = "fdb-flush";
            *print = print_fdb_flush;
        } else {
            usage_error("unknown fdb command '%s'; use 'fdb show' or 'fdb flush [PORT]'", argv[1]);
        }
    } else if (!strcmp(cmd, "pollers")) {
        const char *argspec = "no arguments";
        NARGS(0, 0);
        *print = print_pollers;
    } else if (!strcmp(cmd, "version")) {
        const char *argspec = "no arguments";
        NARGS(0, 0);
        *print = print_version;
    } else {
        usage_error("unknown command '%s'; use add-port, del-port, list-ports, show, fdb show, "
                    "fdb flush, pollers or version", cmd);
    }
#undef NARGS
    req = json_pack("{s:i, s:s, s:o}", "id", 1, "command", wire, "params", params);
    if (!req)
        die("out of memory");
    return req;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    const char *sock = getenv("VSWITCH_SOCKET");
    double timeout = DEFAULT_TIMEOUT;
    bool as_json = false;
    json_t *req, *reply, *result, *error;
    printer print = NULL;
    int c;

    if (!sock || !sock[0])
        sock = DEFAULT_SOCKET;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:hV", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 's': sock = optarg; break;
        case 'j': as_json = true; break;
        case 't':
            errno = 0;
            timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(timeout >= 0) || timeout > 86400)
                usage_error("--timeout '%s': use a number of seconds from 0 to 86400", optarg);
            break;
        case 'h': help(); return 0;
        case 'V': printf("vswitchctl %s\n", VS_VERSION); return 0;
        case ':': usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt)
                usage_error("unknown option '-%c'", optopt);
            usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        usage_error("no command given");
    req = build_request(argc - optind, argv + optind, &print);
    reply = transact(sock, req, timeout);
    json_decref(req);

    if (json_is_true(json_object_get(reply, "ok"))) {
        result = json_object_get(reply, "result");
        if (as_json) {
            char *s = json_dumps(result ? result : json_object(), JSON_INDENT(2) | JSON_ENCODE_ANY);
            if (!s)
                die("out of memory");
            puts(s);
            free(s);
        } else if (json_is_object(result)) {
            print(result);
        } else if (result) {
            char *s = text(result);
            puts(s ? s : "?");
            free(s);
        }
        json_decref(reply);
        if (fflush(stdout) || ferror(stdout))
            die("writing output: %s", strerror(errno));
        return 0;
    }
    error = json_object_get(reply, "error");
    {
        const json_t *msg = json_object_get(error, "message");
        const json_t *code = json_object_get(error, "code");
        fprintf(stderr, "vswitchctl: %s\n",
                json_is_string(msg)    ? json_string_value(msg)
                : json_is_string(code) ? json_string_value(code)
                                       : "vswitchd refused the request without saying why");
    }
    json_decref(reply);
    return 1;
}
