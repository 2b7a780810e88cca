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

#include "src/cli_doc.h"
#include "src/ctl.h"
#include "vswitch/compiler.h"

#ifndef VS_VERSION
#define VS_VERSION "unknown"
#endif

#define DEFAULT_SOCKET "/run/vswitch/vswitchd.sock"
#define DEFAULT_TIMEOUT 30.0
#define MAX_REPLY (1u << 30)

static const char synopsis[] = "[-s SOCKET] [--json] [--timeout SECONDS] COMMAND [ARGS...]";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("vswitchctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: vswitchctl %s\nTry 'vswitchctl --help' for more information.\n",
            synopsis);
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

/* "running -> file" of one {"key", "running", "file"}, with "key: " first when
 * with_key. Caller frees. */
static char *pair_text(const json_t *c, bool with_key)
{
    char *k = text(json_object_get(c, "key")), *r = text(json_object_get(c, "running"));
    char *f = text(json_object_get(c, "file")), *out;

    if (asprintf(&out, "%s%s%s -> %s", with_key && k ? k : "", with_key ? ": " : "",
                 r ? r : "?", f ? f : "?") < 0)
        out = NULL;
    free(k);
    free(r);
    free(f);
    return out;
}

/* A re-created port's changes: "mtu: 1500 -> 1400, offloads: - -> off". */
static char *changes_text(const json_t *changes)
{
    char *out = strdup(""), *next;
    size_t i;
    json_t *c;

    json_array_foreach(changes, i, c) {
        char *p = pair_text(c, true);
        if (!out || !p || asprintf(&next, "%s%s%s", out, i ? ", " : "", p) < 0)
            next = NULL;
        free(out);
        free(p);
        out = next;
    }
    return out;
}

static void print_reload(const json_t *res)
{
    static const struct {
        const char *list, *label;
    } kinds[] = {{"added", "added"},         {"removed", "removed"},
                 {"recreated", "re-created"}, {"changed", "changed live"},
                 {"kept", "kept"},
                 {"applied", "applied"},     {"needs_restart", "needs a restart"},
                 {"failed", "FAILED"}};
    static const char *const known[] = {"file",          "added",  "removed",   "recreated",
                                        "changed",       "kept",   "applied",   "needs_restart",
                                        "failed",        "unchanged", NULL};
    const json_t *unchanged = json_object_get(res, "unchanged");
    char *file = text(json_object_get(res, "file"));
    json_t *rows = json_array();
    struct table t = {0};

    if (!rows)
        die("out of memory");
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        const char *list = kinds[k].list;
        const json_t *e;
        size_t i;

        json_array_foreach(json_object_get(res, list), i, e) {
            const json_t *name = json_object_get(e, "name");
            char *detail, *type = text(json_object_get(e, "type"));

            if (!name)
                name = json_object_get(e, "key");
            if (!strcmp(list, "failed"))
                detail = text(json_object_get(e, "error"));
            else if (!strcmp(list, "recreated") || !strcmp(list, "changed"))
                detail = changes_text(json_object_get(e, "changes"));
            else if (!strcmp(list, "applied") || !strcmp(list, "needs_restart"))
                detail = pair_text(e, false);
            else if (strcmp(list, "kept"))
                detail = strdup(type ? type : "?");
            else if (asprintf(&detail, "%s, not in the file (added with add-port)",
                              type ? type : "?") < 0)
                detail = NULL;
            json_array_append_new(rows, json_pack("{s:s, s:O, s:s}", "change", kinds[k].label,
                                                  "name", name ? name : json_null(), "detail",
                                                  detail ? detail : "?"));
            free(detail);
            free(type);
        }
    }
    if (json_array_size(rows)) {
        table_col(&t, "change", "CHANGE", false);
        table_col(&t, "name", "NAME", false);
        table_col(&t, "detail", "DETAIL", false);
        table_fill(&t, rows);
        table_print(&t);
    }
    printf("%s%s: %" JSON_INTEGER_FORMAT " port%s unchanged\n",
           json_array_size(rows) ? "" : "no change: ", file ? file : "?",
           json_is_integer(unchanged) ? json_integer_value(unchanged) : 0,
           json_is_integer(unchanged) && json_integer_value(unchanged) == 1 ? "" : "s");
    free(file);
    json_decref(rows);
    print_rest(res, known);
}

