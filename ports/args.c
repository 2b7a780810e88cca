/* Helpers every port type uses to read and check its key=value options. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
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

int vs_port_args_mtu(const struct vs_port_args *args, unsigned max, uint16_t *out,
                     struct vs_port_err *err)
{
    unsigned v;
    int rc = vs_port_args_uint(args, "mtu", 68, max, VS_PORT_MTU_DEFAULT, &v, err);

    if (rc == 0)
        *out = (uint16_t)v;
    return rc;
}

/* "64G" for a multiple of 1 GiB, and so on: error messages quote sizes the way the
 * user may write them. */
static void size_str(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "TGMK";
    for (unsigned i = 0; i < 4; i++) {
        unsigned shift = 40 - 10 * i;
        if (v && v % (1ull << shift) == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(v >> shift), units[i]);
            return;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

int vs_port_args_size(const struct vs_port_args *args, const char *key, uint64_t min,
                      uint64_t max, uint64_t def, uint64_t *out, struct vs_port_err *err)
{
    int idx;
    const char *v = vs_port_args_get(args, key, &idx);
    const char *suffixes = "KMGT";
    char *end, lo[24], hi[24];
    unsigned long long n;
    unsigned shift = 0;

    if (!v) {
        *out = def;
        return 0;
    }
    errno = 0;
    n = strtoull(v, &end, 10);
    if (*end && end[1] == '\0' && strchr(suffixes, toupper((unsigned char)*end))) {
        shift = 10 * (unsigned)(strchr(suffixes, toupper((unsigned char)*end)) - suffixes + 1);
        end++;
    }
    if (!isdigit((unsigned char)v[0]) || *end || errno || n > (UINT64_MAX >> shift) ||
        (n << shift) < min || (n << shift) > max) {
        size_str(min, lo, sizeof(lo));
        size_str(max, hi, sizeof(hi));
        vs_port_err_set(err, idx,
                        "%s: '%s' is not a size from %s to %s (bytes, or a number with K, M, G "
                        "or T)",
                        key, v, lo, hi);
        return -EINVAL;
    }
    *out = (uint64_t)n << shift;
    return 0;
}

int vs_port_args_bool(const struct vs_port_args *args, const char *key, bool def, bool *out,
                      struct vs_port_err *err)
{
    static const char *const yes[] = { "true", "yes", "on", "1" };
    static const char *const no[] = { "false", "no", "off", "0" };
    int idx;
    const char *v = vs_port_args_get(args, key, &idx);

    *out = def;
    if (!v)
        return 0;
    for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
            *out = !strcmp(v, yes[i]);
            return 0;
        }
    }
    vs_port_err_set(err, idx, "%s: '%s' is not a yes/no value; use true or false (or 1 or 0)",
                    key, v);
    return -EINVAL;
}
