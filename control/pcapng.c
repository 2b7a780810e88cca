/* pcapng block writers (pcapng.h). */
#include "control/pcapng.h"

#include <stdbool.h>
#include <string.h>

#define OPT_END 0
#define OPT_COMMENT 1
#define SHB_USERAPPL 4
#define IF_NAME 2
#define IF_DESCRIPTION 3
#define IF_TSRESOL 9
#define EPB_FLAGS 2
#define ISB_ENDTIME 3
#define ISB_IFRECV 4
#define ISB_IFDROP 5

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

static size_t str_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    return n > VS_PCAPNG_STR_MAX ? VS_PCAPNG_STR_MAX : n;
}

/* An option's bytes: code, length, value padded to 4. */
static size_t opt_size(size_t len) { return 4 + pad4(len); }

struct w {
    uint8_t *p;
};

static void put32(struct w *w, uint32_t v)
{
    memcpy(w->p, &v, 4);
    w->p += 4;
}

static void put16(struct w *w, uint16_t v)
{
    memcpy(w->p, &v, 2);
    w->p += 2;
}

static void put_bytes(struct w *w, const void *v, size_t len)
{
    memcpy(w->p, v, len);
    memset(w->p + len, 0, pad4(len) - len);
    w->p += pad4(len);
}

static void put_opt(struct w *w, uint16_t code, const void *v, size_t len)
{
    put16(w, code);
    put16(w, (uint16_t)len);
    put_bytes(w, v, len);
}

static void put_ts(struct w *w, uint64_t ts)
{
    put32(w, (uint32_t)(ts >> 32));
    put32(w, (uint32_t)ts);
}

size_t vs_pcapng_shb(uint8_t *dst, size_t room, const char *appl)
{
    size_t alen = str_len(appl);
    size_t total = 24 + (alen ? opt_size(alen) : 0) + 4 + 4;
    uint64_t section_len = UINT64_MAX; /* not given: the stream's length is unknown */
    struct w w = {dst};

    if (total > room)
        return 0;
    put32(&w, VS_PCAPNG_SHB);
    put32(&w, (uint32_t)total);
    put32(&w, VS_PCAPNG_MAGIC);
    put16(&w, 1);
    put16(&w, 0);
    memcpy(w.p, &section_len, 8);
    w.p += 8;
    if (alen)
        put_opt(&w, SHB_USERAPPL, appl, alen);
    put32(&w, OPT_END);
    put32(&w, (uint32_t)total);
    return total;
}

size_t vs_pcapng_idb(uint8_t *dst, size_t room, uint32_t snaplen, const char *name,
                     const char *description)
{
    size_t nlen = str_len(name), dlen = str_len(description);
    size_t total =
        16 + (nlen ? opt_size(nlen) : 0) + (dlen ? opt_size(dlen) : 0) + opt_size(1) + 4 + 4;
    uint8_t tsresol = 9; /* 10^-9 s */
    struct w w = {dst};

    if (total > room)
        return 0;
    put32(&w, VS_PCAPNG_IDB);
    put32(&w, (uint32_t)total);
    put16(&w, VS_PCAPNG_LINKTYPE_ETHERNET);
    put16(&w, 0);
    put32(&w, snaplen);
    if (nlen)
        put_opt(&w, IF_NAME, name, nlen);
    if (dlen)
        put_opt(&w, IF_DESCRIPTION, description, dlen);
    put_opt(&w, IF_TSRESOL, &tsresol, 1);
    put32(&w, OPT_END);
    put32(&w, (uint32_t)total);
    return total;
}

size_t vs_pcapng_epb(uint8_t *dst, size_t room, uint32_t ifid, uint64_t ts_ns, const uint8_t *data,
                     uint32_t caplen, uint32_t orig_len, uint32_t flags, const char *comment)
{
    size_t clen = str_len(comment);
    bool opts = flags || clen;
    size_t total = 28 + pad4(caplen) + (flags ? opt_size(4) : 0) + (clen ? opt_size(clen) : 0) +
                   (opts ? 4 : 0) + 4;
    struct w w = {dst};

    if (total > room || total > UINT32_MAX)
        return 0;
    put32(&w, VS_PCAPNG_EPB);
    put32(&w, (uint32_t)total);
    put32(&w, ifid);
    put_ts(&w, ts_ns);
    put32(&w, caplen);
    put32(&w, orig_len);
    put_bytes(&w, data, caplen);
    if (flags)
        put_opt(&w, EPB_FLAGS, &flags, 4);
    if (clen)
        put_opt(&w, OPT_COMMENT, comment, clen);
    if (opts)
        put32(&w, OPT_END);
    put32(&w, (uint32_t)total);
    return total;
}

size_t vs_pcapng_isb(uint8_t *dst, size_t room, uint32_t ifid, uint64_t ts_ns, uint64_t recv,
                     uint64_t drop)
{
    size_t total = 20 + opt_size(8) * 3 + 4 + 4;
    uint32_t ts[2] = {(uint32_t)(ts_ns >> 32), (uint32_t)ts_ns};
    struct w w = {dst};

    if (total > room)
        return 0;
    put32(&w, VS_PCAPNG_ISB);
    put32(&w, (uint32_t)total);
    put32(&w, ifid);
    put_ts(&w, ts_ns);
    put_opt(&w, ISB_ENDTIME, ts, 8);
    put_opt(&w, ISB_IFRECV, &recv, 8);
    put_opt(&w, ISB_IFDROP, &drop, 8);
    put32(&w, OPT_END);
    put32(&w, (uint32_t)total);
    return total;
}
