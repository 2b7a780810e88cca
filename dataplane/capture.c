/* Capture sessions and their per-poller rings (capture.h).
 *
 * A ring is a power-of-two byte array of 8-byte aligned records; the poller owns
 * head (published with a release store once per burst) and the main thread owns
 * tail, so neither ever waits for the other. A record that would cross the end of
 * the array is preceded by a pad record that fills the rest. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/capture.h"
#include "dataplane/dp.h"
#include "vswitch/rcu.h"

#define REC_PAD 0
#define REC_FRAME 1
#define RING_MIN (128u << 10) /* holds the longest record: a 64 KiB frame */
#define NO_REC UINT32_MAX

struct rec {
    uint32_t size; /* the whole record with padding, a multiple of 8 */
    uint8_t kind;
    uint8_t dir;
    uint8_t reason;
    uint8_t pad;
    uint32_t orig_len;
    uint32_t caplen;
    uint64_t ts_ns;
};
_Static_assert(sizeof(struct rec) == 24, "records stay 8-byte aligned");
_Static_assert(VS_PKT_LARGE_DATA_ROOM + sizeof(struct rec) + 8 <= RING_MIN,
               "a ring holds the longest frame");

struct ring {
    uint8_t *buf;
    uint32_t mask;
    /* The poller's. */
    uint64_t head vs_cache_aligned; /* records before it are whole: the reader may take them */
    uint64_t wr;                    /* the end of the records written, published or not */
    uint64_t lost[VS_CAP_KINDS];
    uint16_t n_pend;         /* records of the tx burst in flight */
    uint32_t pend[VS_BURST]; /* their offsets in buf, NO_REC when one was lost */
    /* The reader's. */
    uint64_t tail vs_cache_aligned;
};

struct vs_capture {
    uint16_t port_id;
    uint8_t dirs;
    bool gone;
    uint32_t snaplen;
    char port[VS_PORT_NAME_MAX];
    char type[32];
    unsigned n_rings, next_ring;
    struct ring *rings;
};

struct vs_capture_set {
    unsigned n;
    struct vs_capture *c[VS_CAPTURE_MAX];
};

/* ---- pollers ------------------------------------------------------------- */

static inline uint64_t wall_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Room for a record of need bytes, or NULL when the reader is that far behind. */
static struct rec *reserve(struct ring *r, uint32_t need)
{
    uint64_t tail = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
    uint32_t size = r->mask + 1, off = (uint32_t)(r->wr & r->mask), contig = size - off;
    uint32_t total = contig < need ? contig + need : need;
    struct rec *rec;

    if (r->wr + total - tail > size)
        return NULL;
    if (contig < need) {
        rec = (struct rec *)(r->buf + off);
        rec->size = contig; /* contig is a multiple of 8: size and kind fit */
        rec->kind = REC_PAD;
        r->wr += contig;
    }
    rec = (struct rec *)(r->buf + (r->wr & r->mask));
    r->wr += need;
    return rec;
}

/* Copies the frame's first caplen bytes now: a lent frame is only valid during
 * its burst. */
static struct rec *put(struct ring *r, const struct vs_pkt *pkt, uint32_t snaplen, uint8_t dir,
                       uint8_t reason, uint64_t ts)
{
    uint32_t caplen = pkt->len < snaplen ? pkt->len : snaplen;
    uint32_t head = vs_pkt_head_len(pkt);
    struct rec *rec = reserve(r, (uint32_t)((sizeof(struct rec) + caplen + 7) & ~7u));
    uint8_t *dst;

    if (!rec) {
        r->lost[reason != VS_CAPTURE_NO_REASON ? VS_CAP_KIND_DROPS
                : dir == VS_CAP_RX             ? VS_CAP_KIND_RX
                                               : VS_CAP_KIND_TX]++;
        return NULL;
    }
    *rec = (struct rec){
        .size = (uint32_t)((sizeof(struct rec) + caplen + 7) & ~7u),
        .kind = REC_FRAME,
        .dir = dir,
        .reason = reason,
        .orig_len = pkt->len,
        .caplen = caplen,
        .ts_ns = ts,
    };
    dst = (uint8_t *)(rec + 1);
    if (caplen <= head) {
        memcpy(dst, pkt->data, caplen);
    } else {
        memcpy(dst, pkt->data, head);
        if (pkt->flags & VS_PKT_F_CHAIN)
            vs_pkt_chain_read(pkt, dst + head, caplen - head);
        else
            memcpy(dst + head, vs_pkt_tail(pkt), caplen - head);
    }
    return rec;
}