static void print_captures(const json_t *res)
{
    static const char *const known[] = {"captures", NULL};
    const json_t *caps = json_object_get(res, "captures");
    struct table t = {0};

    if (!json_is_array(caps)) {
        print_object(res, 0);
        return;
    }
    table_col(&t, "port", "PORT", false);
    table_col(&t, "directions", "DIRECTIONS", false);
    table_col(&t, "captured", "CAPTURED", true);
    table_col(&t, "lost", "LOST", true);
    table_col(&t, "count", "COUNT", true);
    table_col(&t, "state", "STATE", false);
    table_extra_cols(&t, caps, NULL);
    table_fill(&t, caps);
    table_print(&t);
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

/* ---- commands ----------------------------------------------------------- */

/* What every command may use: where the daemon is and how to print. */
struct ctl {
    const char *sock;
    double timeout;
    bool as_json;
};

typedef void (*printer)(const json_t *result);

/* One row per command. The dispatch, --help, the manual page and the bash
 * completion all read this table (src/vswitchctl.c is their only source), so a
 * command added here is documented and completed everywhere at once.
 *
 * args is the synopsis of the arguments after the command's words, and also
 * what completion offers: PORT is an existing port's name (from list-ports),
 * TYPE a port type, KEY=VALUE an option of the port's TYPE, FILE a file; a
 * word ending in "..." repeats; [-x ARG] and [--x|--y] groups are the command's
 * own options. */
struct command {
    const char *name;    /* as typed; "fdb show" is the group fdb's show */
    const char *wire;    /* the request's "command"; NULL: the same as name */
    const char *args;    /* synopsis, "" when it takes none */
    const char *summary; /* one line for --help, the first sentence of the man page's entry */
    const char *doc;     /* the rest of the man page's entry, or NULL */
    int min_args, max_args; /* how many words after the name; max -1: no limit */
    /* Fills the request's params from the arguments (count already checked). */
    void (*build)(json_t *params, int argc, char **argv);
    printer print;
    /* For a command that is not one request and one reply (a stream, a live
     * view): runs it all and returns the exit status; build and print unused. */
    int (*run)(const struct ctl *ctl, int argc, char **argv);
};

/* KEY=VALUE arguments into params.options. */
static void build_options(json_t *params, int argc, char **argv)
{
    json_t *opts = json_object();

    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            usage_error("'%s' is not an option; write KEY=VALUE", argv[i]);
        *eq = '\0';
        if (json_object_get(opts, argv[i]))
            usage_error("option '%s' given twice", argv[i]);
        json_decref(jstr(argv[i])); /* the key must be UTF-8 too */
        json_object_set_new(opts, argv[i], jstr(eq + 1));
    }
    json_object_set_new(params, "options", opts);
}

static void build_add_port(json_t *params, int argc, char **argv)
{
    check_name("port name", argv[0]);
    json_object_set_new(params, "name", jstr(argv[0]));
    json_object_set_new(params, "type", jstr(argv[1]));
    build_options(params, argc - 2, argv + 2);
}

static void build_set_port(json_t *params, int argc, char **argv)
{
    check_name("port name", argv[0]);
    json_object_set_new(params, "name", jstr(argv[0]));
    build_options(params, argc - 1, argv + 1);
}

static void build_name(json_t *params, int argc, char **argv)
{
    check_name("port name", argv[0]);
    json_object_set_new(params, "name", jstr(argv[0]));
}

static void build_fdb_flush(json_t *params, int argc, char **argv)
{
    if (argc == 1) {
        check_name("port name", argv[0]);
        json_object_set_new(params, "port", jstr(argv[0]));
    }
}

/* Commands in files of their own (src/ctl.h): argv[-1] is the command's name. */
static int run_capture(const struct ctl *ctl, int argc, char **argv)
{
    return vs_ctl_capture_main(ctl->sock, argc + 1, argv - 1);
}

static int run_top(const struct ctl *ctl, int argc, char **argv)
{
    return vs_ctl_top_main(ctl->sock, argc + 1, argv - 1);
}

/* VLAN MAC [PORT] of fdb add and fdb del. */
static void build_fdb_entry(json_t *params, int argc, char **argv)
{
    char *end;
    unsigned long vlan = strtoul(argv[0], &end, 10);

    if (!argv[0][0] || *end || vlan > 4094)
        usage_error("'%s' is not a VLAN ID; use 0..4094", argv[0]);
    json_object_set_new(params, "vlan", json_integer((json_int_t)vlan));
    json_object_set_new(params, "mac", jstr(argv[1]));
    if (argc == 3) {
        check_name("port name", argv[2]);
        json_object_set_new(params, "port", jstr(argv[2]));
    }
}

