/* Test-only virtio driver: see virtio_driver.h. */
#include "virtio_driver.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/compiler.h"

#define UVA_BASE 0x7f0000000000ull

int vs_vdrv_mem_init(struct vs_vdrv_mem *m, unsigned nregions, uint64_t size_each)
{
    memset(m, 0, sizeof(*m));
    if (nregions < 1 || nregions > 2 || size_each % 4096)
        return -EINVAL;
    for (unsigned i = 0; i < nregions; i++) {
        uint8_t *p = aligned_alloc(4096, size_each);
        if (!p) {
            vs_vdrv_mem_fini(m);
            return -ENOMEM;
        }
        memset(p, 0, size_each);
        m->gm.r[i] = (struct vs_guest_mem_region){
            .gpa = VS_VDRV_GPA_BASE + i * size_each,
            .size = size_each,
            .uva = UVA_BASE + i * size_each,
            .hva = p,
            .mmap_addr = NULL,
            .mmap_size = 0,
            .fd = -1,
        };
        m->gm.n = i + 1;
    }
    return 0;
}

void vs_vdrv_mem_fini(struct vs_vdrv_mem *m)
{
    for (unsigned i = 0; i < m->gm.n; i++)
        free(m->gm.r[i].hva);
    memset(m, 0, sizeof(*m));
}

uint64_t vs_vdrv_mem_alloc(struct vs_vdrv_mem *m, unsigned region, uint64_t len, uint64_t align)
{
    if (region >= m->gm.n)
        return 0;
    uint64_t off = (m->brk[region] + align - 1) & ~(align - 1);
    if (off + len > m->gm.r[region].size)
        return 0;
    m->brk[region] = off + len;
    return m->gm.r[region].gpa + off;
}

void *vs_vdrv_mem_hva(const struct vs_vdrv_mem *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->gm.n; i++) {
        const struct vs_guest_mem_region *r = &m->gm.r[i];
        if (gpa - r->gpa < r->size)
            return r->hva + (gpa - r->gpa);
    }
    return NULL;
}

int vs_vdrv_init(struct vs_vdrv *d, struct vs_vdrv_mem *m, uint16_t size, unsigned flags)
{
    memset(d, 0, sizeof(*d));
    d->mem = m;
    d->size = size;
    d->flags = flags;
    d->hdr_len = (flags & VS_VDRV_HDR10) ? 10 : 12;
    bool packed = flags & VS_VDRV_PACKED;
    if (size == 0 || (!packed && (size & (size - 1))))
        return -EINVAL;
    d->desc_gpa = vs_vdrv_mem_alloc(m, 0, 16ull * size, 4096);
    if (packed) {
        d->avail_gpa = vs_vdrv_mem_alloc(m, 0, 4, 64);
        d->used_gpa = vs_vdrv_mem_alloc(m, 0, 4, 64);
    } else {
        d->avail_gpa = vs_vdrv_mem_alloc(m, 0, 6 + 2ull * size, 64);
        d->used_gpa = vs_vdrv_mem_alloc(m, 0, 6 + 8ull * size, 4096);
    }
    if (!d->desc_gpa || !d->avail_gpa || !d->used_gpa)
        return -ENOMEM;
    d->desc = vs_vdrv_mem_hva(m, d->desc_gpa);
    d->avail = vs_vdrv_mem_hva(m, d->avail_gpa);
    d->used = vs_vdrv_mem_hva(m, d->used_gpa);
    d->bufs = calloc(size, sizeof(*d->bufs));
    d->free_desc = calloc(size, sizeof(uint16_t));
    d->free_id = calloc(size, sizeof(uint16_t));
    d->fifo = calloc(size, sizeof(uint16_t));
    d->batch_last = -1;
    if (!d->bufs || !d->free_desc || !d->free_id || !d->fifo)
        return -ENOMEM;
    for (unsigned i = 0; i < size; i++) {
        unsigned region = ((flags & VS_VDRV_SPREAD) && (i & 1) && m->gm.n > 1) ? 1 : 0;
        d->bufs[i].area_gpa = vs_vdrv_mem_alloc(m, region, VS_VDRV_AREA, 64);
        d->bufs[i].table_gpa = vs_vdrv_mem_alloc(m, region, 16 * VS_VDRV_MAX_SEGS, 16);
        if (!d->bufs[i].area_gpa || !d->bufs[i].table_gpa)
            return -ENOMEM;
        d->free_desc[i] = (uint16_t)(size - 1 - i); /* pops 0, 1, 2, ... */
        d->free_id[i] = (uint16_t)(size - 1 - i);
    }
    d->nfree_desc = size;
    d->nfree_id = size;
    d->avail_wrap = d->used_wrap = true;
    d->free_slots = size;
    return 0;
}

