/* vhost-user message handling for a virtio-net device.
 *
 * Each request is checked (payload size, fd count, vring index, values) before it
 * touches any state. Errors are reported to the front-end with a non-zero REPLY_ACK
 * when it asked for one; otherwise (and for requests whose reply carries data) the
 * connection is closed, because the front-end would go on assuming success.
 *
 * Rings that are running when a message changes them are paused: their gate is
 * closed, an RCU grace period lets pollers leave rx_burst/tx_burst, the ring is
 * stopped (keeping its index), changed, and started again from the same index. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "ports/vhost_user/dev.h"
#include "ports/vhost_user/port_args.h"
#include "ports/virtio/net_hdr.h"
#include "vswitch/eventfd.h"
#include "vswitch/log.h"
#include "vswitch/rcu.h"

#define BIT(n) (1ull << (n))

uint64_t vs_vhu_features_offered(void)
{
    /* Checksum and segmentation offloads both ways (VS_VNET_OFFLOAD_FEATURES): frames
     * keep their requests through the switch, which completes in software what an
     * egress port did not negotiate. */
    return VS_VNET_OFFLOAD_FEATURES | BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_RING_PACKED) | BIT(VIRTIO_F_IN_ORDER) |
           BIT(VIRTIO_RING_F_EVENT_IDX) |
           BIT(VIRTIO_RING_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
           BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_MTU) | BIT(VIRTIO_NET_F_STATUS) |
           BIT(VIRTIO_F_ANY_LAYOUT) | BIT(VS_VHU_F_PROTOCOL_FEATURES) | BIT(VHOST_F_LOG_ALL);
}

