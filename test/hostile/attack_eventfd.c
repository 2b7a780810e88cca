/* vs_attack_eventfd MODE SOCK: a front-end that abuses the notification fds it
 * hands over, then posts RX buffers with interrupts on so that the switch has to
 * signal it, and holds everything until SIGTERM. Modes:
 *   call-preload   the call eventfd is blocking and its counter one short of the
 *                  maximum: a write of 1 cannot complete until someone reads
 *   kick-blocking  the kick eventfds are handed over, then O_NONBLOCK is cleared on
 *                  our copy (the flag lives in the open file description we share)
 *   pipe-call      the call fd is a full pipe (blocking)
 *   pipe-kick      the kick fds are empty pipes, turned blocking after the handover
 *   socket-kick    the kick fds are UNIX sockets, turned blocking after the handover
 * A refused handover is reported and the attack holds what it has. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/hostile/hostile.h"

static void set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        hx_die("fcntl: %m");
}

/* A pipe whose buffer is full: the next write blocks. Returns the write end. */
static int full_pipe(void)
{
    int p[2];
    char buf[4096] = {0};

    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
        hx_die("pipe: %m");
    while (write(p[1], buf, sizeof(buf)) > 0)
        ;
    while (write(p[1], buf, 1) > 0)
        ;
    set_blocking(p[1]);
    return p[1]; /* the read end stays open (leaked on purpose) so writes block */
}

int main(int argc, char **argv)
{
    struct fe fe;
    struct fe_opts o = hx_default_opts();
    const char *mode;
    bool kick_after = false;
    int rc, peer[2 * FE_MAX_QP];

    hx_set_prog(argv[0]);
    if (argc != 3)
        hx_die("usage: vs_attack_eventfd call-preload|kick-blocking|pipe-call|pipe-kick|"
               "socket-kick SOCK");
    mode = argv[1];
    if ((rc = hx_connect(&fe, argv[2], 5000)) < 0)
        hx_die("cannot connect to %s: %s", argv[2], strerror(-rc));
    if (!strcmp(mode, "call-preload")) {
        uint64_t v = 0xfffffffffffffffeull; /* the largest value a counter holds */

        fe.call[0] = eventfd(0, EFD_CLOEXEC);
        if (fe.call[0] < 0 || write(fe.call[0], &v, sizeof(v)) != sizeof(v))
            hx_die("eventfd: %m");
    } else if (!strcmp(mode, "pipe-call")) {
        fe.call[0] = full_pipe();
    } else if (!strcmp(mode, "kick-blocking")) {
        kick_after = true;
    } else if (!strcmp(mode, "pipe-kick") || !strcmp(mode, "socket-kick")) {
        for (unsigned i = 0; i < 2; i++) {
            int p[2];

            rc = mode[0] == 'p' ? pipe2(p, O_NONBLOCK | O_CLOEXEC)
                                : socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p);
            if (rc < 0)
                hx_die("pipe/socketpair: %m");
            fe.kick[i] = p[0];
            peer[i] = p[1]; /* kept open: reads find nothing rather than EOF */
        }
        kick_after = true;
    } else {
        hx_die("unknown mode %s", mode);
    }
    (void)peer;

    rc = fe_negotiate(&fe, &o);
    if (rc != 0) {
        /* The fix refuses the fd: the test still checks the switch from outside. */
        hx_say("%s: negotiation stopped at step %d (the fd was refused)", mode, rc);
        hx_ready_and_hold("refused");
    }
    if (kick_after)
        for (unsigned i = 0; i < 2; i++)
            set_blocking(fe.kick[i]);
    hx_say("%s: rx buffers posted: %u", mode, hx_post_rx(&fe));
    hx_ready_and_hold("accepted");
}
