/* Dirty bitmap updates. A burst dirties a few pages (one or two per frame plus the
 * used ring), so marking page by page with one atomic OR per page is cheap enough;
 * consecutive pages in one byte are merged into one OR. */
#include "ports/virtio/dirty_log.h"

void vs_dirty_log_mark(struct vs_dirty_log *log, uint64_t gpa, uint64_t len)
{
    if (!log || !log->bitmap || len == 0)
        return;
    uint64_t last = gpa + (len - 1);
    if (last < gpa)
        last = UINT64_MAX; /* wrapped: clamp */
    uint64_t page = gpa >> VS_DIRTY_LOG_PAGE_SHIFT;
    uint64_t last_page = last >> VS_DIRTY_LOG_PAGE_SHIFT;
    uint64_t max_page = log->size_bytes * 8; /* pages the bitmap can describe */
    if (log->size_bytes > UINT64_MAX / 8)
        max_page = UINT64_MAX;
    if (page >= max_page)
        return;
    if (last_page >= max_page)
        last_page = max_page - 1;
    while (page <= last_page) {
        uint64_t byte = page >> 3;
        unsigned first_bit = page & 7;
        unsigned last_bit = (last_page >> 3) == byte ? (last_page & 7) : 7;
        uint8_t mask = (uint8_t)((0xffu >> (7 - last_bit)) & (0xffu << first_bit));
        __atomic_fetch_or(&log->bitmap[byte], mask, __ATOMIC_RELAXED);
        page = (byte + 1) << 3;
        if (page == 0)
            break; /* last byte of a 2^64-bit space */
    }
}
