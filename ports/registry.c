/* Maps a port type name to its ops table: the only place that knows every type. */
#include <errno.h>
#include <string.h>

#include "ports/af_xdp/af_xdp.h"
#include "ports/tap/tap.h"
#include "ports/vduse/vduse.h"
#include "ports/vhost_user/vhost_user.h"
#include "ports/vxlan/vxlan.h"
#ifdef VS_HAVE_VFIO
#include "ports/vfio/vfio_port.h"
#endif
#include "vswitch/port.h"

static const struct vs_port_ops *const types[] = {
    &vs_port_tap_ops,
    &vs_port_vhost_user_ops,
    &vs_port_vduse_ops,
    &vs_port_af_xdp_ops,
    &vs_port_vxlan_ops,
#ifdef VS_HAVE_VFIO
    &vs_port_vfio_ops,
#endif
};

/* Types added at run time (tests, embedders), after the built-in ones. */
static const struct vs_port_ops *extra[8];
static size_t n_extra;

int vs_port_type_register(const struct vs_port_ops *ops)
{
    if (vs_port_type_find(ops->type))
        return -EEXIST;
    if (n_extra == VS_ARRAY_SIZE(extra))
        return -ENOSPC;
    extra[n_extra++] = ops;
    return 0;
}

const struct vs_port_ops *vs_port_type_find(const char *type)
{
    for (size_t i = 0; i < VS_ARRAY_SIZE(types); i++)
        if (!strcmp(types[i]->type, type))
            return types[i];
    for (size_t i = 0; i < n_extra; i++)
        if (!strcmp(extra[i]->type, type))
            return extra[i];
    return NULL;
}

const char *vs_port_type_list(void)
{
    static char list[256];

    list[0] = 0;
    for (size_t i = 0; i < VS_ARRAY_SIZE(types) + n_extra; i++) {
        const struct vs_port_ops *ops = i < VS_ARRAY_SIZE(types) ? types[i] : extra[i - VS_ARRAY_SIZE(types)];

        if (i)
            strncat(list, ", ", sizeof(list) - strlen(list) - 1);
        strncat(list, ops->type, sizeof(list) - strlen(list) - 1);
    }
    return list;
}
