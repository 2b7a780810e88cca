/* symlink_race DIR VICTIM PIDFILE -- PROGRAM [ARGS...]
 *
 * Runs PROGRAM under ptrace and plays a local attacker who may write to DIR
 * and reacts at the worst moment: right after each successful bind() of the
 * program's main thread, every entry of DIR that bind created, and every
 * directory that appeared in DIR since the previous bind, is renamed away and
 * replaced by a symlink to VICTIM. A program that then chmods or chowns the
 * socket by its path name changes VICTIM instead; the test checks VICTIM.
 *
 * Prints "swapped NAME" for each swap on stderr and PROGRAM's pid to PIDFILE;
 * exits with PROGRAM's exit code (128 + signal when killed). Only the thread
 * that starts PROGRAM is traced (sockets are created on the main thread). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NAMES 512

struct listing {
    unsigned n;
    char name[MAX_NAMES][256];
    bool dir[MAX_NAMES];
};

static const char *dir_path, *victim;
static unsigned moved;

static void list_dir(struct listing *l)
{
    DIR *d = opendir(dir_path);
    struct dirent *e;

    l->n = 0;
    if (!d)
        return;
    while ((e = readdir(d)) && l->n < MAX_NAMES) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strncmp(e->d_name, ".moved.", 7))
            continue;
        snprintf(l->name[l->n], sizeof(l->name[0]), "%s", e->d_name);
        l->dir[l->n] = e->d_type == DT_DIR;
        l->n++;
    }
    closedir(d);
}

static bool has(const struct listing *l, const char *name)
{
    for (unsigned i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], name))
            return true;
    return false;
}

static void swap(const char *name)
{
    char from[4096], to[4096];

    snprintf(from, sizeof(from), "%s/%s", dir_path, name);
    snprintf(to, sizeof(to), "%s/.moved.%u", dir_path, moved++);
    if (rename(from, to) || symlink(victim, from)) {
        fprintf(stderr, "symlink_race: swapping %s: %s\n", name, strerror(errno));
        return;
    }
    fprintf(stderr, "symlink_race: swapped %s\n", name);
}

int main(int argc, char **argv)
{
    static struct listing at_entry, at_last_bind, now;
    struct __ptrace_syscall_info info;
    long nr = -1;
    pid_t pid;
    FILE *f;
    int st;

    if (argc < 6 || strcmp(argv[4], "--")) {
        fprintf(stderr, "usage: %s DIR VICTIM PIDFILE -- PROGRAM [ARGS...]\n", argv[0]);
        return 2;
    }
    dir_path = argv[1];
    victim = argv[2];
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        raise(SIGSTOP);
        execv(argv[5], argv + 5);
        perror("execv");
        _exit(127);
    }
    if (waitpid(pid, &st, 0) != pid || !WIFSTOPPED(st))
        return 1;
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL,
               (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL | PTRACE_O_TRACEEXEC))) {
        perror("PTRACE_SETOPTIONS");
        return 1;
    }
    if ((f = fopen(argv[3], "w"))) {
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
    list_dir(&at_last_bind);
    if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL))
        return 1;
    for (;;) {
        int sig = 0;

        if (waitpid(pid, &st, 0) != pid) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (WIFEXITED(st))
            return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
            return 128 + WTERMSIG(st);
        if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
            if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(info), &info) > 0) {
                if (info.op == PTRACE_SYSCALL_INFO_ENTRY) {
                    nr = (long)info.entry.nr;
                    if (nr == SYS_bind)
                        list_dir(&at_entry);
                } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && nr == SYS_bind &&
                           info.exit.rval == 0) {
                    list_dir(&now);
                    for (unsigned i = 0; i < now.n; i++)
                        if (!has(&at_entry, now.name[i]) ||
                            (now.dir[i] && !has(&at_last_bind, now.name[i])))
                            swap(now.name[i]);
                    list_dir(&at_last_bind);
                }
            }
        } else if (WSTOPSIG(st) != SIGTRAP) {
            sig = WSTOPSIG(st); /* a real signal: deliver it */
        }
        if (ptrace(PTRACE_SYSCALL, pid, NULL, (void *)(long)sig) && errno != ESRCH)
            return 1;
    }
}
