"""Run untrusted Python (model-written code) in a child process with OS limits.

`run_python(code)` writes `code` to `main.py` in a fresh temporary directory and runs
`sys.executable -I -S _boot.py` there; `_boot.py` installs the guards below and then executes
`main.py` as `__main__`. The directory is deleted afterwards, whatever happened.

Layers, strongest first (what this machine allows is recorded in every SandboxResult):

1. Process / resource limits, set in `preexec_fn` between fork and exec:
   RLIMIT_CPU (timeout + 1 s, then SIGXCPU), RLIMIT_AS (memory_mb), RLIMIT_FSIZE (max_file_bytes:
   writes beyond it fail with EFBIG), RLIMIT_NOFILE (64), RLIMIT_CORE (0), RLIMIT_NPROC
   (max_processes). RLIMIT_NPROC counts *all* processes and threads of the real user, and the
   kernel does not enforce it at all for root (uid 0 / CAP_SYS_RESOURCE). So when the parent is
   root, the child is switched to `nobody` (setgroups/setgid/setuid in preexec_fn) **if** the
   interpreter and its standard library are readable by others; then RLIMIT_NPROC bites and the
   child cannot read root-only files either. When that is impossible (e.g. a pyenv Python under
   /root, mode 700), the child stays root: `privileges_dropped=False` in the result.
2. Own session / process group (`start_new_session`): on timeout the whole group is SIGKILLed,
   and it is SIGKILLed again after every run, so no stray descendants survive (unless one called
   setsid itself, which the audit hook below refuses because it cannot fork in the first place).
3. Network: in preexec_fn the child enters a new, empty network namespace (unshare(CLONE_NEWNET),
   needs CAP_SYS_ADMIN, so in practice root). Only a down loopback exists there, so every
   connect fails. If unshare is not permitted it is skipped silently; `network_isolated`
   records whether it worked.
4. Empty environment: only PATH=/usr/bin:/bin, LANG=C.UTF-8, HOME and TMPDIR (= the temp dir).
   `-I` ignores PYTHON* variables and the user site; `-S` skips `site` (so no site-packages:
   the child has the standard library only); the script directory is not put on sys.path.
5. An audit hook (sys.addaudithook) installed before the user's code: refuses sockets
   (connect/bind/getaddrinfo/sendto/...), process creation (subprocess.Popen, os.system,
   os.exec*, os.fork/forkpty, os.posix_spawn, _posixsubprocess.fork_exec is replaced by a stub),
   ctypes, resource.setrlimit/prlimit (root could raise hard limits), os.kill of other processes,
   file writes / deletes / renames outside the temp dir, and file reads outside the temp dir,
   the Python installation and a few system data dirs (/usr/lib, /usr/share, ...).
   Blocked operations raise PermissionError. **Audit hooks are a guard, not a security
   boundary**: code running in the same interpreter can in principle defeat them (e.g. by
   writing to /proc/self/mem). Layers 1-4 are the boundary; 5 makes the common cases (an
   innocent `requests.get`, a fork bomb, `shutil.rmtree`) fail fast and clearly even where
   layers 1-3 are not available.
"""
from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
NOBODY_UID = 65534
NOBODY_GID = 65534
_READ_CHUNK = 65536
_KILL_GRACE_S = 1.0          # after the deadline: time allowed for pipes to drain


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None          # Popen convention: -N when killed by signal N
    timed_out: bool
    killed_reason: str | None      # "timeout", "cpu limit", "memory limit", "file size limit", "signal SIGSEGV"...
    stdout: str                    # at most max_output_bytes (decoded, errors replaced)
    stderr: str
    wall_s: float
    cpu_s: float                   # user + system CPU of the child (and its reaped descendants)
    output_truncated: bool         # stdout or stderr exceeded max_output_bytes (rest discarded)
    network_isolated: bool         # the child ran in an empty network namespace
    privileges_dropped: bool       # the child ran as `nobody` (only attempted when the parent is root)
    audit_hook: bool               # the audit-hook guard was installed
    workdir: str                   # the temporary directory (already deleted)
    pid: int = 0                   # the child's pid = its process group / session id (all gone)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# The child's boot script: guards first, then main.py as __main__.
# ---------------------------------------------------------------------------------------------

