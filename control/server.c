/* The control socket server (protocol in server.h).
 *
 * Every client has a fixed input buffer of one maximal line and a growing output
 * buffer. Requests are handled synchronously as their lines complete, so replies
 * come out in order; output that the socket does not take at once waits in the
 * buffer with EPOLLOUT armed, and a client whose backlog passes the limit is
 * dropped, so no client can make the main thread block or memory grow beyond
 * the limit plus one reply. */
#include "control/server.h"

#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vswitch/listen.h"
#include "vswitch/log.h"
#include "vswitch/loop.h"

#define IN_CAP (VS_CTL_MAX_LINE + 1) /* one maximal line plus its "\n" */
#define ACCEPT_BURST 16
#define EMFILE_PAUSE_MS 100

struct client {
    struct vs_ctl_server *srv;
    struct client *next, *prev;
    int fd;
    bool closing;  /* reading stopped: close once the output is flushed */
    bool pollout;  /* EPOLLOUT armed */
    size_t in_len, scanned;
    char *in;      /* IN_CAP bytes */
    char *out;
    size_t out_off, out_len, out_cap;
    uint64_t active_ms; /* last byte read from or sent to it */
};

struct vs_ctl_server {
    struct vs_listener sock;
    const struct vs_ctl_command *cmds;
    void *ctx;
    struct client *clients;
    unsigned n_clients;
    int pause_timer; /* > 0 while accepting is paused after EMFILE */
    int idle_timer;  /* > 0 while idle clients are being closed */
    uint64_t idle_ms;
    bool emfile_logged;
    bool idle_logged;
    bool oversize_logged;
};

/* Set by a streaming command's handler (handlers run one at a time). */
static vs_ctl_take_fn pending_take;
static void *pending_stream;

void vs_ctl_take_connection(vs_ctl_take_fn take, void *stream)
{
    pending_take = take;
    pending_stream = stream;
}

static const char *errno_name(int e)
{
    const char *n = e > 0 ? strerrorname_np(e) : NULL;
    return n ? n : "EIO";
}

/* One printable ASCII line: messages may quote client input. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : '?';
}

char *vs_ctl_format_reply(json_t *id, int err_code, json_t *result, const char *message)
{
    json_t *reply = json_object(), *error;
    char msg[1024];
    char *line = NULL;

    if (!reply) {
        json_decref(result);
        return NULL;
    }
    if (json_object_set(reply, "id", id ? id : json_null()))
        goto out;
    if (err_code == 0) {
        if (json_object_set_new(reply, "ok", json_true()) ||
            json_object_set_new(reply, "result", result ? result : json_object())) {
            result = NULL;
            goto out;
        }
        result = NULL;
    } else {
        int e = err_code < 0 ? -err_code : err_code;
        snprintf(msg, sizeof(msg), "%s", message && message[0] ? message : strerror(e));
        sanitize(msg);
        error = json_pack("{s:s, s:s}", "code", errno_name(e), "message", msg);
        if (!error || json_object_set_new(reply, "ok", json_false()) ||
            json_object_set_new(reply, "error", error))
            goto out;
    }
    line = json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(result);
    json_decref(reply);
    return line;
}

static const char *type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int vs_ctl_parse_request(const char *line, size_t len, json_t **id, const char **command,
                         json_t **params, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root, *cmd, *p;
    char *name;

    *id = NULL;
    *command = NULL;
    *params = NULL;
    if (len > VS_CTL_MAX_LINE) {
        snprintf(err, errlen, "request longer than %d bytes", VS_CTL_MAX_LINE);
        return -EPROTO;
    }
    root = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON at byte %d: %s; a request is one line "
                 "{\"id\": ..., \"command\": \"<name>\", \"params\": {...}}",
                 jerr.position + 1, jerr.text);
        sanitize(err);
        return -EPROTO;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "a request must be a JSON object, not %s: "
                 "{\"id\": ..., \"command\": \"<name>\", \"params\": {...}}", type_name(root));
        json_decref(root);
        return -EPROTO;
    }
    *id = json_incref(json_object_get(root, "id"));
    cmd = json_object_get(root, "command");
    if (!cmd) {
        snprintf(err, errlen, "missing \"command\"; a request is "
                 "{\"id\": ..., \"command\": \"<name>\", \"params\": {...}}");
        goto bad;
    }
    if (!json_is_string(cmd)) {
        snprintf(err, errlen, "\"command\" must be a string, not %s", type_name(cmd));
        goto bad;
    }
    p = json_object_get(root, "params");
    if (p && !json_is_null(p) && !json_is_object(p)) {
        snprintf(err, errlen, "\"params\" must be an object, not %s", type_name(p));
        goto bad;
    }
    name = strndup(json_string_value(cmd), json_string_length(cmd));
    *params = (p && json_is_object(p)) ? json_incref(p) : json_object();
    if (!name || !*params) {
        free(name);
        json_decref(*params);
        *params = NULL;
        snprintf(err, errlen, "out of memory");
        json_decref(root);
        return -ENOMEM;
    }
    *command = name;
    json_decref(root);
    return 0;
bad:
    json_decref(root);
    return -EPROTO;
}

/* ---- clients ------------------------------------------------------------ */

