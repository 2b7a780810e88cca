/* The capture command: a capture session (dataplane/capture.h) streamed as
 * pcapng over the control connection that asked for it.
 *
 * After the reply line the connection carries nothing but pcapng: a section
 * header, one interface per direction asked for ("PORT:rx", "PORT:tx",
 * "PORT:drops"), then an enhanced packet block per frame (epb_flags gives the
 * direction; a dropped frame's comment gives the reason). The capture ends when
 * count frames went, the port is removed, or the client sends anything or shuts
 * down its sending side; then one interface statistics block per interface
 * (isb_ifrecv: frames sent to the client, isb_ifdrop: frames lost because the
 * client read too slowly) goes out and the server closes the connection. A
 * client that goes away ends the capture at once. */
#ifndef VSWITCH_CONTROL_CAPTURE_STREAM_H
#define VSWITCH_CONTROL_CAPTURE_STREAM_H

#include <stddef.h>

#include <jansson.h>

/* Command "capture": params {"port", "directions" (array of "rx", "tx", "drops";
 * default all), "count" (0: no limit), "snaplen" (default and maximum 262144)}.
 * ctx is the struct vs_switch *. */
int vs_capture_cmd(json_t *params, json_t **result, char *err, size_t errlen, void *ctx);
/* Command "captures": the running captures. */
int vs_capture_cmd_list(json_t *params, json_t **result, char *err, size_t errlen, void *ctx);
/* Ends every capture stream (shutdown: before the switch goes). */
void vs_capture_streams_close(void);

#endif
