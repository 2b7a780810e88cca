/* vhost-user-net ports: QEMU guests and DPDK virtio-user front-ends over a UNIX socket.
 *
 * Options:
 *   path=ABSOLUTE_PATH   the socket (required, shorter than 108 characters)
 *   mode=server|client   server (default): vswitchd listens (mode 0660, a stale socket
 *                        file is replaced, a live one is refused); client: vswitchd
 *                        connects to a listening front-end and reconnects whenever it
 *                        goes away (100 ms back-off doubling to 5 s)
 *   queues=1..8          queue pairs offered (default 1): rx/tx queue q of the port
 *                        is the guest's TX/RX queue q
 *
 * One front-end at a time. Guest memory is mapped from the fds it sends; frames are
 * copied in both directions (tx_burst frees what it delivered). Offered: VERSION_1,
 * split and packed rings, EVENT_IDX, INDIRECT_DESC, MRG_RXBUF, MQ, MTU, STATUS,
 * ANY_LAYOUT, LOG_ALL (dirty logging for live migration); no offloads. Protocol
 * features: MQ, LOG_SHMFD, RARP (the frame is sent into the switch from rx queue 0,
 * as if the guest had sent it), REPLY_ACK, NET_MTU, CONFIGURE_MEM_SLOTS, STATUS. */
#ifndef VS_PORTS_VHOST_USER_H
#define VS_PORTS_VHOST_USER_H

#include "vswitch/port.h"

extern const struct vs_port_ops vs_port_vhost_user_ops;

#endif
