/* Listening UNIX stream sockets whose file vswitchd owns: the control socket and
 * the vhost-user server sockets.
 *
 * The socket file appears at its path already with its final mode and group,
 * and no chmod or chown ever goes through a path name someone else can change:
 * it is bound inside a fresh private directory (0700, next to the path), its mode
 * and group set there, and renamed into place. So a process that may write to
 * the socket's directory cannot swap in a symlink and have vswitchd change the
 * permissions of another file, and a client never sees the socket with the
 * umask's permissions. A stale socket file (nobody accepts on it) is replaced
 * atomically by the rename; Linux only (binds through /proc/self/fd). */
#ifndef VSWITCH_LISTEN_H
#define VSWITCH_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

struct vs_listener {
    int fd; /* listening, non-blocking, close-on-exec; -1 when closed */
    dev_t dev;
    ino_t ino; /* the socket file we made, so that close removes only ours */
    char path[108];
};

/* Creates missing parent directories (0755), then the socket at path with mode
 * and group gid ((gid_t)-1: leave it) listening with backlog. Returns 0, or a
 * negative errno with the failed step in what: -EADDRINUSE when a process
 * accepts on path, -EEXIST when path exists and is not a socket,
 * -ENAMETOOLONG, ... */
int vs_listen_unix(const char *path, unsigned mode, gid_t gid, int backlog, struct vs_listener *out,
                   char *what, size_t whatlen);
/* Closes the socket and removes its file, unless someone replaced the file. */
void vs_listen_close(struct vs_listener *l);

/* Parses "ADDRESS:PORT": an IPv4 address or a bracketed IPv6 one
 * ("[::1]:9417"), and a port 1..65535. 0 or -EINVAL. */
struct sockaddr_storage;
int vs_parse_addr_port(const char *s, struct sockaddr_storage *ss, unsigned *len);
/* A listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR) on
 * "ADDRESS:PORT". Returns the fd, or a negative errno with the failed step in
 * what (-EADDRINUSE: something listens there already). */
int vs_listen_tcp(const char *addr_port, int backlog, char *what, size_t whatlen);

#endif
