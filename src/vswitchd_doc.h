/* vswitchd's options, its --help and the manual pages made from them and from
 * the config's own documentation (control/config_doc.h). */
#ifndef VSWITCH_SRC_VSWITCHD_DOC_H
#define VSWITCH_SRC_VSWITCHD_DOC_H

#include <stdio.h>

#include "src/cli_doc.h"

enum {
    VS_DOPT_CONFIG,
    VS_DOPT_CHECK,
    VS_DOPT_PRINT_DEFAULT,
    VS_DOPT_GENERATE,
    VS_DOPT_VERSION,
    VS_DOPT_HELP,
    VS_DOPT_N
};
extern const struct vs_cli_opt vs_daemon_options[VS_DOPT_N];

void vs_daemon_usage(FILE *f);
/* --generate WHAT: writes it to stdout. 0, or 2 (with a message) for an unknown WHAT. */
int vs_daemon_generate(const char *what);

#endif
