/* Telling the service manager how the daemon is doing (sd_notify(3)): READY=1
 * once the configured ports are up and the control socket listens, STOPPING=1
 * when it shuts down, a one-line STATUS= for `systemctl status`.
 *
 * Without libsystemd at build time (VS_HAVE_SYSTEMD unset) these do nothing and
 * the installed unit is Type=simple; outside systemd (no NOTIFY_SOCKET) they do
 * nothing either. Main thread only. */
#ifndef VSWITCH_NOTIFY_H
#define VSWITCH_NOTIFY_H

#include <stdbool.h>

/* Whether notifications were compiled in. */
bool vs_notify_available(void);
void vs_notify_ready(const char *status);
void vs_notify_stopping(void);
void vs_notify_status(const char *status);

#endif
