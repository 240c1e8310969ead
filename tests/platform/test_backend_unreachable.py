"""An unreachable or unconfigured backend: the CLI says so in one line and exits 2, no traceback,
no hang. (Run as subprocesses with a generous hang guard; the times are perf/unreachable_backend.py's.)"""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from shared.pipeline import REPO_ROOT

HANG_GUARD_S = 90


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": "/nonexistent-home", "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", "/nonexistent/no-stack.env", *args],
                          env={**base, **env}, capture_output=True, text=True, timeout=HANG_GUARD_S, cwd=REPO_ROOT)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """Accepts connections and never answers: a frozen emulator."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def assert_one_line_exit_2(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and all(e in errors[0] for e in expected), done.stderr


@pytest.mark.parametrize("command", [["weekly", "status"], ["weekly", "status", "--json"],
                                     ["sync", "--mode", "quick", "--json"]])
def test_emulators_gone(command):
    port = closed_port()
    done = run_cli({"GOOGLE_CLOUD_PROJECT": "local-test", "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{port}",
                    "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{port}"}, *command)
    assert_one_line_exit_2(done, f"cannot reach the Firestore emulator at 127.0.0.1:{port}", "make up")


def test_an_emulator_that_never_answers(silent_port):
    done = run_cli({"GOOGLE_CLOUD_PROJECT": "local-test", "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{silent_port}"},
                   "weekly", "status")
    assert_one_line_exit_2(done, "cannot reach", "DeadlineExceeded")


def test_a_project_without_credentials():
    done = run_cli({"GOOGLE_CLOUD_PROJECT": "some-project", "NO_GCE_CHECK": "true"}, "weekly", "status")
    assert_one_line_exit_2(done, "no Google Cloud credentials found")


def test_no_project_at_all():
    done = run_cli({}, "weekly", "status")
    assert_one_line_exit_2(done, "GOOGLE_CLOUD_PROJECT is not set")


def test_an_unexpected_error_is_one_line_with_exit_5_and_verbose_adds_the_traceback(monkeypatch, capsys):
    """Whatever a command raises that we did not foresee comes out as one line (exit 5)."""
    from shared import cli
    from shared.platform import backend

    def boom(args):
        raise RuntimeError("something we did not foresee")

    monkeypatch.setattr(backend, "probe", lambda *a, **k: None)
    monkeypatch.setattr(cli, "cmd_weekly_status", boom)
    for verbose, traceback_shown in ((False, False), (True, True)):
        argv = (["--verbose"] if verbose else []) + ["--stack-env", "/nonexistent/no-stack.env", "weekly", "status"]
        assert cli.main(argv) == 5
        err = capsys.readouterr().err
        assert "unexpected RuntimeError: something we did not foresee" in err
        assert ("Traceback" in err) is traceback_shown


def test_a_stack_env_that_is_not_a_readable_file_is_one_clear_line(tmp_path):
    """--stack-env naming a folder (or an unreadable file) is exit 2 with one line, not a traceback."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", str(tmp_path), "weekly", "status"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"error: cannot read --stack-env {tmp_path}: Is a directory" in done.stderr
    assert "Traceback" not in done.stderr