/* NAME src=PORT[,PORT...] [dir=rx|tx|both] dst=PORT */
static void build_mirror_add(json_t *params, int argc, char **argv)
{
    check_name("mirror name", argv[0]);
    json_object_set_new(params, "name", jstr(argv[0]));
    for (int i = 1; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq)
            usage_error("'%s' is not KEY=VALUE; use src=PORT[,PORT...], dir=rx|tx|both, dst=PORT",
                        argv[i]);
        *eq = '\0';
        if (strcmp(argv[i], "src") && strcmp(argv[i], "dir") && strcmp(argv[i], "dst"))
            usage_error("unknown mirror option '%s'; use src, dir and dst", argv[i]);
        if (json_object_get(params, argv[i]))
            usage_error("option '%s' given twice", argv[i]);
        json_object_set_new(params, argv[i], jstr(eq + 1));
    }
    if (!json_object_get(params, "src") || !json_object_get(params, "dst"))
        usage_error("'mirror add' needs src=PORT[,PORT...] and dst=PORT");
}

static void build_mirror_name(json_t *params, int argc, char **argv)
{
    check_name("mirror name", argv[0]);
    json_object_set_new(params, "name", jstr(argv[0]));
}

static const struct command commands[] = {
    {"add-port", NULL, "NAME TYPE [KEY=VALUE...]",
     "add a port; KEY=VALUE are the options of its TYPE and the switch's (vlan_mode, tag, "
     "trunks, native_vlan, mac_limit, allowed_macs), as in the ports section of the config "
     "(add-port tap0 tap ifname=vs-tap0 vlan_mode=access tag=10)",
     "The options are checked by the port's type before anything is created; a refused port "
     "changes nothing and the error names the option. Port types and their options are listed "
     "in vswitchd.yaml(5). The port lives until del-port or the end of vswitchd: it is not "
     "written to the config file.",
     2, -1, build_add_port, print_quiet, NULL},
    {"set-port", NULL, "PORT KEY=VALUE...",
     "change a running port's switch settings: vlan_mode, tag, trunks, native_vlan, "
     "mac_limit, allowed_macs, storm control and policing (set-port vm1 vlan_mode=access "
     "tag=10)",
     "The change reaches the pollers without pausing them: other ports lose nothing. An empty "
     "value (tag=) resets a key; a new vlan_mode starts the VLAN keys afresh. A type's options "
     "cannot change on a running port (del-port and add-port it). A refused change leaves the "
     "port as it was.",
     2, -1, build_set_port, print_quiet, NULL},
    {"del-port", NULL, "PORT", "remove a port",
     "Its queues leave their pollers, its forwarding table entries are flushed and its "
     "resources (sockets, devices, guest memory) are released.",
     1, 1, build_name, print_quiet, NULL},
    {"list-ports", NULL, "", "one line per port: type, link, queues, counters", NULL, 0, 0, NULL,
     print_list_ports, NULL},
    {"show", NULL, "PORT", "everything about one port: counters, drops by reason, type details",
     "The type details include what a guest or NIC negotiated (features, offloads, MTU) and "
     "each queue's state and counters.",
     1, 1, build_name, print_show, NULL},
    {"fdb show", "fdb-show", "",
     "the forwarding table: VLAN, MAC, port, age and kind (learned, pinned, static) of each entry",
     NULL, 0, 0, NULL, print_fdb_show, NULL},
    {"fdb flush", "fdb-flush", "[PORT]", "forget learnt addresses: all of them, or PORT's", NULL,
     0, 1, build_fdb_flush, print_fdb_flush, NULL},
    {"fdb add", "fdb-add", "VLAN MAC PORT",
     "a static entry: frames of VLAN to MAC go to PORT (fdb add 10 52:54:00:00:00:01 vm1)",
     "A static entry is never aged, and a frame from another port claiming MAC is dropped "
     "(source_mac_pinned) instead of moving it. flush keeps it; it goes with its port or with "
     "fdb del. VLAN is the VLAN inside the switch: an access port's tag, 0 for untagged frames "
     "of transparent ports.",
     3, 3, build_fdb_entry, print_quiet, NULL},
    {"fdb del", "fdb-del", "VLAN MAC", "remove the entry of VLAN and MAC, static or learned",
     NULL, 2, 2, build_fdb_entry, print_quiet, NULL},
    {"mirror add", "mirror-add", "NAME src=PORT[,PORT...] [dir=rx|tx|both] dst=PORT",
     "copy what the src ports receive (rx), send (tx) or both (the default) to port dst",
     "Copies are shared, not duplicated, and go to dst after the traffic they copy: a dst that "
     "is full drops them (counted as the mirror's dropped) and never slows forwarding. A mirror's "
     "dst may not be a source of any mirror. Deleting a port deletes the mirrors that use it.",
     2, 4, build_mirror_add, print_quiet, NULL},
    {"mirror del", "mirror-del", "NAME", "remove a mirror", NULL, 1, 1, build_mirror_name,
     print_quiet, NULL},
    {"mirror list", "mirror-list", "", "the mirrors: sources, direction, port, copies and drops",
     NULL, 0, 0, NULL, print_show, NULL},
    {"pollers", NULL, "", "poller threads: their CPU, rx queues and busy share; shared tx queues",
     NULL, 0, 0, NULL, print_pollers, NULL},
    {"reload", NULL, "", "re-read vswitchd's config file and apply what changed, as SIGHUP does",
     "The file is checked whole first: a file with a mistake changes nothing, and its "
     "FILE:LINE:COL line is printed (exit status 1). Otherwise ports the file names are added, "
     "changed live when only the keys set-port takes differ, or re-created when their type or "
     "type options differ; ports of the previous file that it no longer "
     "names are removed; ports added with add-port that no file named are kept; other ports are "
     "not touched and lose no frame. log.level and control.idle_timeout change at once; pollers, "
     "memory, the control socket and the fdb need a restart, and are listed as such. The table "
     "lists each change; a port that could not be opened is listed as FAILED (exit status 1).",
     0, 0, NULL, print_reload, NULL},
    {"version", NULL, "", "vswitchd's version", NULL, 0, 0, NULL, print_version, NULL},
    {"capture", NULL, "PORT [--rx] [--tx] [--drops] [-c COUNT] [-s SNAPLEN] [-w FILE] [-q]",
     "copy PORT's frames as pcapng to FILE, or to stdout (-w -, the default when it is not a "
     "terminal): vswitchctl capture vm1 | tcpdump -nr -",
     "--rx takes the frames PORT received, --tx those it sent, --drops those the switch dropped "
     "and counted on it (each with its reason as the frame's comment); all three when none is "
     "given, each as a pcapng interface of its own (PORT:rx, PORT:tx, PORT:drops). -s keeps the "
     "first SNAPLEN bytes of each frame (default and at most 262144). The capture ends after "
     "COUNT frames (-c), on Ctrl-C, when the reader of the output goes away, or when the port is "
     "removed; then vswitchctl prints how many frames it got and how many were lost because it "
     "read too slowly (-q: nothing). Forwarding never waits for a capture.",
     1, -1, NULL, NULL, run_capture},
    {"captures", NULL, "", "the captures running: port, directions, frames captured and lost",
     NULL, 0, 0, NULL, print_captures, NULL},
    {"top", NULL, "[--once]",
     "a live view refreshed every second: pollers and ports, busiest first; q quits",
     "Pollers: the share of time busy forwarding, cycles per frame received, queues polled and "
     "sleeps per second (adaptive mode). Ports: frames and bits per second each way and drops "
     "per second, with the reasons under the port. It fits an 80x24 terminal. --once prints one "
     "frame (the rates over one second) and exits, for scripts.",
     0, -1, NULL, NULL, run_top},
};

