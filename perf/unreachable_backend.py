"""How long the CLI takes to say the backend is unreachable (perf script).

    .venv/bin/python -m perf.unreachable_backend [--repeats 3]

Runs `python -m shared.cli weekly status` in fresh interpreters against: emulator variables
pointing at a closed port (the emulators are gone), a port that accepts and never answers (a
frozen emulator), and a project with no credentials. Prints the median wall time and the exit
code of each; the promise is exit 2 with one line, well within 10 s.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

from shared.pipeline import REPO_ROOT


def timed(env: dict[str, str]) -> tuple[float, int, str]:
    base = {"PATH": os.environ["PATH"], "HOME": "/nonexistent-home", "PYTHONPATH": str(REPO_ROOT)}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "shared.cli", "--stack-env", "/nonexistent/no-stack.env", "weekly", "status"],
                          env={**base, **env}, capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    line = next((x for x in done.stderr.splitlines() if x.startswith("error: ")), done.stderr[-200:])
    return time.monotonic() - started, done.returncode, line


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    cases = {
        "emulators gone (closed port)": {"GOOGLE_CLOUD_PROJECT": "local-test",
                                         "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{closed_port}"},
        "emulator frozen (never answers)": {"GOOGLE_CLOUD_PROJECT": "local-test",
                                            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{silent.getsockname()[1]}"},
        "project without credentials": {"GOOGLE_CLOUD_PROJECT": "some-project"},
    }
    print(f"CLI exit on an unreachable backend, median of {args.repeats} (fresh interpreter each):")
    for name, env in cases.items():
        runs = [timed(env) for _ in range(args.repeats)]
        median = statistics.median(r[0] for r in runs)
        print(f"  {name:34} {median:5.1f} s  exit {sorted({r[1] for r in runs})}  {runs[-1][2]}")
    silent.close()


if __name__ == "__main__":
    main()
