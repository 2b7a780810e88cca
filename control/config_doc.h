/* The documentation of the config file, read from the comments of the embedded
 * default (configs/default.yaml). That file is the one place a key is described:
 * it is the default config, the installed /etc/vswitch/vswitchd.yaml, and the
 * source of vswitchd.yaml(5); a unit test holds it to the keys the loader takes.
 *
 * The shape it relies on (the default is ours, not a user's file):
 *   - the comment block at the top, up to the first blank line, introduces the file;
 *   - a comment block right above a section ("fdb:") or a key ("  size: 65536")
 *     describes it; the key's value is its default;
 *   - an optional key without a default is written commented out as the last
 *     line of its own comment block ("  # group: vswitch", one word after it);
 *   - nothing after "ports:" is read as keys (it is an example).
 * A comment line starting with more than one space, or in the form
 * "word:   text", starts a new line of the description instead of joining
 * the previous one. */
#ifndef VSWITCH_CONTROL_CONFIG_DOC_H
#define VSWITCH_CONTROL_CONFIG_DOC_H

#include <stdbool.h>
#include <stddef.h>

#define VS_CONFIG_DOC_MAX 64

struct vs_config_doc_entry {
    char section[32];
    char key[32];    /* "" for the section itself */
    char value[128]; /* the default as written; "" when optional or a section */
    bool optional;   /* commented out in the default: no default value */
    char *text;      /* the description, prose with "\n" where a line must break */
};

struct vs_config_doc {
    char *intro;
    unsigned n;
    struct vs_config_doc_entry e[VS_CONFIG_DOC_MAX];
};

/* 0, or -ENOMEM, or -EINVAL when more than VS_CONFIG_DOC_MAX entries. */
int vs_config_doc_parse(const char *yaml, size_t len, struct vs_config_doc *out);
void vs_config_doc_free(struct vs_config_doc *doc);
/* The entry for section.key (key "" for the section), or NULL. */
const struct vs_config_doc_entry *vs_config_doc_find(const struct vs_config_doc *doc,
                                                     const char *section, const char *key);

#endif
