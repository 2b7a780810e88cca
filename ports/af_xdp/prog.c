#include <errno.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "ports/af_xdp/prog.h"
#include "vswitch/log.h"

/* The kernel keeps 15 characters of a program's name: this one fits whole. */
#define PROG_NAME "vs_xsk_redirect"
#define OWNER_MAP "vs_owner"
#define XSKS_MAP "vs_xsks"

/* The value of vs_owner in redirect.bpf.c. */
struct owner {
    uint32_t pid;
    uint32_t pad;
    uint64_t passed;
};

/* redirect.bpf.c as built by ports/af_xdp/CMakeLists.txt. */
extern const unsigned char vs_xdp_redirect_obj[];
extern const size_t vs_xdp_redirect_obj_len;

struct vs_xdp_prog {
    struct bpf_object *obj;
    struct xdp_program *prog;
    int ifindex;
    enum xdp_attach_mode mode;
    bool dispatched;
    char why_alone[256]; /* not dispatched: why, with the fix */
};

/* libxdp falls back to attaching a program alone, without its dispatcher, and
 * says why only in its debug output: the line before "Falling back" is kept
 * here (main thread only) to tell the user, and the kernel's refusal of the
 * dispatcher for good, because libxdp checks that once per process. */
static char libxdp_prev[256], libxdp_fallback[256], libxdp_refused[256];
#define COMPAT_FAILED "Compatibility check for dispatcher program failed: "

/* libxdp and libbpf explain their failures at length (verifier logs, bpffs
 * probing); the port says what went wrong in its own words, so theirs go to the
 * debug log. */
static void lib_line(char *line, size_t size, const char *fmt, va_list ap)
{
    size_t n;

    vsnprintf(line, size, fmt, ap);
    n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = '\0';
}

static int lib_print(const char *lib, const char *fmt, va_list ap)
{
    char line[512];

    if (vs_log_get_level() < VS_LOG_DEBUG)
        return 0;
    lib_line(line, sizeof(line), fmt, ap);
    vs_debug("%s: %s", lib, line);
    return 0;
}

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    char line[sizeof(libxdp_prev)];
    const char *c;
    va_list copy;

    va_copy(copy, ap);
    lib_line(line, sizeof(line), fmt, copy);
    va_end(copy);
    if ((c = strstr(line, COMPAT_FAILED)))
        snprintf(libxdp_refused, sizeof(libxdp_refused), "%s", c + sizeof(COMPAT_FAILED) - 1);
    if (strstr(line, "Falling back to loading single prog without dispatcher"))
        snprintf(libxdp_fallback, sizeof(libxdp_fallback), "%s", libxdp_prev);
    snprintf(libxdp_prev, sizeof(libxdp_prev), "%s",
             strncmp(line, "libxdp: ", 8) ? line : line + 8);
    return lib_print("libxdp", fmt, ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    return lib_print("libbpf", fmt, ap);
}

static void quiet_libs(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    libxdp_set_print(libxdp_print);
    libbpf_set_print(libbpf_print);
}

/* The pid recorded in a loaded program of ours, 0 when unknown. */
static unsigned prog_owner(int prog_fd)
{
    struct bpf_prog_info info = {0};
    uint32_t ids[8], len = sizeof(info);
    struct owner owner = {0};

    info.nr_map_ids = VS_ARRAY_SIZE(ids);
    info.map_ids = (uint64_t)(uintptr_t)ids;
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0)
        return 0;
    for (uint32_t i = 0; i < info.nr_map_ids && i < VS_ARRAY_SIZE(ids); i++) {
        struct bpf_map_info mi = {0};
        uint32_t mlen = sizeof(mi), key = 0;
        int fd = bpf_map_get_fd_by_id(ids[i]);

        if (fd < 0)
            continue;
        if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) && !strcmp(mi.name, OWNER_MAP))
            bpf_map_lookup_elem(fd, &key, &owner);
        close(fd);
    }
    return owner.pid;
}

