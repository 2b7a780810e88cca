/* The control socket: JSON requests and replies over a UNIX stream socket,
 * served on the main loop (vswitch/loop.h).
 *
 * Protocol
 * --------
 * Transport: a UNIX stream socket (control.socket in the config, by default
 * /run/vswitch/vswitchd.sock). A client may send any number of requests on one
 * connection; they are answered in order, one reply per request.
 *
 * Request: one JSON object on one line, terminated by "\n" (a final request
 * without "\n" is still answered when the client shuts down its sending side):
 *
 *     {"id": <optional, any JSON value>, "command": "<name>", "params": {<optional object>}}
 *
 *   id       echoed unchanged in the reply (null when absent).
 *   command  a string naming the command, e.g. "add-port".
 *   params   an object with the command's arguments; absent means {}.
 *   Other members are ignored. Duplicate keys in an object are an error.
 *   A line is at most 65536 bytes (not counting the "\n").
 *
 * Reply: one JSON object on one line, terminated by "\n", either
 *
 *     {"id": <the request's id>, "ok": true, "result": {<command-specific object>}}
 *     {"id": <the request's id>, "ok": false, "error": {"code": "<errno name>", "message": "<one line>"}}
 *
 *   code is the symbolic errno name of the failure: EINVAL (bad parameters),
 *   ENOENT (no such port/entry), EEXIST (already exists), EBUSY, ENOMEM, ...,
 *   or EPROTO for a request the protocol rejects: invalid JSON, not an object,
 *   "command" missing or not a string, "params" not an object, an unknown command
 *   (the message lists the known ones). After such an error the connection stays
 *   open and later requests are served.
 *
 * Limits: a request line longer than 65536 bytes gets the EPROTO reply
 * "request longer than 65536 bytes" and the connection is then closed. At most
 * 64 clients are connected at once: one more gets an EBUSY reply (id null) and
 * is closed. A client that does not read its replies is disconnected when it
 * sends another request while more than 4 MiB of replies wait for it. A client
 * that neither sends nor reads for the idle timeout (control.idle_timeout,
 * default 60 s) is closed without a reply, so forgotten connections do not hold
 * the client slots.
 *
 * Streaming: the "capture" command's reply is followed by a pcapng stream on
 * the same connection, which then leaves the server (vs_ctl_take_connection;
 * the stream's format is in control/capture_stream.h).
 *
 * The server owns the socket file (vswitch/listen.h): it creates the parent
 * directory (mode 0755) if missing, replaces a stale socket file nobody listens
 * on, refuses to start (-EADDRINUSE) while another daemon listens on it, gives
 * the file its mode and group before it appears at the path (no chmod through a
 * path someone could swap), and removes the file when stopped. */
#ifndef VSWITCH_CONTROL_SERVER_H
#define VSWITCH_CONTROL_SERVER_H

#include <stddef.h>

#include <jansson.h>

#define VS_CTL_MAX_LINE 65536
#define VS_CTL_MAX_CLIENTS 64
#define VS_CTL_MAX_PENDING (4u << 20)
#define VS_CTL_IDLE_TIMEOUT_S 60

struct vs_ctl_command {
    const char *name; /* "add-port"; NULL ends a table */
    /* Runs on the main thread. Returns 0 and sets *result (a JSON object whose
     * reference passes to the server; NULL means {}), or a negative errno with a
     * one-line message in err (empty: the errno's text is used). params is
     * always an object, borrowed for the duration of the call. */
    int (*handler)(json_t *params, json_t **result, char *err, size_t errlen, void *ctx);
};

/* A streaming command: its handler calls this before returning 0. Once the reply
 * is queued the connection leaves the server: take gets stream, the socket
 * (non-blocking, no longer watched by the loop) and the bytes still to send to
 * the client (earlier replies and this one), which go out before anything the
 * stream writes. With fd -1 the client went away first and the stream is to be
 * discarded. A handler that fails after calling it discards its stream itself. */
typedef void (*vs_ctl_take_fn)(void *stream, int fd, const char *pending, size_t len);
void vs_ctl_take_connection(vs_ctl_take_fn take, void *stream);

struct vs_ctl_server;

/* Listens on path and serves cmds (not copied: the table must outlive the
 * server) on the main loop, passing ctx to every handler. mode is the socket
 * file's permissions; group (NULL or "" for none) its group. Logs why it
 * failed and returns a negative errno: -EADDRINUSE when a daemon already
 * listens there, -ENAMETOOLONG, -ENOENT for an unknown group, ... */
int vs_ctl_server_start(const char *path, unsigned mode, const char *group,
                        const struct vs_ctl_command *cmds, void *ctx,
                        struct vs_ctl_server **out);
/* Closes every client and the socket, and unlinks the socket file. Must not be
 * called from inside a command handler (stop the loop there instead). */
void vs_ctl_server_stop(struct vs_ctl_server *s);
/* Closes clients that neither sent a byte nor took one of their replies for
 * seconds (0: never). Started servers use VS_CTL_IDLE_TIMEOUT_S. 0 or -errno. */
int vs_ctl_server_set_idle_timeout(struct vs_ctl_server *s, unsigned seconds);
/* Connected clients, for status and tests. */
unsigned vs_ctl_server_clients(const struct vs_ctl_server *s);

/* Parses one request line (without its "\n"). On success returns 0 with:
 *   *id      a new reference to the id value, or NULL when the request has none;
 *   *command a malloc'ed copy of the command name (caller frees);
 *   *params  a new reference to the params object ({} when absent).
 * On failure returns -EPROTO with a one-line message in err; *command and
 * *params are NULL, and *id holds the request's id when one could be read (so
 * that the error reply can carry it) or NULL. The caller json_decref()s *id
 * and *params in every case. */
int vs_ctl_parse_request(const char *line, size_t len, json_t **id, const char **command,
                         json_t **params, char *err, size_t errlen);

/* The reply line (without "\n") for a request: result (reference stolen; NULL
 * means {}) when err_code is 0, else an error with -err_code's errno name and
 * message. Returns a malloc'ed string or NULL when out of memory. */
char *vs_ctl_format_reply(json_t *id, int err_code, json_t *result, const char *message);

#endif