uint64_t vs_vhu_protocol_features_offered(void)
{
    return BIT(VS_VHU_PF_MQ) | BIT(VS_VHU_PF_LOG_SHMFD) | BIT(VS_VHU_PF_RARP) |
           BIT(VS_VHU_PF_REPLY_ACK) | BIT(VS_VHU_PF_NET_MTU) |
           BIT(VS_VHU_PF_CONFIGURE_MEM_SLOTS) | BIT(VS_VHU_PF_STATUS);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- device ----------------------------------------------------------------- */

/* Ring addresses are the front-end's virtual addresses (descriptors carry
 * guest-physical ones). Interrupts signal the call eventfd of SET_VRING_CALL, the
 * default (.interrupt NULL, vs_vnet_queue.call). */
static const struct vs_vnet_ops vhu_vnet_ops = {
    .ring_map = vs_guest_mem_uva_range,
};

static void vhu_vring_reset(struct vs_vhu_dev *dev, unsigned i)
{
    struct vs_vhu_vring *vr = &dev->vr[i];

    vs_vnet_queue_reset(&dev->net, i);
    vr->errfd = -1;
    vs_eventfd_signal_init(&vr->call);
}

void vs_vhu_dev_init(struct vs_vhu_dev *dev, const char *name, unsigned n_qp)
{
    memset(dev, 0, sizeof(*dev));
    vs_vnet_dev_init(&dev->net, name, n_qp, &vhu_vnet_ops);
    dev->max_map = VS_VHU_MAX_MEMORY_DEFAULT;
    dev->offered = vs_vhu_features_offered();
    for (unsigned i = 0; i < VS_VHU_MAX_VRINGS; i++)
        vhu_vring_reset(dev, i);
}

/* The queues log their writes while LOG_ALL is negotiated and a log is mapped; they
 * take the setting when they (re)start. */
static void log_attach(struct vs_vhu_dev *dev)
{
    dev->net.log = vs_vhu_has_feature(dev, VHOST_F_LOG_ALL) && dev->log.bitmap ? &dev->log : NULL;
}

static void log_unmap(struct vs_vhu_dev *dev)
{
    vs_vhu_unmap(dev->log_map, dev->log_map_size, dev->log_peer_id);
    dev->log_peer_id = 0;
    dev->log_map = NULL;
    dev->log_map_size = 0;
    dev->log.bitmap = NULL;
    dev->log.size_bytes = 0;
    log_attach(dev);
}

void vs_vhu_dev_reset(struct vs_vhu_dev *dev)
{
    vs_vnet_queues_pause(&dev->net, (uint32_t)((1ull << VS_VHU_MAX_VRINGS) - 1));
    for (unsigned i = 0; i < VS_VHU_MAX_VRINGS; i++) {
        struct vs_vhu_vring *vr = &dev->vr[i];

        close_fd(&dev->net.q[i].kickfd);
        vs_eventfd_signal_close(&vr->call);
        close_fd(&vr->errfd);
        vhu_vring_reset(dev, i);
    }
    vs_vhu_mem_unmap_all(&dev->net.mem);
    dev->mem_file_valid = false;
    dev->net.features = 0;
    vs_vnet_offloads_publish(&dev->net);
    log_unmap(dev);
    dev->features_set = false;
    dev->protocol_features = 0;
    dev->owner = false;
    dev->status = 0;
    dev->mtu = 0;
    __atomic_store_n(&dev->net.rarp, 0, __ATOMIC_RELAXED);
    dev->msg_err_logged = false;
}

/* ---- messages --------------------------------------------------------------- */

struct ctx {
    struct vs_vhu_dev *dev;
    const struct vs_vhu_hdr *hdr;
    const union vs_vhu_payload *p;
    int *fds;
    unsigned nfds;
    struct vs_vhu_msg *reply;
    bool replied; /* the request's own reply is in *reply */
    enum vs_vhu_msg_error err;
    char why[240];
};

static int fail(struct ctx *c, enum vs_vhu_msg_error e, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct ctx *c, enum vs_vhu_msg_error e, int rc, const char *fmt, ...)
{
    va_list ap;

    c->err = e;
    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    return rc;
}

/* Like fail(), with the reason already in c->why. */
static int failed(struct ctx *c, enum vs_vhu_msg_error e, int rc)
{
    c->err = e;
    return rc;
}

static int need_size(struct ctx *c, uint32_t size)
{
    if (c->hdr->size != size)
        return fail(c, VS_VHU_ERR_SIZE, -EINVAL, "payload is %u bytes, expected %u",
                    c->hdr->size, size);
    return 0;
}

static int need_fds(struct ctx *c, unsigned n)
{
    if (c->nfds != n)
        return fail(c, VS_VHU_ERR_FDS, -EINVAL, "%u file descriptors, expected %u", c->nfds, n);
    return 0;
}

static int need_vring(struct ctx *c, uint32_t index)
{
    if (index >= 2 * c->dev->net.n_qp)
        return fail(c, VS_VHU_ERR_INDEX, -ERANGE, "vring %u out of range (%u queue pairs)",
                    index, c->dev->net.n_qp);
    return 0;
}

/* Takes fds[i] out of the message (the caller will not close it). */
static int take_fd(struct ctx *c, unsigned i)
{
    int fd = c->fds[i];

    c->fds[i] = -1;
    return fd;
}

static void reply_u64(struct ctx *c, uint64_t v)
{
    c->reply->hdr.size = sizeof(uint64_t);
    c->reply->p.u64 = v;
    c->replied = true;
}

static int h_get_features(struct ctx *c)
{
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    reply_u64(c, c->dev->offered);
    return 0;
}

static int h_set_features(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    uint64_t f, extra;
    int rc;

    if ((rc = need_size(c, 8)) < 0)
        return rc;
    f = c->p->u64;
    extra = f & ~dev->offered;
    if (extra)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL,
                    "features 0x%llx include 0x%llx that were not offered",
                    (unsigned long long)f, (unsigned long long)extra);
    if (dev->features_set && dev->net.features == f)
        return 0;
    /* Normally sent before any ring starts; on a live device (migration turning
     * LOG_ALL on or off) the rings pick the new setting up on restart. */
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    dev->net.features = f;
    dev->features_set = true;
    log_attach(dev);
    vs_vnet_offloads_publish(&dev->net);
    vs_vnet_queues_resume_all(&dev->net);
    return 0;
}

static int h_get_protocol_features(struct ctx *c)
{
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    reply_u64(c, vs_vhu_protocol_features_offered());
    return 0;
}

static int h_set_protocol_features(struct ctx *c)
{
    uint64_t extra;
    int rc;

    if ((rc = need_size(c, 8)) < 0)
        return rc;
    extra = c->p->u64 & ~vs_vhu_protocol_features_offered();
    if (extra)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL,
                    "protocol features 0x%llx include 0x%llx that were not offered",
                    (unsigned long long)c->p->u64, (unsigned long long)extra);
    c->dev->protocol_features = c->p->u64;
    return 0;
}

static int h_set_owner(struct ctx *c)
{
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    c->dev->owner = true;
    return 0;
}