static bool pid_alive(unsigned pid) { return pid && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

/* Removes our programs from ifindex whose vswitchd is gone. -EBUSY (err filled)
 * when one belongs to a vswitchd that still runs; else how many were removed. */
static int clean_ifindex(int ifindex, const char *ifname, struct vs_port_err *err)
{
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    struct xdp_program *stale[16];
    enum xdp_attach_mode mode;
    int n = 0, rc = 0;

    if (libxdp_get_error(mp) || !mp)
        return 0;
    mode = xdp_multiprog__attach_mode(mp);
    if (xdp_multiprog__is_legacy(mp)) {
        struct xdp_program *p = xdp_multiprog__main_prog(mp);

        if (p && !strcmp(xdp_program__name(p), PROG_NAME))
            stale[n++] = p;
    } else {
        for (struct xdp_program *p = xdp_multiprog__next_prog(NULL, mp); p && n < 16;
             p = xdp_multiprog__next_prog(p, mp))
            if (!strcmp(xdp_program__name(p), PROG_NAME))
                stale[n++] = p;
    }
    for (int i = 0; i < n; i++) {
        unsigned owner = prog_owner(xdp_program__fd(stale[i]));

        if ((pid_t)owner == getpid()) {
            vs_port_err_set(err, -1, "%s is already switched by another port of this vswitchd",
                            ifname);
            rc = -EBUSY;
            goto out;
        }
        if (pid_alive(owner)) {
            vs_port_err_set(err, -1,
                            "%s is already switched by the vswitchd with pid %u (XDP program id "
                            "%u): one vswitchd per interface",
                            ifname, owner, xdp_program__id(stale[i]));
            rc = -EBUSY;
            goto out;
        }
        rc = xdp_program__detach(stale[i], ifindex, mode, 0);
        if (rc < 0) {
            vs_warn("%s: cannot remove the XDP program (id %u) a vswitchd with pid %u left "
                    "behind: %s",
                    ifname, xdp_program__id(stale[i]), owner, strerror(-rc));
            continue;
        }
        vs_warn("%s: removed the XDP program (id %u) left behind by a vswitchd (pid %u) that "
                "no longer runs",
                ifname, xdp_program__id(stale[i]), owner);
        rc = 0;
    }
    rc = n;
out:
    xdp_multiprog__close(mp);
    return rc;
}

int vs_xdp_prog_sweep(void)
{
    struct if_nameindex *ifs, *i;
    int n = 0, rc;

    quiet_libs();
    ifs = if_nameindex();
    if (!ifs)
        return 0;
    for (i = ifs; i->if_index; i++)
        if ((rc = clean_ifindex((int)i->if_index, i->if_name, NULL)) > 0)
            n += rc;
    if_freenameindex(ifs);
    return n;
}

static bool have_bpffs(void)
{
    struct statfs s;

    return statfs("/sys/fs/bpf", &s) == 0 && s.f_type == BPF_FS_MAGIC;
}

/* Why libxdp attached the program without its dispatcher, and the fix. */
static void explain_alone(char *out, size_t size, bool bpffs)
{
    if (!bpffs)
        snprintf(out, size,
                 "no bpffs at /sys/fs/bpf, which libxdp's dispatcher needs: mount -t bpf bpf "
                 "/sys/fs/bpf lets XDP programs share the interface");
    else if (*libxdp_refused)
        snprintf(out, size,
                 "the kernel refused the freplace program that libxdp's dispatcher is made of "
                 "(%.60s): it needs Linux >= 5.10 with BTF and BPF trampolines allowed",
                 libxdp_refused);
    else if (*libxdp_fallback)
        snprintf(out, size, "libxdp could not load its dispatcher: %.200s", libxdp_fallback);
    else
        snprintf(out, size, "libxdp did not load its dispatcher");
}

static int set_owner(struct vs_xdp_prog *p)
{
    uint32_t key = 0;
    struct owner o = {.pid = (uint32_t)getpid()};
    int fd = bpf_object__find_map_fd_by_name(p->obj, OWNER_MAP);

    if (fd < 0)
        return fd;
    return bpf_map_update_elem(fd, &key, &o, BPF_ANY) < 0 ? -errno : 0;
}

/* What an attach failure means, with the fix. */
static void attach_error(int rc, const char *ifname, enum xdp_attach_mode mode,
                         struct vs_port_err *err)
{
    const char *m = mode == XDP_MODE_NATIVE ? "native" : "generic";

    switch (-rc) {
    case EPERM:
    case EACCES:
        vs_port_err_set(err, -1,
                        "cannot load an XDP program on %s: %s (vswitchd needs CAP_NET_ADMIN, "
                        "CAP_BPF and CAP_NET_RAW: run it as root or grant them)",
                        ifname, strerror(-rc));
        break;
    case EOPNOTSUPP:
        vs_port_err_set(err, -1,
                        "the driver of %s has no %s XDP (mode=generic works with any driver, "
                        "mode=auto picks it)",
                        ifname, m);
        break;
    case EEXIST:
    case EBUSY:
        vs_port_err_set(err, -1,
                        "%s has an XDP program not shareable in %s mode (no libxdp dispatcher, "
                        "or one in the other mode): remove it (xdp-loader unload --all %s) or "
                        "use its mode%s",
                        ifname, m, ifname,
                        have_bpffs() ? "" : "; mount -t bpf bpf /sys/fs/bpf lets them share");
        break;
    default:
        vs_port_err_set(err, -1, "cannot attach an XDP program to %s in %s mode: %s", ifname, m,
                        strerror(-rc));
    }
}

/* A program not attached through libxdp is the interface's only one: ours
 * cannot join it. 0, or -EEXIST with err naming it. */
static int check_foreign(int ifindex, const char *ifname, enum xdp_attach_mode *existing,
                         struct vs_port_err *err)
{
    struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
    int rc = 0;

    *existing = XDP_MODE_UNSPEC;
    if (libxdp_get_error(mp) || !mp)
        return 0;
    if (xdp_multiprog__is_legacy(mp) && xdp_multiprog__main_prog(mp)) {
        struct xdp_program *p = xdp_multiprog__main_prog(mp);

        if (!strcmp(xdp_program__name(p), "xdp_dispatcher"))
            /* Its programs are known only to the bpffs it was loaded with. */
            vs_port_err_set(err, -1,
                            "%s has libxdp's dispatcher (id %u), which a program can join only "
                            "with the bpffs it was loaded with at /sys/fs/bpf%s",
                            ifname, xdp_program__id(p),
                            have_bpffs() ? ": this one is another"
                                         : " (mount -t bpf bpf /sys/fs/bpf)");
        else
            vs_port_err_set(
                err, -1,
                "%s has XDP program '%s' (id %u) attached without libxdp's dispatcher, so it "
                "cannot be shared: remove it (ip link set dev %s xdp off) or load it with "
                "xdp-loader%s",
                ifname, xdp_program__name(p), xdp_program__id(p), ifname,
                have_bpffs() ? "" : " and bpffs mounted (mount -t bpf bpf /sys/fs/bpf)");
        rc = -EEXIST;
    } else if (xdp_multiprog__main_prog(mp)) {
        *existing = xdp_multiprog__attach_mode(mp);
    }
    xdp_multiprog__close(mp);
    return rc;
}

int vs_xdp_prog_attach(int ifindex, const char *ifname, enum vs_xdp_mode mode,
                       struct vs_xdp_prog **out, struct vs_port_err *err)
{
    DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oopts, .object_name = "vs_xdp");
    DECLARE_LIBXDP_OPTS(xdp_program_opts, popts, .prog_name = PROG_NAME);
    enum xdp_attach_mode modes[2], existing;
    struct vs_xdp_prog *p;
    int n_modes = 0, last = 0, rc;

    quiet_libs();
    if ((rc = clean_ifindex(ifindex, ifname, err)) < 0)
        return rc;
    if ((rc = check_foreign(ifindex, ifname, &existing, err)) < 0)
        return rc;
    if (mode == VS_XDP_MODE_NATIVE)
        modes[n_modes++] = XDP_MODE_NATIVE;
    else if (mode == VS_XDP_MODE_GENERIC)
        modes[n_modes++] = XDP_MODE_SKB;
    else if (existing == XDP_MODE_NATIVE || existing == XDP_MODE_SKB)
        modes[n_modes++] = existing; /* a dispatcher runs in one mode for all */
    else {
        modes[n_modes++] = XDP_MODE_NATIVE;
        modes[n_modes++] = XDP_MODE_SKB;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->ifindex = ifindex;
    p->obj = bpf_object__open_mem(vs_xdp_redirect_obj, vs_xdp_redirect_obj_len, &oopts);
    if (!p->obj) {
        rc = -errno;
        vs_port_err_set(err, -1, "cannot open the built-in XDP program: %s", strerror(-rc));
        goto fail;
    }
    popts.obj = p->obj;
    p->prog = xdp_program__create(&popts);
    if ((rc = (int)libxdp_get_error(p->prog)) || !p->prog) {
        p->prog = NULL;
        rc = rc ? rc : -ENOMEM;
        vs_port_err_set(err, -1, "cannot prepare the built-in XDP program: %s", strerror(-rc));
        goto fail;
    }
    libxdp_fallback[0] = '\0';
    for (int i = 0; i < n_modes; i++) {
        last = i;
        rc = xdp_program__attach(p->prog, ifindex, modes[i], 0);
        if (!rc) {
            p->mode = modes[i];
            break;
        }
        vs_debug("%s: XDP attach in %s mode: %s", ifname,
                 modes[i] == XDP_MODE_NATIVE ? "native" : "generic", strerror(-rc));
        /* Without the right to load programs no other mode does better. */
        if (rc == -EPERM || rc == -EACCES)
            break;
    }
    if (rc) {
        attach_error(rc, ifname, modes[last], err);
        goto fail;
    }
    {
        struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);

        p->dispatched = !libxdp_get_error(mp) && mp && !xdp_multiprog__is_legacy(mp);
        if (!libxdp_get_error(mp))
            xdp_multiprog__close(mp);
    }
    if (!p->dispatched) {
        explain_alone(p->why_alone, sizeof(p->why_alone), have_bpffs());
        vs_warn("%s: the af_xdp port's XDP program is the interface's only one, no other XDP "
                "program can be attached next to it: %s",
                ifname, p->why_alone);
    }
    if ((rc = set_owner(p)) < 0)
        vs_warn("%s: cannot record vswitchd's pid in the XDP program: %s; after a crash it "
                "is removed only by hand (xdp-loader unload)",
                ifname, strerror(-rc));
    if (vs_xdp_prog_xsks_fd(p) < 0) {
        rc = -ENOENT;
        vs_port_err_set(err, -1, "the built-in XDP program has no map " XSKS_MAP);
        vs_xdp_prog_detach(p);
        return rc;
    }
    *out = p;
    return 0;
fail:
    if (p->prog)
        xdp_program__close(p->prog);
    if (p->obj)
        bpf_object__close(p->obj);
    free(p);
    return rc;
}

