"""Import time of each function module, as a cold start pays it (perf script).

    .venv/bin/python perf/import_time.py [--repeats 7]

For each active function in the manifest, a fresh interpreter loads functions/<f>/main.py the
way functions-framework does (by file path) and reports the wall time of that load; the median
over repeats is printed, beside the baseline of `import functions_framework` alone, and the three
heaviest imports from `python -X importtime`.
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from shared.pipeline import load_manifest  # noqa: E402

LOAD = str(REPO / "perf" / "load_function.py")


def heaviest(src: str) -> list[tuple[int, str]]:
    err = subprocess.run([sys.executable, "-X", "importtime", LOAD, src], capture_output=True, text=True,
                         cwd=REPO).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m and len(m.group(3)) == 1:  # top-level imports only
            rows.append((int(m.group(2)), m.group(4)))
    return sorted(rows, reverse=True)[:3]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    print(f"Python {sys.version.split()[0]}; median of {args.repeats} fresh interpreters")
    for fn in load_manifest().active_functions():
        src = str(REPO / fn.source)
        ff, mod = [], []
        for _ in range(args.repeats):
            out = subprocess.run([sys.executable, LOAD, src],
                                 capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
            ff.append(float(out[0]))
            mod.append(float(out[1]))
        top = ", ".join(f"{name} {us / 1000:.0f} ms" for us, name in heaviest(src))
        print(f"{fn.name:13} module {statistics.median(mod) * 1000:6.0f} ms  "
              f"(functions_framework itself {statistics.median(ff) * 1000:.0f} ms; heaviest: {top})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