/* Deprecated; the spec recommends treating it as "disable all rings". */
static int h_reset_owner(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    for (unsigned i = 0; i < 2 * dev->net.n_qp; i++) {
        dev->net.q[i].ready = false;
        dev->net.q[i].enabled = false;
    }
    return 0;
}

/* Mapping new files: the room left under max_map, counting the table and the log
 * where they stay. */
static struct vs_vhu_map_ctx map_ctx(const struct vs_vhu_dev *dev, bool table_stays,
                                     bool log_stays)
{
    uint64_t used = (table_stays ? vs_vhu_mem_mapped(&dev->net.mem) : 0) +
                    (log_stays ? dev->log_map_size : 0);

    return (struct vs_vhu_map_ctx){.room = used < dev->max_map ? dev->max_map - used : 0,
                                   .on_fault = dev->on_fault,
                                   .arg = dev->fault_arg};
}

/* Is this table the one already mapped (same regions, same files, same offsets)?
 * Fills ids with the files' identities either way. */
static bool same_table(const struct vs_vhu_dev *dev, const struct vs_vhu_mem_region *r,
                       unsigned n, const int *fds, struct vs_vhu_mem_file *ids)
{
    bool same = dev->mem_file_valid && n == dev->net.mem.n;

    for (unsigned i = 0; i < n; i++) {
        struct stat st;

        if (fstat(fds[i], &st) < 0)
            return false;
        ids[i].dev = st.st_dev;
        ids[i].ino = st.st_ino;
        ids[i].offset = r[i].mmap_offset;
        if (same) {
            const struct vs_guest_mem_region *m = &dev->net.mem.r[i];

            same = m->gpa == r[i].gpa && m->size == r[i].size && m->uva == r[i].uva &&
                   !memcmp(&dev->mem_file[i], &ids[i], sizeof(ids[i]));
        }
    }
    return same;
}

static int h_set_mem_table(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    struct vs_vhu_mem_file ids[VS_VHU_MEM_TABLE_MAX];
    uint32_t n;
    struct vs_vhu_map_ctx mc;
    int rc;

    if (c->hdr->size < 8)
        return fail(c, VS_VHU_ERR_SIZE, -EINVAL, "payload is %u bytes, at least 8 expected",
                    c->hdr->size);
    n = c->p->mem.nregions;
    if (n == 0 || n > VS_VHU_MEM_TABLE_MAX || n > VS_GUEST_MEM_MAX_REGIONS)
        return fail(c, VS_VHU_ERR_MEMORY, -EINVAL, "%u regions, 1 to %u accepted", n,
                    VS_VHU_MEM_TABLE_MAX);
    if (c->hdr->size < 8 + n * sizeof(struct vs_vhu_mem_region) ||
        c->hdr->size > sizeof(struct vs_vhu_mem_table))
        return fail(c, VS_VHU_ERR_SIZE, -EINVAL, "payload is %u bytes, %u regions need %zu",
                    c->hdr->size, n, 8 + n * sizeof(struct vs_vhu_mem_region));
    if ((rc = need_fds(c, n)) < 0)
        return rc;
    if (same_table(dev, c->p->mem.r, n, c->fds, ids))
        return 0; /* nothing to remap; the fds are closed by the caller */
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    mc = map_ctx(dev, false, true);
    rc = vs_vhu_mem_set_table(&dev->net.mem, c->p->mem.r, n, c->fds, &mc, c->why, sizeof(c->why));
    dev->mem_file_valid = rc == 0;
    if (rc == 0)
        memcpy(dev->mem_file, ids, sizeof(ids[0]) * n);
    /* On failure the old table is still mapped and the rings go on with it. */
    vs_vnet_queues_resume_all(&dev->net);
    return rc < 0 ? failed(c, VS_VHU_ERR_MEMORY, rc) : 0;
}

static int h_get_max_mem_slots(struct ctx *c)
{
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    reply_u64(c, VS_GUEST_MEM_MAX_REGIONS);
    return 0;
}

static int h_add_mem_reg(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    struct vs_vhu_map_ctx mc;
    int rc;

    if ((rc = need_size(c, sizeof(struct vs_vhu_mem_reg))) < 0 || (rc = need_fds(c, 1)) < 0)
        return rc;
    dev->mem_file_valid = false;
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    mc = map_ctx(dev, true, true);
    rc = vs_vhu_mem_add(&dev->net.mem, &c->p->memreg.r, &c->fds[0], &mc, c->why, sizeof(c->why));
    vs_vnet_queues_resume_all(&dev->net);
    return rc < 0 ? failed(c, VS_VHU_ERR_MEMORY, rc) : 0;
}