/* Forgets c; its socket is closed unless a stream took it. */
static void client_free(struct client *c, bool close_fd)
{
    struct vs_ctl_server *s = c->srv;

    if (close_fd) {
        vs_loop_del_fd(c->fd);
        close(c->fd);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        s->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_clients--;
    free(c->in);
    free(c->out);
    free(c);
}

static void client_drop(struct client *c) { client_free(c, true); }

static int client_set_events(struct client *c)
{
    uint32_t ev = (c->closing ? 0 : EPOLLIN) | (c->out_len > c->out_off ? EPOLLOUT : 0);
    bool want_out = ev & EPOLLOUT;

    if (want_out == c->pollout && !c->closing)
        return 0;
    c->pollout = want_out;
    return vs_loop_mod_fd(c->fd, ev);
}

/* Sends what the socket takes now. Returns 0, or -1 when the client is gone. */
static int client_send(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        c->out_off += (size_t)n;
        c->active_ms = vs_now_ms();
    }
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    return 0;
}

/* Sends, then arms EPOLLOUT for the rest. Returns 0, or -1 when the client is
 * gone or done (closing with nothing left to send). */
static int client_flush(struct client *c)
{
    if (client_send(c))
        return -1;
    if (c->closing && c->out_len == 0)
        return -1;
    return client_set_events(c) ? -1 : 0;
}

/* Queues one reply line and sends what the socket takes at once. Returns 0, or
 * -1 when the client must be dropped: it is gone, or earlier replies it has not
 * read pass the limit (checked before appending, so one large reply such as a
 * full fdb-show always goes out to a client that reads). */
static int client_queue(struct client *c, const char *line, size_t len)
{
    size_t need;

    if (c->out_len - c->out_off > VS_CTL_MAX_PENDING) {
        vs_log_once(&c->srv->oversize_logged, VS_LOG_WARN,
                    "control: dropping a client that does not read its replies (more than %u "
                    "bytes pending)", VS_CTL_MAX_PENDING);
        return -1;
    }
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    } else if (c->out_off > c->out_cap / 2) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    need = c->out_len + len + 1;
    if (need > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *nb;
        while (cap < need)
            cap *= 2;
        nb = realloc(c->out, cap);
        if (!nb)
            return -1;
        c->out = nb;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, line, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
    return client_send(c);
}

static void unknown_command(const struct vs_ctl_server *s, const char *name, char *err,
                            size_t errlen)
{
    size_t o;

    o = (size_t)snprintf(err, errlen, "unknown command '%.64s'; known commands:", name);
    for (const struct vs_ctl_command *c = s->cmds; c && c->name && o < errlen; c++)
        o += (size_t)snprintf(err + o, errlen - o, "%s %s", c == s->cmds ? "" : ",", c->name);
    sanitize(err);
}

/* Runs one request and queues its reply. Returns 0, -1 to drop the client, or 1
 * when a streaming command took the connection. */
