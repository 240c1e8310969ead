"""How many points a model gets without knowing any answer (a perf script).

    .venv/bin/python -m perf.scorer_adversary [--suite builtin-v1]

Scores, per category of the suite, the mean (points, 0–100) of:
- "hedger": the simulator's adversary (sim/hedger), one hedging/enumerating trick per case,
  built from the prompt alone;
- "every trick": every trick the adversary has for each case;
- "wrong": the simulator's honest wrong answers;
- "reference": the suite's own reference answers (should be 100).
Coding cases run through the real sandbox in-process (needs root on Linux, as code_runner does).
Nothing here calls a network service. Prints one table and a final line; exit 0.
"""
from __future__ import annotations

import argparse
import random
from collections import defaultdict

import yaml

from infra.model_simulator import Simulator, hedge_tricks, wrong_answer
from shared.bench.cases import CATEGORIES
from shared.bench.scorers import score
from shared.bench.suite import load_suite
from shared.pipeline import REPO_ROOT
from shared.sandbox.service import SandboxConfig, SandboxService


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", default="builtin-v1")
    args = p.parse_args(argv)
    config = yaml.safe_load((REPO_ROOT / "infra" / "simulator.yaml").read_text())
    sim = Simulator(config)
    runner = SandboxService(SandboxConfig(["uid", "seccomp", "landlock"]))
    suite = load_suite(args.suite)
    rows: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for case in suite.cases:
        hedged, _ = sim.answer("sim/hedger", case.prompt)
        rows["hedger"][case.category].append(score(case, hedged, runner).score)
        for text in hedge_tricks(case.prompt).values():
            rows["every trick"][case.category].append(score(case, text, runner).score)
        wrong = wrong_answer(case, random.Random(f"bench|{case.id}"))
        rows["wrong"][case.category].append(score(case, wrong, runner).score)
        if case.reference:
            rows["reference"][case.category].append(score(case, case.reference, runner).score)
    cats = [c for c in CATEGORIES if any(c in r for r in rows.values())]
    print(f"suite {suite.key}: {len(suite.cases)} cases; mean score in points per category")
    print(f"{'answers':12} " + " ".join(f"{c[:12]:>12}" for c in cats) + f" {'overall':>8}")
    for name, per_cat in rows.items():
        every = [x for c in cats for x in per_cat.get(c, [])]
        cells = " ".join(f"{100 * sum(v) / len(v):12.1f}" if (v := per_cat.get(c)) else f"{'—':>12}" for c in cats)
        print(f"{name:12} {cells} {100 * sum(every) / len(every):8.1f}")
    worst = max(100 * sum(v) / len(v) for v in rows["hedger"].values())
    print(f"done: the hedging adversary's best category scores {worst:.1f} points (limit 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