_BOOT = r'''
def _sandbox_boot(workdir, install_hook):
    import os, sys
    sys.argv = ["main.py"]
    if install_hook:
        import _posixsubprocess

        def _no_fork_exec(*args, **kwargs):
            raise PermissionError("sandbox: _posixsubprocess.fork_exec is not allowed")
        _posixsubprocess.fork_exec = _no_fork_exec

        realpath, join, sep, getpid = os.path.realpath, os.path.join, os.sep, os.getpid
        fspath, getcwd = os.fspath, os.getcwd
        write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
        roots = {realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                       sys.base_exec_prefix)}
        read_roots = tuple(sorted(roots | {"/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64",
                                           "/usr/share", "/dev/null", "/dev/zero", "/dev/urandom",
                                           "/dev/random", "/etc/localtime", "/etc/mime.types",
                                           "/etc/os-release", "/proc/self"})) + (realpath(workdir),)
        write_roots = (realpath(workdir), "/dev/null")
        denied = frozenset((
            "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
            "socket.gethostbyaddr", "socket.gethostbyname_ex", "socket.sendto", "socket.sendmsg",
            "subprocess.Popen", "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn",
            "os.spawn", "os.startfile", "pty.spawn", "resource.setrlimit", "resource.prlimit",
            "sys.remote_exec", "os.setns", "os.unshare"))
        path_events = frozenset((
            "os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.chmod", "os.chown", "os.link",
            "os.symlink", "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.setxattr",
            "os.removexattr", "shutil.rmtree", "os.mkfifo", "os.mknod"))
        from _thread import get_ident
        busy = set()     # threads currently inside the check (the check itself must not recurse)

        def inside(path, allowed):
            if isinstance(path, int):
                return True
            try:
                p = fspath(path)
                if isinstance(p, bytes):
                    p = p.decode("utf-8", "surrogateescape")
                p = realpath(join(getcwd(), p))
            except Exception:
                return False
            return any(p == r or p.startswith(r + sep) for r in allowed)

        def hook(event, args):
            if busy and get_ident() in busy:
                return
            if event in denied or event.startswith("ctypes.") or (
                    event == "import" and args and args[0] in ("_posixsubprocess", "_ctypes", "ctypes")):
                what = f"import {args[0]}" if event == "import" else event
                raise PermissionError(f"sandbox: {what} is not allowed")
            if event in ("os.kill", "os.killpg", "signal.pthread_kill"):
                if event != "os.kill" or args[0] != getpid():
                    raise PermissionError(f"sandbox: {event} is not allowed")
                return
            if event == "open" or event in path_events:
                me = get_ident()
                busy.add(me)
                try:
                    if event == "open":
                        path, mode, flags = (tuple(args) + (None, None, None))[:3]
                        writing = (isinstance(flags, int) and flags >= 0 and flags & write_flags) or (
                            isinstance(mode, str) and any(c in mode for c in "wax+"))
                        ok = inside(path, write_roots if writing else read_roots)
                    else:
                        ok = all(inside(a, write_roots) for a in args
                                 if isinstance(a, (str, bytes)) or hasattr(a, "__fspath__"))
                finally:
                    busy.discard(me)
                if not ok:
                    raise PermissionError(f"sandbox: {event} outside the sandbox directory is not allowed")
        sys.addaudithook(hook)
    with open("main.py", "rb") as f:
        source = f.read()
    return compile(source, "main.py", "exec", dont_inherit=True)


__file__ = "main.py"
exec(globals().pop("_sandbox_boot")(%(workdir)r, %(install_hook)r))
'''
# Note: `exec(<code>)` runs main.py in this module's own globals (this module is __main__),
# so pickling, `if __name__ == "__main__":` and tracebacks ("main.py", line N) behave normally.


# ---------------------------------------------------------------------------------------------
# Isolation capabilities of this machine
# ---------------------------------------------------------------------------------------------

_unshare_fn: Any = None


def _get_unshare() -> Any:
    """os.unshare (3.12+) or libc unshare via ctypes; None when unavailable. Resolved in the
    parent so that the forked child does no imports."""
    global _unshare_fn
    if _unshare_fn is None:
        if hasattr(os, "unshare"):
            _unshare_fn = os.unshare
        elif sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                raw = libc.unshare

                def _unshare(flags: int) -> None:
                    if raw(flags) != 0:
                        raise OSError(ctypes.get_errno(), "unshare failed")
                _unshare_fn = _unshare
            except (OSError, AttributeError):
                _unshare_fn = False
        else:
            _unshare_fn = False
    return _unshare_fn or None


def _readable_by_others(path: str) -> bool:
    """Every ancestor directory searchable and the path itself readable by 'other'."""
    p = Path(path)
    try:
        for parent in [*reversed(p.parents)]:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(p).st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH) and (not stat.S_ISDIR(mode) or bool(mode & stat.S_IXOTH))


_drop_ok: bool | None = None


def can_drop_privileges() -> bool:
    """True when the parent is root and `nobody` can run this interpreter and read its stdlib."""
    global _drop_ok
    if _drop_ok is None:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            _drop_ok = False
        else:
            import sysconfig

            paths = [sys.executable, os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
                     sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]]
            cfg = Path(sys.prefix) / "pyvenv.cfg"
            if cfg.exists():
                paths.append(str(cfg))
            _drop_ok = all(_readable_by_others(p) for p in paths)
    return _drop_ok