/* ---- options and documentation ------------------------------------------ */

static const char description[] =
    "vswitchctl controls a running vswitchd through its control socket: it sends one request "
    "and prints the reply, as tables for people or, with --json, as JSON for scripts.\n\n"
    "The socket speaks JSON, one request and one reply per line; the protocol is documented in "
    "the project's README, so scripts can also talk to it without vswitchctl.";
static const char exit_status[] = "0 on success, 1 when vswitchd refused the request (or a reload "
                                  "could not open a port) or could not be reached, 2 for a usage "
                                  "error.";

enum { OPT_SOCKET, OPT_JSON, OPT_TIMEOUT, OPT_GENERATE, OPT_HELP, OPT_VERSION, N_OPTS };
static const struct vs_cli_opt options[N_OPTS] = {
    [OPT_SOCKET] = {"socket", 's', "SOCKET",
                    "the control socket (default: $VSWITCH_SOCKET, or " DEFAULT_SOCKET ")"},
    [OPT_JSON] = {"json", 0, NULL, "print the reply's result as JSON instead of tables"},
    [OPT_TIMEOUT] = {"timeout", 0, "SECONDS",
                     "give up waiting for vswitchd after SECONDS (default 30, 0 waits forever)"},
    [OPT_GENERATE] = {"generate", 0, "man|bash",
                      "print this manual page (roff) or the bash completion script, both made "
                      "from the command table, and exit"},
    [OPT_HELP] = {"help", 'h', NULL, "print this help and exit"},
    [OPT_VERSION] = {"version", 'V', NULL, "print vswitchctl's own version and exit"},
};

