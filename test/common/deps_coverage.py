#!/usr/bin/env python3
"""Checks that every command the project's tests, scripts, benchmark and README
need is provided by a Debian package that an install script installs.

A machine that a developer set up by hand can have a package that no script
installs; the suite then passes there and fails on a new machine. This check
makes that mistake visible on the developer's machine too.

Commands come from:
  - `lab_require_cmd` lists in test/ and bench/ shell scripts (must exist),
  - the README's ```sh code blocks (must exist),
  - the benchmark's Python: BENCH_*TOOLS constants, shutil.which("X"), and
    argument lists that start with a command name (must exist),
  - words in command position in test/, scripts/ and bench/ shell scripts
    (checked when they resolve to a program on this machine; a word that does
    not resolve may be text, not a command).
A command is covered when the package owning it is listed in scripts/deps.sh
(BASE_PKGS, BACKPORTS_PKGS) or bench/lib/deps.sh (PKGS), or is a dependency
of a listed package, or has Priority "required" (on every Debian system).

Usage: deps_coverage.py [--root DIR] [--drop PKG]...
  --drop PKG  pretend PKG is not in the install lists (the test uses it to show
              that a missing install step is caught)
Exit 0 when all is covered, 1 otherwise, with one line per problem.
"""
import argparse
import os
import re
import shlex
import subprocess
import sys

SHELL_WORDS = {
    # keywords and builtins: never packages
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "in", "function", "select", "time", "return", "exit", "break", "continue", "local",
    "export", "readonly", "declare", "typeset", "unset", "shift", "set", "trap", "eval", "exec",
    "source", ".", ":", "true", "false", "echo", "printf", "read", "cd", "pwd", "wait", "kill",
    "jobs", "command", "type", "hash", "umask", "ulimit", "let", "test", "[", "[[", "]]", "!",
    "{", "}", "(", ")", "mapfile", "readarray", "getopts", "builtin", "disown", "pushd", "popd",
    "shopt", "alias", "unalias", "caller", "enable", "help", "history", "logout", "times",
}
# The project's own programs: built here (build/), installed by cmake --install or
# the .deb; README examples may run them by name.
OWN_PROGRAMS = {"vswitchd", "vswitchctl"}
# Prefix commands whose argument is itself a command.
WRAPPERS = {"sudo", "env", "timeout", "nice", "stdbuf", "setsid", "nohup", "taskset", "exec",
            "command", "time", "chroot", "unshare", "nsenter", "xargs", "strace"}


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def listed_packages(root, drop):
    """Packages named in the install scripts' arrays."""
    pkgs = set()
    for rel, names in (("scripts/deps.sh", ("BASE_PKGS", "BACKPORTS_PKGS")),
                       ("bench/lib/deps.sh", ("PKGS",))):
        text = re.sub(r"(^|\s)#.*", r"\1", read(os.path.join(root, rel)))
        for name in names:
            m = re.search(r"^\s*%s=\((.*?)\)" % name, text, re.S | re.M)
            if not m:
                sys.exit("%s: no %s=(...) array" % (rel, name))
            pkgs.update(m.group(1).split())
    return pkgs - set(drop)


def dpkg_query(fmt, *pkgs):
    r = subprocess.run(["dpkg-query", "-W", "-f=" + fmt] + list(pkgs), capture_output=True,
                       text=True)
    return r.stdout


def installed_status():
    """name -> (priority, depends string) for every installed package."""
    out = {}
    for line in dpkg_query("${Package}\t${Status}\t${Priority}\t${Depends}, ${Pre-Depends}\n")\
            .splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[1].endswith(" installed"):
            continue
        out[parts[0]] = (parts[2], parts[3])
    return out


def closure(roots, status):
    """The listed packages and everything they depend on (installed alternatives)."""
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        deps = status.get(p, ("", ""))[1]
        for clause in deps.split(","):
            for alt in clause.split("|"):
                name = alt.strip().split(" ", 1)[0].split(":", 1)[0]
                if name and name in status:
                    todo.append(name)
    return seen


_OWNERS = None


