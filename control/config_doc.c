/* Reads the key descriptions out of the default config's comments (config_doc.h). */
#include "control/config_doc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Comment lines waiting for the section or key they describe. */
struct block {
    char *lines[48];
    unsigned n;
};

static void block_clear(struct block *b)
{
    for (unsigned i = 0; i < b->n; i++)
        free(b->lines[i]);
    b->n = 0;
}

/* "name:" at the start of s (identifier characters), its length or 0. */
static size_t key_len(const char *s)
{
    size_t n = 0;

    while (islower((unsigned char)s[n]) || isdigit((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n && s[n] == ':' ? n : 0;
}

/* A commented-out key: "key: word" and nothing else. */
static bool is_commented_key(const char *text)
{
    size_t n = key_len(text);
    const char *v = text + n + 1;

    return n && v[0] == ' ' && v[1] && v[1] != ' ' && !strchr(v + 1, ' ');
}

/* Joins lines [from, to) of b into prose. A line that starts with a space
 * (indented in the comment) or defines a term ("busy:     poll...") starts a
 * new line; others continue the previous one. */
static char *join(const struct block *b, unsigned from, unsigned to)
{
    size_t size = 1;
    char *out, *o;

    for (unsigned i = from; i < to; i++)
        size += strlen(b->lines[i]) + 1;
    out = o = malloc(size);
    if (!out)
        return NULL;
    *o = '\0';
    for (unsigned i = from; i < to; i++) {
        const char *l = b->lines[i];
        bool own_line = l[0] == ' ' || key_len(l) || (i > from && b->lines[i - 1][0] == ' ');

        if (i > from)
            *o++ = own_line ? '\n' : ' ';
        while (*l == ' ')
            l++;
        o = stpcpy(o, l);
    }
    return out;
}

static int add(struct vs_config_doc *doc, const char *section, const char *key, size_t key_n,
               const char *value, bool optional, char *text)
{
    struct vs_config_doc_entry *e;

    if (!text)
        return -ENOMEM;
    if (doc->n == VS_CONFIG_DOC_MAX) {
        free(text);
        return -EINVAL;
    }
    e = &doc->e[doc->n++];
    snprintf(e->section, sizeof(e->section), "%s", section);
    snprintf(e->key, sizeof(e->key), "%.*s", (int)key_n, key);
    snprintf(e->value, sizeof(e->value), "%s", value);
    e->optional = optional;
    e->text = text;
    return 0;
}

/* A key line ends b: a commented-out key inside b (at the key's indent) is an
 * optional key of its own, described by the lines before it. */
static int take_optional_keys(struct vs_config_doc *doc, const char *section, struct block *b,
                              unsigned *from)
{
    for (unsigned i = *from; i < b->n; i++) {
        if (!is_commented_key(b->lines[i]))
            continue;
        int rc = add(doc, section, b->lines[i], key_len(b->lines[i]), "", true, join(b, *from, i));
        if (rc < 0)
            return rc;
        *from = i + 1;
    }
    return 0;
}

int vs_config_doc_parse(const char *yaml, size_t len, struct vs_config_doc *out)
{
    struct block b = {0};
    char section[32] = "";
    bool in_ports = false, intro_done = false;
    const char *p = yaml, *end = yaml + len;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[512];
        size_t ind = 0;

        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
        while (line[ind] == ' ')
            ind++;
        if (in_ports)
            continue;
        if (!line[ind]) { /* blank: the first one ends the introduction */
            if (!intro_done && b.n) {
                out->intro = join(&b, 0, b.n);
                if (!out->intro)
                    rc = -ENOMEM;
            }
            intro_done = true;
            unsigned from = 0;
            if (rc == 0 && section[0])
                rc = take_optional_keys(out, section, &b, &from);
            block_clear(&b);
            continue;
        }
        if (line[ind] == '#') {
            const char *t = line + ind + 1;
            if (*t == ' ')
                t++;
            /* Only comments at a key's indent describe keys; deeper ones belong to values. */
            if (b.n < 48 && (ind == 0 || ind == 2) && (b.lines[b.n] = strdup(t)))
                b.n++;
            continue;
        }
        size_t k = key_len(line + ind);
        if (!k || (ind != 0 && ind != 2) || (ind == 2 && !section[0])) {
            block_clear(&b);
            continue;
        }
        const char *v = line + ind + k + 1;
        char value[128];
        while (*v == ' ')
            v++;
        snprintf(value, sizeof(value), "%s", v);
        char *hash = strstr(value, " #");
        if (hash)
            *hash = '\0';
        for (size_t l = strlen(value); l && value[l - 1] == ' ';)
            value[--l] = '\0';
        unsigned from = 0;
        if (ind == 0) {
            snprintf(section, sizeof(section), "%.*s", (int)k, line);
            rc = add(out, section, "", 0, "", false, join(&b, 0, b.n));
            in_ports = !strcmp(section, "ports");
        } else {
            rc = take_optional_keys(out, section, &b, &from);
            if (rc == 0)
                rc = add(out, section, line + ind, k, value, false, join(&b, from, b.n));
        }
        block_clear(&b);
    }
    block_clear(&b);
    if (rc == 0 && !out->intro && !(out->intro = strdup("")))
        rc = -ENOMEM;
    if (rc < 0)
        vs_config_doc_free(out);
    return rc;
}

void vs_config_doc_free(struct vs_config_doc *doc)
{
    for (unsigned i = 0; i < doc->n; i++)
        free(doc->e[i].text);
    free(doc->intro);
    memset(doc, 0, sizeof(*doc));
}

const struct vs_config_doc_entry *vs_config_doc_find(const struct vs_config_doc *doc,
                                                     const char *section, const char *key)
{
    for (unsigned i = 0; i < doc->n; i++)
        if (!strcmp(doc->e[i].section, section) && !strcmp(doc->e[i].key, key))
            return &doc->e[i];
    return NULL;
}
