/* The control server on a real socket and the real main loop: a client thread
 * plays the scenarios with blocking sockets while the main thread runs the loop. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "control/server.h"
#include "vswitch/loop.h"

#define BIG_REPLY (1u << 20)

static char dir[64], sock_path[100];
static int handler_calls;
static bool bad_ctx;

/* CUnit's fatal asserts longjmp: never from the client thread. */
#define REQUIRE(x)                                                                       \
    do {                                                                                 \
        if (!(x)) {                                                                      \
            CU_FAIL(#x);                                                                 \
            return;                                                                      \
        }                                                                                \
    } while (0)

static int cmd_echo(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    if (ctx != &handler_calls)
        bad_ctx = true;
    handler_calls++;
    *result = json_deep_copy(params);
    return 0;
}

static int cmd_fail(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    handler_calls++;
    snprintf(err, errlen, "no port '%s'", json_string_value(json_object_get(params, "name")));
    return -ENOENT;
}

static int big_calls;

static int cmd_big(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    char *s = malloc(BIG_REPLY + 1);

    handler_calls++;
    __atomic_add_fetch(&big_calls, 1, __ATOMIC_RELAXED);
    if (!s)
        return -ENOMEM;
    memset(s, 'x', BIG_REPLY);
    s[BIG_REPLY] = '\0';
    *result = json_pack("{s:s}", "data", s);
    free(s);
    return 0;
}

static int cmd_empty(json_t *params, json_t **result, char *err, size_t errlen, void *ctx)
{
    handler_calls++;
    return 0; /* *result left NULL: {} */
}

static const struct vs_ctl_command cmds[] = {
    {"echo", cmd_echo}, {"fail", cmd_fail}, {"big", cmd_big}, {"empty", cmd_empty}, {NULL, NULL},
};

/* ---- client side -------------------------------------------------------- */

struct conn {
    int fd;
    char buf[1 << 16];
    size_t len;
};

static int ctl_connect(struct conn *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = 10};

    c->len = 0;
    c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    return connect(c->fd, (struct sockaddr *)&sa, sizeof(sa));
}

static int send_all(struct conn *c, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_str(struct conn *c, const char *s)
{
    return send_all(c, s, strlen(s));
}

/* One reply line parsed as JSON, or NULL on EOF/error/timeout. */
static json_t *read_reply(struct conn *c)
{
    char *line = NULL;
    size_t llen = 0;

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->len);
        size_t take = nl ? (size_t)(nl - c->buf) : c->len;
        char *nb = realloc(line, llen + take + 1);
        ssize_t n;

        if (!nb)
            break;
        line = nb;
        memcpy(line + llen, c->buf, take);
        llen += take;
        if (nl) {
            json_t *j;
            memmove(c->buf, nl + 1, c->len - take - 1);
            c->len -= take + 1;
            j = json_loadb(line, llen, 0, NULL);
            free(line);
            return j;
        }
        c->len = 0;
        n = recv(c->fd, c->buf, sizeof(c->buf), 0);
        if (n <= 0)
            break;
        c->len = (size_t)n;
    }
    free(line);
    return NULL;
}

/* True when the server closed the connection (EOF or reset) with nothing more to read. */
static bool at_eof(struct conn *c)
{
    char b;

    if (c->len)
        return false;
    ssize_t n = recv(c->fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static bool reply_ok(json_t *r, json_int_t id)
{
    return r && json_is_true(json_object_get(r, "ok")) &&
           json_integer_value(json_object_get(r, "id")) == id;
}

static const char *err_code(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "code"));
}

static const char *err_msg(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(r, "error"), "message"));
}

/* ---- scenarios (client thread) ------------------------------------------ */

static void scenario_in_order(void)
{
    struct conn c;
    json_t *r;

    REQUIRE(ctl_connect(&c) == 0);
    /* Pipelined in one write: answered in order, errors do not close. */
    CU_ASSERT_EQUAL(send_str(&c, "{\"id\":1,\"command\":\"echo\",\"params\":{\"a\":1}}\n"
                                 "{\"id\":2,\"command\":\"fail\",\"params\":{\"name\":\"vm9\"}}\n"
                                 "{\"id\":3,\"command\":\"nope\"}\n"
                                 "\n"
                                 "{\"id\":\"four\",\"command\":\"empty\"}\r\n"),
                    0);
    r = read_reply(&c);
    CU_ASSERT(reply_ok(r, 1));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(r, "result"), "a")), 1);
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT(r && json_is_false(json_object_get(r, "ok")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 2);
    CU_ASSERT_STRING_EQUAL(err_code(r), "ENOENT");
    CU_ASSERT_STRING_EQUAL(err_msg(r), "no port 'vm9'");
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 3);
    CU_ASSERT_STRING_EQUAL(err_code(r), "EPROTO");
    CU_ASSERT_STRING_EQUAL(err_msg(r), "unknown command 'nope'; known commands: echo, fail, big, "
                                       "empty");
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "id")), "four");
    CU_ASSERT(json_is_object(json_object_get(r, "result")) &&
              json_object_size(json_object_get(r, "result")) == 0);
    json_decref(r);
    close(c.fd);
}

