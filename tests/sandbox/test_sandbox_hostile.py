"""Hostile model code against the sandbox (shared/sandbox), through the same service code_runner
runs. Every attack must be contained: no pass, no secret in any output or verdict, no file
written outside, no survivor process, the runner alive, bounded time (the case's own timeout).

The runner's environment holds a planted secret for the duration of these tests, so a leak of
the parent's environment would show in a verdict's detail."""
from __future__ import annotations

import functools
import os
import socket
import sys
import threading

import pytest

from shared.sandbox.models import CodeCase
from shared.sandbox.service import SandboxConfig, SandboxService

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox targets Linux")
SECRET = "sk-or-v1-" + "5ec2e7" * 8
UID_BASE = 230_000   # uids of their own: other sandboxes (a parallel test run) use 200000 on
TESTS = "assert add(1, 2) == 3\nassert add(-1, 1) == 0\nassert add(10, 5) == 15\n"


@functools.lru_cache(maxsize=2)
def sandbox(hook: bool = True) -> SandboxService:
    """With the audit hook, and without it: the OS layers must contain every attack on their own
    (a layer the attacked code could switch off would not count)."""
    if hook:
        return SandboxService(SandboxConfig(["uid", "seccomp", "landlock", "namespaces", "hook"],
                                            uid_base=UID_BASE))
    return SandboxService(SandboxConfig(["uid", "seccomp", "landlock", "namespaces"], audit_hook=False,
                                        uid_base=UID_BASE + 100))


@pytest.fixture(params=[True, False], ids=["hook", "no-hook"])
def hook(request):
    return request.param


@pytest.fixture(scope="module", autouse=True)
def planted_secret():
    os.environ["OPENROUTER_API_KEY"] = SECRET
    yield
    os.environ.pop("OPENROUTER_API_KEY", None)


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A directory outside the sandbox, world-writable, with a readable secret file in it."""
    d = tmp_path_factory.mktemp("outside")
    os.chmod(d, 0o777)
    (d / "secret.txt").write_text(SECRET)
    os.chmod(d / "secret.txt", 0o644)
    return d


@pytest.fixture(scope="module")
def listener():
    """A TCP listener on 127.0.0.1 that records whether anything connected."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    hits = []

    def accept():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            hits.append(1)
            conn.close()
    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1], hits
    srv.close()


def run(solution: str, tests: str = TESTS, timeout_s: float = 3.0, hook: bool = True):
    return sandbox(hook).run_one(CodeCase(case_id="hostile", solution=solution, tests=tests, entry_point="add",
                                      timeout_s=timeout_s))


def sandbox_processes() -> list[int]:
    """Live processes running as one of the sandbox's uids."""
    base = UID_BASE
    found = []   # both services' uids
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = open(f"/proc/{entry}/status").read()
            except OSError:
                continue
            uid_line = next((line for line in status.splitlines() if line.startswith("Uid:")), "")
            state = next((line for line in status.splitlines() if line.startswith("State:")), "")
            uids = [int(x) for x in uid_line.split()[1:]]
            if uids and base <= uids[0] < base + 164 and " Z " not in state + " ":
                found.append(int(entry))
    return found


def contained(v, outside_dir=None):
    text = v.model_dump_json()
    assert v.status != "passed", v.detail
    assert SECRET not in text and "5ec2e7" * 3 not in text, "a secret reached the verdict"
    if outside_dir is not None:
        assert sorted(p.name for p in outside_dir.iterdir()) == ["secret.txt"], "a file was written outside"
    assert not sandbox_processes(), "a sandbox process survived"


def attack(body: str) -> str:
    """A solution that attacks at import and then answers wrongly (so only a bypass could pass)."""
    return body + "\n\ndef add(a, b):\n    return 0\n"


# --- the audit hook switched off (the review's four ways), then what it protected --------------
HOOK_OFF = {
    "replace builtins.any": "import builtins\nbuiltins.any = lambda it: True\n",
    "gc closure busy-set": ("import gc, threading\nfor o in gc.get_objects():\n"
                            "    if isinstance(o, set):\n        o.add(threading.get_ident())\n"),
    "fspath runs code": ("import os\nclass P:\n    def __fspath__(self):\n        return '/etc/passwd'\n"
                         "open(P()).read()\n"),
}


@pytest.mark.parametrize("name", sorted(HOOK_OFF))
def test_switching_the_hook_off_then_escaping_is_contained(name, outside, hook):
    escape = (f"\ntry:\n    open({str(outside / 'pwned')!r}, 'w').write('x')\nexcept Exception:\n    pass\n"
              "try:\n    print(open('/proc/%d/environ' % __import__('os').getppid()).read())\nexcept Exception:\n    pass\n")
    v = run(attack(HOOK_OFF[name]) + escape, hook=hook)
    contained(v, outside)