static int h_rem_mem_reg(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    int rc;

    if ((rc = need_size(c, sizeof(struct vs_vhu_mem_reg))) < 0)
        return rc;
    /* The spec allows one (ignored) fd for old front-ends; it is closed by the caller. */
    if (c->nfds > 1)
        return need_fds(c, 1);
    dev->mem_file_valid = false;
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    rc = vs_vhu_mem_remove(&dev->net.mem, &c->p->memreg.r, c->why, sizeof(c->why));
    /* A ring whose memory went away waits for the region to come back. */
    vs_vnet_queues_resume_all(&dev->net);
    return rc < 0 ? failed(c, VS_VHU_ERR_MEMORY, rc) : 0;
}

static int h_set_log_base(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    const struct vs_vhu_log *l = &c->p->log;
    void *map_addr = NULL, *bitmap;
    uint64_t map_len = 0;
    struct vs_vhu_map_ctx mc;
    int peer_id;
    char what[160];
    int rc;

    /* The front-end waits for this reply whatever happens; non-zero means failure. */
    reply_u64(c, 1);
    if ((rc = need_size(c, sizeof(struct vs_vhu_log))) < 0 || (rc = need_fds(c, 1)) < 0)
        return rc;
    if (l->mmap_size == 0 || l->mmap_size > VS_VHU_MAX_LOG_SIZE)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "log size 0x%llx not in 1..0x%llx",
                    (unsigned long long)l->mmap_size, (unsigned long long)VS_VHU_MAX_LOG_SIZE);
    mc = map_ctx(dev, true, false);
    bitmap = vs_vhu_map_fd(c->fds[0], l->mmap_offset, l->mmap_size, &mc, &map_addr, &map_len,
                           &peer_id, what, sizeof(what));
    if (!bitmap)
        return fail(c, VS_VHU_ERR_MEMORY, -EINVAL, "log: %s", what);
    close_fd(&c->fds[0]);
    vs_vnet_queues_pause(&dev->net, vs_vnet_all_queues(&dev->net));
    log_unmap(dev);
    dev->log_map = map_addr;
    dev->log_map_size = map_len;
    dev->log_peer_id = peer_id;
    dev->log.bitmap = bitmap;
    dev->log.size_bytes = l->mmap_size;
    log_attach(dev);
    vs_vnet_queues_resume_all(&dev->net);
    c->reply->p.u64 = 0;
    return 0;
}

static int h_set_vring_num(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    const struct vhost_vring_state *s = &c->p->state;
    int rc;

    if ((rc = need_size(c, sizeof(*s))) < 0 || (rc = need_fds(c, 0)) < 0 ||
        (rc = need_vring(c, s->index)) < 0)
        return rc;
    if (s->num == 0 || s->num > VS_VHU_MAX_RING_SIZE)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "ring size %u not in 1..%u", s->num,
                    VS_VHU_MAX_RING_SIZE);
    if (!vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED) && (s->num & (s->num - 1)))
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "split ring size %u is not a power of two",
                    s->num);
    vs_vnet_queues_pause(&dev->net, 1u << s->index);
    dev->net.q[s->index].num = s->num;
    rc = vs_vnet_queues_resume(&dev->net, 1u << s->index, c->why, sizeof(c->why));
    return rc < 0 ? failed(c, VS_VHU_ERR_RING, rc) : 0;
}

static int h_set_vring_addr(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    const struct vhost_vring_addr *a = &c->p->addr;
    struct vs_vnet_queue *q;
    void *d, *av, *u;
    char what[200];
    int rc;

    if ((rc = need_size(c, sizeof(*a))) < 0 || (rc = need_fds(c, 0)) < 0 ||
        (rc = need_vring(c, a->index)) < 0)
        return rc;
    q = &dev->net.q[a->index];
    if (a->flags & ~(1u << VHOST_VRING_F_LOG))
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "unknown vring flags 0x%x", a->flags);
    /* Check now when we can, so that the front-end learns which message was wrong. */
    if (dev->net.mem.n > 0 && q->num &&
        (rc = vs_vnet_ring_translate(&dev->net, a->desc_user_addr, a->avail_user_addr,
                                     a->used_user_addr, q->num,
                                     vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED),
                                     vs_vhu_has_feature(dev, VIRTIO_RING_F_EVENT_IDX), &d, &av,
                                     &u, what, sizeof(what))) < 0) {
        q->vq.stats.err[VS_VQ_ERR_RING_ADDR]++;
        return fail(c, VS_VHU_ERR_RING, rc, "vring %u: %s", a->index, what);
    }
    vs_vnet_queues_pause(&dev->net, 1u << a->index);
    q->desc_addr = a->desc_user_addr;
    q->avail_addr = a->avail_user_addr;
    q->used_addr = a->used_user_addr;
    q->log_addr = a->log_guest_addr;
    q->addr_set = true;
    rc = vs_vnet_queues_resume(&dev->net, 1u << a->index, c->why, sizeof(c->why));
    return rc < 0 ? failed(c, VS_VHU_ERR_RING, rc) : 0;
}

