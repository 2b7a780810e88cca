/* The control commands (add-port, del-port, list-ports, show, fdb-show, fdb-flush,
 * pollers, version, reload): handlers for the socket server, acting on one switch. */
#ifndef VSWITCH_CONTROL_COMMANDS_H
#define VSWITCH_CONTROL_COMMANDS_H

#include "control/server.h"

/* The command table; every handler takes the struct vs_switch * as ctx. */
extern const struct vs_ctl_command vs_ctl_commands[];

#endif
