"""The code sandbox (shared/bench/sandbox.py): limits, isolation, cleanup."""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.bench.sandbox import SandboxResult, isolation_facts, overhead_probe, run_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox targets Linux")


def group_gone(r: SandboxResult) -> bool:
    """No live process is left in the child's process group (it is also its session). Killed
    orphans may linger as zombies until init reaps them; they hold nothing but a pid."""
    try:
        os.killpg(r.pid, 0)
    except ProcessLookupError:
        return True
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat_line = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            state, _ppid, pgrp = stat_line[stat_line.rfind(")") + 2:].split()[:3]
            if int(pgrp) == r.pid and state not in ("Z", "X"):
                return False
    return True


def test_passing_program_and_isolation_flags():
    r = run_python("import sys, os\nprint(sys.flags.isolated, sys.flags.no_site, sys.flags.ignore_environment)\n"
                   "print(os.getcwd())\nprint('' in sys.path, os.getcwd() in sys.path)\nprint('site' in sys.modules)")
    assert r.ok and r.exit_code == 0 and not r.timed_out and r.killed_reason is None
    flags, cwd, on_path, site = r.stdout.splitlines()
    assert flags == "1 1 1"
    assert cwd == os.path.realpath(r.workdir)
    assert on_path == "False False"
    assert site == "False"
    assert r.audit_hook and r.wall_s > 0 and r.cpu_s >= 0
    assert not os.path.exists(r.workdir), "the temporary directory must be deleted"
    assert group_gone(r)


def test_failing_assert():
    r = run_python("x = 1\nassert x == 2, 'nope'\n")
    assert r.exit_code not in (0, None) and not r.ok
    assert "AssertionError: nope" in r.stderr
    assert 'File "main.py", line 2' in r.stderr


def test_infinite_loop_times_out_and_group_is_killed():
    start = time.monotonic()
    r = run_python("while True:\n    pass\n", timeout_s=1.0)
    elapsed = time.monotonic() - start
    assert r.timed_out and r.killed_reason == "timeout" and not r.ok
    assert elapsed < 1.0 + 1.0
    assert group_gone(r)


def test_fork_bomb_is_bounded_and_leaves_no_processes():
    start = time.monotonic()
    r = run_python("import os\nwhile True:\n    os.fork()\n", timeout_s=3.0)
    assert time.monotonic() - start < 3.0 + 1.5
    assert not r.ok
    assert "os.fork is not allowed" in r.stderr          # the audit hook refuses the first fork
    assert group_gone(r)


def test_descendants_outliving_the_leader_are_killed():
    """Without the audit hook (so forking works), children that outlive the program are killed
    with its process group. Three forks only: a bomb without the hook is unsafe as root."""
    code = ("import os, time\npids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
            "        time.sleep(60)\n        os._exit(0)\n    pids.append(pid)\nprint(pids)\n")
    start = time.monotonic()
    r = run_python(code, timeout_s=2.0, audit_hook=False)
    assert time.monotonic() - start < 2.0 + 2.0
    assert r.exit_code == 0
    children = json.loads(r.stdout.strip())
    assert len(children) == 3
    assert group_gone(r)
    for pid in children:
        assert _state_of(pid) in (None, "Z", "X"), f"child {pid} still alive"


def _state_of(pid: int) -> str | None:
    try:
        stat_line = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    return stat_line[stat_line.rfind(")") + 2:].split()[0]


def test_rlimit_nproc_where_the_os_enforces_it():
    facts = isolation_facts()
    if not facts["rlimit_nproc_effective"]:
        pytest.skip("running as root and the interpreter is not readable by `nobody`: the kernel does "
                    "not enforce RLIMIT_NPROC for root (the audit hook and the process-group kill bound "
                    "fork bombs instead)")
    code = ("import os, time\nn = 0\ntry:\n    while n < 200:\n        pid = os.fork()\n        if pid == 0:\n"
            "            time.sleep(30)\n            os._exit(0)\n        n += 1\nexcept OSError as e:\n"
            "    print('refused after', n)\n")
    r = run_python(code, timeout_s=3.0, audit_hook=False, max_processes=8)
    assert "refused after" in r.stdout
    assert group_gone(r)


def test_environment_is_empty_of_secrets(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-should-never-leak")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secret/creds.json")
    r = run_python("import os, json\nprint(json.dumps(dict(os.environ)))")
    assert r.ok, r.stderr
    env = json.loads(r.stdout)
    assert "OPENROUTER_API_KEY" not in env and "sk-or-should-never-leak" not in r.stdout
    assert set(env) <= {"PATH", "LANG", "HOME", "TMPDIR", "LC_CTYPE"}