void vs_vdrv_fini(struct vs_vdrv *d)
{
    free(d->bufs);
    free(d->free_desc);
    free(d->free_id);
    free(d->fifo);
    memset(d, 0, sizeof(*d));
}

void vs_vdrv_attach(const struct vs_vdrv *d, struct vs_virtq *vq)
{
    memset(vq, 0, sizeof(*vq));
    vq->size = d->size;
    vq->packed = d->flags & VS_VDRV_PACKED;
    vq->event_idx = d->flags & VS_VDRV_EVENT_IDX;
    vq->indirect = d->flags & VS_VDRV_INDIRECT;
    vq->mrg_rxbuf = d->flags & VS_VDRV_MRG_RXBUF;
    vq->in_order = d->flags & VS_VDRV_IN_ORDER;
    vq->hdr_len = d->hdr_len;
    vq->desc = d->desc;
    vq->avail = d->avail;
    vq->used = d->used;
    vq->used_gpa = vq->packed ? 0 : d->used_gpa;
    vq->mem = &d->mem->gm;
    vq->call = NULL;
    vq->interrupt = NULL;
    vq->kickfd = -1;
    vq->enabled = true;
    vq->name = "test vq";
}

uint16_t vs_vdrv_packed_avail_bits(bool wrap)
{
    return wrap ? (uint16_t)(1u << VRING_PACKED_DESC_F_AVAIL)
                : (uint16_t)(1u << VRING_PACKED_DESC_F_USED);
}

void vs_vdrv_split_set_desc(struct vs_vdrv *d, uint16_t i, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next)
{
    struct vring_desc *desc = d->desc;
    desc[i] = (struct vring_desc){ .addr = addr, .len = len, .flags = flags, .next = next };
}

void vs_vdrv_split_publish(struct vs_vdrv *d, uint16_t head)
{
    struct vring_avail *avail = d->avail;
    avail->ring[d->avail_idx & (d->size - 1)] = head;
    d->avail_idx++;
    vs_smp_wmb(); /* entry before idx */
    VS_WRITE_ONCE(avail->idx, d->avail_idx);
}

void vs_vdrv_packed_set_desc(struct vs_vdrv *d, uint16_t pos, uint64_t addr, uint32_t len,
                             uint16_t id, uint16_t flags, bool wrap)
{
    struct vring_packed_desc *ring = d->desc;
    ring[pos].addr = addr;
    ring[pos].len = len;
    ring[pos].id = id;
    vs_smp_wmb(); /* body before flags */
    VS_WRITE_ONCE(ring[pos].flags, (uint16_t)(flags | vs_vdrv_packed_avail_bits(wrap)));
}

