"""Running one case: the runner's side of the sandbox (a child program is boot.py).

Per case, in the runner (root locally; whatever Cloud Run gives in the cloud):
1. a mount point directory under the work root;
2. the child is forked; between fork and exec (`_preexec`, no imports, no locks) it enters new
   mount, network, IPC, UTS and PID namespaces where the OS allows, mounts a private tmpfs with a
   size and inode quota on the mount point (the solution's only writable place; it vanishes with
   the namespace), drops to an unprivileged uid of its own, sets rlimits and reports what held;
3. it execs the sandbox runtime (an interpreter readable by that uid) with `-I -S -B -c boot.py`;
4. the runner writes two frames on its stdin (the case without its tests, then the tests), reads
   the verdict frame from its stdout, and SIGKILLs the whole process group at the deadline;
5. it reaps the child, kills any descendant left, and removes the mount point; nothing here
   raises for anything the solution did.
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import resource
import selectors
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOT_SOURCE = (Path(__file__).with_name("boot.py")).read_text(encoding="utf-8")
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
NAMESPACES = ((CLONE_NEWNS, "mnt"), (CLONE_NEWNET, "net"), (CLONE_NEWIPC, "ipc"),
              (CLONE_NEWUTS, "uts"), (CLONE_NEWPID, "pid"))
# What the interpreter may read besides its own prefix (system libraries, the loader's cache)
SYSTEM_READ_PATHS = ("/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime")
_READ_CHUNK = 65536
_KILL_GRACE_S = 1.0


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 5.0
    memory_mb: int = 512          # address space per process (judge and solution each)
    max_threads: int = 16         # RLIMIT_NPROC: the uid is the case's own, so this is per case
    max_file_bytes: int = 4 * 1024 * 1024
    workdir_bytes: int = 8 * 1024 * 1024
    workdir_inodes: int = 256
    max_open_files: int = 64
    max_verdict_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class Runtime:
    python: str
    version: str
    read_paths: tuple[str, ...]


@dataclass
class Outcome:
    verdict: dict[str, Any] | None
    timed_out: bool
    exit_code: int | None
    killed_reason: str | None
    stderr: str
    wall_s: float
    namespaces: list[str] = field(default_factory=list)
    workdir_kind: str = "read-only"
    uid: int | None = None
    cleanup_error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)   # what the judge measured (see boot.py)


class RuntimeUnavailable(RuntimeError):
    """No interpreter an unprivileged uid can run."""


def readable_by_others(path: str) -> bool:
    """Every ancestor directory searchable and the path itself readable by 'other'."""
    p = Path(path)
    try:
        for parent in reversed(p.parents):
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(p).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


@functools.lru_cache(maxsize=4)
def find_runtime(configured: str | None) -> Runtime:
    """The interpreter for sandboxed code: `configured`, else this process's own interpreter
    when an unprivileged uid can read it, else the system's /usr/bin/python3."""
    candidates = [configured] if configured else [os.path.realpath(sys.executable), "/usr/bin/python3"]
    problems = []
    for python in candidates:
        python = os.path.realpath(python)
        if not os.path.isfile(python):
            problems.append(f"{python}: not found")
            continue
        probe = ("import json, sys, sysconfig; p = sysconfig.get_paths(); print(json.dumps("
                 "[sys.version.split()[0], sys.version_info >= (3, 8), sorted({sys.prefix, sys.base_prefix, "
                 "sys.exec_prefix, p['stdlib'], p['platstdlib']})]))")
        try:
            out = subprocess.run([python, "-I", "-S", "-c", probe], capture_output=True, text=True,
                                 timeout=20, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
            version, recent, prefixes = json.loads(out.stdout)
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            problems.append(f"{python}: does not run ({exc.__class__.__name__})")
            continue
        if not recent:
            problems.append(f"{python}: Python {version} is older than 3.8 (no audit hooks)")
            continue
        unreadable = [p for p in [python, *prefixes] if not readable_by_others(p)]
        if unreadable:
            problems.append(f"{python}: not readable by an unprivileged uid ({', '.join(unreadable)})")
            continue
        paths = tuple(dict.fromkeys([*(os.path.realpath(p) for p in prefixes), os.path.dirname(python),
                                     *SYSTEM_READ_PATHS]))
        return Runtime(python=python, version=version, read_paths=paths)
    raise RuntimeUnavailable("no interpreter for the sandbox: " + "; ".join(problems)
                             + " (set SANDBOX_PYTHON to a world-readable Python 3.8+)")


def frame(obj: Any) -> bytes:
    data = json.dumps(obj).encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def read_frames(raw: bytes) -> list[dict[str, Any]]:
    """The complete frames of the judge's stdout (an unreadable one ends the list)."""
    frames, pos = [], 0
    while pos + 4 <= len(raw):
        n = int.from_bytes(raw[pos:pos + 4], "big")
        if pos + 4 + n > len(raw):
            break
        try:
            value = json.loads(raw[pos + 4:pos + 4 + n])
        except ValueError:
            break
        if not isinstance(value, dict):
            break
        frames.append(value)
        pos += 4 + n
    return frames


# --- between fork and exec -----------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _make_preexec(uid: int | None, mountpoint: bytes, tmpfs_options: bytes,
                  limits: list[tuple[int, int]], report_fd: int):
    libc = _libc()
    unshare, mount = libc.unshare, libc.mount
    setrlimit, write, chdir = resource.setrlimit, os.write, os.chdir
    root = os.geteuid() == 0

    def preexec() -> None:  # runs in the child between fork and exec: no imports, no locks
        held = []
        if root:
            for flag, name in NAMESPACES:
                if unshare(flag) == 0:
                    held.append(name)
        tmpfs = b"0"
        if "mnt" in held and mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0 and \
                mount(b"tmpfs", mountpoint, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmpfs_options) == 0:
            tmpfs = b"1"
        chdir(mountpoint)
        if root and uid is not None:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            except OSError:
                pass          # the judge sees uid 0 and refuses to run the solution
        for res, value in limits:  # after setuid: RLIMIT_NPROC counts this uid's processes
            try:
                setrlimit(res, (value, value))
            except (OSError, ValueError):
                pass
        os.umask(0o077)
        try:
            write(report_fd, tmpfs + b"|" + ",".join(held).encode())
        except OSError:
            pass
    return preexec