void vs_xdp_prog_detach(struct vs_xdp_prog *p)
{
    int rc;

    if (!p)
        return;
    rc = xdp_program__detach(p->prog, p->ifindex, p->mode, 0);
    if (rc < 0 && rc != -ENOENT && rc != -ENODEV)
        vs_warn("ifindex %d: cannot detach the XDP program (id %u): %s; remove it with "
                "xdp-loader unload",
                p->ifindex, xdp_program__id(p->prog), strerror(-rc));
    xdp_program__close(p->prog);
    bpf_object__close(p->obj);
    free(p);
}

int vs_xdp_prog_xsks_fd(const struct vs_xdp_prog *p)
{
    return bpf_object__find_map_fd_by_name(p->obj, XSKS_MAP);
}

enum vs_xdp_mode vs_xdp_prog_mode(const struct vs_xdp_prog *p)
{
    return p->mode == XDP_MODE_SKB ? VS_XDP_MODE_GENERIC : VS_XDP_MODE_NATIVE;
}

bool vs_xdp_prog_dispatched(const struct vs_xdp_prog *p) { return p->dispatched; }

const char *vs_xdp_prog_why_alone(const struct vs_xdp_prog *p)
{
    return p->dispatched ? NULL : p->why_alone;
}

unsigned vs_xdp_prog_id(const struct vs_xdp_prog *p) { return xdp_program__id(p->prog); }

uint64_t vs_xdp_prog_passed(const struct vs_xdp_prog *p)
{
    uint32_t key = 0;
    struct owner o = {0};
    int fd = bpf_object__find_map_fd_by_name(p->obj, OWNER_MAP);

    if (fd >= 0)
        bpf_map_lookup_elem(fd, &key, &o);
    return o.passed;
}
