/* The Prometheus text exposition format (version 0.0.4): metric families with
 * their HELP and TYPE lines, samples with escaped label values. Output grows in
 * one buffer up to a bound; past it (or out of memory) the text is marked failed
 * instead of being cut in the middle of a line. */
#ifndef VSWITCH_CONTROL_EXPOSITION_H
#define VSWITCH_CONTROL_EXPOSITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vs_expo {
    char *buf;
    size_t len, cap, max;
    bool failed; /* the text is incomplete: do not serve it */
};

void vs_expo_init(struct vs_expo *e, size_t max);
void vs_expo_free(struct vs_expo *e);
/* "# HELP name help" and "# TYPE name type" (counter, gauge). name must be a
 * valid metric name (the caller's constant); help is escaped. */
void vs_expo_family(struct vs_expo *e, const char *name, const char *type, const char *help);
/* "name{l1="v1",...} value": labels is NULL or a NULL-terminated list of name,
 * value pairs; values are escaped (backslash, double quote, newline). */
void vs_expo_sample(struct vs_expo *e, const char *name, const char *const *labels, uint64_t value);

#endif