static int h_set_vring_base(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    const struct vhost_vring_state *s = &c->p->state;
    bool packed = vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED);
    uint32_t base;
    int rc;

    if ((rc = need_size(c, sizeof(*s))) < 0 || (rc = need_fds(c, 0)) < 0 ||
        (rc = need_vring(c, s->index)) < 0)
        return rc;
    /* Packed rings: QEMU may put the used index in the upper half; with in-order
     * completion it equals the avail index, so the lower half is all we need. */
    base = packed ? (s->num & 0xffff) : s->num;
    if (base > 0xffff)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "ring base %u larger than 65535", s->num);
    vs_vnet_queues_pause(&dev->net, 1u << s->index);
    dev->net.q[s->index].base = base;
    rc = vs_vnet_queues_resume(&dev->net, 1u << s->index, c->why, sizeof(c->why));
    return rc < 0 ? failed(c, VS_VHU_ERR_RING, rc) : 0;
}

static int h_get_vring_base(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    const struct vhost_vring_state *s = &c->p->state;
    struct vs_vnet_queue *q;
    uint32_t num;
    int rc;

    if ((rc = need_size(c, sizeof(*s))) < 0 || (rc = need_fds(c, 0)) < 0 ||
        (rc = need_vring(c, s->index)) < 0)
        return rc;
    q = &dev->net.q[s->index];
    vs_vnet_queues_pause(&dev->net, 1u << s->index);
    /* Stopped until the front-end kicks it again. */
    q->ready = false;
    close_fd(&q->kickfd);
    q->vq.kickfd = -1;
    num = q->base & 0xffff;
    if (vs_vhu_has_feature(dev, VIRTIO_F_RING_PACKED))
        num |= num << 16; /* used index (and its wrap bit) equal the avail ones */
    c->reply->hdr.size = sizeof(struct vhost_vring_state);
    c->reply->p.state.index = s->index;
    c->reply->p.state.num = num;
    c->replied = true;
    return 0;
}

enum vring_fd_kind { FD_KICK, FD_CALL, FD_ERR };

/* Takes the message's fd after checking that it is an eventfd: pollers read kick
 * fds and signal call fds, and anything else (a pipe nobody drains, a socket) could
 * make them wait. A call fd comes back in *call, ready to signal; the others in *fd. */
static int take_eventfd(struct ctx *c, enum vring_fd_kind kind, unsigned idx, int *fd,
                        struct vs_eventfd_signal *call)
{
    static const char *const names[] = {[FD_KICK] = "kick", [FD_CALL] = "call", [FD_ERR] = "err"};
    char what[120];
    int rc;

    if (kind == FD_CALL)
        rc = vs_eventfd_signal_open(call, take_fd(c, 0), what, sizeof(what));
    else if (kind == FD_KICK)
        rc = vs_eventfd_check_readable(c->fds[0], what, sizeof(what));
    else
        rc = vs_eventfd_check(c->fds[0], what, sizeof(what));
    if (rc < 0)
        return fail(c, VS_VHU_ERR_FD_TYPE, rc, "vring %u %s fd: %s", idx, names[kind], what);
    if (kind != FD_CALL)
        *fd = take_fd(c, 0);
    return 0;
}