# --- processes -----------------------------------------------------------------------------
def live_group_members(pgid: int) -> list[int]:
    """Pids of non-zombie processes in process group `pgid`."""
    return [pid for pid, state, _ppid, pgrp in _processes() if pgrp == str(pgid) and state not in ("Z", "X")]


@functools.lru_cache(maxsize=1)
def become_subreaper() -> bool:
    """Orphans of a sandbox (the solution process outlives a killed judge) are reparented to
    this process instead of init, so they are reaped at once: an unreaped zombie still counts
    against its uid's RLIMIT_NPROC, and some inits reap late."""
    PR_SET_CHILD_SUBREAPER = 36
    return _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _processes() -> Any:
    """(pid, state, ppid, pgrp) of every process, from /proc/<pid>/stat."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat_line = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat_line[stat_line.rfind(")") + 2:].split()
        if len(fields) > 2:
            yield int(entry), fields[0], fields[1], fields[2]


def reap_orphans(pgid: int) -> int:
    """Reap dead processes of group `pgid` that were reparented to this process."""
    me, reaped = str(os.getpid()), 0
    for pid, _state, ppid, pgrp in list(_processes()):
        if ppid == me and pgrp == str(pgid):
            try:
                os.waitpid(pid, 0)   # killed already: returns at once
                reaped += 1
            except ChildProcessError:
                pass
    return reaped


def kill_group(pgid: int, wait_s: float = 0.0) -> None:
    """SIGKILL the group; with wait_s, also wait until no live member is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + wait_s
    delay = 0.001
    while time.monotonic() < deadline:
        if not live_group_members(pgid):
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return


def remove_tree(path: str) -> str | None:
    """Remove `path` whatever is inside (deep trees, read-only modes, immutable flags), without
    recursion and without raising. Returns None, or what could not be removed."""
    try:
        os.rmdir(path)   # the usual case: the tmpfs vanished with its namespace
        return None
    except FileNotFoundError:
        return None
    except OSError:
        pass
    stack, failures = [path], 0
    while stack:
        current = stack[-1]
        try:
            _clear_flags(current)
            os.chmod(current, 0o700)
            entries = list(os.scandir(current))
        except OSError:
            entries = []
        pushed = False
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    pushed = True
                    continue
                _clear_flags(entry.path)
                os.unlink(entry.path)
            except OSError:
                failures += 1
        if pushed and failures < 10_000:
            continue
        stack.pop()
        try:
            os.rmdir(current)
        except OSError:
            failures += 1
    return None if not os.path.lexists(path) else f"could not remove {path} ({failures} failures)"