ATTACKS = {
    "read the parent's environment": "import os\nprint(open('/proc/%d/environ' % os.getppid()).read())\n",
    "read /proc/1/environ": "print(open('/proc/1/environ').read())\n",
    "read own environ": "import os\nprint(dict(os.environ))\n",
    "read a file outside": "print(open({outside_secret!r}).read())\n",
    "write outside": "open({outside_new!r}, 'w').write('x')\n",
    "os.open with dir_fd": ("import os\nfd = os.open({outside!r}, os.O_RDONLY)\n"
                            "os.open('pwned', os.O_CREAT | os.O_WRONLY, dir_fd=fd)\n"),
    "posix.open with dir_fd": ("import posix\nfd = posix.open({outside!r}, 0)\n"
                               "posix.open('pwned', 0o101, 0o644, dir_fd=fd)\n"),
    "list a directory": "import os\nprint(os.listdir('/'))\nprint(os.listdir({outside!r}))\n",
    "scandir": "import os\nprint([e.name for e in os.scandir('/root')])\n",
    "readlink": "import os\nprint(os.readlink('/proc/self/exe'))\n",
    "sqlite attach": ("import sqlite3\nc = sqlite3.connect(':memory:')\n"
                      "c.execute(\"ATTACH DATABASE {outside_db!r} AS x\")\n"),
    "ctypes": "import ctypes\nctypes.CDLL(None).system(b'touch {outside_new}')\n",
    "subprocess shell": "import subprocess\nsubprocess.run(['sh', '-c', 'touch {outside_new}'])\n",
    "os.system": "import os\nos.system('touch {outside_new}')\n",
    "fork": "import os\nif os.fork() == 0:\n    open({outside_new!r}, 'w')\n",
    "fork bomb": "import os\nwhile True:\n    os.fork()\n",
    "setsid survivor": ("import os\npid = os.fork()\nif pid == 0:\n    os.setsid()\n    import time\n"
                        "    time.sleep(60)\n"),
    "posix_spawn": "import os\nos.posix_spawn('/bin/sh', ['sh', '-c', 'touch {outside_new}'], {{}})\n",
    "_posixsubprocess": ("import _posixsubprocess\n"),
    "kill the parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "kill pid 1 and -1": "import os\nfor p in (1, -1):\n    try:\n        os.kill(p, 9)\n    except Exception:\n        pass\n",
    "pidfd kill": ("import os, signal\nsignal.pidfd_send_signal(os.pidfd_open(os.getppid()), 9)\n"),
    "nsenter the host network": ("import os\nfd = os.open('/proc/1/ns/net', os.O_RDONLY)\nos.setns(fd, 0)\n"
                                 "import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {port}))\n"),
    "connect to a local listener": "import socket\ns = socket.create_connection(('127.0.0.1', {port}), 1)\n",
    "raw socket syscall": ("import _socket\ns = _socket.socket(2, 1)\ns.connect(('127.0.0.1', {port}))\n"),
    "unshare a user namespace": "import os\nos.unshare(os.CLONE_NEWUSER)\n",
    "setrlimit up": "import resource\nresource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))\n",
    "chattr immutable": ("import fcntl, os\nfd = os.open('f', os.O_CREAT | os.O_RDONLY)\n"
                         "fcntl.ioctl(fd, 0x40086602, b'\\x10\\0\\0\\0\\0\\0\\0\\0')\n"),
    "deep directory tree": ("import os\nfor i in range(1300):\n    os.mkdir('d')\n    os.chdir('d')\n"),
    "file count bomb": "for i in range(100000):\n    open('f%d' % i, 'w')\n",
    "disk bomb": "f = open('big', 'wb')\nwhile True:\n    f.write(b'x' * 1048576)\n",
    "memory bomb": "x = []\nwhile True:\n    x.append(bytearray(64 * 1024 * 1024))\n",
    "thread bomb": ("import threading, time\nwhile True:\n"
                    "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"),
    "output bomb": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
    "deep recursion": "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1)\nf(0)\n",
    "infinite loop": "while True:\n    pass\n",
    "metadata server": "import urllib.request\nurllib.request.urlopen('http://169.254.169.254/', timeout=1)\n",
    "ptrace the judge": ("import ctypes\nctypes.CDLL(None).ptrace(16, __import__('os').getppid(), 0, 0)\n"),
    "write /proc/self/mem": "f = open('/proc/self/mem', 'wb')\n",
    "exec a new interpreter": "import os\nos.execv('/usr/bin/python3', ['python3', '-c', 'open({outside_new!r}, \"w\")'])\n",
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_contained(name, outside, listener, hook):
    port, hits = listener
    before = len(hits)
    body = ATTACKS[name].format(outside=str(outside), outside_secret=str(outside / "secret.txt"),
                                outside_new=str(outside / "pwned"), outside_db=str(outside / "x.db"), port=port)
    v = run(attack(body), hook=hook)
    contained(v, outside)
    assert len(hits) == before, "the sandbox reached a listener on 127.0.0.1"
    assert v.isolation is not None and {"uid", "seccomp", "landlock"} <= set(v.isolation.layers())
    assert v.isolation.hook is hook


# --- fake passes ---------------------------------------------------------------------------
FAKE_PASSES = {
    "always-equal object": ("class Eq:\n    def __eq__(self, other):\n        return True\n"
                            "    __hash__ = None\ndef add(a, b):\n    return Eq()\n"),
    "int subclass equal to anything": ("class I(int):\n    def __eq__(self, o):\n        return True\n"
                                       "def add(a, b):\n    return I(0)\n"),
    "nonce from frames": ("import sys\ndef add(a, b):\n    f = sys._getframe(1)\n"
                          "    while f:\n        for v in f.f_locals.values():\n"
                          "            if isinstance(v, str) and len(v) == 32:\n"
                          "                print('@@BENCH_OK@@ ' + v)\n        f = f.f_back\n    return 0\n"),
    "current frames": "import sys\ndef add(a, b):\n    print(sys._current_frames())\n    return 0\n",
    "settrace jumps the asserts": ("import sys\ndef t(frame, event, arg):\n    return t\nsys.settrace(t)\n"
                                   "def add(a, b):\n    return 0\n"),
    "read the hidden tests": ("import gc\nfor o in gc.get_objects():\n    if isinstance(o, str) and 'assert' in o:\n"
                              "        print(o)\ndef add(a, b):\n    return 0\n"),
    "hidden tests file": "print(open('main.py').read())\ndef add(a, b):\n    return 0\n",
    "exit 0 early": "import os\nos._exit(0)\n",
    "exit 0 during the call": "import os\ndef add(a, b):\n    os._exit(0)\n",
    "print a pass": "print('all tests passed')\ndef add(a, b):\n    return 0\n",
    "patch AssertionError": ("import builtins\nbuiltins.AssertionError = type('Q', (Exception,), {})\n"
                             "def add(a, b):\n    return 0\n"),
    "raise a BaseException": "def add(a, b):\n    raise KeyboardInterrupt\n",
    "write fake frames": ("import os\ndef add(a, b):\n    for fd in range(3, 30):\n        try:\n"
                          "            os.write(fd, b'\\x00\\x00\\x00\\x0f{\"passed\": true}')\n"
                          "        except OSError:\n            pass\n    return 0\n"),
    "bool for int": "def add(a, b):\n    return True\n",
}


@pytest.mark.parametrize("name", sorted(FAKE_PASSES))
def test_fake_pass_does_not_pass(name, outside, hook):
    v = run(FAKE_PASSES[name], hook=hook)
    contained(v, outside)


def test_an_honest_solution_passes_with_every_layer():
    v = run("def add(a, b):\n    return a + b\n")
    assert v.status == "passed", v.detail
    layers = v.isolation.layers()
    assert layers == ["uid", "seccomp", "landlock", "namespaces", "hook"], v.isolation
    assert v.isolation.workdir == "tmpfs" and v.isolation.separate_uid


def test_in_place_mutation_and_exceptions_reach_the_tests():
    tests = ("xs = [3, 1, 2]\nassert add(xs, 0) is None and xs == [1, 2, 3]\n"
             "try:\n    add(None, 1)\n    assert False\nexcept ValueError:\n    pass\n")
    v = run("def add(xs, _):\n    if xs is None:\n        raise ValueError('no')\n    xs.sort()\n", tests)
    assert v.status == "passed", v.detail


def test_timeouts_are_bounded_and_the_runner_survives():
    v = run("while True:\n    pass\n", timeout_s=1.0)
    assert v.status == "failed" and v.detail == "timed out after 1s" and v.wall_s < 4
    assert run("def add(a, b):\n    return a + b\n").status == "passed"


def test_missing_required_layer_fails_closed():
    """A required layer the OS cannot give (here: a runtime that does not exist) is errored."""
    svc = SandboxService(SandboxConfig(["uid", "seccomp", "landlock"], python="/nonexistent/python3"))
    v = svc.run_one(CodeCase(case_id="c", solution="def add(a, b):\n    return a + b\n", tests=TESTS,
                             entry_point="add"))
    assert v.status == "errored" and v.detail.startswith("sandbox unavailable")