static inline void commit(struct ring *r) { __atomic_store_n(&r->head, r->wr, __ATOMIC_RELEASE); }

void vs_capture_rx(struct vs_poller *p, struct vs_dp_port *dp, struct vs_pkt **pkts, uint16_t n)
{
    const struct vs_capture_set *set = vs_rcu_deref(p->sw->captures);
    uint64_t ts = 0;

    for (unsigned i = 0; set && i < set->n; i++) {
        struct vs_capture *c = set->c[i];
        struct ring *r = &c->rings[p->id];

        if (c->port_id != dp->port.id || !(c->dirs & VS_CAP_RX))
            continue;
        if (!ts)
            ts = wall_ns();
        for (uint16_t k = 0; k < n; k++)
            put(r, pkts[k], c->snaplen, VS_CAP_RX, VS_CAPTURE_NO_REASON, ts);
        commit(r);
    }
}

void vs_capture_tx_begin(struct vs_poller *p, struct vs_dp_port *dp, struct vs_pkt **pkts,
                         uint16_t n)
{
    const struct vs_capture_set *set = vs_rcu_deref(p->sw->captures);
    uint64_t ts = 0;

    for (unsigned i = 0; set && i < set->n; i++) {
        struct vs_capture *c = set->c[i];
        struct ring *r = &c->rings[p->id];

        if (c->port_id != dp->port.id || !(c->dirs & (VS_CAP_TX | VS_CAP_DROPS)))
            continue;
        if (!ts)
            ts = wall_ns();
        for (uint16_t k = 0; k < n; k++) {
            struct rec *rec = put(r, pkts[k], c->snaplen, VS_CAP_TX, VS_CAPTURE_NO_REASON, ts);

            r->pend[k] = rec ? (uint32_t)((uint8_t *)rec - r->buf) : NO_REC;
        }
        r->n_pend = n;
    }
}

void vs_capture_tx_end(struct vs_poller *p, struct vs_dp_port *dp, uint16_t sent, enum vs_drop why)
{
    const struct vs_capture_set *set = vs_rcu_deref(p->sw->captures);

    for (unsigned i = 0; set && i < set->n; i++) {
        struct vs_capture *c = set->c[i];
        struct ring *r = &c->rings[p->id];

        if (c->port_id != dp->port.id || !r->n_pend)
            continue;
        for (uint16_t k = 0; k < r->n_pend; k++) {
            bool wanted = k < sent ? c->dirs & VS_CAP_TX : c->dirs & VS_CAP_DROPS;

            if (r->pend[k] == NO_REC) {
                /* Counted as a lost tx frame: it may be a drop, or not wanted. */
                r->lost[VS_CAP_KIND_TX]--;
                if (wanted)
                    r->lost[k < sent ? VS_CAP_KIND_TX : VS_CAP_KIND_DROPS]++;
            } else if (k >= sent) {
                ((struct rec *)(r->buf + r->pend[k]))->reason = (uint8_t)why;
            }
        }
        r->n_pend = 0;
        commit(r);
    }
}

void vs_capture_drop(struct vs_poller *p, uint16_t port, enum vs_drop why, struct vs_pkt *pkt)
{
    const struct vs_capture_set *set = vs_rcu_deref(p->sw->captures);
    /* Dropped where it came in, or on its way out of another port. */
    uint8_t dir = pkt->in_port == port ? VS_CAP_RX : VS_CAP_TX;
    uint64_t ts = 0;

    for (unsigned i = 0; set && i < set->n; i++) {
        struct vs_capture *c = set->c[i];
        struct ring *r = &c->rings[p->id];

        if (c->port_id != port || !(c->dirs & VS_CAP_DROPS))
            continue;
        if (!ts)
            ts = wall_ns();
        put(r, pkt, c->snaplen, dir, (uint8_t)why, ts);
        commit(r);
    }
}

