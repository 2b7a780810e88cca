/* Eventfds: our own wake-ups, and the notification fds a peer hands over (a
 * vhost-user front-end's kick, call and err fds).
 *
 * A peer keeps its own reference to the same open file description, so whatever
 * we set on it, it can undo: it can clear O_NONBLOCK, fill the counter so that a
 * write of 1 has to wait for a reader, or not have sent an eventfd at all. Nothing
 * here relies on the file's flags:
 *  - reads use preadv2(RWF_NOWAIT), which never waits on an eventfd whatever
 *    O_NONBLOCK says;
 *  - a peer's eventfd is signalled the way the kernel's own vhost does it, with
 *    eventfd_signal(), which saturates the counter instead of waiting. Userspace
 *    reaches it through an io_uring with the eventfd registered as its completion
 *    eventfd: each completed no-op signals it. One small ring per peer eventfd.
 * Where io_uring is not available (kernel without it, disabled by sysctl or by a
 * seccomp policy) signalling falls back to write() on a fd we set O_NONBLOCK on,
 * which only holds while the peer leaves that flag alone; that is said once in
 * the log. */
#ifndef VSWITCH_EVENTFD_H
#define VSWITCH_EVENTFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Is fd an eventfd we can read without waiting? 0, or -EINVAL (another kind of
 * file: what it is in why) or -EOPNOTSUPP (this kernel cannot read an eventfd
 * without possibly waiting). May consume a pending count: use it on fds whose
 * pending count means nothing yet (a kick fd as it arrives). */
int vs_eventfd_check_readable(int fd, char *why, size_t why_len);

/* Is fd an eventfd? 0 or -EINVAL with what it is in why. Consumes nothing. */
int vs_eventfd_check(int fd, char *why, size_t why_len);

/* Empties an eventfd and returns what it held (0 when empty, on error, or for
 * fd < 0). Never waits, whatever the file's flags. */
uint64_t vs_eventfd_drain(int fd);

/* Adds 1 to one of OUR OWN eventfds (created EFD_NONBLOCK, never handed out): a
 * wake-up. A full counter means a wake-up is pending anyway. */
void vs_eventfd_wake(int fd);

/* A peer's eventfd that we signal (a guest interrupt). */
struct vs_eventfd_signal {
    int fd;      /* the peer's eventfd; -1: none */
    int ring;    /* io_uring signalling fd; -1: write() fallback */
    void *rings; /* SQ and CQ rings (one mapping) */
    size_t rings_len;
    void *sqes;
    size_t sqes_len;
    uint32_t *sq_tail, *cq_head, *cq_tail;
};

/* An unused signal (no fd). */
void vs_eventfd_signal_init(struct vs_eventfd_signal *s);
/* Takes fd (it is closed by vs_eventfd_signal_close, or here on failure). 0, or
 * -EINVAL when fd is not an eventfd (why says what it is), or another -errno. */
int vs_eventfd_signal_open(struct vs_eventfd_signal *s, int fd, char *why, size_t why_len);
/* Signals the eventfd; never waits. 0, or -errno when the signal could not be
 * given (fallback: -EAGAIN for a full counter), for the caller to count. */
int vs_eventfd_signal(struct vs_eventfd_signal *s);
/* Closes the eventfd and its ring; back to vs_eventfd_signal_init's state. */
void vs_eventfd_signal_close(struct vs_eventfd_signal *s);

#endif