/* Lays out the pieces of a buffer inside its area and posts it. */
static int post(struct vs_vdrv *d, uint32_t total, unsigned nseg, bool indirect, bool write,
                const void *frame, uint32_t frame_len)
{
    bool packed = d->flags & VS_VDRV_PACKED, in_order = d->flags & VS_VDRV_IN_ORDER;
    if (nseg == 0 || nseg > VS_VDRV_MAX_SEGS || total > VS_VDRV_AREA)
        return -EINVAL;
    if (nseg > total)
        nseg = total ? total : 1;
    unsigned ring_descs = indirect ? 1 : nseg;
    uint16_t id;
    if (packed) {
        if (d->free_slots < ring_descs || d->nfree_id == 0)
            return -ENOSPC;
        /* In order: the head slot is the id, free exactly when the slot is. */
        id = in_order ? d->next_pos : d->free_id[--d->nfree_id];
    } else {
        if (d->nfree_desc < ring_descs)
            return -ENOSPC;
        id = in_order ? d->next_pos : d->free_desc[d->nfree_desc - 1];
    }
    struct vs_vdrv_buf *b = &d->bufs[id];
    b->inflight = true;
    b->indirect = indirect;
    b->write = write;
    b->total = total;
    if (in_order)
        d->fifo[(d->fifo_head + d->fifo_n++) % d->size] = id;
    b->nseg = (uint16_t)nseg;
    b->ndesc = (uint16_t)ring_descs;
    uint8_t *area = vs_vdrv_mem_hva(d->mem, b->area_gpa);
    if (write) {
        memset(area, 0xee, total);
    } else {
        memset(area, 0, d->hdr_len);
        memcpy(area + d->hdr_len, frame, frame_len);
    }
    uint32_t off = 0;
    for (unsigned k = 0; k < nseg; k++) {
        uint32_t l = (k + 1 == nseg) ? total - off : total / nseg;
        b->seg_gpa[k] = b->area_gpa + off;
        b->seg_len[k] = l;
        off += l;
    }
    uint16_t wflag = write ? VRING_DESC_F_WRITE : 0;
    if (!packed) {
        struct vring_desc *desc = d->desc;
        for (unsigned k = 0; k < ring_descs; k++) {
            if (in_order) { /* consecutive, wrapping at the end of the table */
                b->desc[k] = d->next_pos;
                d->next_pos = (uint16_t)((d->next_pos + 1) & (d->size - 1));
                d->nfree_desc--;
            } else {
                b->desc[k] = d->free_desc[--d->nfree_desc];
            }
        }
        if (indirect) {
            struct vring_desc *t = vs_vdrv_mem_hva(d->mem, b->table_gpa);
            for (unsigned k = 0; k < nseg; k++)
                t[k] = (struct vring_desc){
                    .addr = b->seg_gpa[k], .len = b->seg_len[k],
                    .flags = (uint16_t)(wflag | (k + 1 < nseg ? VRING_DESC_F_NEXT : 0)),
                    .next = (uint16_t)(k + 1) };
            desc[id] = (struct vring_desc){ .addr = b->table_gpa, .len = 16 * nseg,
                                            .flags = VRING_DESC_F_INDIRECT };
        } else {
            for (unsigned k = 0; k < nseg; k++)
                desc[b->desc[k]] = (struct vring_desc){
                    .addr = b->seg_gpa[k], .len = b->seg_len[k],
                    .flags = (uint16_t)(wflag | (k + 1 < nseg ? VRING_DESC_F_NEXT : 0)),
                    .next = k + 1 < nseg ? b->desc[k + 1] : 0 };
        }
        vs_vdrv_split_publish(d, id);
        return id;
    }
    struct vring_packed_desc *ring = d->desc;
    uint16_t head = d->next_pos;
    uint16_t head_flags = 0;
    if (indirect) {
        struct vring_packed_desc *t = vs_vdrv_mem_hva(d->mem, b->table_gpa);
        for (unsigned k = 0; k < nseg; k++)
            t[k] = (struct vring_packed_desc){ .addr = b->seg_gpa[k], .len = b->seg_len[k],
                                               .id = 0, .flags = wflag };
    }
    for (unsigned k = 0; k < ring_descs; k++) {
        uint16_t pos = d->next_pos;
        uint16_t f;
        if (indirect) {
            ring[pos].addr = b->table_gpa;
            ring[pos].len = 16 * nseg;
            f = VRING_DESC_F_INDIRECT;
        } else {
            ring[pos].addr = b->seg_gpa[k];
            ring[pos].len = b->seg_len[k];
            f = (uint16_t)(wflag | (k + 1 < ring_descs ? VRING_DESC_F_NEXT : 0));
        }
        ring[pos].id = id;
        f |= vs_vdrv_packed_avail_bits(d->avail_wrap);
        if (k == 0)
            head_flags = f;
        else
            ring[pos].flags = f;
        if (++d->next_pos == d->size) {
            d->next_pos = 0;
            d->avail_wrap = !d->avail_wrap;
        }
    }
    d->free_slots -= (uint16_t)ring_descs;
    vs_smp_wmb(); /* the chain before the head's flags */
    VS_WRITE_ONCE(ring[head].flags, head_flags);
    return id;
}

int vs_vdrv_post_tx(struct vs_vdrv *d, const void *frame, uint32_t len, unsigned nseg,
                    bool indirect)
{
    return post(d, d->hdr_len + len, nseg, indirect, false, frame, len);
}

int vs_vdrv_post_rx(struct vs_vdrv *d, uint32_t len, unsigned nseg, bool indirect)
{
    return post(d, len, nseg, indirect, true, NULL, 0);
}

