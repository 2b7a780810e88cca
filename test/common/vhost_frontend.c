/* Fake vhost-user front-end: see vhost_frontend.h. */
#include "test/common/vhost_frontend.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#define BIT(n) (1ull << (n))

static void fe_reset_fields(struct fe *fe)
{
    memset(fe, 0, sizeof(*fe));
    fe->sock = fe->memfd = -1;
    for (unsigned i = 0; i < 2 * FE_MAX_QP; i++)
        fe->kick[i] = fe->call[i] = -1;
}

void fe_adopt(struct fe *fe, int sock)
{
    fe_reset_fields(fe);
    fe->sock = sock;
}

int fe_connect(struct fe *fe, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;

    fe_reset_fields(fe);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int rc = -errno;
        close(s);
        return rc;
    }
    fe->sock = s;
    return 0;
}

void fe_close(struct fe *fe)
{
    if (fe->sock >= 0)
        close(fe->sock);
    for (unsigned i = 0; i < 2 * FE_MAX_QP; i++) {
        if (fe->kick[i] >= 0)
            close(fe->kick[i]);
        if (fe->call[i] >= 0)
            close(fe->call[i]);
        if (fe->ring_init[i])
            vs_vdrv_fini(&fe->ring[i]);
    }
    if (fe->mem)
        munmap(fe->mem, fe->mem_size);
    if (fe->memfd >= 0)
        close(fe->memfd);
    fe_reset_fields(fe);
}

