"""The sandbox's child program. Standard library only: it runs under a bare interpreter
(`python -I -S -B -c <this text>`) as an unprivileged uid, never importing the project.

Two processes per case, so the solution never shares an address space with the tests:

* the judge (this program as started): applies Landlock, forks the solution process, installs
  seccomp on itself, then reads the hidden tests (only now: the solution's memory is a copy of
  the judge's from before the fork) and runs them. Every name the solution defines is a proxy
  in the tests' namespace: a call is sent to the solution process as plain data and its result
  comes back as plain data (None, bool, int, float, str, bytes, list, tuple, dict, set,
  frozenset), so the tests compare values of exact built-in types, never an object of the
  solution's making. The judge's verdict goes to the parent on fd 1, which the solution
  process does not have.
* the solution process: closes every inherited descriptor but its two call pipes and its
  output pipe, installs seccomp (no exec, no fork, no signals to others, no sockets...) and
  the audit hook, loads the solution in a fresh namespace, then answers calls.

Frames on every pipe: a 4-byte big-endian length, then UTF-8 JSON.
"""
import os
import sys


def _sandbox_main():
    import builtins
    import ctypes
    import json
    import select
    import signal
    import stat

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    machine = os.uname().machine
    SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}.get(machine)
    SYS_LANDLOCK_CREATE, SYS_LANDLOCK_ADD, SYS_LANDLOCK_RESTRICT = 444, 445, 446
    PR_SET_PDEATHSIG, PR_GET_SECCOMP, PR_SET_NO_NEW_PRIVS = 1, 21, 38
    MAX_FRAME = 8 * 1024 * 1024

    # --- frames -------------------------------------------------------------------------
    def read_exact(fd, n):
        parts = []
        while n:
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                raise EOFError("pipe closed")
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def read_frame(fd):
        n = int.from_bytes(read_exact(fd, 4), "big")
        if n > MAX_FRAME:
            raise ValueError("frame of %d bytes exceeds the limit" % n)
        return json.loads(read_exact(fd, n).decode("utf-8"))

    def write_frame(fd, obj):
        data = json.dumps(obj).encode("utf-8")
        buf = len(data).to_bytes(4, "big") + data
        while buf:
            buf = buf[os.write(fd, buf):]

    # --- plain values across the process boundary ----------------------------------------
    _type, _list, _tuple, _dict, _set, _fset = type, list, tuple, dict, set, frozenset
    type_name = type.__dict__["__name__"].__get__

    def encode(v, depth=0):
        if depth > 100:
            raise ValueError("value nested more than 100 levels deep")
        t = _type(v)
        if v is None or t is bool or t is int or t is float or t is str:
            return v
        if t is _list:
            return [encode(x, depth + 1) for x in _list.__iter__(v)]
        if t is _tuple:
            return {"t": [encode(x, depth + 1) for x in _tuple.__iter__(v)]}
        if t is _dict:
            return {"d": [[encode(k, depth + 1), encode(x, depth + 1)] for k, x in _dict.items(v)]}
        if t is _set:
            return {"s": [encode(x, depth + 1) for x in _set.__iter__(v)]}
        if t is _fset:
            return {"S": [encode(x, depth + 1) for x in _fset.__iter__(v)]}
        if t is bytes:
            return {"b": bytes.hex(v)}
        raise TypeError("returned a value of type %s, not a plain built-in value" % type_name(t))

    def decode(j):
        t = _type(j)
        if j is None or t is bool or t is int or t is float or t is str:
            return j
        if t is _list:
            return [decode(x) for x in j]
        if t is _dict and len(j) == 1:
            (tag, val), = j.items()
            if tag == "t":
                return tuple(decode(x) for x in val)
            if tag == "d":
                return {decode(k): decode(x) for k, x in val}
            if tag == "s":
                return {decode(x) for x in val}
            if tag == "S":
                return frozenset(decode(x) for x in val)
            if tag == "b":
                return bytes.fromhex(val)
        raise ValueError("malformed value")

    # --- OS layers ------------------------------------------------------------------------
    def landlock(ro_paths, rw_paths):
        """Restrict this process (and what it forks) to reading ro_paths and writing rw_paths.
        Returns the Landlock ABI applied, 0 when the kernel has none."""
        abi = libc.syscall(SYS_LANDLOCK_CREATE, None, 0, 1)   # LANDLOCK_CREATE_RULESET_VERSION
        if abi < 1:
            return 0
        fs_all = (1 << 13) - 1                  # ABI 1: execute ... make_sym
        if abi >= 2:
            fs_all |= 1 << 13                   # refer
        if abi >= 3:
            fs_all |= 1 << 14                   # truncate
        if abi >= 5:
            fs_all |= 1 << 15                   # ioctl_dev
        read = (1 << 0) | (1 << 2) | (1 << 3)   # execute, read_file, read_dir
        file_rights = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)
        write = read | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 14)  # + write, remove, make dir/reg, truncate
        attr = [fs_all]
        if abi >= 4:
            attr.append(3)                      # handled net: bind_tcp, connect_tcp (no rule: both denied)
        if abi >= 6:
            attr.append(3)                      # scoped: abstract unix sockets, signals
        raw = b"".join(x.to_bytes(8, "little") for x in attr)
        ruleset = libc.syscall(SYS_LANDLOCK_CREATE, ctypes.c_char_p(raw), len(raw), 0)
        if ruleset < 0:
            raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
        for paths, rights in ((ro_paths, read), (rw_paths, write)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights & fs_all
                    if not stat.S_ISDIR(os.fstat(fd).st_mode):
                        allowed &= file_rights
                    rule = allowed.to_bytes(8, "little") + fd.to_bytes(4, "little", signed=True)
                    if libc.syscall(SYS_LANDLOCK_ADD, ruleset, 1, ctypes.c_char_p(rule), 0) != 0:
                        raise OSError(ctypes.get_errno(), "landlock_add_rule %s failed" % path)
                finally:
                    os.close(fd)
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if libc.syscall(SYS_LANDLOCK_RESTRICT, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
        os.close(ruleset)
        return abi

    def seccomp(bpf):
        """Install a compiled seccomp-bpf program (built by the parent with libseccomp)."""
        if not bpf or SYS_SECCOMP is None:
            return False

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = SockFprog(len(bpf) // 8, ctypes.addressof(buf))
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return False
        if libc.syscall(SYS_SECCOMP, 1, 0, ctypes.byref(prog)) != 0:   # SECCOMP_SET_MODE_FILTER
            return False
        return libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2

    # --- the judge -----------------------------------------------------------------------
    header = read_frame(0)
    required = set(header["required"])
    facts = {"uid": os.getuid(), "namespaces": header.get("namespaces", []),
             "workdir": header.get("workdir_kind"), "runtime": sys.version.split()[0]}
    missing = []

    def refuse(why):
        write_frame(1, {"sandbox_unavailable": why, "isolation": facts})
        os._exit(0)

    if os.getuid() == 0 or os.geteuid() == 0:
        missing.append("uid")
    try:
        facts["landlock"] = landlock(header["read_paths"], header["write_paths"])
    except OSError as exc:
        facts["landlock"], facts["landlock_error"] = 0, str(exc)
    if not facts["landlock"]:
        missing.append("landlock")
    if SYS_SECCOMP is None:
        missing.append("seccomp")
    if required.intersection(missing):
        refuse("required isolation layer(s) missing: " + ", ".join(sorted(required.intersection(missing))))
    bpf = bytes.fromhex(header["seccomp_bpf"]) if header.get("seccomp_bpf") else b""

    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _solution_process(header, bpf, required, req_r, resp_w, out_w, encode, decode, read_frame,
                          write_frame, seccomp, libc, PR_SET_PDEATHSIG)
        os._exit(0)
    for fd in (req_r, resp_w, out_w):
        os.close(fd)
    facts["seccomp"] = seccomp(bpf)
    if not facts["seccomp"] and "seccomp" in required:
        os.kill(pid, signal.SIGKILL)
        refuse("required isolation layer(s) missing: seccomp")

    # The judge cannot start threads (after unshare(CLONE_NEWPID) a process may not), so the
    # solution's prints are drained while the judge waits for a reply: the first 4 kB are kept.
    # The layers that hold, before the solution's first line can run: if it never finishes
    # (a timeout kills everything), the runner still knows what contained it.
    write_frame(1, {"isolation": facts})
    output = bytearray()
    os.set_blocking(out_r, False)

    def drain():
        while True:
            try:
                chunk = os.read(out_r, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if not chunk:
                return
            if len(output) < 4096:
                output.extend(chunk[:4096 - len(output)])

    def wait_reply():
        while True:
            ready, _, _ = select.select([resp_r, out_r], [], [])
            if out_r in ready:
                drain()
            if resp_r in ready:
                return read_frame(resp_r)

    def verdict(**fields):
        fields["isolation"] = facts
        drain()
        fields["output"] = output[:4096].decode("utf-8", "replace")
        write_frame(1, fields)
        os._exit(0)

    try:
        loaded = wait_reply()
    except (EOFError, ValueError, OSError) as exc:
        verdict(passed=False, stage="solution", kind="died", msg=str(exc))
    facts["solution_seccomp"] = loaded.get("seccomp")
    facts["hook"] = loaded.get("hook")
    if loaded.get("refused"):
        refuse(loaded["refused"])
    if not loaded.get("loaded"):
        verdict(passed=False, stage=loaded.get("stage", "solution"), kind=loaded.get("kind", "error"),
                **{k: loaded.get(k) for k in ("type", "msg", "line", "name")})

    tests = read_frame(0)             # only now, after the fork: never in the solution's memory

    class SolutionError(Exception):
        """The solution raised something the tests cannot name (or its process died)."""

    calls = {"n": 0}

    def proxy(name):
        def call(*args, **kwargs):
            calls["n"] += 1
            try:
                write_frame(req_w, {"name": name, "args": encode(list(args)), "kwargs": encode(kwargs)})
                reply = wait_reply()
            except (EOFError, OSError, ValueError) as exc:
                raise SolutionError("the solution process died during %s(): %s" % (name, exc)) from None
            if "raised" in reply:
                kind = getattr(builtins, str(reply["raised"]), None)
                msg = str(reply.get("msg", ""))
                if (isinstance(kind, type) and issubclass(kind, Exception)
                        and kind.__module__ == "builtins"):
                    raise kind(msg)
                raise SolutionError("%s: %s" % (reply["raised"], msg))
            if "error" in reply:
                raise SolutionError(str(reply["error"]))
            try:
                result = decode(reply["ok"])
                after = reply.get("args")
                for i, arg in enumerate(args):   # in-place changes to list/dict/set arguments
                    if after is None or i >= len(after) or after[i] is None:
                        continue
                    new = decode(after[i])
                    if type(arg) is list and type(new) is list:
                        arg[:] = new
                    elif type(arg) is dict and type(new) is dict:
                        arg.clear()
                        arg.update(new)
                    elif type(arg) is set and type(new) is set:
                        arg.clear()
                        arg.update(new)
            except (KeyError, TypeError, ValueError, RecursionError) as exc:
                raise SolutionError("unreadable reply from the solution process: %s" % exc) from None
            return result
        call.__name__ = name
        return call

    entry = tests.get("entry_point") or ""
    callables = [n for n in loaded.get("callables", []) if isinstance(n, str)]
    if entry and entry not in callables:
        verdict(passed=False, stage="solution", kind="missing", name=entry)
    tns = {"__name__": "tests", "__builtins__": builtins}
    for name in callables:
        if name == entry or not hasattr(builtins, name):
            tns[name] = proxy(name)
    for stage, source in (("setup", tests.get("setup") or ""), ("tests", tests["tests"])):
        try:
            exec(compile(source, "<%s>" % stage, "exec", dont_inherit=True), tns)
        except SystemExit as exc:
            verdict(passed=False, stage=stage, kind="exit", **_describe(exc, "<%s>" % stage))
        except BaseException as exc:
            verdict(passed=False, stage=stage, kind="error", **_describe(exc, "<%s>" % stage))
    verdict(passed=True, calls=calls["n"])


def _describe(exc, filename):
    """type, message and the line in `filename` (the solution, setup or tests) of an exception.
    In the solution process this runs the solution's __str__: only its own reply is at stake."""
    info = {"type": type(exc).__name__}
    try:
        info["msg"] = str(exc.msg if isinstance(exc, SyntaxError) else exc)[:300]
    except BaseException:
        info["msg"] = "?"
    line = exc.lineno if isinstance(exc, SyntaxError) and exc.filename == filename else None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    info["line"] = line if isinstance(line, int) else None
    return info


def _solution_process(header, bpf, required, req_r, resp_w, out_w, encode, decode, read_frame,
                      write_frame, seccomp, libc, PR_SET_PDEATHSIG):
    """The forked solution process. Everything here runs before the solution's first line."""
    import builtins
    import signal

    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    empty_r, empty_w = os.pipe()      # stdin: an empty pipe (Landlock allows no /dev/null)
    os.close(empty_w)
    os.dup2(empty_r, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    keep = sorted({0, 1, 2, req_r, resp_w})
    low = 3
    for fd in keep[3:]:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)

    installed = seccomp(bpf)
    if not installed and "seccomp" in required:
        write_frame(resp_w, {"refused": "required isolation layer(s) missing: seccomp (solution process)"})
        os._exit(0)
    hook = _install_audit_hook(header["workdir"], header["read_paths"]) if header.get("audit_hook", True) else False

    def send(obj):
        write_frame(resp_w, obj)

    ns = {"__name__": "solution", "__builtins__": builtins}
    for stage, source, filename in (("setup", header.get("setup") or "", "<setup>"),
                                    ("solution", header["solution"], "<solution>")):
        try:
            code = compile(source, filename, "exec", dont_inherit=True)
        except BaseException as exc:
            send({"loaded": False, "stage": stage, "kind": "syntax", **_describe(exc, filename),
                  "seccomp": installed, "hook": hook})
            os._exit(0)
        try:
            exec(code, ns)
        except SystemExit as exc:
            send({"loaded": False, "stage": stage, "kind": "exit", **_describe(exc, filename),
                  "seccomp": installed, "hook": hook})
            os._exit(0)
        except BaseException as exc:
            send({"loaded": False, "stage": stage, "kind": "error", **_describe(exc, filename),
                  "seccomp": installed, "hook": hook})
            os._exit(0)
    names = [k for k, v in dict.items(ns) if type(k) is str and not k.startswith("__") and callable(v)]
    send({"loaded": True, "callables": names, "seccomp": installed, "hook": hook})
    while True:
        try:
            req = read_frame(req_r)
        except BaseException:
            os._exit(0)
        try:
            fn = dict.get(ns, req["name"])
            args = decode(req["args"])
            kwargs = decode(req["kwargs"])
        except BaseException:
            os._exit(0)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            reply = {"raised": type.__dict__["__name__"].__get__(type(exc))}
            try:
                reply["msg"] = str(exc)[:300]
            except BaseException:
                reply["msg"] = "?"
            send(reply)
            continue
        try:
            reply = {"ok": encode(result)}
        except BaseException as exc:
            try:
                send({"error": str(exc)[:300]})
            except BaseException:
                os._exit(0)
            continue
        after = []
        for arg in args:
            try:
                after.append(encode(arg) if type(arg) in (list, dict, set) else None)
            except BaseException:
                after.append(None)
        reply["args"] = after
        send(reply)


def _install_audit_hook(workdir, read_paths):
    """The last layer, inside the interpreter: refuse what solution code has no business doing.
    Not a boundary on its own (Landlock, seccomp and the uid are); every helper it uses is bound
    here, so replacing builtins or module attributes later changes nothing."""
    import posixpath
    import sys as _sys

    normpath, join, isabs = posixpath.normpath, posixpath.join, posixpath.isabs
    _type, _str, _bytes, _int = type, str, bytes, int
    _decode, _startswith = bytes.decode, str.startswith
    PermissionErr = PermissionError
    write_roots = (workdir,)
    read_roots = tuple(read_paths) + (workdir,)
    boot_file = "<string>"
    denied = frozenset((
        "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
        "socket.gethostbyaddr", "socket.gethostbyname_ex", "socket.sendto", "socket.sendmsg",
        "subprocess.Popen", "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn",
        "os.spawn", "os.startfile", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
        "resource.setrlimit", "resource.prlimit", "sys.remote_exec", "os.setns", "os.unshare",
        "sys.settrace", "sys.setprofile", "sys._current_frames", "gc.get_objects",
        "gc.get_referrers", "gc.get_referents", "sys.addaudithook", "code.__new__",
        "function.__new__",
        "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function", "mmap.__new__",
        "os.chroot", "os.setuid", "os.setgid", "os.setreuid", "os.setregid"))
    refused_imports = frozenset(("ctypes", "_ctypes", "_posixsubprocess", "sqlite3", "_sqlite3",
                                 "_testcapi", "_testinternalcapi", "_xxsubinterpreters",
                                 "_xxinterpchannels"))
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    path_events = frozenset((
        "os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.chmod", "os.chown", "os.link",
        "os.symlink", "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.setxattr",
        "os.removexattr", "shutil.rmtree", "os.mkfifo", "os.mknod", "os.listxattr", "os.getxattr"))
    listing_events = frozenset(("os.listdir", "os.scandir", "glob.glob", "glob.glob/2", "os.readlink"))

    def inside(path, roots):
        t = _type(path)
        if t is _bytes:
            path = _decode(path, "utf-8", "surrogateescape")
        elif t is not _str:
            return False                  # only exact str/bytes: no __fspath__ runs here
        if not isabs(path):
            path = join(workdir, path)
        path = normpath(path)
        for root in roots:
            if path == root or _startswith(path, root + "/"):
                return True
        return False

    def hook(event, args):
        if event in denied or _startswith(event, "ctypes.") or _startswith(event, "socket."):
            raise PermissionErr("sandbox: %s is not allowed" % event)
        if event == "import":
            if args and _type(args[0]) is _str and args[0].partition(".")[0] in refused_imports:
                raise PermissionErr("sandbox: import %s is not allowed" % args[0])
            return
        if event == "sys._getframe":
            frame = args[0] if args else None
            if frame is not None and frame.f_code.co_filename == boot_file:
                raise PermissionErr("sandbox: sys._getframe into the harness is not allowed")
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if _type(path) is _int:
                return
            writing = (_type(flags) is _int and flags >= 0 and flags & write_flags) or (
                _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode))
            if not inside(path, write_roots if writing else read_roots):
                raise PermissionErr("sandbox: open outside the sandbox directory is not allowed")
            return
        if event in path_events:
            for a in args:
                if _type(a) is _int or a is None or _type(a) is _int:
                    continue
                if not inside(a, write_roots):
                    raise PermissionErr("sandbox: %s outside the sandbox directory is not allowed" % event)
            return
        if event in listing_events:
            target = args[0] if args else "."
            if target is None or _type(target) is _int:
                raise PermissionErr("sandbox: %s on a descriptor is not allowed" % event)
            if not inside(target, read_roots):
                raise PermissionErr("sandbox: %s outside the sandbox directory is not allowed" % event)
            return

    _refuse_dir_fd()
    _sys.addaudithook(hook)
    return True


def _refuse_dir_fd():
    """The `open` audit event carries no dir_fd, so a path relative to an outside directory
    would pass the hook's path check: path functions refuse dir_fd here (Landlock still checks
    the resolved file whatever the hook sees)."""
    import posix

    def guard(fn):
        def guarded(*args, **kwargs):
            if kwargs.get("dir_fd") is not None or kwargs.get("src_dir_fd") is not None \
                    or kwargs.get("dst_dir_fd") is not None:
                raise PermissionError("sandbox: dir_fd is not allowed")
            return fn(*args, **kwargs)
        guarded.__name__ = getattr(fn, "__name__", "guarded")
        return guarded

    for fn in list(os.supports_dir_fd):
        name = fn.__name__
        for module in (os, posix):
            if getattr(module, name, None) is fn:
                setattr(module, name, guard(fn))


_sandbox_main()
