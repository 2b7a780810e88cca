/* vs_attack_reply_flood SOCK: a front-end that sends requests with replies as fast
 * as the socket takes them and never reads a reply; when the switch closes the
 * connection it connects again and starts over, until SIGTERM. Requests alternate
 * GET_FEATURES (a reply with data) and SET_OWNER with NEED_REPLY (an ack). Its
 * receive buffer is made as small as the kernel allows, so replies back up early. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/hostile/hostile.h"

#define PER_CONNECTION 20000

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* Floods one connection; returns the requests sent once the socket stops taking more
 * and the switch has either closed it or kept it for a second. */
static unsigned flood(struct fe *fe)
{
    int small = 1;
    unsigned n = 0;

    setsockopt(fe->sock, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    while (n < PER_CONNECTION && !stop) {
        struct vs_vhu_hdr h = {.request = (n & 1) ? VS_VHU_SET_OWNER : VS_VHU_GET_FEATURES,
                               .flags = VS_VHU_VERSION | VS_VHU_FLAG_NEED_REPLY};
        struct pollfd p = {.fd = fe->sock, .events = POLLOUT};

        if (poll(&p, 1, 1000) <= 0 || (p.revents & (POLLHUP | POLLERR)))
            break;
        if (send(fe->sock, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(h))
            break;
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_term};
    unsigned long conns = 0, reqs = 0;
    bool ready = false;

    hx_set_prog(argv[0]);
    if (argc != 2)
        hx_die("usage: vs_attack_reply_flood SOCK");
    sigaction(SIGTERM, &sa, NULL);
    while (!stop) {
        struct fe fe;
        int rc = hx_connect(&fe, argv[1], 5000);

        if (rc < 0) {
            if (stop)
                break;
            hx_die("cannot connect to %s: %s", argv[1], strerror(-rc));
        }
        conns++;
        reqs += flood(&fe);
        if (!ready) {
            ready = true;
            printf("READY flooding\n");
            fflush(stdout);
        }
        /* Hold until the switch gives up on us (or a second passes), then again. */
        fe_closed_by_peer(&fe, 1000);
        fe_close(&fe);
    }
    hx_say("%lu connections, %lu requests sent, no reply read", conns, reqs);
    return 0;
}