static void help(void)
{
    char term[128];

    printf("usage: vswitchctl %s\n\n", synopsis);
    vs_help_text(stdout, 0, "Controls a running vswitchd through its control socket.");
    printf("\nCommands:\n");
    for (size_t i = 0; i < VS_ARRAY_SIZE(commands); i++) {
        snprintf(term, sizeof(term), "%s%s%s", commands[i].name, commands[i].args[0] ? " " : "",
                 commands[i].args);
        vs_help_item(stdout, term, commands[i].summary);
    }
    printf("\nOptions:\n");
    vs_help_opts(stdout, options, N_OPTS);
    printf("\nExit status:\n");
    vs_help_text(stdout, 2, exit_status);
    printf("See vswitchctl(8) for more.\n");
}

static void man_page(void)
{
    vs_man_begin(stdout, "vswitchctl", 8, "control a running vswitchd");
    vs_man_synopsis(stdout, "vswitchctl", synopsis);
    vs_man_section(stdout, "DESCRIPTION");
    vs_man_text(stdout, description);
    vs_man_section(stdout, "OPTIONS");
    vs_man_opts(stdout, options, N_OPTS);
    vs_man_section(stdout, "COMMANDS");
    for (size_t i = 0; i < VS_ARRAY_SIZE(commands); i++) {
        char text[2048];

        snprintf(text, sizeof(text), "%s.%s%s", commands[i].summary, commands[i].doc ? " " : "",
                 commands[i].doc ? commands[i].doc : "");
        vs_man_item(stdout, commands[i].name, commands[i].args, text);
    }
    vs_man_section(stdout, "ENVIRONMENT");
    vs_man_item(stdout, "VSWITCH_SOCKET", NULL, "The control socket when -s is not given.");
    vs_man_section(stdout, "EXIT STATUS");
    vs_man_text(stdout, exit_status);
    vs_man_section(stdout, "FILES");
    vs_man_item(stdout, DEFAULT_SOCKET, NULL,
                "The default control socket (control.socket in vswitchd.yaml(5)). Who may use "
                "it is set by control.mode and control.group.");
    vs_man_section(stdout, "SEE ALSO");
    vs_man_text(stdout, "vswitchd(8), vswitchd.yaml(5)");
}

/* The completion's fixed part: it reads the tables the generator writes above
 * it (_vswitchctl_cmds and friends, and _vswitchctl_port_keys from vswitchd). */