def file_owners():
    """path -> package, from dpkg's file lists (one read instead of a dpkg -S per file)."""
    global _OWNERS
    if _OWNERS is None:
        _OWNERS = {}
        info = "/var/lib/dpkg/info"
        for f in os.listdir(info):
            if not f.endswith(".list"):
                continue
            pkg = f[:-5].split(":", 1)[0]
            with open(os.path.join(info, f), encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    _OWNERS.setdefault(line.rstrip("\n"), pkg)
    return _OWNERS


def owner(cmd):
    """The installed Debian package that provides command name cmd, or None."""
    paths = []
    found = subprocess.run(["bash", "-c", 'type -P -- "$1"', "_", cmd], capture_output=True,
                           text=True).stdout.strip()
    if found:
        paths += [found, os.path.realpath(found)]
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        paths.append(os.path.join(d, cmd))
    for p in list(paths):
        if os.path.exists(p):
            paths.append(os.path.realpath(p))
    owners = file_owners()
    for p in paths:
        # usrmerge: a package may own /bin/x while PATH finds /usr/bin/x
        for q in (p, re.sub(r"^/usr/", "/", p), "/usr" + p):
            if os.path.exists(p) and q in owners:
                return owners[q]
    return None


def strip_quoted(line):
    """Removes quoted strings so that their words are not taken as commands."""
    return re.sub(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"", " ", line)


def command_words(line):
    """Words in command position of one shell line (roughly)."""
    line = line.split(" #", 1)[0]
    if line.lstrip().startswith("#"):
        return []
    line = strip_quoted(line)
    words = []
    for seg in re.split(r"\|\||&&|[;|&`]|\$\(|\(|\)|\bthen\b|\bdo\b|\belse\b", line):
        toks = seg.split()
        i = 0
        while i < len(toks):
            t = toks[i]
            if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", t) or t in ("!", "{", "}"):
                i += 1
                continue
            if t in ("if", "while", "until", "elif"):
                i += 1
                continue
            if t in WRAPPERS:
                words.append(t)
                i += 1
                while i < len(toks) and (toks[i].startswith("-") or
                                         re.match(r"^[0-9.]+[smh]?$", toks[i]) or
                                         "=" in toks[i]):
                    i += 1
                continue
            if t == "ip" and i + 3 < len(toks) and toks[i + 1] == "netns" and \
                    toks[i + 2] == "exec":
                words.append("ip")
                i += 4
                continue
            words.append(t)
            break
    return words


def shell_functions(texts):
    names = set()
    for t in texts:
        names.update(re.findall(r"^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)", t, re.M))
    return names


def plausible(word):
    return re.match(r"^[A-Za-z][A-Za-z0-9_.+-]*$", word) and word not in SHELL_WORDS


def collect(root):
    """(required, seen): commands that must exist, and commands seen in scripts."""
    required, seen = {}, {}
    shell_files = []
    for top in ("test", "bench", "scripts", ".ci"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                p = os.path.join(d, f)
                if f.endswith(".sh") or (top == ".ci" and f == "run"):
                    shell_files.append(p)
    texts = {p: read(p) for p in shell_files}
    # A guest's /init and what it sources run inside the guest (busybox), not here.
    texts = {p: t for p, t in texts.items()
             if not re.search(r"/init\b", "\n".join(t.splitlines()[:5]))}
    funcs = shell_functions(texts.values())

    for p, text in texts.items():
        rel = os.path.relpath(p, root)
        joined = text.replace("\\\n", " ")
        for m in re.finditer(r"^[^#\n]*\blab_require_cmd\s+([^\n;#|&]*)", joined, re.M):
            if "()" in m.group(0):
                continue
            for w in m.group(1).split():
                if plausible(w):
                    required.setdefault(w, rel + " (lab_require_cmd)")
        for line in joined.splitlines():
            if "<<" in line:
                continue
            for w in command_words(line):
                if plausible(w) and w not in funcs:
                    seen.setdefault(w, rel)

    readme = read(os.path.join(root, "README.md"))
    for block in re.findall(r"^```(?:sh|bash|shell)\n(.*?)^```", readme, re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            for w in command_words(line):
                if plausible(w) and "/" not in w and w not in OWN_PROGRAMS:
                    required.setdefault(w, "README.md code block")

    for d, _, files in os.walk(os.path.join(root, "bench")):
        for f in files:
            if not f.endswith(".py"):
                continue
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            text = read(p)
            for m in re.finditer(r"^BENCH_\w*TOOLS\s*=\s*\((.*?)\)", text, re.S | re.M):
                for w in re.findall(r'"([^"]+)"', m.group(1)):
                    required.setdefault(w, rel + " (tools)")
            for w in re.findall(r'shutil\.which\("([^"]+)"\)', text):
                required.setdefault(w, rel + " (shutil.which)")
            for w in re.findall(r'\[\s*"([A-Za-z][A-Za-z0-9_.+-]*)"\s*,', text):
                required.setdefault(w, rel + " (argv)")
    return required, seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    ap.add_argument("--drop", action="append", default=[])
    a = ap.parse_args()
    root = os.path.abspath(a.root)

    status = installed_status()
    listed = listed_packages(root, a.drop)
    covered = closure(listed, status)
    required, seen = collect(root)

    problems = []
    checked = 0
    for cmd, where in sorted(required.items()):
        pkg = owner(cmd)
        checked += 1
        if pkg is None:
            problems.append("%s (needed by %s): no installed Debian package provides it; "
                            "add its package to scripts/deps.sh" % (cmd, where))
        elif pkg not in covered and status.get(pkg, ("",))[0] != "required":
            problems.append("%s (needed by %s): comes from package %s, which no install "
                            "script lists; add %s to scripts/deps.sh" % (cmd, where, pkg, pkg))
    for cmd, where in sorted(seen.items()):
        if cmd in required:
            continue
        found = subprocess.run(["bash", "-c", 'type -P -- "$1"', "_", cmd], capture_output=True,
                               text=True).stdout.strip()
        if not found or found.startswith(root):
            continue
        pkg = owner(cmd)
        checked += 1
        if pkg is None:
            continue  # not a packaged program (a build product, a pyenv shim...)
        if pkg not in covered and status.get(pkg, ("",))[0] != "required":
            problems.append("%s (run by %s): comes from package %s, which no install script "
                            "lists; add %s to scripts/deps.sh" % (cmd, where, pkg, pkg))
    for p in problems:
        print(p)
    print("%d commands checked against %d listed packages (%d with dependencies): %d problem(s)"
          % (checked, len(listed), len(covered), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
