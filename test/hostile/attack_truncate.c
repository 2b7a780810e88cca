/* vs_attack_truncate SOCK: a front-end that negotiates normally with unsealed memfd
 * memory, posts RX buffers, then truncates its memory file to nothing and kicks its
 * TX ring, so that the switch's next access to this guest's rings lands past the end
 * of the file (SIGBUS). Holds everything until SIGTERM. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test/hostile/hostile.h"

int main(int argc, char **argv)
{
    struct fe fe;
    struct fe_opts o = hx_default_opts();
    int rc;

    hx_set_prog(argv[0]);
    if (argc != 2)
        hx_die("usage: vs_attack_truncate SOCK");
    if ((rc = hx_connect(&fe, argv[1], 5000)) < 0)
        hx_die("cannot connect to %s: %s", argv[1], strerror(-rc));
    if ((rc = fe_negotiate(&fe, &o)) != 0)
        hx_die("negotiation failed at step %d", rc);
    hx_say("rx buffers posted: %u", hx_post_rx(&fe));
    /* Our own view of the memory goes too: unmap it before the file shrinks. */
    munmap(fe.mem, fe.mem_size);
    fe.mem = NULL;
    if (ftruncate(fe.memfd, 0) < 0)
        hx_die("ftruncate: %m");
    uint64_t one = 1;
    for (unsigned i = 0; i < 2; i++)
        if (fe.kick[i] >= 0 && write(fe.kick[i], &one, sizeof(one)) < 0) {
            /* a kick already pending is as good */
        }
    hx_ready_and_hold("memory file truncated to 0 bytes");
}