static const char completion_fn[] =
    "_vswitchctl_optarg()\n"
    "{\n"
    "\tlocal e\n"
    "\tfor e in $2; do\n"
    "\t\tif [[ ${e%%:*} == \"$1\" ]]; then\n"
    "\t\t\techo \"${e#*:}\"\n"
    "\t\t\treturn 0\n"
    "\t\tfi\n"
    "\tdone\n"
    "\treturn 1\n"
    "}\n"
    "\n"
    "_vswitchctl_match()\n"
    "{\n"
    "\tlocal i\n"
    "\tfor i in \"${!_vswitchctl_cmds[@]}\"; do\n"
    "\t\tif [[ ${_vswitchctl_cmds[i]} == \"$*\" ]]; then\n"
    "\t\t\techo \"$i\"\n"
    "\t\t\treturn\n"
    "\t\tfi\n"
    "\tdone\n"
    "\techo -1\n"
    "}\n"
    "\n"
    "# _vswitchctl_arg PLACEHOLDER SOCKET TYPE: completes the current word as one.\n"
    "_vswitchctl_arg()\n"
    "{\n"
    "\tlocal ph=${1%...} cur=${COMP_WORDS[COMP_CWORD]} k words=''\n"
    "\tcase $ph in\n"
    "\tPORT)\n"
    "\t\twords=$(\"${COMP_WORDS[0]}\" ${2:+-s \"$2\"} --timeout 2 list-ports 2>/dev/null |\n"
    "\t\t\tawk 'NR > 1 { print $1 }')\n"
    "\t\t;;\n"
    "\tTYPE) words=${!_vswitchctl_port_keys[*]} ;;\n"
    "\tKEY=VALUE)\n"
    "\t\t[[ $cur == *=* ]] && return\n"
    "\t\t# The options of the port's TYPE, if there is one, and the switch's keys.\n"
    "\t\t[[ -n $3 ]] && for k in ${_vswitchctl_port_keys[$3]:-}; do words+=\" $k=\"; done\n"
    "\t\tfor k in ${_vswitchctl_switch_keys:-}; do words+=\" $k=\"; done\n"
    "\t\tcompopt -o nospace 2>/dev/null\n"
    "\t\t;;\n"
    "\t*FILE* | SOCKET)\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
    "\t\treturn\n"
    "\t\t;;\n"
    "\t*'|'*) words=${ph//|/ } ;;\n"
    "\tesac\n"
    "\tmapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
    "}\n"
    "\n"
    "_vswitchctl()\n"
    "{\n"
    "\tlocal cur=${COMP_WORDS[COMP_CWORD]} sock='' i w ph ci=-1 nw=0 c cand='' type=''\n"
    "\tlocal -a words=() pos=() cw=()\n"
    "\tCOMPREPLY=()\n"
    "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
    "\t\tw=${COMP_WORDS[i]}\n"
    "\t\tif ((ci >= 0)) && ph=$(_vswitchctl_optarg \"$w\" \"${_vswitchctl_optargs[ci]}\"); "
    "then\n"
    "\t\t\t:\n"
    "\t\telif [[ $w == --socket=* ]]; then\n"
    "\t\t\tsock=${w#--socket=}\n"
    "\t\t\tcontinue\n"
    "\t\telif ph=$(_vswitchctl_optarg \"$w\" \"$_vswitchctl_global_optargs\"); then\n"
    "\t\t\t[[ $w == -s || $w == --socket ]] && sock=${COMP_WORDS[i + 1]}\n"
    "\t\telif [[ $w == -* ]]; then\n"
    "\t\t\tcontinue\n"
    "\t\telse\n"
    "\t\t\twords+=(\"$w\")\n"
    "\t\t\tif ((ci < 0)); then\n"
    "\t\t\t\tci=$(_vswitchctl_match \"${words[@]}\")\n"
    "\t\t\t\tnw=${#words[@]}\n"
    "\t\t\tfi\n"
    "\t\t\tcontinue\n"
    "\t\tfi\n"
    "\t\t# An option that takes an argument: the next word is it.\n"
    "\t\tif ((i + 1 == COMP_CWORD)); then\n"
    "\t\t\t_vswitchctl_arg \"$ph\" \"$sock\" ''\n"
    "\t\t\treturn\n"
    "\t\tfi\n"
    "\t\t((i++))\n"
    "\tdone\n"
    "\tif [[ $cur == -* ]]; then\n"
    "\t\tw=$_vswitchctl_global_opts\n"
    "\t\t((ci >= 0)) && w+=\" ${_vswitchctl_opts[ci]}\"\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$w\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\tfi\n"
    "\tif ((ci < 0)); then\n"
    "\t\t# The next word of every command that starts with the words so far.\n"
    "\t\tfor c in \"${_vswitchctl_cmds[@]}\"; do\n"
    "\t\t\tread -ra cw <<<\"$c\"\n"
    "\t\t\t((${#cw[@]} > ${#words[@]})) || continue\n"
    "\t\t\t[[ \"${cw[*]:0:${#words[@]}}\" == \"${words[*]}\" ]] || continue\n"
    "\t\t\t[[ \" $cand \" == *\" ${cw[${#words[@]}]} \"* ]] || cand+=\" ${cw[${#words[@]}]}\"\n"
    "\t\tdone\n"
    "\t\tmapfile -t COMPREPLY < <(compgen -W \"$cand\" -- \"$cur\")\n"
    "\t\treturn\n"
    "\tfi\n"
    "\tread -ra pos <<<\"${_vswitchctl_pos[ci]}\"\n"
    "\tfor i in \"${!pos[@]}\"; do\n"
    "\t\t[[ ${pos[i]} == TYPE ]] && type=${words[nw + i]:-}\n"
    "\tdone\n"
    "\ti=$((${#words[@]} - nw))\n"
    "\tif ((i < ${#pos[@]})); then\n"
    "\t\t_vswitchctl_arg \"${pos[i]}\" \"$sock\" \"$type\"\n"
    "\telif ((${#pos[@]})) && [[ ${pos[-1]} == *... ]]; then\n"
    "\t\t_vswitchctl_arg \"${pos[-1]}\" \"$sock\" \"$type\"\n"
    "\tfi\n"
    "}\n"
    "complete -F _vswitchctl vswitchctl\n";

/* Splits a command's args synopsis into positional placeholders and its own
 * options ("-c:COUNT" for one with an argument) for the completion. */
