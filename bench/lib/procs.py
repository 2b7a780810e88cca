"""Child processes of the benchmark: started in their own session, tied to our
lifetime (PR_SET_PDEATHSIG), stopped by their own PID with SIGTERM and, after a
timeout, SIGKILL to their process group. Every process started here is stopped
by stop_all(), which run.py calls on any exit path. DPDK leaves hugepage files
and a runtime directory behind per --file-prefix; cleanup_dpdk_prefix removes
ours once the process is gone, so no hugepage leaks from run to run."""

import ctypes
import glob
import os
import re
import shutil
import signal
import subprocess
import time

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_live = []
NICE = 0  # run.py --nice: scheduling weight of every child against other work


def _child_setup():
    # If the benchmark dies (even SIGKILL), the kernel sends SIGTERM to the
    # child: nothing keeps polling a core after us.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if NICE:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


class Proc:
    """One child process; stdout/stderr go to `log` unless `pipe` is set."""

    def __init__(self, name, argv, log, pipe=False, env=None, cwd=None):
        self.name = name
        self.argv = argv
        self.log = log
        self._logf = open(log, "ab")
        kw = dict(stdin=subprocess.PIPE if pipe else subprocess.DEVNULL,
                  stdout=subprocess.PIPE if pipe else self._logf,
                  stderr=subprocess.STDOUT, env=env, cwd=cwd,
                  start_new_session=True, preexec_fn=_child_setup)
        self._logf.write(("$ " + " ".join(argv) + "\n").encode())
        self._logf.flush()
        self.p = subprocess.Popen(argv, **kw)
        self.pid = self.p.pid
        _live.append(self)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=10.0):
        """SIGTERM, wait up to `timeout`, then SIGKILL the process group.
        Returns the exit status (negative: killed by that signal)."""
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(5)
        # Anything the child left in its own session (it was the leader).
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self in _live:
            _live.remove(self)
        try:
            self._logf.close()
        except OSError:
            pass
        return self.p.returncode

    def tail(self, n=25):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""


def stop_all():
    for p in reversed(list(_live)):
        p.stop(timeout=5)


def run(argv, timeout=20, check=True, env=None):
    """Run a short command (ovs-vsctl, vswitchctl...) with a timeout; returns
    its stdout as text."""
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                               r.stderr.decode(errors="replace").strip()))
    return r.stdout.decode(errors="replace")


def wait_for(pred, timeout, what, proc=None, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError("%s exited (status %s) while waiting for %s; log %s:\n%s" %
                               (proc.name, proc.p.returncode, what, proc.log, proc.tail()))
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(step)


def cleanup_dpdk_prefix(prefix, huge_dirs=("/dev/hugepages",)):
    """Remove what a DPDK process with --file-prefix `prefix` left behind."""
    for d in huge_dirs:
        for f in glob.glob(os.path.join(d, prefix + "map_*")):
            try:
                os.unlink(f)
            except OSError:
                pass
    shutil.rmtree(os.path.join("/var/run/dpdk", prefix), ignore_errors=True)


def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def sched_sample(pids):
    """{thread id: (ns on a CPU, ns runnable but waiting for a CPU)} for all
    threads of `pids`, from /proc/PID/task/TID/schedstat."""
    out = {}
    for pid in pids:
        try:
            tasks = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for t in tasks:
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    v = f.read().split()
                out[int(t)] = (int(v[0]), int(v[1]))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _busiest_thread(a, b):
    """Between two sched_sample()s: (ns on a CPU, ns waiting) of the thread
    that ran the most (the poller, PMD or forwarding lcore), or None."""
    best = None
    for tid, (run1, wait1) in b.items():
        if tid in a:
            d = (run1 - a[tid][0], wait1 - a[tid][1])
            if best is None or d[0] > best[0]:
                best = d
    return best


def busiest_thread_wait(a, b, seconds):
    """The share of the window that the busiest thread sat runnable while
    other programs had its CPU."""
    best = _busiest_thread(a, b)
    return round(best[1] / 1e9 / seconds, 3) if best else None


def busiest_thread_run(a, b, seconds):
    """The share of the window that the busiest thread was on a CPU: what a
    switch's forwarding thread took from whoever shares its core."""
    best = _busiest_thread(a, b)
    return round(min(1.0, best[0] / 1e9 / seconds), 3) if best else None


def sweep_stale(tag="vsbench"):
    """Remove what an earlier benchmark run killed with SIGKILL left behind:
    DPDK runtime directories and hugepage files, network namespaces. Names
    carry the owning run's PID (tag + PID + "-..."); only those whose run is
    gone are touched."""
    def dead(name):
        digits = re.match(re.escape(tag) + r"(\d+)-", name)
        if not digits:
            return False
        return not os.path.exists("/proc/" + digits.group(1))

    removed = []
    for name in os.listdir("/var/run/dpdk") if os.path.isdir("/var/run/dpdk") else []:
        if dead(name):
            shutil.rmtree(os.path.join("/var/run/dpdk", name), ignore_errors=True)
            removed.append(name)
    for d in ("/dev/hugepages",):
        for name in os.listdir(d) if os.path.isdir(d) else []:
            if dead(name):
                try:
                    os.unlink(os.path.join(d, name))
                    removed.append(name)
                except OSError:
                    pass
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if dead(name):
            subprocess.run(["ip", "netns", "del", name], stderr=subprocess.DEVNULL, timeout=10)
            removed.append(name)
    return removed