def _limit(res: int, value: int) -> tuple[int, int, int]:
    """(resource, soft, hard) no higher than the current hard limit (only root may raise it)."""
    _soft, hard = resource.getrlimit(res)
    if hard != resource.RLIM_INFINITY and os.geteuid() != 0:
        value = min(value, hard)
    return res, value, value


def _make_preexec(limits: list[tuple[int, int, int]], isolate_network: bool, drop: bool,
                  report_fd: int):
    unshare = _get_unshare() if isolate_network else None
    setrlimit, write = resource.setrlimit, os.write

    def preexec() -> None:  # runs in the child between fork and exec: no imports, no locks
        net = b"0"
        if unshare is not None:
            try:
                unshare(CLONE_NEWNET)
                net = b"1"
            except Exception:
                pass
        dropped = b"0"
        if drop:
            try:
                os.setgroups([])
                os.setgid(NOBODY_GID)
                os.setuid(NOBODY_UID)
                dropped = b"1"
            except Exception:
                pass
        for res, soft, hard in limits:    # after setuid: RLIMIT_NPROC then counts nobody's processes
            try:
                setrlimit(res, (soft, hard))
            except Exception:
                pass
        os.umask(0o077)
        try:
            write(report_fd, net + dropped)
        except Exception:
            pass
    return preexec


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------

def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _remove_tree(path: str) -> None:
    def onerror(func, p, _exc):  # a child may leave read-only dirs behind
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700)
            func(p)
        except OSError:
            pass
    shutil.rmtree(path, onerror=onerror)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


def live_group_members(pgid: int) -> list[int]:
    """Pids of processes in process group `pgid` that are not zombies (a killed orphan stays a
    zombie, holding nothing but a pid, until init reaps it)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat_line = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat_line[stat_line.rfind(")") + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            members.append(int(entry))
    return members


def _killpg(pgid: int, wait_s: float = 0.0) -> None:
    """SIGKILL the group; with wait_s, also wait until no live (non-zombie) member is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return
    deadline = time.monotonic() + wait_s
    delay = 0.001
    while time.monotonic() < deadline and os.path.isdir("/proc"):
        if not live_group_members(pgid):
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 512,
               max_output_bytes: int = 64_000, *, stdin: str | bytes | None = None,
               max_file_bytes: int = 16 * 1024 * 1024, max_processes: int = 32,
               max_open_files: int = 64, isolate_network: bool = True, audit_hook: bool = True,
               drop_privileges: bool = True) -> SandboxResult:
    """Run `code` as a Python program in the sandbox (see the module docstring). Never raises
    for anything the program does; returns what happened."""
    workdir = tempfile.mkdtemp(prefix="bench-sandbox-")
    drop = drop_privileges and can_drop_privileges()
    pgid = None
    try:
        os.chmod(workdir, 0o700)
        Path(workdir, "main.py").write_text(code, encoding="utf-8")
        Path(workdir, "_boot.py").write_text(
            _BOOT % {"workdir": os.path.realpath(workdir), "install_hook": bool(audit_hook)},
            encoding="utf-8")
        if drop:
            for name in ("", "main.py", "_boot.py"):
                os.chown(os.path.join(workdir, name), NOBODY_UID, NOBODY_GID)
        cpu = max(1, int(timeout_s + 0.999)) + 1
        limits = [_limit(resource.RLIMIT_CPU, cpu),
                  _limit(resource.RLIMIT_AS, memory_mb * 1024 * 1024),
                  _limit(resource.RLIMIT_FSIZE, max_file_bytes),
                  _limit(resource.RLIMIT_NOFILE, max_open_files),
                  _limit(resource.RLIMIT_CORE, 0),
                  _limit(resource.RLIMIT_NPROC, max_processes)]
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": workdir, "TMPDIR": workdir}
        report_r, report_w = os.pipe()
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "_boot.py"], cwd=workdir, env=env,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                close_fds=True, preexec_fn=_make_preexec(limits, isolate_network, drop, report_w))
        except BaseException:
            os.close(report_r)
            raise
        finally:
            os.close(report_w)
        try:
            report = os.read(report_r, 16)
        finally:
            os.close(report_r)
        pgid = proc.pid
        network_isolated = report[:1] == b"1"
        dropped = report[1:2] == b"1"

        # wall-clock guard: a timer SIGKILLs the whole process group at the deadline
        fired = threading.Event()
        reaped = threading.Lock()

        def on_deadline() -> None:
            with reaped:
                if proc.returncode is None:
                    fired.set()
                    _killpg(pgid)
        killer = threading.Timer(timeout_s, on_deadline)
        killer.daemon = True
        killer.start()

        def leader_exited() -> bool:
            """The program itself has ended (not reaped, so wait4 still gets its rusage)."""
            try:
                return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
            except ChildProcessError:
                return True

        out, err, truncated = _pump(proc, stdin, max_output_bytes, start + timeout_s + _KILL_GRACE_S,
                                    leader_exited, lambda: _killpg(pgid))
        # Descendants that outlived the leader are killed BEFORE the leader is reaped: until then
        # its zombie keeps the group id reserved, so the kill cannot hit a process that reused it
        # (with parallel runs a reaped leader's pid can come back as another sandbox's group).
        _killpg(pgid, wait_s=2.0)
        with reaped:
            try:
                _pid, status, usage = os.wait4(proc.pid, 0)
            except ChildProcessError:  # pragma: no cover - reaped elsewhere
                status, usage = 0, None
            proc.returncode = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                               else os.WEXITSTATUS(status))
            pgid = None  # reaped: never signal this id again
        killer.cancel()
        wall = time.monotonic() - start
        cpu_s = (usage.ru_utime + usage.ru_stime) if usage is not None else 0.0

        exit_code = proc.returncode
        timed_out = fired.is_set() and exit_code == -signal.SIGKILL
        stdout = out.decode("utf-8", "replace")
        stderr = err.decode("utf-8", "replace")
        return SandboxResult(
            exit_code=exit_code, timed_out=timed_out,
            killed_reason=_killed_reason(exit_code, timed_out, stderr),
            stdout=stdout, stderr=stderr, wall_s=wall, cpu_s=cpu_s, output_truncated=truncated,
            network_isolated=network_isolated, privileges_dropped=dropped,
            audit_hook=bool(audit_hook), workdir=workdir, pid=proc.pid)
    finally:
        if pgid is not None:
            _killpg(pgid)
        _remove_tree(workdir)