static void split_args(const char *args, char *pos, char *opts, char *optargs, size_t size)
{
    char buf[512], *save = NULL, *tok;
    char *outs[3] = {pos, opts, optargs};

    for (int i = 0; i < 3; i++)
        outs[i][0] = '\0';
    snprintf(buf, sizeof(buf), "%s", args);
    /* "[-c COUNT]" is one group: join the words inside brackets first. */
    for (int i = 0, depth = 0; buf[i]; i++) {
        char *p = &buf[i];

        depth += *p == '[' ? 1 : *p == ']' ? -1 : 0;
        if (*p == ' ' && depth > 0)
            *p = '\x01';
    }
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *t = tok, *arg;
        size_t l = strlen(t);

        if (t[0] == '[' && t[l - 1] == ']') {
            t[l - 1] = '\0';
            t++;
        }
        if (t[0] != '-') {
            char *e = strstr(t, "]...");
            if (e) /* "[KEY=VALUE]..." */
                memmove(e, e + 1, strlen(e));
            snprintf(pos + strlen(pos), size - strlen(pos), "%s%s", pos[0] ? " " : "", t);
            continue;
        }
        arg = strchr(t, '\x01');
        if (arg)
            *arg++ = '\0';
        char *alts = NULL;
        for (char *alt = strtok_r(t, "|", &alts); alt; alt = strtok_r(NULL, "|", &alts)) {
            snprintf(opts + strlen(opts), size - strlen(opts), "%s%s", opts[0] ? " " : "", alt);
            if (arg)
                snprintf(optargs + strlen(optargs), size - strlen(optargs), "%s%s:%s",
                         optargs[0] ? " " : "", alt, arg);
        }
    }
}

static void completion(void)
{
    char pos[512], opts[512], optargs[512];
    const char *sep = "";

    printf("# bash completion for vswitchctl. Generated from its command table by\n"
           "# `vswitchctl --generate bash` (port types: `vswitchd --generate bash`);\n"
           "# edit those tables, not this file.\n");
    printf("_vswitchctl_cmds=(");
    for (size_t i = 0; i < VS_ARRAY_SIZE(commands); i++)
        printf("%s'%s'", i ? " " : "", commands[i].name);
    printf(")\n");
    for (int field = 0; field < 3; field++) {
        static const char *const names[] = {"pos", "opts", "optargs"};
        printf("_vswitchctl_%s=(", names[field]);
        for (size_t i = 0; i < VS_ARRAY_SIZE(commands); i++) {
            split_args(commands[i].args, pos, opts, optargs, sizeof(pos));
            printf("%s'%s'", i ? " " : "", field == 0 ? pos : field == 1 ? opts : optargs);
        }
        printf(")\n");
    }
    printf("_vswitchctl_global_opts='");
    for (size_t i = 0; i < N_OPTS; i++) {
        if (options[i].short_name)
            printf("-%c ", options[i].short_name);
        printf("--%s%s", options[i].name, i + 1 < N_OPTS ? " " : "'\n");
    }
    printf("_vswitchctl_global_optargs='");
    for (size_t i = 0; i < N_OPTS; i++) {
        if (!options[i].arg)
            continue;
        if (options[i].short_name)
            printf("%s-%c:%s", sep, options[i].short_name, options[i].arg), sep = " ";
        printf("%s--%s:%s", sep, options[i].name, options[i].arg);
        sep = " ";
    }
    printf("'\n");
    printf("declare -gA _vswitchctl_port_keys 2>/dev/null || true\n\n%s", completion_fn);
}

/* ---- main ----------------------------------------------------------------- */

/* The command argv starts with, and how many of its words the name took; NULL
 * with a usage error when there is none. */
static const struct command *find_command(int argc, char **argv, int *words)
{
    const char *group = NULL;

    for (size_t i = 0; i < VS_ARRAY_SIZE(commands); i++) {
        const char *name = commands[i].name, *sp = strchr(name, ' ');

        if (!sp && !strcmp(name, argv[0])) {
            *words = 1;
            return &commands[i];
        }
        if (sp && !strncmp(name, argv[0], (size_t)(sp - name)) && !argv[0][sp - name]) {
            group = argv[0];
            if (argc > 1 && !strcmp(sp + 1, argv[1])) {
                *words = 2;
                return &commands[i];
            }
        }
    }
    char list[1024] = "";
    for (size_t i = 0; i < VS_ARRAY_SIZE(commands); i++) {
        if (group && strncmp(commands[i].name, group, strlen(group)))
            continue;
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s%s",
                 list[0] ? ", " : "", commands[i].name,
                 commands[i].args[0] ? " ..." : "");
    }
    if (group && argc > 1)
        usage_error("unknown %s command '%s'; use %s", group, argv[1], list);
    if (group)
        usage_error("'%s' needs a subcommand: %s", group, list);
    usage_error("unknown command '%s'; use %s", argv[0], list);
}

