/* Helpers every port type uses to read and check its key=value options. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/port.h"

void vs_port_err_set(struct vs_port_err *err, int arg, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    err->arg = arg;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}

bool vs_port_name_valid(const char *name)
{
    size_t n = strnlen(name, VS_PORT_NAME_MAX);

    if (n < 1 || n >= VS_PORT_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
            return false;
    return true;
}

const char *vs_port_args_get(const struct vs_port_args *args, const char *key, int *index)
{
    for (unsigned i = 0; i < args->n; i++) {
        if (!strcmp(args->v[i].key, key)) {
            if (index)
                *index = (int)i;
            return args->v[i].value;
        }
    }
    if (index)
        *index = -1;
    return NULL;
}

int vs_port_args_check_keys(const struct vs_port_args *args, const char *const *keys,
                            struct vs_port_err *err)
{
    for (unsigned i = 0; i < args->n; i++) {
        bool known = false;

        for (const char *const *k = keys; *k && !known; k++)
            known = !strcmp(*k, args->v[i].key);
        if (!known) {
            char list[160] = "";
            for (const char *const *k = keys; *k; k++) {
                if (k != keys)
                    strncat(list, ", ", sizeof(list) - strlen(list) - 1);
                strncat(list, *k, sizeof(list) - strlen(list) - 1);
            }
            vs_port_err_set(err, (int)i, "unknown option '%s'; this port type accepts: %s",
                            args->v[i].key, list[0] ? list : "no options");
            return -EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            if (!strcmp(args->v[j].key, args->v[i].key)) {
                vs_port_err_set(err, (int)i, "option '%s' given twice", args->v[i].key);
                return -EINVAL;
            }
        }
    }
    return 0;
}

int vs_port_args_uint(const struct vs_port_args *args, const char *key, unsigned min,
                      unsigned max, unsigned def, unsigned *out, struct vs_port_err *err)
{
    int idx;
    const char *v = vs_port_args_get(args, key, &idx);
    char *end;
    unsigned long n;

    if (!v) {
        *out = def;
        return 0;
    }
    errno = 0;
    n = strtoul(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-' || n < min || n > max) {
        vs_port_err_set(err, idx, "%s: '%s' is not a whole number from %u to %u", key, v, min,
                        max);
        return -EINVAL;
    }
    *out = (unsigned)n;
    return 0;
}