static void scenario_garbage_then_valid(void)
{
    struct conn c;
    json_t *r;

    REQUIRE(ctl_connect(&c) == 0);
    CU_ASSERT_EQUAL(send_str(&c, "garbage\n[1]\n{\"id\":5,\"command\":7}\n"), 0);
    /* A request split over several writes is one request. */
    CU_ASSERT_EQUAL(send_str(&c, "{\"id\":6,\"com"), 0);
    usleep(20000);
    CU_ASSERT_EQUAL(send_str(&c, "mand\":\"echo\"}\n"), 0);
    r = read_reply(&c);
    CU_ASSERT(r && json_is_null(json_object_get(r, "id")));
    CU_ASSERT_STRING_EQUAL(err_code(r), "EPROTO");
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT_STRING_EQUAL(err_code(r), "EPROTO");
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(r, "id")), 5);
    CU_ASSERT_STRING_EQUAL(err_msg(r), "\"command\" must be a string, not a number");
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT(reply_ok(r, 6));
    json_decref(r);
    close(c.fd);
}

static void scenario_oversized(void)
{
    size_t len = VS_CTL_MAX_LINE + 100;
    char *big = malloc(len);
    struct conn c;
    json_t *r;

    REQUIRE(big != NULL);
    memset(big, ' ', len);
    REQUIRE(ctl_connect(&c) == 0);
    /* A good request first, then a line that never ends in time. */
    CU_ASSERT_EQUAL(send_str(&c, "{\"id\":1,\"command\":\"echo\"}\n"), 0);
    send_all(&c, big, len); /* the server may close before taking it all */
    r = read_reply(&c);
    CU_ASSERT(reply_ok(r, 1));
    json_decref(r);
    r = read_reply(&c);
    CU_ASSERT_STRING_EQUAL(err_code(r), "EPROTO");
    CU_ASSERT_STRING_EQUAL(err_msg(r), "request longer than 65536 bytes");
    json_decref(r);
    CU_ASSERT(at_eof(&c));
    close(c.fd);

    /* Exactly 65536 bytes plus "\n" is still a request. */
    REQUIRE(ctl_connect(&c) == 0);
    memcpy(big, "{\"id\":2,\"command\":\"echo\"}", 25);
    big[VS_CTL_MAX_LINE] = '\n';
    CU_ASSERT_EQUAL(send_all(&c, big, VS_CTL_MAX_LINE + 1), 0);
    r = read_reply(&c);
    if (!reply_ok(r, 2)) {
        char *d = r ? json_dumps(r, 0) : NULL;
        fprintf(stderr, "\nreply: %s\n", d ? d : "(none)");
        free(d);
    }
    CU_ASSERT(reply_ok(r, 2));
    json_decref(r);
    close(c.fd);
    free(big);
}

static void scenario_last_line_at_eof(void)
{
    struct conn c;
    json_t *r;

    REQUIRE(ctl_connect(&c) == 0);
    CU_ASSERT_EQUAL(send_str(&c, "{\"id\":9,\"command\":\"echo\"}"), 0);
    shutdown(c.fd, SHUT_WR);
    r = read_reply(&c);
    CU_ASSERT(reply_ok(r, 9));
    json_decref(r);
    CU_ASSERT(at_eof(&c));
    close(c.fd);
}