/* ---- the main thread ----------------------------------------------------- */

/* Publishes set (NULL: no session), sets the bytes pollers test, and frees the
 * previous set once no poller can read it. */
static void publish(struct vs_switch *sw, struct vs_capture_set *set)
{
    struct vs_capture_set *old = sw->captures;
    uint8_t drops = 0;

    vs_rcu_assign(sw->captures, set);
    for (unsigned i = 0; i < VS_MAX_PORTS; i++) {
        struct vs_dp_port *dp = sw->ports[i];
        uint8_t bits = 0;

        for (unsigned j = 0; dp && set && j < set->n; j++)
            if (set->c[j]->port_id == i)
                bits |= set->c[j]->dirs;
        if (dp)
            VS_WRITE_ONCE(dp->capture, bits);
        drops |= bits & VS_CAP_DROPS;
    }
    for (unsigned i = 0; i < sw->params.n_pollers; i++)
        VS_WRITE_ONCE(sw->pollers[i].capture_drops, drops);
    vs_rcu_synchronize();
    free(old);
}

/* The current set without the sessions drop() says go; NULL when none is left.
 * Returns -ENOMEM when a new set could not be made (nothing changed). */
static int republish(struct vs_switch *sw, bool (*keep)(struct vs_capture *, uintptr_t),
                     uintptr_t arg, struct vs_capture *add)
{
    const struct vs_capture_set *cur = sw->captures;
    struct vs_capture_set *set = calloc(1, sizeof(*set));

    if (!set)
        return -ENOMEM;
    for (unsigned i = 0; cur && i < cur->n; i++)
        if (keep(cur->c[i], arg))
            set->c[set->n++] = cur->c[i];
    if (add)
        set->c[set->n++] = add;
    if (!set->n) {
        free(set);
        set = NULL;
    }
    publish(sw, set);
    return 0;
}

static bool keep_all(struct vs_capture *c, uintptr_t arg) { return true; }
static bool keep_other(struct vs_capture *c, uintptr_t arg)
{
    return c != (struct vs_capture *)arg;
}
static bool keep_other_port(struct vs_capture *c, uintptr_t id) { return c->port_id != id; }

unsigned vs_capture_count(const struct vs_switch *sw) { return sw->captures ? sw->captures->n : 0; }

static void capture_free(struct vs_capture *c)
{
    for (unsigned i = 0; c->rings && i < c->n_rings; i++)
        free(c->rings[i].buf);
    free(c->rings);
    free(c);
}

