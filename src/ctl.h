/* vswitchctl's commands that keep their connection open (capture, top), each in
 * its own file. argv[0] is the command's name; they return the exit status. */
#ifndef VSWITCH_CTL_H
#define VSWITCH_CTL_H

#include <jansson.h>

int vs_ctl_capture_main(const char *sock, int argc, char **argv);
int vs_ctl_top_main(const char *sock, int argc, char **argv);

/* ctl_conn.c: a blocking connection to the control socket (dies with a message
 * when vswitchd cannot be reached). */
int vs_ctl_connect(const char *sock);
/* Sends request as one line. 0, or -errno. */
int vs_ctl_send(int fd, json_t *request);
/* Reads one reply line into a JSON object: buf holds what was read after it
 * (*len bytes; buf has room for cap). NULL with a message on stderr when the
 * connection ended or the line is not JSON. timeout_ms < 0: wait forever. */
json_t *vs_ctl_recv(int fd, char *buf, size_t cap, size_t *len, int timeout_ms);
/* The reply's error message, or NULL when it succeeded. */
const char *vs_ctl_reply_error(const json_t *reply);

#endif