/* Reads the used entry at the driver's position without consuming it: 1, 0 when
 * none. Packed entries name their buffer; its slot count says where the next is. */
static int peek_used(struct vs_vdrv *d, uint16_t *id, uint32_t *len)
{
    if (d->flags & VS_VDRV_PACKED) {
        struct vring_packed_desc *ring = d->desc;
        uint16_t f = VS_READ_ONCE(ring[d->used_pos].flags);
        bool a = f & (1u << VRING_PACKED_DESC_F_AVAIL), u = f & (1u << VRING_PACKED_DESC_F_USED);
        if (a != d->used_wrap || u != d->used_wrap)
            return 0;
        vs_smp_rmb(); /* id and len after flags */
        *id = ring[d->used_pos].id;
        *len = ring[d->used_pos].len;
    } else {
        struct vring_used *used = d->used;
        if (VS_READ_ONCE(used->idx) == d->used_idx)
            return 0;
        vs_smp_rmb(); /* entries after idx */
        struct vring_used_elem e = used->ring[d->used_idx & (d->size - 1)];
        if (e.id >= d->size)
            return -EPROTO;
        *id = (uint16_t)e.id;
        *len = e.len;
    }
    return *id < d->size && d->bufs[*id].inflight ? 1 : -EPROTO;
}

/* Gives back buffer i's descriptors and moves past its used position. */
static void complete(struct vs_vdrv *d, uint16_t i)
{
    struct vs_vdrv_buf *b = &d->bufs[i];
    if (d->flags & VS_VDRV_PACKED) {
        d->used_pos += b->ndesc;
        if (d->used_pos >= d->size) {
            d->used_pos -= d->size;
            d->used_wrap = !d->used_wrap;
        }
        d->free_slots += b->ndesc;
        if (!(d->flags & VS_VDRV_IN_ORDER))
            d->free_id[d->nfree_id++] = i;
    } else {
        d->used_idx++;
        for (unsigned k = 0; k < b->ndesc; k++)
            if (d->flags & VS_VDRV_IN_ORDER)
                d->nfree_desc++;
            else
                d->free_desc[d->nfree_desc++] = b->desc[k];
    }
    b->inflight = false;
}

int vs_vdrv_get_used(struct vs_vdrv *d, uint16_t *id, uint32_t *len)
{
    uint16_t i;
    uint32_t l;
    if (!(d->flags & VS_VDRV_IN_ORDER)) {
        int rc = peek_used(d, &i, &l);
        if (rc <= 0)
            return rc;
    } else {
        if (d->batch_last < 0) {
            int rc = peek_used(d, &i, &l);
            if (rc <= 0)
                return rc;
            d->batch_last = i;
            d->batch_len = l;
        } else if (!(d->flags & VS_VDRV_PACKED) &&
                   VS_READ_ONCE(((struct vring_used *)d->used)->idx) == d->used_idx) {
            return -EPROTO; /* the batch's entry promised more than used->idx counts */
        }
        if (d->fifo_n == 0)
            return -EPROTO;
        i = d->fifo[d->fifo_head];
        d->fifo_head = (uint16_t)((d->fifo_head + 1) % d->size);
        d->fifo_n--;
        if (i == d->batch_last) {
            l = d->batch_len;
            d->batch_last = -1;
        } else {
            l = d->bufs[i].write ? d->bufs[i].total : 0;
        }
    }
    complete(d, i);
    *id = i;
    *len = l;
    return 1;
}

uint32_t vs_vdrv_read_buf(const struct vs_vdrv *d, uint16_t id, uint32_t len, uint8_t *out)
{
    const struct vs_vdrv_buf *b = &d->bufs[id];
    uint32_t done = 0;
    for (unsigned k = 0; k < b->nseg && done < len; k++) {
        uint32_t c = VS_MIN(len - done, b->seg_len[k]);
        memcpy(out + done, vs_vdrv_mem_hva(d->mem, b->seg_gpa[k]), c);
        done += c;
    }
    return done;
}

int vs_vdrv_recv(struct vs_vdrv *d, uint8_t *frame, uint32_t cap, uint16_t *num_buffers)
{
    return vs_vdrv_recv_hdr(d, frame, cap, num_buffers, NULL);
}