static int h_set_vring_fd(struct ctx *c, enum vring_fd_kind kind)
{
    struct vs_vhu_dev *dev = c->dev;
    uint64_t v;
    unsigned idx;
    bool nofd;
    struct vs_vhu_vring *vr;
    struct vs_vnet_queue *q;
    struct vs_eventfd_signal call;
    int rc, fd = -1;

    vs_eventfd_signal_init(&call);
    if ((rc = need_size(c, 8)) < 0)
        return rc;
    v = c->p->u64;
    idx = (unsigned)(v & VS_VHU_VRING_IDX_MASK);
    nofd = v & VS_VHU_VRING_NOFD;
    if (v & ~(uint64_t)(VS_VHU_VRING_IDX_MASK | VS_VHU_VRING_NOFD))
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "unknown bits in 0x%llx",
                    (unsigned long long)v);
    if ((rc = need_fds(c, nofd ? 0 : 1)) < 0 || (rc = need_vring(c, idx)) < 0)
        return rc;
    vr = &dev->vr[idx];
    q = &dev->net.q[idx];
    if (!nofd && (rc = take_eventfd(c, kind, idx, &fd, &call)) < 0)
        return rc;
    switch (kind) {
    case FD_KICK:
        vs_vnet_queues_pause(&dev->net, 1u << idx);
        close_fd(&q->kickfd);
        q->kickfd = fd;
        q->ready = true;
        /* Without protocol features there is no SET_VRING_ENABLE: rings start enabled. */
        if (!vs_vhu_has_feature(dev, VS_VHU_F_PROTOCOL_FEATURES))
            q->enabled = true;
        break;
    case FD_CALL:
        vs_vnet_queues_pause(&dev->net, 1u << idx);
        vs_eventfd_signal_close(&vr->call);
        vr->call = call;
        q->call = vr->call.fd >= 0 ? &vr->call : NULL;
        break;
    case FD_ERR:
        close_fd(&vr->errfd);
        vr->errfd = fd;
        return 0;
    }
    rc = vs_vnet_queues_resume(&dev->net, 1u << idx, c->why, sizeof(c->why));
    return rc < 0 ? failed(c, VS_VHU_ERR_RING, rc) : 0;
}

static int h_get_queue_num(struct ctx *c)
{
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    reply_u64(c, c->dev->net.n_qp);
    return 0;
}

static int h_set_vring_enable(struct ctx *c)
{
    struct vs_vhu_dev *dev = c->dev;
    const struct vhost_vring_state *s = &c->p->state;
    int rc;

    if ((rc = need_size(c, sizeof(*s))) < 0 || (rc = need_fds(c, 0)) < 0 ||
        (rc = need_vring(c, s->index)) < 0)
        return rc;
    if (s->num > 1)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "enable value %u is not 0 or 1", s->num);
    vs_vnet_queue_enable(&dev->net, s->index, s->num);
    return 0;
}

static int h_send_rarp(struct ctx *c)
{
    int rc;

    if ((rc = need_size(c, 8)) < 0 || (rc = need_fds(c, 0)) < 0)
        return rc;
    /* Picked up by rx queue 0 and sent into the switch as if the guest had sent it,
     * so that the FDB and the network learn where the migrated guest now is. */
    vs_vnet_rarp_request(&c->dev->net, c->p->raw);
    return 0;
}

static int h_net_set_mtu(struct ctx *c)
{
    int rc;
    uint64_t mtu;
    unsigned max;

    if ((rc = need_size(c, 8)) < 0 || (rc = need_fds(c, 0)) < 0)
        return rc;
    mtu = c->p->u64;
    /* The guest's MTU (QEMU's host_mtu) may be anything up to the port's: longer
     * frames would be dropped as oversize. Refused, QEMU says so and leaves the NIC
     * down, which beats a link that drops every large frame. */
    max = vs_vhu_mtu_max(c->dev);
    if (mtu < 68 || mtu > max)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL,
                    "MTU %llu not in 68..%u (raise the port's mtu option for more)",
                    (unsigned long long)mtu, max);
    c->dev->mtu = (uint16_t)mtu;
    return 0;
}

static int h_set_status(struct ctx *c)
{
    int rc;

    if ((rc = need_size(c, 8)) < 0 || (rc = need_fds(c, 0)) < 0)
        return rc;
    if (c->p->u64 > 0xff)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "status 0x%llx is not one byte",
                    (unsigned long long)c->p->u64);
    /* Informational: rings are started and stopped by their own messages. */
    c->dev->status = (uint8_t)c->p->u64;
    return 0;
}

static int h_get_status(struct ctx *c)
{
    int rc = need_size(c, 0);

    if (rc < 0)
        return rc;
    reply_u64(c, c->dev->status);
    return 0;
}

/* QEMU owns the virtio-net config space; answer from what we know in case a
 * front-end asks anyway (CONFIG is not offered). */