static void scenario_too_many(void)
{
    struct conn *cs = calloc(VS_CTL_MAX_CLIENTS + 1, sizeof(*cs));
    json_t *r;

    REQUIRE(cs != NULL);
    for (int i = 0; i < VS_CTL_MAX_CLIENTS; i++) {
        REQUIRE(ctl_connect(&cs[i]) == 0);
        /* A round trip makes sure the server has accepted this one. */
        CU_ASSERT_EQUAL(send_str(&cs[i], "{\"id\":1,\"command\":\"empty\"}\n"), 0);
        r = read_reply(&cs[i]);
        CU_ASSERT(reply_ok(r, 1));
        json_decref(r);
    }
    REQUIRE(ctl_connect(&cs[VS_CTL_MAX_CLIENTS]) == 0);
    r = read_reply(&cs[VS_CTL_MAX_CLIENTS]);
    CU_ASSERT_STRING_EQUAL(err_code(r), "EBUSY");
    json_decref(r);
    CU_ASSERT(at_eof(&cs[VS_CTL_MAX_CLIENTS]));
    close(cs[VS_CTL_MAX_CLIENTS].fd);
    /* Room again after one leaves. */
    close(cs[0].fd);
    usleep(50000);
    REQUIRE(ctl_connect(&cs[0]) == 0);
    CU_ASSERT_EQUAL(send_str(&cs[0], "{\"id\":2,\"command\":\"empty\"}\n"), 0);
    r = read_reply(&cs[0]);
    CU_ASSERT(reply_ok(r, 2));
    json_decref(r);
    for (int i = 0; i < VS_CTL_MAX_CLIENTS; i++)
        close(cs[i].fd);
    free(cs);
}

static void scenario_never_reads(void)
{
    const int n_req = 24; /* 24 MiB of replies if the server kept them all */
    struct conn c;
    size_t got = 0, lines = 0;
    json_t *r;
    int before = __atomic_load_n(&big_calls, __ATOMIC_RELAXED);

    REQUIRE(ctl_connect(&c) == 0);
    for (int i = 0; i < n_req; i++)
        if (send_str(&c, "{\"command\":\"big\"}\n"))
            break;
    /* Read nothing until the server hangs up (or gives up on us after 20 s). */
    {
        struct pollfd pfd = {.fd = c.fd, .events = POLLRDHUP};
        CU_ASSERT_EQUAL(poll(&pfd, 1, 20000), 1);
    }
    for (;;) {
        char buf[65536];
        ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    }
    /* Dropped once more than 4 MiB waited: far fewer than all the replies. */
    CU_ASSERT(lines < (size_t)n_req);
    CU_ASSERT(got < (size_t)n_req * BIG_REPLY);
    /* It stopped running requests for it right after the limit. */
    CU_ASSERT(__atomic_load_n(&big_calls, __ATOMIC_RELAXED) - before <=
              (int)(VS_CTL_MAX_PENDING / BIG_REPLY) + 2);
    close(c.fd);

    /* The daemon is fine and serves others; a single large reply goes out whole. */
    REQUIRE(ctl_connect(&c) == 0);
    CU_ASSERT_EQUAL(send_str(&c, "{\"id\":1,\"command\":\"big\"}\n"), 0);
    r = read_reply(&c);
    CU_ASSERT(reply_ok(r, 1));
    CU_ASSERT_EQUAL(json_string_length(json_object_get(json_object_get(r, "result"), "data")),
                    BIG_REPLY);
    json_decref(r);
    close(c.fd);
}

static void scenario_vanishing_client(void)
{
    struct conn c;

    /* Leaves with a large reply pending and a half-sent request. */
    REQUIRE(ctl_connect(&c) == 0);
    CU_ASSERT_EQUAL(send_str(&c, "{\"command\":\"big\"}\n{\"command\":\"ec"), 0);
    usleep(20000);
    close(c.fd);
}

/* Random bytes in random-length lines, from a fixed seed: each non-empty line
 * gets exactly one (error) reply, in order, and a valid request after them works. */
static void scenario_random_lines(void)
{
    const size_t total = 1u << 20;
    unsigned seed = 12345, lines = 0, replies = 0;
    char *buf = malloc(total);
    struct conn c;
    size_t len = 0, since_nl = 0;
    json_t *r;

    REQUIRE(buf != NULL);
    while (len < total - 1) {
        char ch = (char)(rand_r(&seed) & 0xff);
        if (rand_r(&seed) % 200 == 0 || since_nl > 60000)
            ch = '\n';
        else if (ch == '\n' || ch == ' ' || ch == '\t' || ch == '\r')
            ch = 'x';
        if (ch == '\n') {
            lines += since_nl > 0;
            since_nl = 0;
        } else {
            since_nl++;
        }
        buf[len++] = ch;
    }
    if (since_nl) {
        buf[len++] = '\n';
        lines++;
    }
    REQUIRE(ctl_connect(&c) == 0);
    REQUIRE(send_all(&c, buf, len) == 0);
    REQUIRE(send_str(&c, "{\"id\":77,\"command\":\"echo\"}\n") == 0);
    while ((r = read_reply(&c))) {
        bool last = reply_ok(r, 77);
        if (!last) {
            CU_ASSERT_STRING_EQUAL(err_code(r), "EPROTO");
            replies++;
        }
        json_decref(r);
        if (last)
            break;
    }
    CU_ASSERT_PTR_NOT_NULL(r);
    CU_ASSERT_EQUAL(replies, lines);
    close(c.fd);
    free(buf);
}