int vs_vdrv_recv_hdr(struct vs_vdrv *d, uint8_t *frame, uint32_t cap, uint16_t *num_buffers,
                     uint8_t *hdr)
{
    uint16_t id;
    uint32_t len;
    int rc = vs_vdrv_get_used(d, &id, &len);
    if (rc <= 0)
        return rc;
    static uint8_t tmp[VS_VDRV_AREA];
    if (len < d->hdr_len || len > VS_VDRV_AREA)
        return -EPROTO;
    vs_vdrv_read_buf(d, id, len, tmp);
    if (hdr)
        memcpy(hdr, tmp, 10);
    for (unsigned k = 0; k < 10 && !hdr; k++)
        if (tmp[k])
            return -EPROTO;
    uint16_t nb = 1;
    if (d->hdr_len >= 12)
        memcpy(&nb, tmp + 10, 2);
    if (num_buffers)
        *num_buffers = nb;
    if (nb == 0 || (!(d->flags & VS_VDRV_MRG_RXBUF) && nb != 1))
        return -EPROTO;
    uint32_t flen = len - d->hdr_len;
    if (flen > cap)
        return -EPROTO;
    memcpy(frame, tmp + d->hdr_len, flen);
    for (unsigned k = 1; k < nb; k++) {
        if (vs_vdrv_get_used(d, &id, &len) != 1 || len > VS_VDRV_AREA || flen + len > cap)
            return -EPROTO;
        vs_vdrv_read_buf(d, id, len, frame + flen);
        flen += len;
    }
    return (int)flen;
}

unsigned vs_vdrv_reap(struct vs_vdrv *d)
{
    unsigned n = 0;
    uint16_t id;
    uint32_t len;
    while (vs_vdrv_get_used(d, &id, &len) == 1)
        n++;
    return n;
}

unsigned vs_vdrv_free_count(const struct vs_vdrv *d)
{
    return (d->flags & VS_VDRV_PACKED) ? d->free_slots : d->nfree_desc;
}

static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vs_vdrv_kick_needed(struct vs_vdrv *d)
{
    vs_smp_mb(); /* our avail stores before reading the device's request */
    if (d->flags & VS_VDRV_PACKED) {
        const struct vring_packed_desc_event *ev = d->used;
        uint16_t f = VS_READ_ONCE(ev->flags);
        d->kick_old = d->next_pos;
        return f != VRING_PACKED_EVENT_FLAG_DISABLE;
    }
    const struct vring_used *used = d->used;
    uint16_t old = d->kick_old, new_idx = d->avail_idx;
    d->kick_old = new_idx;
    if (d->flags & VS_VDRV_EVENT_IDX) {
        uint16_t ev = VS_READ_ONCE(*(const uint16_t *)&used->ring[d->size]);
        return need_event(ev, new_idx, old);
    }
    return !(VS_READ_ONCE(used->flags) & VRING_USED_F_NO_NOTIFY);
}

void vs_vdrv_want_interrupts(struct vs_vdrv *d, bool on)
{
    if (d->flags & VS_VDRV_PACKED) {
        struct vring_packed_desc_event *ev = d->avail;
        if (on && (d->flags & VS_VDRV_EVENT_IDX)) {
            ev->off_wrap = (uint16_t)(d->used_pos | (d->used_wrap ? 0x8000 : 0));
            vs_smp_wmb();
            VS_WRITE_ONCE(ev->flags, VRING_PACKED_EVENT_FLAG_DESC);
        } else {
            VS_WRITE_ONCE(ev->flags, on ? VRING_PACKED_EVENT_FLAG_ENABLE
                                        : VRING_PACKED_EVENT_FLAG_DISABLE);
        }
        return;
    }
    struct vring_avail *avail = d->avail;
    avail->flags = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
    if (d->flags & VS_VDRV_EVENT_IDX)
        avail->ring[d->size] = on ? d->used_idx : (uint16_t)(d->used_idx - 1);
}

void vs_vdrv_set_used_event(struct vs_vdrv *d, uint16_t idx)
{
    if (d->flags & VS_VDRV_PACKED) {
        struct vring_packed_desc_event *ev = d->avail;
        ev->off_wrap = (uint16_t)(idx | (d->used_wrap ? 0x8000 : 0));
        vs_smp_wmb();
        VS_WRITE_ONCE(ev->flags, VRING_PACKED_EVENT_FLAG_DESC);
        return;
    }
    struct vring_avail *avail = d->avail;
    avail->ring[d->size] = idx;
}
