/* sd_notify(3) through libsystemd when the build has it (notify.h). Errors are
 * logged once and otherwise ignored: a manager that does not listen must not
 * stop the switch. */
#include "vswitch/notify.h"

#include <stdio.h>
#include <string.h>

#include "vswitch/log.h"

#ifdef VS_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static bool failed_logged;

static void notify(const char *state)
{
    int rc = sd_notify(0, state);

    if (rc < 0)
        vs_log_once(&failed_logged, VS_LOG_WARN, "cannot notify the service manager (%s): %s",
                    state, strerror(-rc));
}

bool vs_notify_available(void) { return true; }
#else
static void notify(const char *state) {}
bool vs_notify_available(void) { return false; }
#endif

void vs_notify_ready(const char *status)
{
    char state[256];

    snprintf(state, sizeof(state), "READY=1\nSTATUS=%s", status);
    notify(state);
}

void vs_notify_stopping(void) { notify("STOPPING=1\nSTATUS=shutting down"); }

void vs_notify_status(const char *status)
{
    char state[256];

    snprintf(state, sizeof(state), "STATUS=%s", status);
    notify(state);
}