def _pump(proc: Any, stdin: str | bytes | None, cap: int, hard_deadline: float,
          leader_exited: Any, kill_group: Any) -> tuple[bytes, bytes, bool]:
    """Feed stdin and read stdout/stderr until EOF, keeping at most `cap` bytes of each and
    discarding the rest (so the child never blocks on a full pipe and memory stays bounded).
    When the program has exited but descendants still hold the pipes, the group is killed;
    gives up at `hard_deadline` (a descendant that escaped the group may hold a pipe open)."""
    group_killed = False
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    truncated = False
    sel = selectors.DefaultSelector()
    for fd in bufs:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    pending = b""
    if stdin is not None:
        pending = stdin.encode("utf-8") if isinstance(stdin, str) else bytes(stdin)
        os.set_blocking(proc.stdin.fileno(), False)
        if pending:
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
    open_reads = len(bufs)
    try:
        while open_reads:
            remaining = hard_deadline - time.monotonic()
            if remaining <= 0:
                break
            events = sel.select(timeout=min(remaining, 0.05))
            if not events and not group_killed and leader_exited():
                kill_group()
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
                    room = cap - len(buf)
                    if room > 0:
                        buf += chunk[:room]
                    if len(chunk) > room:
                        truncated = True
                else:  # stdin writable
                    try:
                        n = os.write(fd, pending[:_READ_CHUNK])
                        pending = pending[n:]
                    except (BlockingIOError, InterruptedError):
                        continue
                    except (BrokenPipeError, OSError):
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
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), truncated


def _killed_reason(exit_code: int | None, timed_out: bool, stderr: str) -> str | None:
    if timed_out:
        return "timeout"
    if exit_code is None:
        return None
    if exit_code < 0:
        sig = -exit_code
        if sig == signal.SIGXCPU:
            return "cpu limit"
        if sig == signal.SIGXFSZ:
            return "file size limit"
        return f"signal {_signal_name(sig)}"
    if exit_code != 0:
        tail = stderr.strip().splitlines()[-3:] if stderr.strip() else []
        text = "\n".join(tail)
        if "MemoryError" in text:
            return "memory limit"
        if "File too large" in text or "[Errno 27]" in text:
            return "file size limit"
    return None


def isolation_facts() -> dict[str, Any]:
    """What this machine allows (for reports): runs one trivial program."""
    r = run_python("pass", timeout_s=5)
    return {"euid": os.geteuid(), "network_isolated": r.network_isolated,
            "privileges_dropped": r.privileges_dropped,
            "rlimit_nproc_effective": os.geteuid() != 0 or r.privileges_dropped,
            "audit_hook": r.audit_hook, "exit_code": r.exit_code, "stderr": r.stderr[-500:]}


def overhead_probe(n: int = 20) -> float:
    """Median wall seconds to run a trivial program in the sandbox (start-up + teardown cost)."""
    times = [run_python("pass").wall_s for _ in range(max(1, n))]
    return statistics.median(times)