int vs_capture_start(struct vs_switch *sw, const char *port, unsigned dirs, uint32_t snaplen,
                     size_t ring_bytes, struct vs_capture **out)
{
    struct vs_dp_port *dp = NULL;
    struct vs_capture *c;
    int rc;

    if (!ring_bytes)
        ring_bytes = VS_CAPTURE_RING_BYTES;
    if (!dirs || (dirs & ~VS_CAP_ALL) || !snaplen || snaplen > VS_CAPTURE_SNAPLEN_MAX ||
        ring_bytes < RING_MIN || ring_bytes > (1u << 30) || (ring_bytes & (ring_bytes - 1)))
        return -EINVAL;
    for (unsigned i = 0; i < VS_MAX_PORTS && !dp; i++)
        if (sw->ports[i] && !strcmp(sw->ports[i]->port.name, port))
            dp = sw->ports[i];
    if (!dp)
        return -ENOENT;
    if (vs_capture_count(sw) >= VS_CAPTURE_MAX)
        return -EBUSY;
    if (!(c = calloc(1, sizeof(*c))))
        return -ENOMEM;
    c->port_id = dp->port.id;
    c->dirs = (uint8_t)dirs;
    c->snaplen = snaplen;
    snprintf(c->port, sizeof(c->port), "%s", dp->port.name);
    snprintf(c->type, sizeof(c->type), "%s", dp->type);
    c->n_rings = sw->params.n_pollers;
    c->rings = aligned_alloc(VS_CACHE_LINE, sizeof(struct ring) * c->n_rings);
    if (!c->rings) {
        free(c);
        return -ENOMEM;
    }
    memset(c->rings, 0, sizeof(struct ring) * c->n_rings);
    for (unsigned i = 0; i < c->n_rings; i++) {
        /* Touched here, so that a poller never takes the page faults. */
        if (!(c->rings[i].buf = malloc(ring_bytes))) {
            capture_free(c);
            return -ENOMEM;
        }
        memset(c->rings[i].buf, 0, ring_bytes);
        c->rings[i].mask = (uint32_t)(ring_bytes - 1);
    }
    if ((rc = republish(sw, keep_all, 0, c)) < 0) {
        capture_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void vs_capture_end(struct vs_switch *sw, struct vs_capture *c)
{
    bool published = false;

    for (unsigned i = 0; sw->captures && i < sw->captures->n; i++)
        published |= sw->captures->c[i] == c;
    /* Out of memory for a smaller set: an empty one needs none. */
    if (published && republish(sw, keep_other, (uintptr_t)c, NULL) < 0) {
        for (unsigned i = 0; i < sw->captures->n; i++)
            sw->captures->c[i]->gone = true;
        publish(sw, NULL);
    }
}

void vs_capture_stop(struct vs_switch *sw, struct vs_capture *c)
{
    if (!c)
        return;
    vs_capture_end(sw, c);
    capture_free(c);
}

void vs_capture_port_removed(struct vs_switch *sw, uint16_t id)
{
    const struct vs_capture_set *cur = sw->captures;
    bool any = false;

    for (unsigned i = 0; cur && i < cur->n; i++)
        if (cur->c[i]->port_id == id) {
            cur->c[i]->gone = true;
            any = true;
        }
    if (any && republish(sw, keep_other_port, id, NULL) < 0) {
        /* Every session stops rather than one seeing the next port in the slot. */
        for (unsigned i = 0; i < cur->n; i++)
            cur->c[i]->gone = true;
        publish(sw, NULL);
    }
}

unsigned vs_capture_read(struct vs_capture *c, unsigned max, vs_capture_fn fn, void *arg)
{
    unsigned got = 0;

    for (unsigned k = 0; k < c->n_rings && got < max; k++) {
        struct ring *r = &c->rings[(c->next_ring + k) % c->n_rings];
        uint64_t head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE), tail = r->tail;
        bool full = false;

        while (tail < head && got < max) {
            const struct rec *rec = (const struct rec *)(r->buf + (tail & r->mask));
            struct vs_capture_frame f;
            bool wanted;

            if (rec->kind == REC_FRAME) {
                wanted = rec->reason != VS_CAPTURE_NO_REASON ? c->dirs & VS_CAP_DROPS
                                                             : c->dirs & rec->dir;
                f = (struct vs_capture_frame){rec->ts_ns,  rec->orig_len,
                                              rec->caplen, rec->dir,
                                              rec->reason, (const uint8_t *)(rec + 1)};
                if (wanted) {
                    if (!fn(&f, arg)) {
                        full = true;
                        break;
                    }
                    got++;
                }
            }
            tail += rec->size;
        }
        __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
        if (full)
            break;
    }
    c->next_ring = (c->next_ring + 1) % (c->n_rings ? c->n_rings : 1);
    return got;
}

void vs_capture_lost(const struct vs_capture *c, uint64_t lost[VS_CAP_KINDS])
{
    for (int k = 0; k < VS_CAP_KINDS; k++) {
        lost[k] = 0;
        for (unsigned i = 0; i < c->n_rings; i++)
            lost[k] += VS_READ_ONCE(c->rings[i].lost[k]);
    }
}

bool vs_capture_port_gone(const struct vs_capture *c) { return c->gone; }
const char *vs_capture_port_name(const struct vs_capture *c) { return c->port; }
const char *vs_capture_port_type(const struct vs_capture *c) { return c->type; }
unsigned vs_capture_dirs(const struct vs_capture *c) { return c->dirs; }
uint32_t vs_capture_snaplen(const struct vs_capture *c) { return c->snaplen; }
