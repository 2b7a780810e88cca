/* VLAN membership and tagging: which VLANs a port carries, how a frame's VLAN is
 * decided at ingress, and what its header must look like at egress.
 *
 * Inside the switch every frame belongs to one VLAN (pkt->vlan, 0..4095): the
 * forwarding table is keyed by it and floods stay inside it. A port's mode says
 * how its wire maps to VLANs:
 *   transparent (the default): a tagged frame belongs to its tag's VLAN, an
 *       untagged one to VLAN 0; frames leave as they came, and a frame of VLAN
 *       V > 0 that arrived untagged elsewhere (an access port) leaves tagged V.
 *   access tag T: untagged frames belong to T and leave untagged; tagged frames
 *       are refused (VS_DROP_VLAN_TAGGED).
 *   trunk: tagged frames of the VLANs it carries; untagged frames belong to its
 *       native VLAN (refused without one) and leave untagged.
 * A port never sends a frame of a VLAN it does not carry.
 *
 * Everything here is small and inline on purpose: the same check serves every
 * port, and an overlay port (VXLAN) maps its network identifiers onto the same
 * sets. */
#ifndef VS_DATAPLANE_VLAN_H
#define VS_DATAPLANE_VLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/switch.h"
#include "vswitch/pkt.h"

#define VS_VLAN_MAX 4094 /* 4095 is reserved; 0 is "no VLAN" on the wire */

enum vs_vlan_mode { VS_VLAN_TRANSPARENT, VS_VLAN_ACCESS, VS_VLAN_TRUNK };

/* A set of VLAN IDs, one bit each. */
struct vs_vlan_set {
    uint64_t w[64];
};

static inline bool vs_vlan_set_has(const struct vs_vlan_set *s, uint16_t vid)
{
    return (s->w[(vid >> 6) & 63] >> (vid & 63)) & 1;
}

static inline void vs_vlan_set_add(struct vs_vlan_set *s, uint16_t vid)
{
    s->w[(vid >> 6) & 63] |= 1ull << (vid & 63);
}

/* Parses "10,20,100-199" (VLAN IDs 1..4094 and ranges, commas or spaces between):
 * adds them to s. "" adds nothing. 0, or -EINVAL with what is wrong in err. */
int vs_vlan_set_parse(const char *text, struct vs_vlan_set *s, char *err, size_t errlen);
/* The set as "10,20,100-199" (truncated to size); "" when empty. */
void vs_vlan_set_format(const struct vs_vlan_set *s, char *out, size_t size);

/* How a port maps its wire to VLANs. */
struct vs_vlan_port {
    enum vs_vlan_mode mode;
    uint16_t tag;             /* access: its VLAN */
    uint16_t native;          /* trunk: VLAN of untagged frames, 0 for none */
    struct vs_vlan_set carry; /* every VLAN it sends and receives (transparent: all) */
};

/* The VLAN of a frame arriving on port vp, tagged with vid (tagged) or not: >= 0,
 * or -VS_DROP_VLAN_TAGGED / -VS_DROP_VLAN_NOT_ALLOWED when the port refuses it. */
static inline int vs_vlan_ingress(const struct vs_vlan_port *vp, bool tagged, uint16_t vid)
{
    switch (vp->mode) {
    case VS_VLAN_TRANSPARENT: return tagged ? vid : 0;
    case VS_VLAN_ACCESS: return tagged ? -VS_DROP_VLAN_TAGGED : vp->tag;
    default:
        if (!tagged)
            return vp->native ? vp->native : -VS_DROP_VLAN_NOT_ALLOWED;
        return vid && vs_vlan_set_has(&vp->carry, vid) ? vid : -VS_DROP_VLAN_NOT_ALLOWED;
    }
}

/* What a frame of VLAN vlan, tagged on the wire or not, needs before leaving
 * port vp. */
enum vs_vlan_action { VS_VLAN_AS_IS, VS_VLAN_PUSH, VS_VLAN_POP, VS_VLAN_NOT_CARRIED };

static inline enum vs_vlan_action vs_vlan_egress(const struct vs_vlan_port *vp, uint16_t vlan,
                                                 bool tagged)
{
    bool untagged_out;

    switch (vp->mode) {
    case VS_VLAN_TRANSPARENT: return tagged || vlan == 0 ? VS_VLAN_AS_IS : VS_VLAN_PUSH;
    case VS_VLAN_ACCESS:
        if (vlan != vp->tag)
            return VS_VLAN_NOT_CARRIED;
        untagged_out = true;
        break;
    default:
        if (!vs_vlan_set_has(&vp->carry, vlan))
            return VS_VLAN_NOT_CARRIED;
        untagged_out = vlan == vp->native;
        break;
    }
    if (untagged_out)
        return tagged ? VS_VLAN_POP : VS_VLAN_AS_IS;
    return tagged ? VS_VLAN_AS_IS : VS_VLAN_PUSH;
}

/* Applies action (VS_VLAN_PUSH with vid, or VS_VLAN_POP) to pkt's header in place:
 * pkt must be its holder's alone (refcnt 1), in buf (not lent), with a header to
 * change (at least 14 bytes; 18 for a pop). Moves offload offsets with the
 * payload. */
void vs_vlan_apply(struct vs_pkt *pkt, enum vs_vlan_action action, uint16_t vid);
/* pkt, or a private copy of it when pkt is shared or lent (the copy's header comes
 * from the private head the switch decided on, never again from the peer): what
 * vs_vlan_apply may then change. The caller gives up the reference it held on pkt
 * when a copy is returned; NULL (pkt untouched, still the caller's) when no buffer
 * is free. */
struct vs_pkt *vs_vlan_own(struct vs_pkt *pkt);

#endif