static volatile bool client_done;

static void *client_main(void *arg)
{
    scenario_in_order();
    scenario_garbage_then_valid();
    scenario_oversized();
    scenario_last_line_at_eof();
    scenario_too_many();
    scenario_never_reads();
    scenario_vanishing_client();
    scenario_random_lines();
    usleep(50000);
    __atomic_store_n(&client_done, true, __ATOMIC_RELEASE);
    return NULL;
}

static uint64_t deadline_ms;

static void check_done(void *arg)
{
    if (__atomic_load_n(&client_done, __ATOMIC_ACQUIRE) || vs_now_ms() > deadline_ms)
        vs_loop_stop();
}

static void test_server(void)
{
    struct vs_ctl_server *s;
    struct stat st;
    pthread_t th;
    int timer;

    handler_calls = 0;
    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    CU_ASSERT_EQUAL_FATAL(vs_ctl_server_start(sock_path, 0600, NULL, cmds, &handler_calls, &s), 0);
    /* The parent directory was created; the socket has the mode asked for. */
    CU_ASSERT_EQUAL(stat(sock_path, &st), 0);
    CU_ASSERT(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

    timer = vs_loop_add_timer(10, 10, check_done, NULL);
    CU_ASSERT_FATAL(timer > 0);
    deadline_ms = vs_now_ms() + 60000;
    client_done = false;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, client_main, NULL), 0);
    vs_loop_run();
    pthread_join(th, NULL);
    CU_ASSERT(client_done);
    CU_ASSERT(handler_calls > 70);
    CU_ASSERT(!bad_ctx);
    vs_loop_del_timer(timer);
    /* Every client that left was cleaned up. */
    CU_ASSERT_EQUAL(vs_ctl_server_clients(s), 0);

    vs_ctl_server_stop(s);
    CU_ASSERT_NOT_EQUAL(access(sock_path, F_OK), 0);
    vs_loop_fini();
}

static void test_socket_file(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct vs_ctl_server *s, *s2;
    char longpath[200];
    int fd;

    CU_ASSERT_EQUAL_FATAL(vs_loop_init(), 0);
    /* A stale socket (nobody listening) is replaced. */
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    CU_ASSERT_EQUAL_FATAL(vs_ctl_server_start(sock_path, 0660, "", cmds, NULL, &s), 0);
    /* A live one is not. */
    CU_ASSERT_EQUAL(vs_ctl_server_start(sock_path, 0660, NULL, cmds, NULL, &s2), -EADDRINUSE);
    CU_ASSERT_PTR_NULL(s2);
    CU_ASSERT_EQUAL(access(sock_path, F_OK), 0);
    vs_ctl_server_stop(s);
    CU_ASSERT_NOT_EQUAL(access(sock_path, F_OK), 0);

    /* A regular file in the way is left alone. */
    fd = creat(sock_path, 0600);
    close(fd);
    CU_ASSERT_EQUAL(vs_ctl_server_start(sock_path, 0660, NULL, cmds, NULL, &s2), -EEXIST);
    CU_ASSERT_EQUAL(access(sock_path, F_OK), 0);
    unlink(sock_path);

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    CU_ASSERT_EQUAL(vs_ctl_server_start(longpath, 0660, NULL, cmds, NULL, &s2), -ENAMETOOLONG);
    CU_ASSERT_EQUAL(vs_ctl_server_start(sock_path, 0660, "no-such-group-vs", cmds, NULL, &s2),
                    -ENOENT);
    CU_ASSERT_NOT_EQUAL(access(sock_path, F_OK), 0);
    vs_loop_fini();
}

int main(void)
{
    CU_pSuite s;
    unsigned failed;

    snprintf(dir, sizeof(dir), "/tmp/vs-ctl-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    /* A subdirectory that does not exist yet: the server creates it. */
    snprintf(sock_path, sizeof(sock_path), "%s/run/ctl.sock", dir);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("server", NULL, NULL);
    CU_add_test(s, "server", test_server);
    CU_add_test(s, "socket file", test_socket_file);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    unlink(sock_path);
    snprintf(sock_path, sizeof(sock_path), "%s/run", dir);
    rmdir(sock_path);
    rmdir(dir);
    return failed ? 1 : 0;
}