static int client_request(struct client *c, const char *line, size_t len)
{
    struct vs_ctl_server *s = c->srv;
    const struct vs_ctl_command *cmd = NULL;
    json_t *id, *params, *result = NULL;
    vs_ctl_take_fn take;
    void *stream;
    const char *name;
    char err[1024], *reply;
    int ret;

    err[0] = '\0';
    ret = vs_ctl_parse_request(line, len, &id, &name, &params, err, sizeof(err));
    if (!ret) {
        for (cmd = s->cmds; cmd && cmd->name; cmd++)
            if (!strcmp(cmd->name, name))
                break;
        if (!cmd || !cmd->name) {
            unknown_command(s, name, err, sizeof(err));
            ret = -EPROTO;
        } else {
            pending_take = NULL;
            ret = cmd->handler(params, &result, err, sizeof(err), s->ctx);
            if (ret > 0)
                ret = 0;
            if (ret < 0) {
                json_decref(result);
                result = NULL;
            } else if (result && !json_is_object(result)) {
                vs_err("control: command %s returned %s instead of an object", cmd->name,
                       type_name(result));
                json_decref(result);
                result = NULL;
                snprintf(err, sizeof(err), "internal error: bad result from %s", cmd->name);
                ret = -EIO;
            }
        }
    }
    take = ret >= 0 ? pending_take : NULL;
    stream = pending_stream;
    pending_take = NULL;
    reply = vs_ctl_format_reply(id, ret, result, err);
    json_decref(id);
    json_decref(params);
    free((char *)name);
    ret = reply ? client_queue(c, reply, strlen(reply)) : -1;
    free(reply);
    if (take) {
        if (ret < 0) {
            take(stream, -1, NULL, 0);
            return -1;
        }
        vs_loop_del_fd(c->fd);
        take(stream, c->fd, c->out + c->out_off, c->out_len - c->out_off);
        return 1;
    }
    return ret;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

/* Handles the complete lines in c->in. Returns 0, -1 to drop the client, or 1 when
 * a streaming command took it. */
static int client_lines(struct client *c)
{
    size_t start = 0;
    int ret;
    char *nl;

    while ((nl = memchr(c->in + c->scanned, '\n', c->in_len - c->scanned))) {
        size_t end = (size_t)(nl - c->in), len = end - start;
        if (len && c->in[start + len - 1] == '\r')
            len--;
        /* Blank lines are not requests: people type them. */
        if (!blank(c->in + start, len) && (ret = client_request(c, c->in + start, len)))
            return ret;
        start = end + 1;
        c->scanned = start;
    }
    if (start) {
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
    }
    c->scanned = c->in_len;
    return 0;
}

/* Stops reading after a protocol-ending error; the reply still goes out. */
static int client_fail(struct client *c, const char *msg)
{
    char *reply = vs_ctl_format_reply(NULL, -EPROTO, NULL, msg);
    int ret = reply ? client_queue(c, reply, strlen(reply)) : -1;

    free(reply);
    c->closing = true;
    c->in_len = c->scanned = 0;
    return ret;
}

static int client_read(struct client *c)
{
    ssize_t n;
    int ret;

    if (c->in_len == IN_CAP) {
        char msg[64];
        snprintf(msg, sizeof(msg), "request longer than %d bytes", VS_CTL_MAX_LINE);
        return client_fail(c, msg);
    }
    n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    c->active_ms = vs_now_ms();
    if (n == 0) {
        /* End of requests: a last line without "\n" still counts. */
        if (!blank(c->in, c->in_len) && (ret = client_request(c, c->in, c->in_len)))
            return ret;
        c->in_len = c->scanned = 0;
        c->closing = true;
        return 0;
    }
    c->in_len += (size_t)n;
    if ((ret = client_lines(c)))
        return ret;
    if (c->in_len == IN_CAP) {
        char msg[64];
        snprintf(msg, sizeof(msg), "request longer than %d bytes", VS_CTL_MAX_LINE);
        return client_fail(c, msg);
    }
    return 0;
}

static void client_cb(int fd, uint32_t events, void *arg)
{
    struct client *c = arg;
    int ret;

    if (events & EPOLLERR) {
        client_drop(c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLHUP)) && !c->closing && (ret = client_read(c))) {
        client_free(c, ret < 0);
        return;
    }
    if (client_flush(c))
        client_drop(c);
}

/* ---- listener ----------------------------------------------------------- */

static void refuse_client(int fd)
{
    char *reply = vs_ctl_format_reply(NULL, -EBUSY, NULL,
                                      "too many control clients; try again later");
    if (reply) {
        size_t len = strlen(reply);
        reply[len] = '\n'; /* json_dumps left room: the NUL becomes the newline */
        if (send(fd, reply, len + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            vs_debug("control: refusing a client: %s", strerror(errno));
        free(reply);
    }
    close(fd);
}

static void listen_cb(int fd, uint32_t events, void *arg);

static void resume_accept(void *arg)
{
    struct vs_ctl_server *s = arg;

    s->pause_timer = 0;
    if (vs_loop_mod_fd(s->sock.fd, EPOLLIN))
        vs_err("control: cannot resume accepting clients on %s", s->sock.path);
}

static void listen_cb(int fd, uint32_t events, void *arg)
{
    struct vs_ctl_server *s = arg;

    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct client *c;
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending connection keeps the socket readable: pause instead of spinning. */
                vs_log_once(&s->emfile_logged, VS_LOG_WARN,
                            "control: cannot accept clients on %s: %s; pausing", s->sock.path,
                            strerror(errno));
                if (!s->pause_timer && !vs_loop_mod_fd(fd, 0)) {
                    int t = vs_loop_add_timer(EMFILE_PAUSE_MS, 0, resume_accept, s);
                    if (t > 0)
                        s->pause_timer = t;
                    else
                        vs_loop_mod_fd(fd, EPOLLIN);
                }
            }
            return;
        }
        if (s->n_clients >= VS_CTL_MAX_CLIENTS) {
            refuse_client(cfd);
            continue;
        }
        c = calloc(1, sizeof(*c));
        if (c)
            c->in = malloc(IN_CAP);
        if (!c || !c->in) {
            if (c)
                free(c);
            close(cfd);
            continue;
        }
        c->srv = s;
        c->fd = cfd;
        c->active_ms = vs_now_ms();
        if (vs_loop_add_fd(cfd, EPOLLIN, client_cb, c)) {
            free(c->in);
            free(c);
            close(cfd);
            continue;
        }
        c->next = s->clients;
        if (c->next)
            c->next->prev = c;
        s->clients = c;
        s->n_clients++;
    }
}