static int h_get_config(struct ctx *c)
{
    const struct vs_vhu_config *in = &c->p->config;
    struct virtio_net_config cfg;
    int rc;

    /* The spec's error reply is an empty payload. */
    c->reply->hdr.size = 0;
    c->replied = true;
    if (c->hdr->size < VS_VHU_CONFIG_HDR || c->hdr->size > sizeof(struct vs_vhu_config))
        return fail(c, VS_VHU_ERR_SIZE, -EINVAL, "payload is %u bytes", c->hdr->size);
    if ((rc = need_fds(c, 0)) < 0)
        return rc;
    if (in->size != c->hdr->size - VS_VHU_CONFIG_HDR || in->offset > sizeof(cfg) ||
        in->size > sizeof(cfg) - in->offset)
        return fail(c, VS_VHU_ERR_VALUE, -EINVAL, "config window %u+%u outside %zu bytes",
                    in->offset, in->size, sizeof(cfg));
    memset(&cfg, 0, sizeof(cfg));
    cfg.status = VIRTIO_NET_S_LINK_UP;
    cfg.max_virtqueue_pairs = (uint16_t)c->dev->net.n_qp;
    cfg.mtu = c->dev->mtu ? c->dev->mtu : (uint16_t)vs_vhu_mtu_max(c->dev);
    c->reply->p.config.offset = in->offset;
    c->reply->p.config.size = in->size;
    c->reply->p.config.flags = in->flags;
    memcpy(c->reply->p.config.region, (uint8_t *)&cfg + in->offset, in->size);
    c->reply->hdr.size = VS_VHU_CONFIG_HDR + in->size;
    return 0;
}

static int h_unsupported(struct ctx *c)
{
    return fail(c, VS_VHU_ERR_UNKNOWN, -ENOTSUP, "request not supported");
}

/* Requests whose reply carries data: errors cannot be signalled in-band. */
static bool has_own_reply(uint32_t req)
{
    switch (req) {
    case VS_VHU_GET_FEATURES:
    case VS_VHU_GET_PROTOCOL_FEATURES:
    case VS_VHU_GET_VRING_BASE:
    case VS_VHU_GET_QUEUE_NUM:
    case VS_VHU_GET_MAX_MEM_SLOTS:
    case VS_VHU_GET_STATUS:
        return true;
    default:
        return false;
    }
}

/* Requests that may carry file descriptors; every other one must come without. */
static bool takes_fds(uint32_t req)
{
    switch (req) {
    case VS_VHU_SET_MEM_TABLE:
    case VS_VHU_SET_LOG_BASE:
    case VS_VHU_SET_VRING_KICK:
    case VS_VHU_SET_VRING_CALL:
    case VS_VHU_SET_VRING_ERR:
    case VS_VHU_ADD_MEM_REG:
    case VS_VHU_REM_MEM_REG:
        return true;
    default:
        return false;
    }
}

static int dispatch(struct ctx *c)
{
    if (c->nfds && !takes_fds(c->hdr->request) && c->hdr->request < VS_VHU_REQUEST_MAX &&
        strcmp(vs_vhu_request_name(c->hdr->request), "UNKNOWN") &&
        c->hdr->request != VS_VHU_SET_BACKEND_REQ_FD && c->hdr->request != VS_VHU_SET_INFLIGHT_FD &&
        c->hdr->request != VS_VHU_SET_LOG_FD)
        return need_fds(c, 0);
    switch (c->hdr->request) {
    case VS_VHU_GET_FEATURES: return h_get_features(c);
    case VS_VHU_SET_FEATURES: return h_set_features(c);
    case VS_VHU_SET_OWNER: return h_set_owner(c);
    case VS_VHU_RESET_OWNER: return h_reset_owner(c);
    case VS_VHU_SET_MEM_TABLE: return h_set_mem_table(c);
    case VS_VHU_SET_LOG_BASE: return h_set_log_base(c);
    /* Refused: the log eventfd would be one more peer-owned fd for pollers to
     * write to, and QEMU never sends it (it reads the log when it syncs). */
    case VS_VHU_SET_LOG_FD: return h_unsupported(c);
    case VS_VHU_SET_VRING_NUM: return h_set_vring_num(c);
    case VS_VHU_SET_VRING_ADDR: return h_set_vring_addr(c);
    case VS_VHU_SET_VRING_BASE: return h_set_vring_base(c);
    case VS_VHU_GET_VRING_BASE: return h_get_vring_base(c);
    case VS_VHU_SET_VRING_KICK: return h_set_vring_fd(c, FD_KICK);
    case VS_VHU_SET_VRING_CALL: return h_set_vring_fd(c, FD_CALL);
    case VS_VHU_SET_VRING_ERR: return h_set_vring_fd(c, FD_ERR);
    case VS_VHU_GET_PROTOCOL_FEATURES: return h_get_protocol_features(c);
    case VS_VHU_SET_PROTOCOL_FEATURES: return h_set_protocol_features(c);
    case VS_VHU_GET_QUEUE_NUM: return h_get_queue_num(c);
    case VS_VHU_SET_VRING_ENABLE: return h_set_vring_enable(c);
    case VS_VHU_SEND_RARP: return h_send_rarp(c);
    case VS_VHU_NET_SET_MTU: return h_net_set_mtu(c);
    case VS_VHU_GET_CONFIG: return h_get_config(c);
    case VS_VHU_GET_MAX_MEM_SLOTS: return h_get_max_mem_slots(c);
    case VS_VHU_ADD_MEM_REG: return h_add_mem_reg(c);
    case VS_VHU_REM_MEM_REG: return h_rem_mem_reg(c);
    case VS_VHU_SET_STATUS: return h_set_status(c);
    case VS_VHU_GET_STATUS: return h_get_status(c);
    default: return h_unsupported(c);
    }
}

