/* --help text and manual pages (roff) written from the same tables, so that
 * what a program says about itself and its manual page cannot drift apart.
 *
 * A program keeps its options in one struct vs_cli_opt array: getopt_long's
 * arrays are built from it, --help prints it, and the man page's OPTIONS section
 * is written from it. Help text is plain prose; the writers wrap it (help) or
 * escape it for roff (man), so one string serves both. */
#ifndef VSWITCH_SRC_CLI_DOC_H
#define VSWITCH_SRC_CLI_DOC_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

struct vs_cli_opt {
    const char *name; /* long name without the dashes */
    char short_name;  /* 0: none */
    const char *arg;  /* the argument's placeholder (FILE), NULL: takes none */
    const char *help; /* what it does; a blank line starts a new paragraph in the man page */
};

/* getopt_long's arrays for opts[0..n): longopts needs n + 1 entries, shortopts
 * 3 * n + 2 bytes. An option's val is its short name, or 256 + its index. */
void vs_cli_getopt(const struct vs_cli_opt *opts, size_t n, struct option *longopts,
                   char *shortopts);
/* "-c, --config FILE", "    --json" as --help shows them. */
void vs_cli_opt_term(const struct vs_cli_opt *o, char *buf, size_t size);

/* One help entry: term in a column, text wrapped to 80 columns beside it (or
 * below it when the term is too wide). */
void vs_help_item(FILE *f, const char *term, const char *text);
void vs_help_opts(FILE *f, const struct vs_cli_opt *opts, size_t n);
/* Prose wrapped to 80 columns at the given indent. */
void vs_help_text(FILE *f, int indent, const char *text);

/* Manual pages. Text arguments are plain prose (escaped here); a blank line
 * ("\n\n") separates paragraphs. */
void vs_man_begin(FILE *f, const char *name, int section, const char *summary);
void vs_man_section(FILE *f, const char *title);
/* The SYNOPSIS section: the program's name in bold, then its arguments. */
void vs_man_synopsis(FILE *f, const char *name, const char *args);
void vs_man_text(FILE *f, const char *text);
/* An indented paragraph under a bold term, the rest of the term in italics:
 * vs_man_item(f, "add-port", "NAME TYPE [KEY=VALUE...]", "adds a port"). */
void vs_man_item(FILE *f, const char *bold, const char *italic, const char *text);
void vs_man_opts(FILE *f, const struct vs_cli_opt *opts, size_t n);
/* Preformatted lines (examples, files), escaped, not filled. */
void vs_man_verbatim(FILE *f, const char *text);

#endif
