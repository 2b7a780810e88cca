/* Generic netlink requests to the vdpa family, over a raw NETLINK_GENERIC socket. */
#include "ports/vduse/vdpa_nl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/vdpa.h>

#define MSG_MAX 4096

struct nl_msg {
    union {
        struct nlmsghdr nh;
        uint8_t buf[MSG_MAX];
    };
};

static int nl_put_str(struct nl_msg *m, uint16_t type, const char *s)
{
    size_t len = strlen(s) + 1;
    struct nlattr *a = (struct nlattr *)(m->buf + NLMSG_ALIGN(m->nh.nlmsg_len));

    if (NLMSG_ALIGN(m->nh.nlmsg_len) + NLA_HDRLEN + NLA_ALIGN(len) > MSG_MAX)
        return -EMSGSIZE;
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy((uint8_t *)a + NLA_HDRLEN, s, len);
    m->nh.nlmsg_len = NLMSG_ALIGN(m->nh.nlmsg_len) + NLA_ALIGN(a->nla_len);
    return 0;
}

static void nl_init(struct nl_msg *m, uint16_t family, uint8_t cmd, uint16_t flags)
{
    struct genlmsghdr *g;

    memset(m, 0, NLMSG_SPACE(GENL_HDRLEN));
    m->nh.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
    m->nh.nlmsg_type = family;
    m->nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    m->nh.nlmsg_seq = 1;
    g = NLMSG_DATA(&m->nh);
    g->cmd = cmd;
    g->version = 1;
}

static int nl_socket(void)
{
    /* The kernel's answer comes after the probe, which a slow host can take seconds
     * over; a lost one must not hang the worker for ever. */
    struct timeval tv = {.tv_sec = 60};
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);

    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends m and reads until the ack. Returns 0 or the kernel's -errno; when reply is
 * given, the first non-ack message is copied there. */
static int nl_talk(int fd, struct nl_msg *m, struct nl_msg *reply)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    bool got_reply = false;

    if (sendto(fd, m, m->nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -errno;
    for (;;) {
        struct nl_msg buf;
        ssize_t n = recv(fd, &buf, sizeof(buf), 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        /* The kernel's messages, each checked against what was read. */
        for (size_t off = 0; off + sizeof(struct nlmsghdr) <= (size_t)n;) {
            const struct nlmsghdr *h = (const struct nlmsghdr *)(buf.buf + off);

            if (h->nlmsg_len < sizeof(*h) || h->nlmsg_len > (size_t)n - off)
                return -EPROTO;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);

                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
                    return -EPROTO;
                return e->error;
            }
            if (reply && !got_reply && h->nlmsg_len <= sizeof(*reply)) {
                memcpy(reply, h, h->nlmsg_len);
                got_reply = true;
            }
            off += NLMSG_ALIGN(h->nlmsg_len);
        }
    }
}

/* The attribute of type t in a generic netlink message, or NULL. */
static const struct nlattr *nl_attr(const struct nl_msg *m, uint16_t t)
{
    size_t off = NLMSG_LENGTH(GENL_HDRLEN);

    while (off + NLA_HDRLEN <= m->nh.nlmsg_len) {
        const struct nlattr *a = (const struct nlattr *)(m->buf + off);

        if (a->nla_len < NLA_HDRLEN || off + a->nla_len > m->nh.nlmsg_len)
            return NULL;
        if ((a->nla_type & NLA_TYPE_MASK) == t)
            return a;
        off += NLA_ALIGN(a->nla_len);
    }
    return NULL;
}

/* Opens a socket and finds the vdpa family. Returns the fd, *family set, or -errno
 * with why. */
static int vdpa_open(uint16_t *family, char *why, size_t why_len)
{
    struct nl_msg m, reply;
    const struct nlattr *a;
    int fd, rc;

    if ((fd = nl_socket()) < 0) {
        snprintf(why, why_len, "netlink socket: %s", strerror(-fd));
        return fd;
    }
    nl_init(&m, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
    nl_put_str(&m, CTRL_ATTR_FAMILY_NAME, VDPA_GENL_NAME);
    memset(&reply, 0, sizeof(reply));
    rc = nl_talk(fd, &m, &reply);
    if (rc == -ENOENT) {
        snprintf(why, why_len,
                 "the kernel has no vDPA bus (generic netlink family '%s' missing): modprobe "
                 "vduse (it loads vdpa)",
                 VDPA_GENL_NAME);
    } else if (rc < 0) {
        snprintf(why, why_len, "netlink: looking up family '%s': %s", VDPA_GENL_NAME,
                 strerror(-rc));
    } else if (!(a = nl_attr(&reply, CTRL_ATTR_FAMILY_ID)) || a->nla_len < NLA_HDRLEN + 2) {
        snprintf(why, why_len, "netlink: no id in the reply for family '%s'", VDPA_GENL_NAME);
        rc = -EPROTO;
    } else {
        memcpy(family, (const uint8_t *)a + NLA_HDRLEN, 2);
        return fd;
    }
    close(fd);
    return rc;
}

int vs_vdpa_mgmtdev_check(const char *mgmtdev, char *why, size_t why_len)
{
    struct nl_msg m;
    uint16_t family;
    int fd, rc;

    if ((fd = vdpa_open(&family, why, why_len)) < 0)
        return fd;
    nl_init(&m, family, VDPA_CMD_MGMTDEV_GET, 0);
    nl_put_str(&m, VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev);
    rc = nl_talk(fd, &m, NULL);
    close(fd);
    if (rc == -ENODEV)
        snprintf(why, why_len, "the vDPA bus has no management device '%s': modprobe vduse",
                 mgmtdev);
    else if (rc < 0)
        snprintf(why, why_len, "netlink: VDPA_CMD_MGMTDEV_GET %s: %s", mgmtdev, strerror(-rc));
    return rc;
}

int vs_vdpa_dev_new(const char *mgmtdev, const char *name, char *why, size_t why_len)
{
    struct nl_msg m;
    uint16_t family;
    int fd, rc;

    if ((fd = vdpa_open(&family, why, why_len)) < 0)
        return fd;
    nl_init(&m, family, VDPA_CMD_DEV_NEW, 0);
    nl_put_str(&m, VDPA_ATTR_MGMTDEV_DEV_NAME, mgmtdev);
    nl_put_str(&m, VDPA_ATTR_DEV_NAME, name);
    rc = nl_talk(fd, &m, NULL);
    close(fd);
    if (rc == -EEXIST)
        snprintf(why, why_len, "a vDPA device named '%s' is already on the bus", name);
    else if (rc < 0)
        snprintf(why, why_len, "VDPA_CMD_DEV_NEW %s (mgmtdev %s): %s", name, mgmtdev,
                 strerror(-rc));
    return rc;
}

int vs_vdpa_dev_del(const char *name, char *why, size_t why_len)
{
    struct nl_msg m;
    uint16_t family;
    int fd, rc;

    if ((fd = vdpa_open(&family, why, why_len)) < 0)
        return fd;
    nl_init(&m, family, VDPA_CMD_DEV_DEL, 0);
    nl_put_str(&m, VDPA_ATTR_DEV_NAME, name);
    rc = nl_talk(fd, &m, NULL);
    close(fd);
    if (rc < 0 && rc != -ENODEV)
        snprintf(why, why_len, "VDPA_CMD_DEV_DEL %s: %s", name, strerror(-rc));
    return rc;
}
