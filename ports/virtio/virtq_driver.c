/* Split virtqueue, driver side (see virtq_driver.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ports/virtio/virtq_driver.h"
#include "vswitch/compiler.h"

#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((size_t)(a)-1))

static size_t desc_bytes(uint16_t size) { return (size_t)size * sizeof(struct vring_desc); }
static size_t avail_bytes(uint16_t size) { return 4 + 2 * (size_t)size + 2; }
static size_t used_off(uint16_t size)
{
    return ALIGN_UP(desc_bytes(size) + avail_bytes(size), 4096);
}

size_t vs_virtq_drv_mem_size(uint16_t size)
{
    return ALIGN_UP(used_off(size) + 4 + 8 * (size_t)size + 2, 4096);
}

int vs_virtq_drv_init(struct vs_virtq_drv *vq, void *mem, uint64_t iova, uint16_t size,
                      uint16_t chain, uint64_t hdr_iova, uint32_t hdr_len)
{
    if (!size || (size & (size - 1)) || (chain != 1 && chain != 2) || size < chain)
        return -EINVAL;
    memset(vq, 0, sizeof(*vq));
    memset(mem, 0, vs_virtq_drv_mem_size(size));
    vq->size = size;
    vq->mask = size - 1;
    vq->chain = chain;
    vq->desc = mem;
    vq->avail = (struct vring_avail *)((char *)mem + desc_bytes(size));
    vq->used = (struct vring_used *)((char *)mem + used_off(size));
    vq->desc_iova = iova;
    vq->avail_iova = iova + desc_bytes(size);
    vq->used_iova = iova + used_off(size);
    vq->free = calloc(size, sizeof(*vq->free));
    vq->cookie = calloc(size, sizeof(*vq->cookie));
    if (!vq->free || !vq->cookie) {
        vs_virtq_drv_fini(vq);
        return -ENOMEM;
    }
    /* Polled: never interrupt us (§2.7.7). */
    vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    for (uint16_t head = 0; head < size; head += chain) {
        if (chain == 2) {
            vq->desc[head].addr = hdr_iova;
            vq->desc[head].len = hdr_len;
            vq->desc[head].flags = VRING_DESC_F_NEXT;
            vq->desc[head].next = head + 1;
        }
        /* Pushed in reverse so that slots are used in ascending order at first. */
        vq->free[size / chain - 1 - head / chain] = head;
    }
    vq->n_free = size / chain;
    return 0;
}

void vs_virtq_drv_fini(struct vs_virtq_drv *vq)
{
    free(vq->free);
    free(vq->cookie);
    vq->free = NULL;
    vq->cookie = NULL;
    vq->n_free = 0;
}

int vs_virtq_drv_add(struct vs_virtq_drv *vq, uint64_t addr, uint32_t len, bool device_writes,
                     void *cookie)
{
    uint16_t head, d;

    if (vs_unlikely(!vq->n_free || vq->broken))
        return -ENOSPC;
    head = vq->free[--vq->n_free];
    d = head + vq->chain - 1; /* the frame descriptor: the head itself or its second */
    vq->desc[d].addr = addr;
    vq->desc[d].len = len;
    vq->desc[d].flags = device_writes ? VRING_DESC_F_WRITE : 0;
    vq->cookie[head] = cookie;
    vq->avail->ring[vq->avail_idx & vq->mask] = head;
    vq->avail_idx++;
    return 0;
}

bool vs_virtq_drv_publish(struct vs_virtq_drv *vq)
{
    if (vq->avail_idx == vq->kicked_idx)
        return false;
    vs_dma_wmb(); /* descriptors and ring entries before the index (§2.7.13) */
    VS_WRITE_ONCE(vq->avail->idx, vq->avail_idx);
    vq->kicked_idx = vq->avail_idx;
    /* The index store before the load of the device's flags (store-load order
     * needs a real fence; the locked instruction orders DMA memory too). */
    vs_smp_mb();
    return !(VS_READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY);
}

void vs_virtq_drv_set_interrupt(struct vs_virtq_drv *vq, bool on)
{
    VS_WRITE_ONCE(vq->avail->flags, on ? 0 : VRING_AVAIL_F_NO_INTERRUPT);
    /* The flag store before the caller's next look at used->idx: otherwise the
     * device may add an entry, see the old flag, not interrupt, and we sleep. */
    vs_smp_mb();
}

uint16_t vs_virtq_drv_get_used(struct vs_virtq_drv *vq, void **cookies, uint32_t *lens, uint16_t n)
{
    uint16_t used_idx, avail, outstanding = (uint16_t)(vq->size / vq->chain - vq->n_free), got = 0;

    if (vs_unlikely(vq->broken))
        return 0;
    used_idx = VS_READ_ONCE(vq->used->idx);
    avail = (uint16_t)(used_idx - vq->last_used);
    if (!avail)
        return 0;
    if (vs_unlikely(avail > outstanding)) {
        vq->broken = true; /* the device claims more than we gave it */
        return 0;
    }
    vs_dma_rmb(); /* used entries after the index that publishes them */
    if (avail > n)
        avail = n;
    for (; got < avail; got++) {
        struct vring_used_elem e = vq->used->ring[vq->last_used & vq->mask];
        uint32_t id = e.id;

        if (vs_unlikely(id >= vq->size || id % vq->chain || !vq->cookie[id])) {
            vq->bad_used++;
            vq->broken = true;
            break;
        }
        cookies[got] = vq->cookie[id];
        if (lens)
            lens[got] = e.len;
        vq->cookie[id] = NULL;
        vq->free[vq->n_free++] = (uint16_t)id;
        vq->last_used++;
    }
    return got;
}

uint16_t vs_virtq_drv_drain(struct vs_virtq_drv *vq, void **cookies, uint16_t n)
{
    uint16_t got = 0;

    if (!vq->cookie)
        return 0;
    for (uint16_t head = 0; head < vq->size && got < n; head += vq->chain) {
        if (vq->cookie[head]) {
            cookies[got++] = vq->cookie[head];
            vq->cookie[head] = NULL;
        }
    }
    return got;
}