/* A client that neither sends nor reads holds one of the few slots: one that
 * made no progress either way for idle_ms goes. */
static void close_idle(void *arg)
{
    struct vs_ctl_server *s = arg;
    uint64_t now = vs_now_ms();

    for (struct client *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (now - c->active_ms < s->idle_ms)
            continue;
        vs_log_once(&s->idle_logged, VS_LOG_INFO,
                    "control: closing a client idle for %llu s (control.idle_timeout; "
                    "logged once)",
                    (unsigned long long)(s->idle_ms / 1000));
        client_drop(c);
    }
}

int vs_ctl_server_set_idle_timeout(struct vs_ctl_server *s, unsigned seconds)
{
    /* Checked a few times per timeout, at most once a second: a client goes
     * between 1 and 1.25 timeouts (or timeout + 1 s) after its last byte. */
    uint64_t period;
    int t = 0;

    if (s->idle_timer > 0)
        vs_loop_del_timer(s->idle_timer);
    s->idle_timer = 0;
    s->idle_ms = (uint64_t)seconds * 1000;
    if (!seconds)
        return 0;
    period = s->idle_ms / 4 < 1000 ? s->idle_ms / 4 : 1000;
    t = vs_loop_add_timer(period, period, close_idle, s);
    if (t < 0)
        return t;
    s->idle_timer = t;
    return 0;
}

/* ---- start/stop --------------------------------------------------------- */

int vs_ctl_server_start(const char *path, unsigned mode, const char *group,
                        const struct vs_ctl_command *cmds, void *ctx,
                        struct vs_ctl_server **out)
{
    struct vs_ctl_server *s;
    gid_t gid = (gid_t)-1;
    char what[64];
    int ret;

    *out = NULL;
    if (!path || !path[0])
        return -EINVAL;
    if (group && group[0]) {
        struct group gr, *res = NULL;
        char buf[4096];
        ret = getgrnam_r(group, &gr, buf, sizeof(buf), &res);
        if (ret || !res) {
            vs_err("control socket %s: group '%s' %s", path, group,
                   ret ? strerror(ret) : "does not exist");
            return ret ? -ret : -ENOENT;
        }
        gid = gr.gr_gid;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cmds = cmds;
    s->ctx = ctx;
    ret = vs_listen_unix(path, mode, gid, VS_CTL_MAX_CLIENTS, &s->sock, what, sizeof(what));
    if (ret == -EADDRINUSE)
        vs_err("control socket %s: another daemon is listening there; stop it or choose "
               "another control.socket",
               path);
    else if (ret == -EEXIST)
        vs_err("control socket %s: the path exists and is not a socket; remove it or choose "
               "another control.socket",
               path);
    else if (ret < 0)
        vs_err("control socket %s: %s: %s", path, what, strerror(-ret));
    if (ret < 0) {
        free(s);
        return ret;
    }
    ret = vs_loop_add_fd(s->sock.fd, EPOLLIN, listen_cb, s);
    if (ret) {
        vs_err("control socket %s: cannot watch it: %s", path, strerror(-ret));
        goto fail;
    }
    ret = vs_ctl_server_set_idle_timeout(s, VS_CTL_IDLE_TIMEOUT_S);
    if (ret) {
        vs_err("control socket %s: cannot start the idle timer: %s", path, strerror(-ret));
        vs_loop_del_fd(s->sock.fd);
        goto fail;
    }
    *out = s;
    return 0;

fail:
    vs_listen_close(&s->sock);
    free(s);
    return ret;
}

unsigned vs_ctl_server_clients(const struct vs_ctl_server *s)
{
    return s ? s->n_clients : 0;
}

void vs_ctl_server_stop(struct vs_ctl_server *s)
{
    if (!s)
        return;
    while (s->clients)
        client_drop(s->clients);
    if (s->pause_timer > 0)
        vs_loop_del_timer(s->pause_timer);
    if (s->idle_timer > 0)
        vs_loop_del_timer(s->idle_timer);
    vs_loop_del_fd(s->sock.fd);
    vs_listen_close(&s->sock);
    free(s);
}