static json_t *build_request(const struct command *c, int argc, char **argv)
{
    json_t *params, *req;

    /* Checked before anything is allocated: a usage error exits. */
    if (argc < c->min_args || (c->max_args >= 0 && argc > c->max_args)) {
        if (!c->args[0])
            usage_error("'%s' takes no arguments", c->name);
        usage_error("'%s' takes %s", c->name, c->args);
    }
    if (!(params = json_object()))
        die("out of memory");
    if (c->build)
        c->build(params, argc, argv);
    req = json_pack("{s:i, s:s, s:o}", "id", 1, "command", c->wire ? c->wire : c->name, "params",
                    params);
    if (!req)
        die("out of memory");
    return req;
}

int main(int argc, char **argv)
{
    struct option longopts[N_OPTS + 1];
    char shortopts[3 * N_OPTS + 2];
    struct ctl ctl = {getenv("VSWITCH_SOCKET"), DEFAULT_TIMEOUT, false};
    const struct command *cmd;
    json_t *req, *reply, *result, *error;
    int c, words, status, full_argc = 0;

    if (!ctl.sock || !ctl.sock[0])
        ctl.sock = DEFAULT_SOCKET;
    /* A command that runs itself takes options of its own: ours end at its name. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket") ||
            !strcmp(argv[i], "--timeout") || !strcmp(argv[i], "--generate")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-')
            continue;
        for (size_t k = 0; k < VS_ARRAY_SIZE(commands); k++)
            if (commands[k].run && !strcmp(commands[k].name, argv[i])) {
                full_argc = argc;
                argc = i + 1;
            }
        break;
    }
    vs_cli_getopt(options, N_OPTS, longopts, shortopts);
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        char *end;
        int opt = c >= 256 ? c - 256 : -1;

        for (int i = 0; i < N_OPTS && opt < 0; i++)
            if (c == options[i].short_name)
                opt = i;
        switch (c == ':' ? -2 : opt) {
        case OPT_SOCKET: ctl.sock = optarg; break;
        case OPT_JSON: ctl.as_json = true; break;
        case OPT_TIMEOUT:
            errno = 0;
            ctl.timeout = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(ctl.timeout >= 0) || ctl.timeout > 86400)
                usage_error("--timeout '%s': use a number of seconds from 0 to 86400", optarg);
            break;
        case OPT_GENERATE:
            if (!strcmp(optarg, "man"))
                man_page();
            else if (!strcmp(optarg, "bash"))
                completion();
            else
                usage_error("--generate '%s': use man or bash", optarg);
            return fflush(stdout) ? 1 : 0;
        case OPT_HELP: help(); return 0;
        case OPT_VERSION: printf("vswitchctl %s\n", VS_VERSION); return 0;
        case -2: usage_error("option '%s' needs an argument", argv[optind - 1]);
        default:
            if (optopt > 0 && optopt < 256)
                usage_error("unknown option '-%c'", optopt);
            usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        usage_error("no command given");
    if (full_argc)
        argc = full_argc;
    cmd = find_command(argc - optind, argv + optind, &words);
    if (cmd->run)
        return cmd->run(&ctl, argc - optind - words, argv + optind + words);
    req = build_request(cmd, argc - optind - words, argv + optind + words);
    reply = transact(ctl.sock, req, ctl.timeout);
    json_decref(req);

    if (json_is_true(json_object_get(reply, "ok"))) {
        result = json_object_get(reply, "result");
        if (ctl.as_json) {
            char *s = json_dumps(result ? result : json_object(), JSON_INDENT(2) | JSON_ENCODE_ANY);
            if (!s)
                die("out of memory");
            puts(s);
            free(s);
        } else if (json_is_object(result)) {
            cmd->print(result);
        } else if (result) {
            char *s = text(result);
            puts(s ? s : "?");
            free(s);
        }
        /* A reload that could not open a port did not do all it was asked. */
        status = cmd->print == print_reload && json_array_size(json_object_get(result, "failed"));
        json_decref(reply);
        if (fflush(stdout) || ferror(stdout))
            die("writing output: %s", strerror(errno));
        return status;
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