def _clear_flags(path: str) -> None:
    """Clear immutable/append-only inode flags (FS_IOC_SETFLAGS 0) on a file the solution made."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        fcntl.ioctl(fd, 0x40086602, b"\0" * 8)
    except OSError:
        pass
    finally:
        os.close(fd)


def run_case(runtime: Runtime, bpf: bytes, required: list[str], limits: Limits, uid: int | None,
             case: dict[str, Any], tests: dict[str, Any], work_root: str | None = None) -> Outcome:
    """Run one case in the sandbox. `case` is sent first (solution, setup), `tests` after the
    judge has forked the solution process. Never raises for anything the solution does."""
    become_subreaper()
    mountpoint = tempfile.mkdtemp(prefix="sbx-", dir=work_root)
    started = time.monotonic()
    pgid = None
    outcome = Outcome(verdict=None, timed_out=False, exit_code=None, killed_reason=None, stderr="",
                      wall_s=0.0, uid=uid)
    try:
        os.chmod(mountpoint, 0o755)
        tmpfs_options = (f"size={limits.workdir_bytes},nr_inodes={limits.workdir_inodes},mode=0700,"
                         f"uid={uid if uid is not None else os.geteuid()},"
                         f"gid={uid if uid is not None else os.getegid()}").encode()
        rl = [(resource.RLIMIT_CPU, int(limits.timeout_s + 0.999) + 1),
              (resource.RLIMIT_AS, limits.memory_mb * 1024 * 1024),
              (resource.RLIMIT_FSIZE, limits.max_file_bytes),
              (resource.RLIMIT_NOFILE, limits.max_open_files),
              (resource.RLIMIT_CORE, 0),
              (resource.RLIMIT_NPROC, limits.max_threads)]
        report_r, report_w = os.pipe()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": mountpoint, "TMPDIR": mountpoint}
        try:
            proc = subprocess.Popen(
                [runtime.python, "-I", "-S", "-B", "-c", BOOT_SOURCE], cwd=mountpoint, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True, close_fds=True,
                preexec_fn=_make_preexec(uid, mountpoint.encode(), tmpfs_options, rl, report_w))
        finally:
            os.close(report_w)
        try:
            report = os.read(report_r, 256).decode("ascii", "replace")
        finally:
            os.close(report_r)
        pgid = proc.pid
        tmpfs, _, held = report.partition("|")
        outcome.namespaces = [n for n in held.split(",") if n]
        outcome.workdir_kind = "tmpfs" if tmpfs == "1" else "read-only"
        header = {**case, "required": required, "namespaces": outcome.namespaces,
                  "workdir_kind": outcome.workdir_kind, "workdir": os.path.realpath(mountpoint),
                  "read_paths": list(runtime.read_paths),
                  "write_paths": [os.path.realpath(mountpoint)] if tmpfs == "1" else [],
                  "seccomp_bpf": bpf.hex()}
        stdin = frame(header) + frame(tests)

        fired = threading.Event()
        reaped = threading.Lock()

        def on_deadline() -> None:
            with reaped:
                if proc.returncode is None:
                    fired.set()
                    kill_group(pgid)
        killer = threading.Timer(limits.timeout_s, on_deadline)
        killer.daemon = True
        killer.start()

        def leader_exited() -> bool:
            try:
                return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                return True

        out, err = _pump(proc, stdin, limits.max_verdict_bytes, started + limits.timeout_s + _KILL_GRACE_S,
                         leader_exited, lambda: kill_group(pgid))
        # descendants are killed BEFORE the leader is reaped: its zombie keeps the group id reserved
        kill_group(pgid, wait_s=2.0)
        with reaped:
            try:
                _pid, status, _usage = os.wait4(proc.pid, 0)
                proc.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            except ChildProcessError:  # pragma: no cover - reaped elsewhere
                proc.returncode = 0
            reap_orphans(pgid)
            pgid = None
        killer.cancel()
        outcome.exit_code = proc.returncode
        outcome.timed_out = fired.is_set()
        outcome.stderr = err.decode("utf-8", "replace")[-4000:]
        frames = read_frames(out)
        outcome.facts = next((f["isolation"] for f in reversed(frames) if isinstance(f.get("isolation"), dict)), {})
        outcome.verdict = next((f for f in reversed(frames) if "passed" in f or "sandbox_unavailable" in f), None)
        outcome.killed_reason = _killed_reason(outcome.exit_code, outcome.timed_out)
        return outcome
    except OSError as exc:   # the runner could not start the child at all
        outcome.stderr = f"sandbox start failed: {exc}"
        return outcome
    finally:
        if pgid is not None:
            kill_group(pgid, wait_s=2.0)
            reap_orphans(pgid)
        outcome.wall_s = time.monotonic() - started
        outcome.cleanup_error = remove_tree(mountpoint)


def _pump(proc: Any, stdin: bytes, cap: int, hard_deadline: float, leader_exited: Any,
          kill: Any) -> tuple[bytes, bytes]:
    """Feed stdin and read stdout/stderr until EOF, keeping at most `cap` bytes of each."""
    group_killed = False
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    pending = stdin
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
    open_reads = len(bufs)
    try:
        while open_reads:
            remaining = hard_deadline - time.monotonic()
            if remaining <= 0:
                break
            events = sel.select(timeout=min(remaining, 0.05))
            if not events and not group_killed and leader_exited():
                kill()
                group_killed = True
            for key, _ in events:
                fd = key.fd
                if fd in bufs:
                    try:
                        chunk = os.read(fd, _READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(fd)
                        open_reads -= 1
                        continue
                    buf = bufs[fd]
                    if len(buf) < cap:
                        buf += chunk[:cap - len(buf)]
                else:
                    try:
                        pending = pending[os.write(fd, pending[:_READ_CHUNK]):]
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        pending = b""
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
    finally:
        sel.close()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            if f is not None and not f.closed:
                try:
                    f.close()
                except OSError:
                    pass
    return bytes(bufs[out_fd]), bytes(bufs[err_fd])


def _killed_reason(exit_code: int | None, timed_out: bool) -> str | None:
    if timed_out:
        return "timeout"
    if exit_code is None or exit_code >= 0:
        return None
    sig = -exit_code
    if sig == signal.SIGXCPU:
        return "cpu limit"
    try:
        return f"signal {signal.Signals(sig).name}"
    except ValueError:
        return f"signal {sig}"
