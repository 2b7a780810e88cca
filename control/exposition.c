/* Prometheus text exposition (exposition.h). */
#include "control/exposition.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vs_expo_init(struct vs_expo *e, size_t max) { *e = (struct vs_expo){.max = max}; }

void vs_expo_free(struct vs_expo *e)
{
    free(e->buf);
    *e = (struct vs_expo){0};
}

static bool room(struct vs_expo *e, size_t n)
{
    size_t cap = e->cap ? e->cap : 4096;
    char *nb;

    if (e->failed || e->len + n + 1 > e->max) {
        e->failed = true;
        return false;
    }
    if (e->len + n + 1 <= e->cap)
        return true;
    while (cap < e->len + n + 1)
        cap *= 2;
    if (!(nb = realloc(e->buf, cap))) {
        e->failed = true;
        return false;
    }
    e->buf = nb;
    e->cap = cap;
    return true;
}

static void put(struct vs_expo *e, const char *s, size_t n)
{
    if (room(e, n)) {
        memcpy(e->buf + e->len, s, n);
        e->len += n;
        e->buf[e->len] = '\0';
    }
}

static void puts_(struct vs_expo *e, const char *s) { put(e, s, strlen(s)); }

/* Escapes backslash and newline, and the double quote too in label values. */
static void escaped(struct vs_expo *e, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            put(e, "\\\\", 2);
        else if (*s == '\n')
            put(e, "\\n", 2);
        else if (*s == '"' && quote)
            put(e, "\\\"", 2);
        else
            put(e, s, 1);
    }
}

void vs_expo_family(struct vs_expo *e, const char *name, const char *type, const char *help)
{
    puts_(e, "# HELP ");
    puts_(e, name);
    put(e, " ", 1);
    escaped(e, help, false);
    puts_(e, "\n# TYPE ");
    puts_(e, name);
    put(e, " ", 1);
    puts_(e, type);
    put(e, "\n", 1);
}

void vs_expo_sample(struct vs_expo *e, const char *name, const char *const *labels, uint64_t value)
{
    char num[24];

    puts_(e, name);
    for (size_t i = 0; labels && labels[i]; i += 2) {
        put(e, i ? "," : "{", 1);
        puts_(e, labels[i]);
        put(e, "=\"", 2);
        escaped(e, labels[i + 1] ? labels[i + 1] : "", true);
        put(e, "\"", 1);
    }
    if (labels && labels[0])
        put(e, "}", 1);
    snprintf(num, sizeof(num), " %" PRIu64 "\n", value);
    puts_(e, num);
}
