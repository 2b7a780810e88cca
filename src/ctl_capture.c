/* vswitchctl capture: asks vswitchd for a capture and copies the pcapng stream
 * that follows the reply to a file or stdout, reading its blocks on the way to
 * report what was captured and lost. Ctrl-C shuts down our sending side: the
 * daemon then ends the capture and sends its statistics before it closes. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "src/ctl.h"

#define BUF_CAP (1u << 20)
#define MAX_IFS 8
#define MAX_BLOCK (1u << 20)

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) { interrupted = sig; }

static void usage(const char *fmt, const char *arg)
{
    fputs("vswitchctl: capture: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nusage: vswitchctl capture PORT [--rx] [--tx] [--drops] [-c COUNT] [-s SNAPLEN] "
          "[-w FILE|-] [-q]\nTry 'vswitchctl --help' for more information.\n",
          stderr);
    exit(2);
}

static unsigned long long number(const char *what, const char *s, unsigned long long max)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max) {
        fputs("vswitchctl: capture: ", stderr);
        fprintf(stderr, "%s '%s': use a number from 0 to %llu\n", what, s, max);
        exit(2);
    }
    return v;
}

/* What the stream said about itself. */
struct tally {
    unsigned n_ifs;
    char ifname[MAX_IFS][64];
    uint64_t frames[MAX_IFS], lost[MAX_IFS];
    bool stats;   /* the statistics came: the capture ended properly */
    uint8_t *blk; /* the block being read */
    size_t blk_len, blk_need;
};

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static void block_done(struct tally *t)
{
    const uint8_t *b = t->blk;
    uint32_t type = get32(b), len = get32(b + 4);

    if (type == 1 && t->n_ifs < MAX_IFS) { /* IDB: if_name */
        unsigned id = t->n_ifs++;
        for (uint32_t o = 16; o + 4 <= len - 4;) {
            uint16_t code, olen;
            memcpy(&code, b + o, 2);
            memcpy(&olen, b + o + 2, 2);
            if (code == 0 || o + 4 + olen > len - 4)
                break;
            if (code == 2)
                snprintf(t->ifname[id], sizeof(t->ifname[id]), "%.*s", (int)olen, b + o + 4);
            o += 4 + ((olen + 3u) & ~3u);
        }
    } else if (type == 6 && len >= 32) { /* EPB */
        uint32_t id = get32(b + 8);
        if (id < MAX_IFS)
            t->frames[id]++;
    } else if (type == 5 && len >= 24) { /* ISB: isb_ifdrop */
        uint32_t id = get32(b + 8);
        t->stats = true;
        for (uint32_t o = 20; o + 4 <= len - 4;) {
            uint16_t code, olen;
            memcpy(&code, b + o, 2);
            memcpy(&olen, b + o + 2, 2);
            if (code == 0 || o + 4 + olen > len - 4)
                break;
            if (code == 5 && olen == 8 && id < MAX_IFS)
                memcpy(&t->lost[id], b + o + 4, 8);
            o += 4 + ((olen + 3u) & ~3u);
        }
    }
}

