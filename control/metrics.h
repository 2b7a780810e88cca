/* The Prometheus endpoint (control.metrics): GET /metrics over HTTP/1.x on a
 * TCP address, served from the main loop. The counters are read the way the
 * control commands read them (the pollers' own counters, summed), so a scrape
 * costs the pollers nothing more than a `vswitchctl list-ports` does.
 *
 * Clients are not trusted: at most VS_METRICS_MAX_CLIENTS at once (one more is
 * closed at once), a request head of at most 4 KiB (longer: 431), and each
 * connection is closed VS_METRICS_TIMEOUT_MS after it was accepted whatever it
 * did (a client sending a byte at a time cannot hold its slot). One response
 * per connection (Connection: close). */
#ifndef VSWITCH_CONTROL_METRICS_H
#define VSWITCH_CONTROL_METRICS_H

#include <stddef.h>

#define VS_METRICS_MAX_CLIENTS 16
#define VS_METRICS_TIMEOUT_MS 5000

struct vs_switch;
struct vs_pool;
struct vs_metrics;

/* Listens on addr_port ("127.0.0.1:9417", "[::1]:9417"). Logs why it failed
 * and returns a negative errno. */
int vs_metrics_start(const char *addr_port, struct vs_switch *sw, struct vs_pool *pool,
                     struct vs_metrics **out);
void vs_metrics_stop(struct vs_metrics *m);

/* The exposition text now (malloc'ed, *len bytes), or NULL when out of memory. */
char *vs_metrics_render(struct vs_switch *sw, struct vs_pool *pool, size_t *len);

#endif