static void close_all(int *fds, unsigned nfds)
{
    for (unsigned i = 0; i < nfds; i++)
        close_fd(&fds[i]);
}

int vs_vhost_user_handle_msg(struct vs_vhu_dev *dev, const struct vs_vhu_hdr *hdr,
                             const void *payload, int *fds, unsigned nfds,
                             struct vs_vhu_msg *reply)
{
    union vs_vhu_payload p;
    struct ctx c = {.dev = dev, .hdr = hdr, .p = &p, .fds = fds, .nfds = nfds, .reply = reply};
    bool need_reply = hdr->flags & VS_VHU_FLAG_NEED_REPLY;
    const char *name = vs_vhu_request_name(hdr->request);
    int rc;

    dev->msgs++;
    memset(&reply->hdr, 0, sizeof(reply->hdr));
    reply->hdr.request = hdr->request;
    reply->hdr.flags = VS_VHU_VERSION | VS_VHU_FLAG_REPLY;
    if ((hdr->flags & VS_VHU_VERSION_MASK) != VS_VHU_VERSION ||
        (hdr->flags & VS_VHU_FLAG_REPLY) || hdr->size > VS_VHU_MAX_PAYLOAD) {
        close_all(fds, nfds);
        dev->msg_err[VS_VHU_ERR_HEADER]++;
        vs_warn("port %s: %s: bad header (flags 0x%x, size %u); closing the connection",
                dev->net.name, name, hdr->flags, hdr->size);
        return -EPROTO;
    }
    /* Copy into an aligned, zero-padded buffer: handlers may read fixed-size fields
     * of a short payload without reading past what arrived. */
    memset(&p, 0, sizeof(p));
    if (hdr->size)
        memcpy(&p, payload, hdr->size);

    rc = dispatch(&c);
    close_all(fds, nfds);

    if (rc >= 0) {
        if (c.replied)
            return 1;
        if (need_reply) {
            reply->hdr.size = sizeof(uint64_t);
            reply->p.u64 = 0;
            return 1;
        }
        return 0;
    }

    dev->msg_err[c.err]++;
    bool answer = (c.replied || need_reply) && !has_own_reply(hdr->request);
    if (!answer) {
        /* The front-end would carry on as if it had worked: stop talking to it. */
        vs_log_limited(&dev->refuse_log, VS_LOG_WARN, "port %s: %s: %s; closing the connection",
                       dev->net.name, name, c.why);
        return rc;
    }
    if (!dev->msg_err_logged) {
        dev->msg_err_logged = true;
        vs_log_limited(&dev->refuse_log, VS_LOG_WARN, "port %s: %s: %s (refused)", dev->net.name,
                       name, c.why);
    } else {
        vs_debug("port %s: %s: %s (refused)", dev->net.name, name, c.why);
    }
    if (!c.replied) {
        reply->hdr.size = sizeof(uint64_t);
        reply->p.u64 = (uint64_t)-rc;
    }
    return 1;
}
