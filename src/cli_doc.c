/* Help and roff writers for src/cli_doc.h. */
#include "src/cli_doc.h"

#include <string.h>

#define HELP_WIDTH 79
#define HELP_TERM_COL 30

void vs_cli_getopt(const struct vs_cli_opt *opts, size_t n, struct option *longopts,
                   char *shortopts)
{
    size_t s = 0;

    shortopts[s++] = ':'; /* a missing argument is ':', not '?' */
    for (size_t i = 0; i < n; i++) {
        int val = opts[i].short_name ? opts[i].short_name : 256 + (int)i;

        longopts[i] =
            (struct option){opts[i].name, opts[i].arg ? required_argument : no_argument, NULL, val};
        if (opts[i].short_name) {
            shortopts[s++] = opts[i].short_name;
            if (opts[i].arg)
                shortopts[s++] = ':';
        }
    }
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    shortopts[s] = '\0';
}

void vs_cli_opt_term(const struct vs_cli_opt *o, char *buf, size_t size)
{
    if (o->short_name)
        snprintf(buf, size, "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
    else
        snprintf(buf, size, "    --%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Writes text word by word from column col, wrapping at HELP_WIDTH to indent.
 * A newline in text starts a new line; a blank line is kept. */
static void wrap(FILE *f, int col, int indent, const char *text)
{
    const char *p = text;

    while (*p) {
        if (*p == '\n') {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
            p++;
            if (*p == '\n') {
                fputc('\n', f);
                fprintf(f, "%*s", indent, "");
                p++;
            }
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " \n");
        if (col > indent && col + 1 + (int)len > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, len, f);
        col += (int)len;
        p += len;
    }
    fputc('\n', f);
}

void vs_help_item(FILE *f, const char *term, const char *text)
{
    int col = fprintf(f, "  %s", term);

    if (col + 2 > HELP_TERM_COL) {
        fputc('\n', f);
        col = 0;
    }
    fprintf(f, "%*s", HELP_TERM_COL - col, "");
    wrap(f, HELP_TERM_COL, HELP_TERM_COL, text);
}

void vs_help_opts(FILE *f, const struct vs_cli_opt *opts, size_t n)
{
    char term[96];

    for (size_t i = 0; i < n; i++) {
        /* Only the first paragraph: the man page has the rest. */
        const char *br = strstr(opts[i].help, "\n\n");
        char first[1024];

        snprintf(first, sizeof(first), "%.*s",
                 br ? (int)(br - opts[i].help) : (int)strlen(opts[i].help), opts[i].help);
        vs_cli_opt_term(&opts[i], term, sizeof(term));
        vs_help_item(f, term, first);
    }
}

void vs_help_text(FILE *f, int indent, const char *text)
{
    fprintf(f, "%*s", indent, "");
    wrap(f, indent, indent, text);
}

/* ---- roff ----------------------------------------------------------------- */

/* Writes s escaped for roff: backslashes and minus signs (so that options stay
 * searchable and copyable), a leading dot or quote that would start a request. */
static void roff_escape(FILE *f, const char *s, size_t len, int at_line_start)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (at_line_start && (c == '.' || c == '\''))
            fputs("\\&", f);
        at_line_start = 0;
        if (c == '\\')
            fputs("\\e", f);
        else if (c == '-')
            fputs("\\-", f);
        else
            fputc(c, f);
        if (c == '\n')
            at_line_start = 1;
    }
}

void vs_man_begin(FILE *f, const char *name, int section, const char *summary)
{
    char upper[64];
    size_t i;

    for (i = 0; name[i] && i < sizeof(upper) - 1; i++)
        upper[i] = (name[i] >= 'a' && name[i] <= 'z') ? (char)(name[i] - 32) : name[i];
    upper[i] = '\0';
    /* No date: the page is generated at build time and must be reproducible. */
    fprintf(f, ".\\\" Generated from the program's own tables; edit those, not this file.\n");
    fprintf(f, ".TH %s %d \"\" \"vswitch %s\" \"%s\"\n", upper, section, VS_VERSION,
            section == 5 ? "File Formats Manual" : "System Manager's Manual");
    fprintf(f, ".SH NAME\n");
    roff_escape(f, name, strlen(name), 1);
    fprintf(f, " \\- ");
    roff_escape(f, summary, strlen(summary), 0);
    fputc('\n', f);
}

void vs_man_section(FILE *f, const char *title) { fprintf(f, ".SH %s\n", title); }

void vs_man_synopsis(FILE *f, const char *name, const char *args)
{
    vs_man_section(f, "SYNOPSIS");
    fputs(".B ", f);
    roff_escape(f, name, strlen(name), 0);
    fputc('\n', f);
    roff_escape(f, args, strlen(args), 1);
    fputc('\n', f);
}

/* Paragraphs: "\n\n" starts a new one, a single "\n" breaks the line. */
static void man_paragraphs(FILE *f, const char *text, const char *para)
{
    const char *p = text;

    while (*p) {
        const char *br = strstr(p, "\n\n");
        size_t len = br ? (size_t)(br - p) : strlen(p);

        for (const char *q = p; q < p + len;) {
            const char *nl = memchr(q, '\n', (size_t)(p + len - q));
            size_t l = nl ? (size_t)(nl - q) : (size_t)(p + len - q);

            roff_escape(f, q, l, 1);
            fputc('\n', f);
            if (nl)
                fputs(".br\n", f);
            q += l + (nl ? 1 : 0);
        }
        if (!br)
            break;
        p = br + 2;
        fprintf(f, "%s\n", para);
    }
}

void vs_man_text(FILE *f, const char *text)
{
    fputs(".PP\n", f);
    man_paragraphs(f, text, ".PP");
}

void vs_man_item(FILE *f, const char *bold, const char *italic, const char *text)
{
    fputs(".TP\n\\fB", f);
    roff_escape(f, bold, strlen(bold), 0);
    fputs("\\fR", f);
    if (italic && *italic) {
        fputs(" \\fI", f);
        roff_escape(f, italic, strlen(italic), 0);
        fputs("\\fR", f);
    }
    fputc('\n', f);
    man_paragraphs(f, text, ".IP");
}

void vs_man_opts(FILE *f, const struct vs_cli_opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char bold[80];

        if (opts[i].short_name)
            snprintf(bold, sizeof(bold), "-%c, --%s", opts[i].short_name, opts[i].name);
        else
            snprintf(bold, sizeof(bold), "--%s", opts[i].name);
        vs_man_item(f, bold, opts[i].arg, opts[i].help);
    }
}

void vs_man_verbatim(FILE *f, const char *text)
{
    size_t len = strlen(text);

    fputs(".PP\n.nf\n.RS 4\n", f);
    roff_escape(f, text, len, 1);
    if (len && text[len - 1] != '\n')
        fputc('\n', f);
    fputs(".RE\n.fi\n", f);
}
