/* Maps a port type name to its ops table: the only place that knows every type. */
#include <string.h>

#include "ports/tap/tap.h"
#include "ports/vhost_user/vhost_user.h"
#ifdef VS_HAVE_VFIO
#include "ports/vfio/vfio_port.h"
#endif
#include "vswitch/port.h"

static const struct vs_port_ops *const types[] = {
    &vs_port_tap_ops,
    &vs_port_vhost_user_ops,
#ifdef VS_HAVE_VFIO
    &vs_port_vfio_ops,
#endif
};

const struct vs_port_ops *vs_port_type_find(const char *type)
{
    for (size_t i = 0; i < VS_ARRAY_SIZE(types); i++)
        if (!strcmp(types[i]->type, type))
            return types[i];
    return NULL;
}

const char *vs_port_type_list(void)
{
    static char list[256];

    if (!list[0]) {
        for (size_t i = 0; i < VS_ARRAY_SIZE(types); i++) {
            if (i)
                strcat(list, ", ");
            strcat(list, types[i]->type);
        }
    }
    return list;
}