int fe_send_bytes(struct fe *fe, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    union {
        char b[CMSG_SPACE(sizeof(int) * 32)];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (nfds > 32)
        return -EINVAL;
    if (nfds) {
        memset(&cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int fe_send(struct fe *fe, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
            const int *fds, unsigned nfds)
{
    struct vs_vhu_msg m;

    if (size > sizeof(m.p))
        return -EINVAL;
    m.hdr.request = req;
    m.hdr.flags = flags;
    m.hdr.size = size;
    if (size)
        memcpy(&m.p, payload, size);
    return fe_send_bytes(fe, &m, sizeof(m.hdr) + size, fds, nfds);
}

static int read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
    uint8_t *p = buf;

    while (len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, timeout_ms);
        if (r == 0)
            return -ETIMEDOUT;
        if (r < 0)
            return -errno;
        ssize_t n = recv(fd, p, len, 0);
        if (n == 0)
            return -EPIPE;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == ECONNRESET ? -EPIPE : -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fe_recv(struct fe *fe, struct vs_vhu_msg *msg, int timeout_ms)
{
    int rc = read_exact(fe->sock, &msg->hdr, sizeof(msg->hdr), timeout_ms);

    if (rc < 0)
        return rc;
    if (msg->hdr.size > sizeof(msg->p))
        return -EPROTO;
    return read_exact(fe->sock, &msg->p, msg->hdr.size, timeout_ms);
}

bool fe_closed_by_peer(struct fe *fe, int timeout_ms)
{
    uint8_t b;
    int rc = read_exact(fe->sock, &b, 1, timeout_ms);

    return rc == -EPIPE;
}

int64_t fe_ack(struct fe *fe, uint32_t req, const void *payload, uint32_t size, const int *fds,
               unsigned nfds)
{
    struct vs_vhu_msg r;

    if (fe_send(fe, req, VS_VHU_VERSION | VS_VHU_FLAG_NEED_REPLY, payload, size, fds, nfds) < 0)
        return -1;
    if (fe_recv(fe, &r, 2000) < 0)
        return -1;
    if (r.hdr.request != req || r.hdr.flags != (VS_VHU_VERSION | VS_VHU_FLAG_REPLY) ||
        r.hdr.size != 8)
        return -1;
    return (int64_t)(r.p.u64 & 0x7fffffffffffffffull);
}

int fe_get_u64(struct fe *fe, uint32_t req, uint64_t *out)
{
    struct vs_vhu_msg r;

    if (fe_send(fe, req, VS_VHU_VERSION, NULL, 0, NULL, 0) < 0 || fe_recv(fe, &r, 2000) < 0)
        return -1;
    if (r.hdr.request != req || r.hdr.size != 8 || !(r.hdr.flags & VS_VHU_FLAG_REPLY))
        return -1;
    *out = r.p.u64;
    return 0;
}

int64_t fe_ack_u64(struct fe *fe, uint32_t req, uint64_t v)
{
    return fe_ack(fe, req, &v, sizeof(v), NULL, 0);
}

int64_t fe_ack_state(struct fe *fe, uint32_t req, uint32_t index, uint32_t num)
{
    struct vhost_vring_state s = {.index = index, .num = num};

    return fe_ack(fe, req, &s, sizeof(s), NULL, 0);
}

int fe_mem_init(struct fe *fe)
{
    fe->mem_size = FE_MEM_SIZE;
    fe->memfd = memfd_create("fe-guest", MFD_CLOEXEC | (fe->opts.hugetlb ? MFD_HUGETLB : 0));
    if (fe->memfd < 0)
        return -errno;
    if (ftruncate(fe->memfd, (off_t)fe->mem_size) < 0)
        return -errno;
    fe->mem = mmap(NULL, fe->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, fe->memfd, 0);
    if (fe->mem == MAP_FAILED) {
        fe->mem = NULL;
        return -errno;
    }
    /* The test driver allocates rings and buffers inside this region. Its uva is our
     * own address, as for QEMU. */
    fe->vm.gm.r[0] = (struct vs_guest_mem_region){
        .gpa = VS_VDRV_GPA_BASE,
        .size = fe->mem_size,
        .uva = (uint64_t)(uintptr_t)fe->mem,
        .hva = fe->mem,
        .fd = -1,
    };
    fe->vm.gm.n = 1;
    return 0;
}

uint64_t fe_uva(const struct fe *fe, uint64_t gpa)
{
    return (uint64_t)(uintptr_t)fe->mem + (gpa - VS_VDRV_GPA_BASE);
}

int64_t fe_send_mem_table(struct fe *fe)
{
    struct vs_vhu_mem_table t = {.nregions = 1};
    int fds[2] = {fe->memfd, fe->memfd};

    t.r[0] = (struct vs_vhu_mem_region){.gpa = VS_VDRV_GPA_BASE,
                                        .size = fe->mem_size,
                                        .uva = fe_uva(fe, VS_VDRV_GPA_BASE),
                                        .mmap_offset = 0};
    if (fe->opts.two_regions) {
        /* Adjacent in guest-physical and user space, one file at two offsets: the
         * back-end maps each with its offset and frames may straddle the boundary. */
        uint64_t half = fe->mem_size / 2;

        t.nregions = 2;
        t.r[0].size = half;
        t.r[1] = (struct vs_vhu_mem_region){.gpa = VS_VDRV_GPA_BASE + half,
                                            .size = half,
                                            .uva = fe_uva(fe, VS_VDRV_GPA_BASE + half),
                                            .mmap_offset = half};
    }
    return fe_ack(fe, VS_VHU_SET_MEM_TABLE, &t, 8 + t.nregions * sizeof(t.r[0]), fds,
                  t.nregions);
}

int fe_setup_vring(struct fe *fe, unsigned i, uint32_t base)
{
    struct vs_vdrv *d = &fe->ring[i];
    struct vhost_vring_addr a = {.index = i};
    uint64_t v;

    if (fe_ack_state(fe, VS_VHU_SET_VRING_NUM, i, d->size) != 0)
        return 1;
    if (fe_ack_state(fe, VS_VHU_SET_VRING_BASE, i, base) != 0)
        return 2;
    a.desc_user_addr = fe_uva(fe, d->desc_gpa);
    a.avail_user_addr = fe_uva(fe, d->avail_gpa);
    a.used_user_addr = fe_uva(fe, d->used_gpa);
    a.log_guest_addr = d->used_gpa;
    if (fe_ack(fe, VS_VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0) != 0)
        return 3;
    if (fe->kick[i] < 0)
        fe->kick[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fe->call[i] < 0)
        fe->call[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    v = i;
    if (fe_ack(fe, VS_VHU_SET_VRING_CALL, &v, 8, &fe->call[i], 1) != 0)
        return 4;
    if (fe_ack(fe, VS_VHU_SET_VRING_KICK, &v, 8, &fe->kick[i], 1) != 0)
        return 5;
    if (!fe->opts.no_protocol_features &&
        fe_ack_state(fe, VS_VHU_SET_VRING_ENABLE, i, 1) != 0)
        return 6;
    return 0;
}

int fe_negotiate(struct fe *fe, const struct fe_opts *opts)
{
    uint64_t f, pf, qn, want_pf;
    unsigned flags = 0;

    fe->opts = *opts;
    if (!fe->mem && fe_mem_init(fe) < 0)
        return 1;
    if (opts->two_regions && opts->add_mem_reg)
        return 15; /* not combined */
    if (fe_get_u64(fe, VS_VHU_GET_FEATURES, &f) < 0)
        return 2;
    fe->features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (!opts->no_protocol_features) {
        fe->features |= BIT(30);
        if (fe_get_u64(fe, VS_VHU_GET_PROTOCOL_FEATURES, &pf) < 0)
            return 3;
        want_pf = BIT(VS_VHU_PF_MQ) | BIT(VS_VHU_PF_REPLY_ACK) | BIT(VS_VHU_PF_LOG_SHMFD) |
                  BIT(VS_VHU_PF_RARP) | BIT(VS_VHU_PF_NET_MTU) | BIT(VS_VHU_PF_STATUS);
        if (opts->add_mem_reg)
            want_pf |= BIT(VS_VHU_PF_CONFIGURE_MEM_SLOTS);
        if ((pf & want_pf) != want_pf)
            return 4;
        if (fe_ack_u64(fe, VS_VHU_SET_PROTOCOL_FEATURES, want_pf) != 0)
            return 5;
        if (fe_get_u64(fe, VS_VHU_GET_QUEUE_NUM, &qn) < 0 || qn < opts->nqp)
            return 6;
    }
    if (fe_ack(fe, VS_VHU_SET_OWNER, NULL, 0, NULL, 0) != 0)
        return 7;
    if (opts->packed) {
        fe->features |= BIT(VIRTIO_F_RING_PACKED);
        flags |= VS_VDRV_PACKED;
    }
    if (opts->event_idx) {
        fe->features |= BIT(VIRTIO_RING_F_EVENT_IDX);
        flags |= VS_VDRV_EVENT_IDX;
    }
    if (opts->in_order) {
        fe->features |= BIT(VIRTIO_F_IN_ORDER);
        flags |= VS_VDRV_IN_ORDER;
    }
    if (opts->nqp > 1)
        fe->features |= BIT(VIRTIO_NET_F_MQ);
    if ((f & opts->extra_features) != opts->extra_features)
        return 16;
    fe->features |= opts->extra_features;
    if ((f & fe->features) != fe->features)
        return 8;
    if (fe_ack_u64(fe, VS_VHU_SET_FEATURES, fe->features) != 0)
        return 9;
    if (opts->add_mem_reg) {
        struct vs_vhu_mem_reg m = {.r = {.gpa = VS_VDRV_GPA_BASE,
                                         .size = fe->mem_size,
                                         .uva = fe_uva(fe, VS_VDRV_GPA_BASE)}};
        uint64_t slots;

        if (fe_get_u64(fe, VS_VHU_GET_MAX_MEM_SLOTS, &slots) < 0 || slots < 1)
            return 10;
        if (fe_ack(fe, VS_VHU_ADD_MEM_REG, &m, sizeof(m), &fe->memfd, 1) != 0)
            return 11;
    } else if (fe_send_mem_table(fe) != 0) {
        return 12;
    }
    flags |= VS_VDRV_MRG_RXBUF;
    for (unsigned i = 0; i < 2 * opts->nqp; i++) {
        if (!fe->ring_init[i]) {
            if (vs_vdrv_init(&fe->ring[i], &fe->vm, opts->ring_size, flags) < 0)
                return 13;
            fe->ring_init[i] = true;
        }
        /* Packed rings start with the wrap counters set (bit 15), as QEMU and DPDK send. */
        if (fe_setup_vring(fe, i, opts->packed ? 0x8000 : 0) != 0)
            return 20 + (int)i;
    }
    if (!opts->no_protocol_features &&
        fe_ack_u64(fe, VS_VHU_SET_STATUS,
                   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK) != 0)
        return 14;
    return 0;
}

int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;

    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}