/* Follows the block structure of the bytes going by. */
static void tally_bytes(struct tally *t, const uint8_t *p, size_t n)
{
    while (n) {
        size_t need = t->blk_len < 8 ? 8 : t->blk_need, take = need - t->blk_len;

        if (take > n)
            take = n;
        memcpy(t->blk + t->blk_len, p, take);
        t->blk_len += take;
        p += take;
        n -= take;
        if (t->blk_len == 8) {
            t->blk_need = get32(t->blk + 4);
            if (t->blk_need < 12 || t->blk_need > MAX_BLOCK) {
                fprintf(stderr, "vswitchctl: capture: the stream is not pcapng as expected\n");
                exit(1);
            }
        }
        if (t->blk_len >= 8 && t->blk_len == t->blk_need) {
            block_done(t);
            t->blk_len = t->blk_need = 0;
        }
    }
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

int vs_ctl_capture_main(const char *sock, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rx", no_argument, NULL, 'r'},
        {"tx", no_argument, NULL, 't'},
        {"drops", no_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'c'},
        {"snaplen", required_argument, NULL, 's'},
        {"write", required_argument, NULL, 'w'},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *port;
    unsigned long long count = 0, snaplen = 0;
    bool quiet = false, shut = false, out_gone = false;
    json_t *dirs = json_array(), *params, *req, *reply;
    struct tally t = {.blk = malloc(MAX_BLOCK)};
    char *buf = malloc(BUF_CAP);
    size_t len = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    int c, fd, out;

    if (!dirs || !buf || !t.blk) {
        fprintf(stderr, "vswitchctl: out of memory\n");
        return 1;
    }
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:s:w:q", opts, NULL)) != -1) {
        switch (c) {
        case 'r': json_array_append_new(dirs, json_string("rx")); break;
        case 't': json_array_append_new(dirs, json_string("tx")); break;
        case 'd': json_array_append_new(dirs, json_string("drops")); break;
        case 'c': count = number("-c", optarg, 1ull << 53); break;
        case 's': snaplen = number("-s", optarg, 262144); break;
        case 'w': file = optarg; break;
        case 'q': quiet = true; break;
        case ':': usage("option '%s' needs an argument", argv[optind - 1]); break;
        default: usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        usage("%s", optind >= argc ? "no PORT given" : "more than one PORT given");
    port = argv[optind];
    if (!file && isatty(STDOUT_FILENO))
        usage("%s", "stdout is a terminal and pcapng is binary; use -w FILE, or pipe it into "
                    "'tcpdump -r -'");
    if (!file || !strcmp(file, "-")) {
        out = STDOUT_FILENO;
    } else if ((out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        fprintf(stderr, "vswitchctl: capture: cannot write %s: %s\n", file, strerror(errno));
        return 1;
    }

    params = json_pack("{s:s, s:I}", "port", port, "count", (json_int_t)count);
    if (!params) {
        fprintf(stderr, "vswitchctl: capture: '%s' is not valid UTF-8 text\n", port);
        return 2;
    }
    if (json_array_size(dirs))
        json_object_set(params, "directions", dirs);
    if (snaplen)
        json_object_set_new(params, "snaplen", json_integer((json_int_t)snaplen));
    req = json_pack("{s:i, s:s, s:o}", "id", 1, "command", "capture", "params", params);
    fd = vs_ctl_connect(sock);
    if (!req || vs_ctl_send(fd, req) < 0) {
        fprintf(stderr, "vswitchctl: capture: cannot send the request: %s\n", strerror(errno));
        return 1;
    }
    json_decref(req);
    json_decref(dirs);
    if (!(reply = vs_ctl_recv(fd, buf, BUF_CAP, &len, 30000)))
        return 1;
    if (vs_ctl_reply_error(reply)) {
        fprintf(stderr, "vswitchctl: %s\n", vs_ctl_reply_error(reply));
        return 1;
    }
    if (!quiet) {
        const json_t *res = json_object_get(reply, "result"), *d;
        size_t i;

        fprintf(stderr, "capturing on %s (", port);
        json_array_foreach(json_object_get(res, "directions"), i, d)
            fprintf(stderr, "%s%s", i ? " " : "", json_string_value(d));
        fprintf(stderr, "); Ctrl-C ends it\n");
    }
    json_decref(reply);

    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (len) {
            tally_bytes(&t, (const uint8_t *)buf, len);
            if (!out_gone && !write_all(out, buf, len)) {
                /* The reader went (tcpdump -c, head): end the capture as Ctrl-C does. */
                out_gone = true;
                interrupted = 1;
            }
            len = 0;
        }
        if (interrupted && !shut) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        int r = poll(&p, 1, shut ? 10000 : -1);

        if (r < 0)
            continue; /* a signal: shut down our side first */
        if (r == 0) {
            fprintf(stderr, "vswitchctl: capture: vswitchd did not end the capture\n");
            break;
        }
        n = recv(fd, buf, BUF_CAP, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len = (size_t)n;
    }
    close(fd);
    if (out != STDOUT_FILENO && close(out)) {
        fprintf(stderr, "vswitchctl: capture: writing %s: %s\n", file, strerror(errno));
        return 1;
    }
    if (!t.stats) {
        fprintf(stderr, "vswitchctl: capture: the capture ended without its statistics "
                        "(vswitchd stopped?)\n");
        return 1;
    }
    if (!quiet) {
        uint64_t frames = 0, lost = 0;

        for (unsigned i = 0; i < t.n_ifs; i++) {
            frames += t.frames[i];
            lost += t.lost[i];
        }
        fprintf(stderr, "%" PRIu64 " frames captured (", frames);
        for (unsigned i = 0; i < t.n_ifs; i++)
            fprintf(stderr, "%s%s %" PRIu64, i ? ", " : "", t.ifname[i], t.frames[i]);
        fprintf(stderr, "), %" PRIu64 " lost (the reader was too slow)\n", lost);
    }
    free(buf);
    free(t.blk);
    return 0;
}