def test_huge_output_is_capped():
    r = run_python("import sys\nsys.stdout.write('x' * 10_000_000)\nsys.stderr.write('y' * 200_000)",
                   max_output_bytes=64_000)
    assert r.exit_code == 0
    assert r.output_truncated
    assert len(r.stdout.encode()) <= 64_000 and len(r.stderr.encode()) <= 64_000
    assert r.stdout == "x" * 64_000


def test_socket_connect_to_a_local_listener_is_refused():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = (f"import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', {port}))\n"
            "s.sendall(b'leak')\nprint('connected')")
    try:
        r = run_python(code)
        assert r.exit_code != 0 and "connected" not in r.stdout
        assert "socket.connect is not allowed" in r.stderr
        if r.network_isolated:   # the namespace alone (no audit hook) also refuses
            r2 = run_python(code, audit_hook=False)
            assert r2.exit_code != 0 and "connected" not in r2.stdout
            assert "unreachable" in r2.stderr.lower() or "refused" in r2.stderr.lower()
        with pytest.raises(socket.timeout):
            listener.accept()    # nothing ever arrived
    finally:
        listener.close()


def test_dns_and_subprocess_and_ctypes_are_refused():
    for code, event in [("import socket\nsocket.getaddrinfo('example.com', 80)", "socket.getaddrinfo"),
                        ("import subprocess\nsubprocess.run(['true'])", "subprocess.Popen"),
                        ("import os\nos.system('true')", "os.system"),
                        ("import os\nos.execv('/bin/true', ['true'])", "os.exec"),
                        ("import os\nos.posix_spawn('/bin/true', ['true'], {})", "os.posix_spawn"),
                        ("import ctypes", "import ctypes"),
                        ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))", "resource.setrlimit")]:
        r = run_python(code)
        assert r.exit_code != 0, code
        assert f"{event} is not allowed" in r.stderr, (code, r.stderr[-300:])


def test_big_file_write_fails_and_workdir_is_removed():
    r = run_python("with open('big.bin', 'wb') as f:\n    f.write(b'0' * 100_000_000)\n", max_file_bytes=16 * 1024 * 1024)
    assert r.exit_code != 0
    assert r.killed_reason == "file size limit"
    assert "File too large" in r.stderr
    assert not os.path.exists(r.workdir)


def test_files_outside_the_workdir_are_out_of_reach(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    target = tmp_path / "written.txt"
    r = run_python(f"print(open({str(secret)!r}).read())")
    assert r.exit_code != 0 and "top secret" not in r.stdout
    r = run_python(f"open({str(target)!r}, 'w').write('x')")
    assert r.exit_code != 0 and not target.exists()
    r = run_python(f"import os\nos.remove({str(secret)!r})")
    assert r.exit_code != 0 and secret.exists()
    # inside the workdir everything works, including tempfile
    r = run_python("import tempfile, os\nopen('a.txt', 'w').write('hi')\nprint(open('a.txt').read())\n"
                   "with tempfile.NamedTemporaryFile('w') as f:\n    f.write('x')\nos.remove('a.txt')\nprint('ok')")
    assert r.ok, r.stderr
    assert r.stdout.split() == ["hi", "ok"]


def test_memory_limit():
    r = run_python("x = bytearray(2 * 1024 ** 3)\nprint(len(x))", memory_mb=512)
    assert r.exit_code != 0 and not r.ok
    assert r.killed_reason is not None
    assert r.killed_reason == "memory limit" or r.killed_reason.startswith("signal")


def test_stdin_and_common_stdlib_work():
    code = ("import sys, collections, typing, json, re, math, itertools, functools, fractions, decimal, "
            "datetime, heapq, bisect, string, random, statistics, hashlib, threading\n"
            "P = collections.namedtuple('P', 'a b')\nt = threading.Thread(target=lambda: None)\nt.start(); t.join()\n"
            "print(sys.stdin.readline().strip(), P(1, 2))")
    r = run_python(code, stdin="hello\n")
    assert r.ok, r.stderr
    assert r.stdout.strip() == "hello P(a=1, b=2)"


def test_parallel_runs_are_independent():
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda i: run_python(f"print({i} * 2)"), range(16)))
    assert [r.stdout.strip() for r in results] == [str(i * 2) for i in range(16)]
    assert all(r.ok and not os.path.exists(r.workdir) for r in results)


def test_overhead_probe_and_isolation_facts():
    median = overhead_probe(n=3)
    assert 0 < median < 2.0
    facts = isolation_facts()
    assert facts["exit_code"] == 0 and facts["audit_hook"] is True
